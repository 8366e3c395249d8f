"""/v2/images/{id}/file: uploads, downloads, ranges, and every way an upload can fail.

Each fault test checks the state afterwards: the image's status and the files left in
the store's data directory.
"""

import gzip
import hashlib
import os
import socket
import threading
import time
import urllib.parse

import pytest

from tests.fixtures import disk_images
from tests.fixtures.raw_http import RawUpload
from tests.functional.conftest import IMAGE_SIZE_CAP
from tests.unit.registry import races


def assert_error(response, status):
    assert response.status_code == status, response.text
    assert response.json()['code'].startswith(str(status))


def chunks(data, size=65536, pause=0.0):
    for start in range(0, len(data), size):
        if pause:
            time.sleep(pause)
        yield data[start:start + size]


def no_files_for(glance, image_id):
    return not [name for name in glance.stored_files() if image_id in name]


def assert_stored(client, image_id, data):
    """The image is active with ``data``: its size, checksums computed here, and the
    same bytes downloaded."""
    image = client.image(image_id)
    assert (image['status'], image['size']) == ('active', len(data))
    assert image['checksum'] == hashlib.md5(data).hexdigest()
    assert (image['os_hash_algo'], image['os_hash_value']) == (
        'sha512', hashlib.sha512(data).hexdigest())
    response = client.get('/v2/images/%s/file' % image_id)
    assert response.status_code == 200
    assert response.content == data


def test_upload_then_download_round_trips_with_checksums(tenant):
    data = disk_images.raw(3 * 1024 * 1024 + 17)
    image = tenant.create_image()
    response = tenant.upload(image['id'], data)
    assert response.status_code == 204, response.text
    image = tenant.image(image['id'])
    assert image['status'] == 'active'
    assert image['size'] == len(data)
    assert image['checksum'] == hashlib.md5(data).hexdigest()
    assert image['os_hash_algo'] == 'sha512'
    assert image['os_hash_value'] == hashlib.sha512(data).hexdigest()
    response = tenant.get('/v2/images/%s/file' % image['id'])
    assert response.status_code == 200
    assert response.content == data
    assert response.headers['Content-Type'] == 'application/octet-stream'
    assert response.headers['Content-Length'] == str(len(data))
    assert response.headers['Content-MD5'] == image['checksum']


def test_chunked_upload_streams_to_the_store(tenant):
    data = disk_images.raw(2 * 1024 * 1024)
    image = tenant.create_image()
    assert tenant.upload(image['id'], chunks(data)).status_code == 204
    assert_stored(tenant, image['id'], data)


def test_malformed_chunked_body_is_400_saying_what_is_wrong(glance, tenant):
    image = tenant.create_image()
    upload = RawUpload(glance.url, image['id'])
    try:
        upload.send(b'x' * 1000)
        upload.sock.sendall(b'zz\r\nabc\r\n0\r\n\r\n')
        status, _, body = upload.response()
    finally:
        upload.close()
    assert status == 400
    assert body['message'] == ("The chunked request body is malformed: invalid chunk "
                               "size b'zz'.")
    _wait_for_status(tenant, image['id'], 'queued')
    assert no_files_for(glance, image['id'])


def test_empty_upload_makes_an_active_empty_image(tenant):
    image = tenant.create_image()
    assert tenant.upload(image['id'], b'').status_code == 204
    assert_stored(tenant, image['id'], b'')


def test_image_without_data_downloads_as_204(tenant):
    image = tenant.create_image()
    response = tenant.get('/v2/images/%s/file' % image['id'])
    assert response.status_code == 204 and response.content == b''
    # No body, so no media type (Flask's default said text/html).
    assert 'Content-Type' not in response.headers


@pytest.mark.parametrize('headers', [{}, {'Range': 'bytes=0-1'}])
def test_image_whose_stored_data_vanished_downloads_as_204(glance, tenant, headers):
    # As upstream (glance_store's NotFound is 204 No Content), not a 404 that
    # clients read as "no such image": the image is there, its data is not.
    image = tenant.create_image()
    tenant.upload(image['id'], b'some bytes')
    os.remove(os.path.join(glance.datadir, image['id']))
    response = tenant.get('/v2/images/%s/file' % image['id'], headers=headers)
    assert response.status_code == 204 and response.content == b''
    assert tenant.image(image['id'])['status'] == 'active'


def _download_hundred_bytes(tenant, headers):
    """Upload bytes 0..99 to a new image and GET them with ``headers``."""
    data = bytes(range(100))
    image = tenant.create_image()
    tenant.upload(image['id'], data)
    return data, tenant.get('/v2/images/%s/file' % image['id'], headers=headers)


@pytest.mark.parametrize('header, status, expected', [
    ('bytes=0-9', 206, (0, 10)),
    ('bytes=10-', 206, (10, 90)),
    ('bytes=-5', 206, (95, 5)),
    ('bytes=95-200', 206, (95, 5)),
    ('bytes=99-99', 206, (99, 1)),
    # The unit is case-insensitive (RFC 7233), blanks around = and - allowed, as
    # upstream's parser (webob) takes them; a 416 before.
    ('Bytes=0-0', 206, (0, 1)),
    ('BYTES = 3 - 4', 206, (3, 2)),
    ('bytes=100-', 416, None),
    ('bytes=50-10', 416, None),
    ('bytes=-0', 416, None),
    ('bytes=-', 416, None),
    ('pages=1-2', 416, None),
    ('bytes=abc', 416, None),
    ('bytes=\u00b2-', 416, None),   # a digit to str.isdigit(), not to int()
    ('bytes=0-1,5-6', 400, None),
    # Thousands of digits: past Python's int-string limit (a 500 before). Past
    # the end, a last position means the end and a suffix the whole image (RFC
    # 9110; upstream's webob too, for 20 digits), as they do below 64 bits.
    ('bytes=%s-' % ('9' * 5000), 416, None),
    ('bytes=0-%s' % ('9' * 5000), 206, (0, 100)),
    ('bytes=-%s' % ('9' * 5000), 206, (0, 100)),
    ('bytes=0-18446744073709551616', 206, (0, 100)),
    ('bytes=90-9223372036854775807', 206, (90, 10)),
    ('bytes=%s5-9' % ('0' * 5000), 206, (5, 5)),
])
def test_range_requests(tenant, header, status, expected):
    data, response = _download_hundred_bytes(tenant, {'Range': header})
    assert response.status_code == status
    if status == 400:
        assert 'multiple ranges' in response.json()['message']
        return
    if status == 416:
        assert response.headers['Content-Range'] == 'bytes */100'
        return
    offset, length = expected
    assert response.content == data[offset:offset + length]
    assert response.headers['Content-Length'] == str(length)
    if status == 206:
        assert response.headers['Content-Range'] == 'bytes %d-%d/100' % (
            offset, offset + length - 1)
        assert 'Content-MD5' not in response.headers


@pytest.mark.parametrize('headers', [{'Range': 'bytes=100-'},
                                     {'Range': 'bytes=100-200'},
                                     {'Content-Range': 'bytes 90-100/*'}])
def test_a_range_past_the_end_says_which_positions_there_are(tenant, headers):
    _, response = _download_hundred_bytes(tenant, headers)
    assert_error(response, 416)
    assert response.headers['Content-Range'] == 'bytes */100'
    header = next(iter(headers))
    assert response.json()['message'] == (
        'Invalid %s header: the image data has 100 bytes, at positions 0 to 99.'
        % header)


@pytest.mark.parametrize('header', ['bytes=0-', 'bytes=0-0', 'bytes=-1'])
def test_no_range_of_an_empty_image_is_satisfiable(tenant, header):
    # As upstream: bytes=0- of an empty image is 416, not 200 with nothing.
    image = tenant.create_image()
    assert tenant.upload(image['id'], b'').status_code == 204
    response = tenant.get('/v2/images/%s/file' % image['id'],
                          headers={'Range': header})
    assert_error(response, 416)
    assert response.headers['Content-Range'] == 'bytes */0'
    assert 'image data is empty' in response.json()['message']


@pytest.mark.parametrize('header, status, expected', [
    ('bytes 0-9/100', 206, (0, 10)),
    ('bytes 90-99/*', 206, (90, 10)),
    ('bytes 90-100/*', 416, None),
    ('bytes 9-0/100', 416, None),
    ('bytes -/100', 416, None),
    ('bytes \u00b2-3/100', 416, None),
    ('bytes 0-%s/*' % ('9' * 5000), 416, None),
    ('bytes %s-3/100' % ('9' * 5000), 416, None),
])
def test_legacy_content_range_requests(tenant, header, status, expected):
    data, response = _download_hundred_bytes(
        tenant, {'Content-Range': header.encode('latin-1')})
    assert response.status_code == status
    if expected:
        offset, length = expected
        assert response.content == data[offset:offset + length]


def test_upload_needs_octet_stream(tenant):
    image = tenant.create_image()
    assert_error(tenant.upload(image['id'], b'x', **{'Content-Type': 'text/plain'}),
                 415)
    assert tenant.image(image['id'])['status'] == 'queued'


@pytest.mark.parametrize('target', ['file', 'stage'])
def test_a_part_of_the_data_is_refused_and_keeps_nothing(glance, tenant, target):
    # RFC 9110 has a PUT with a Content-Range refused: a client resuming an upload
    # sends only the rest, which became the whole image, active.
    image = tenant.create_image()
    response = tenant.put('/v2/images/%s/%s' % (image['id'], target),
                          data=b'56789', headers={
                              'Content-Type': 'application/octet-stream',
                              'Content-Range': 'bytes 5-9/10'})
    assert_error(response, 400)
    assert response.json()['message'] == (
        'Image data must be sent whole: a request with a Content-Range is refused.')
    image = tenant.image(image['id'])
    assert (image['status'], image['size']) == ('queued', None)
    assert no_files_for(glance, image['id'])


@pytest.mark.parametrize('target', ['file', 'stage'])
@pytest.mark.parametrize('coding', ['gzip', 'deflate, gzip'])
def test_data_in_a_content_coding_is_415_and_keeps_nothing(glance, tenant, target,
                                                           coding):
    # The compressed bytes were stored as they came: the image was the .gz of
    # the one its client sent.
    image = tenant.create_image()
    response = tenant.put('/v2/images/%s/%s' % (image['id'], target),
                          data=gzip.compress(b'image data' * 100), headers={
                              'Content-Type': 'application/octet-stream',
                              'Content-Encoding': coding})
    assert_error(response, 415)
    assert response.json()['message'] == (
        'Content-Encoding %s is not supported: send the body as it is.' % coding)
    image = tenant.image(image['id'])
    assert (image['status'], image['size']) == ('queued', None)
    assert no_files_for(glance, image['id'])


def test_data_in_the_identity_coding_is_stored(tenant):
    image = tenant.create_image()
    response = tenant.upload(image['id'], b'0123456789',
                             **{'Content-Encoding': 'identity'})
    assert response.status_code == 204, response.text
    assert_stored(tenant, image['id'], b'0123456789')


def test_upload_needs_formats_set(tenant):
    image = tenant.create_image(disk_format=None, container_format=None)
    assert_error(tenant.upload(image['id'], b'x'), 400)
    assert tenant.image(image['id'])['status'] == 'queued'


def test_second_upload_to_an_active_image_conflicts(glance, tenant):
    image = tenant.create_image()
    assert tenant.upload(image['id'], b'first').status_code == 204
    assert_error(tenant.upload(image['id'], b'second'), 409)
    assert tenant.get('/v2/images/%s/file' % image['id']).content == b'first'
    assert glance.stored_files().count(image['id']) == 1


def test_upload_over_data_already_in_the_store_conflicts_and_keeps_it(glance, tenant):
    # Bytes no image record names (left by a failure outside any upload) sit where
    # the store would commit this image's data: the upload is 409, as upstream's
    # answer to the store's duplicate, and neither copy is lost.
    image = tenant.create_image()
    with open(os.path.join(glance.datadir, image['id']), 'wb') as leftover:
        leftover.write(b'left over')
    response = tenant.upload(image['id'], b'new bytes')
    assert_error(response, 409)
    assert 'already exists' in response.json()['message']
    assert tenant.image(image['id'])['status'] == 'queued'
    with open(os.path.join(glance.datadir, image['id']), 'rb') as leftover:
        assert leftover.read() == b'left over'
    assert [name for name in glance.stored_files() if image['id'] in name] == [
        image['id']]   # no temporary file either


def test_upload_to_an_unknown_image_is_404(tenant):
    assert_error(tenant.upload('00000000-0000-0000-0000-000000000000', b'x'), 404)


def test_upload_by_another_project_is_forbidden(admin, other_tenant):
    image = admin.create_image(visibility='public', owner='someone')
    assert_error(other_tenant.upload(image['id'], b'x'), 403)


def test_upload_over_the_size_cap_is_413_and_keeps_nothing(glance, tenant):
    image = tenant.create_image()
    data = b'\0' * (IMAGE_SIZE_CAP + 1)
    assert_error(tenant.upload(image['id'], chunks(data, 1 << 20)), 413)
    assert tenant.image(image['id'])['status'] == 'queued'
    assert no_files_for(glance, image['id'])
    # and the image can still be uploaded
    assert tenant.upload(image['id'], b'ok').status_code == 204
    assert_stored(tenant, image['id'], b'ok')


def test_declared_size_over_the_cap_is_refused_before_reading(tenant):
    image = tenant.create_image()
    response = tenant.upload(image['id'], b'x',
                             **{'x-openstack-image-size': str(IMAGE_SIZE_CAP + 1)})
    assert_error(response, 413)
    assert tenant.image(image['id'])['status'] == 'queued'


@pytest.mark.parametrize('declared', ['5', '20', 'ten', '-1'])
def test_declared_size_mismatch_is_400_and_keeps_nothing(glance, tenant, declared):
    image = tenant.create_image()
    response = tenant.upload(image['id'], chunks(b'0123456789'),
                             **{'x-openstack-image-size': declared})
    assert_error(response, 400)
    assert tenant.image(image['id'])['status'] == 'queued'
    assert no_files_for(glance, image['id'])


def test_declared_size_that_matches_is_accepted(glance, tenant):
    image = tenant.create_image()
    response = tenant.upload(image['id'], b'0123456789',
                             **{'x-openstack-image-size': '10'})
    assert response.status_code == 204, response.text
    assert_stored(tenant, image['id'], b'0123456789')
    assert [name for name in glance.stored_files() if image['id'] in name] == [
        image['id']]


def _start_raw_upload(glance, image_id, first_bytes, content_length):
    """Open a socket, send headers and some of the body, and return the socket."""
    url = urllib.parse.urlparse(glance.url)
    sock = socket.create_connection((url.hostname, url.port))
    sock.sendall(('PUT /v2/images/%s/file HTTP/1.1\r\nHost: x\r\n'
                  'Content-Type: application/octet-stream\r\n'
                  'Content-Length: %d\r\n\r\n' % (image_id, content_length)).encode()
                 + first_bytes)
    return sock


def _wait_for_status(client, image_id, status, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = client.image(image_id)['status']
        if current == status:
            return
        time.sleep(0.05)
    raise AssertionError('image %s stayed %s, never %s' % (image_id, current, status))


def test_client_disconnect_mid_upload_returns_image_to_queued(glance, tenant):
    image = tenant.create_image()
    sock = _start_raw_upload(glance, image['id'], b'x' * 100000, IMAGE_SIZE_CAP - 1)
    _wait_for_status(tenant, image['id'], 'saving')
    sock.close()
    _wait_for_status(tenant, image['id'], 'queued')
    assert no_files_for(glance, image['id'])
    assert tenant.upload(image['id'], b'again').status_code == 204
    assert_stored(tenant, image['id'], b'again')


def test_upload_racing_another_upload_conflicts(glance, tenant):
    image = tenant.create_image()
    first = RawUpload(glance.url, image['id'], content_length=2000)
    try:
        first.send(b'a' * 1000)
        _wait_for_status(tenant, image['id'], 'saving')
        response = tenant.upload(image['id'], b'b' * 2000)
        assert_error(response, 409)
        assert response.json()['message'].startswith(
            'Image %s is being uploaded by another request. If that upload was '
            'interrupted, the image is released when its lease runs out'
            % image['id'])
        first.send(b'a' * 1000)
        status, _, _ = first.response()
    finally:
        first.close()
    assert status == 204
    assert_stored(tenant, image['id'], b'a' * 2000)


def test_two_simultaneous_uploads_leave_one_consistent_image(glance, tenant):
    """Two uploads start at the same moment and each sends part of its body; the
    loser is refused while the winner, unfinished, is still saving: they overlapped
    for certain. Exactly one wins and its bytes are the image's."""
    image = tenant.create_image()
    # More than the API drains of a refused body (4 MiB) is left unsent: the loser is
    # answered at once, with its connection closed.
    size, first_part = 6 * 1024 * 1024, 64 * 1024
    uploads = {byte: RawUpload(glance.url, image['id'], content_length=size)
               for byte in (b'a', b'b')}
    barrier = threading.Barrier(len(uploads))

    def start(byte):
        barrier.wait()
        uploads[byte].send(byte * first_part)

    try:
        threads = [threading.Thread(target=start, args=(b,)) for b in uploads]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        deadline = time.monotonic() + 30
        while not any(upload.answered(0.05) for upload in uploads.values()):
            assert time.monotonic() < deadline, 'neither upload was refused'
        (loser, refused), = [(byte, upload) for byte, upload in uploads.items()
                             if upload.answered()]
        (winner, unfinished), = [(byte, upload) for byte, upload in uploads.items()
                                 if byte != loser]
        status, _, body = refused.response()
        # Refused by the winner's claim, not by an image already active: the
        # uploads overlapped. (Whether the loser found the image saving when it
        # read it, or lost the compare-and-swap, only the wording tells.)
        assert status == 409, body
        assert ('being uploaded by another request' in body['message']
                or 'already being uploaded (status saving)' in body['message']), body
        assert not unfinished.answered()
        assert tenant.image(image['id'])['status'] == 'saving'
        assert unfinished.send(winner * (size - first_part))
        status, _, body = unfinished.response()
        assert status == 204, body
    finally:
        for upload in uploads.values():
            upload.close()
    assert_stored(tenant, image['id'], winner * size)
    assert glance.stored_files().count(image['id']) == 1
    assert [n for n in glance.stored_files() if n.endswith('.tmp')] == []


def test_image_deleted_as_its_upload_publishes_answers_410_and_logs_no_error(
        glance, tenant):
    """The delete lands between the upload's store commit and its publication: the
    delete of a ``saving`` image removes the object named after it, and the upload,
    refused publication, finds nothing left to remove. A normal race, not an error
    for the operator.

    The upload's last lease renewal and the delete wait together at the database's
    write lock (``races``' gate); when it opens, either the delete goes first (the
    upload finds the image gone before it commits: "during the upload") or the
    renewal does, and the delete then commits while the upload stores its bytes
    ("after upload"): tried until that second order happens."""
    # Which of the two then removes the bytes first varies too: ten times over.
    raced = []
    for attempt in range(60):
        image = tenant.create_image()
        upload = RawUpload(glance.url, image['id'], content_length=100000)
        deleted = []
        try:
            assert upload.send(b'x' * 1000)
            _wait_for_status(tenant, image['id'], 'saving')
            gate = races.GATES['sqlite'](glance.database_url)
            try:
                upload.send(b'x' * 99000)
                gate.wait_for(1)
                deleting = threading.Thread(target=lambda: deleted.append(
                    tenant.delete('/v2/images/%s' % image['id'])))
                deleting.start()
                gate.wait_for(2)
            finally:
                gate.open()
            deleting.join()
            status, _, body = upload.response()
        finally:
            upload.close()
        assert deleted[0].status_code == 204
        assert status == 410, body
        assert no_files_for(glance, image['id'])
        if 'after upload' in body['message']:
            raced.append(image['id'])
            if len(raced) == 10:
                break
    else:
        raise AssertionError('the delete landed as the upload published only %d '
                             'times' % len(raced))
    with open(glance.api.log_path) as log:
        assert [line for line in log if ' ERROR ' in line
                and any(image_id in line for image_id in raced)] == []


def test_image_deleted_during_upload_answers_410_and_keeps_no_bytes(glance, tenant):
    image = tenant.create_image()
    sock = _start_raw_upload(glance, image['id'], b'x' * 1000, 2000)
    _wait_for_status(tenant, image['id'], 'saving')
    assert tenant.delete('/v2/images/%s' % image['id']).status_code == 204
    sock.sendall(b'x' * 1000)
    status_line = sock.recv(4096).split(b'\r\n')[0]
    sock.close()
    assert b'410' in status_line
    assert no_files_for(glance, image['id'])

