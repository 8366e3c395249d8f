"""Quotas: per-image limits, the storage quota under concurrent uploads, project
limits and /v2/info/usage. Every refusal is 413 and leaves nothing behind."""

import hashlib
import http.client
import select
import socket
import threading
import time
import urllib.parse

import pytest

from tests.fixtures import deployment
from tests.fixtures import disk_images
from tests.fixtures.raw_http import RawUpload
from tests.functional.test_image_data import (_start_raw_upload, _wait_for_status,
                                              assert_stored, chunks, no_files_for)

KiB = 1024
STORAGE_QUOTA = 1000 * KiB


@pytest.fixture(scope='module')
def limited(tmp_path_factory):
    with deployment.running(tmp_path_factory.mktemp('quotas'), api_extra={
            'DEFAULT': {'image_property_quota': 2, 'image_tag_quota': 2,
                        'image_member_quota': 1,
                        'user_storage_quota': '%dKB' % (STORAGE_QUOTA // KiB),
                        'upload_reservation_step': 1},
            'image_limits': {'image_count_total': 4}}) as glance:
        yield glance


@pytest.fixture(scope='module')
def one_at_a_time(tmp_path_factory):
    with deployment.running(tmp_path_factory.mktemp('uploading'), api_extra={
            'image_limits': {'image_count_uploading': 1}}) as glance:
        yield glance


@pytest.fixture(scope='module')
def ten_mb(tmp_path_factory):
    with deployment.running(tmp_path_factory.mktemp('ten-mb'), api_extra={
            'DEFAULT': {'user_storage_quota': '10MB'}}) as glance:
        yield glance


@pytest.fixture
def tenant(limited):
    with limited.client(deployment.new_project()) as client:
        yield client


def test_property_quota_on_create_and_patch(tenant):
    assert tenant.post('/v2/images', json={'a': '1', 'b': '2', 'c': '3'}) \
        .status_code == 413
    image = tenant.create_image(a='1', b='2')
    response = tenant.patch_image(image['id'], [
        {'op': 'add', 'path': '/c', 'value': '3'}])
    assert response.status_code == 413
    assert 'c' not in tenant.image(image['id'])
    response = tenant.patch_image(image['id'], [
        {'op': 'remove', 'path': '/a'}, {'op': 'add', 'path': '/c', 'value': '3'}])
    assert response.status_code == 200


def test_tag_quota_on_create_and_put(tenant):
    assert tenant.post('/v2/images', json={'tags': ['a', 'b', 'c']}).status_code == 413
    image = tenant.create_image(tags=['a', 'b'])
    assert tenant.put('/v2/images/%s/tags/c' % image['id']).status_code == 413
    assert tenant.put('/v2/images/%s/tags/a' % image['id']).status_code == 204
    assert sorted(tenant.image(image['id'])['tags']) == ['a', 'b']


def test_member_quota(tenant):
    image = tenant.create_image()
    url = '/v2/images/%s/members' % image['id']
    assert tenant.post(url, json={'member': 'one'}).status_code == 200
    assert tenant.post(url, json={'member': 'two'}).status_code == 413


def test_image_count_limit(tenant):
    for _ in range(4):
        tenant.create_image()
    assert tenant.post('/v2/images', json={}).status_code == 413


def test_storage_quota_refuses_an_upload_that_does_not_fit(limited, tenant):
    first = tenant.create_image()
    assert tenant.upload(first['id'], b'a' * (600 * KiB)).status_code == 204
    second = tenant.create_image()
    response = tenant.upload(second['id'], chunks(b'b' * (600 * KiB), 64 * KiB))
    assert response.status_code == 413, response.text
    assert tenant.image(second['id'])['status'] == 'queued'
    assert no_files_for(limited, second['id'])
    assert tenant.upload(second['id'], b'b' * (400 * KiB)).status_code == 204
    assert_stored(tenant, second['id'], b'b' * (400 * KiB))


def test_an_image_deleted_during_a_reserved_upload_answers_410(limited, tenant):
    # The reservation of the first block finds the image gone, as upstream: 410.
    image = tenant.create_image()
    sock = _start_raw_upload(limited, image['id'], b'x' * 1000, 200 * KiB)
    try:
        _wait_for_status(tenant, image['id'], 'saving')
        assert tenant.delete('/v2/images/%s' % image['id']).status_code == 204
        sock.sendall(b'x' * (200 * KiB - 1000))
        status_line = sock.recv(4096).split(b'\r\n')[0]
    finally:
        sock.close()
    assert b'410' in status_line, status_line
    assert no_files_for(limited, image['id'])


def test_declared_size_over_the_storage_quota_is_refused_before_reading(tenant):
    image = tenant.create_image()
    response = tenant.upload(image['id'], b'x',
                             **{'x-openstack-image-size': str(STORAGE_QUOTA + 1)})
    assert response.status_code == 413
    assert tenant.image(image['id'])['status'] == 'queued'


def test_two_uploads_racing_for_the_last_bytes_never_exceed_the_quota(limited):
    """Both uploads (of unknown size: their storage is reserved as bytes arrive) are
    saving at once before either sends the rest of its bytes: they race for certain."""
    project = deployment.new_project()
    with limited.client(project) as client:
        images = [client.create_image() for _ in range(2)]
    uploads = {image['id']: RawUpload(limited.url, image['id'], headers={
        'X-Project-Id': project, 'X-Roles': 'member'}) for image in images}
    results = {}
    barrier = threading.Barrier(len(uploads))

    def finish(image_id):
        upload = uploads[image_id]
        barrier.wait()
        for chunk in chunks(b'r' * (536 * KiB), 64 * KiB):
            if not upload.send(chunk):
                break
        else:
            upload.end()
        results[image_id] = upload.response()[0]

    try:
        for upload in uploads.values():
            upload.send(b'r' * (64 * KiB))
        with limited.client(project) as client:
            _wait_for_statuses(client, uploads, 'saving')
        threads = [threading.Thread(target=finish, args=(i,)) for i in uploads]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for upload in uploads.values():
            upload.close()
    # Usually one wins; both may lose if each hits the quota before the other gives
    # its reservation back. Never may both win.
    assert list(results.values()).count(204) <= 1, results
    assert 413 in results.values(), results
    with limited.client(project) as client:
        usage = client.get('/v2/info/usage').json()['usage']
        stored = [client.image(i['id']) for i in images]
    assert sum(i['size'] or 0 for i in stored) <= STORAGE_QUOTA
    assert [i['status'] for i in stored].count('queued') >= 1
    assert usage['image_size_total']['usage'] * 1024 * 1024 <= STORAGE_QUOTA


def _wait_for_statuses(client, image_ids, status, timeout=20):
    """Until every image of ``image_ids`` has ``status`` at the same time."""
    deadline = time.monotonic() + timeout
    while True:
        current = {i: client.image(i)['status'] for i in image_ids}
        if set(current.values()) == {status}:
            return
        assert time.monotonic() < deadline, 'never all %s: %s' % (status, current)
        time.sleep(0.05)


def test_uploading_count_limit(one_at_a_time):
    with one_at_a_time.client(deployment.new_project()) as client:
        first, second = client.create_image(), client.create_image()
        sock = _start_raw_upload(one_at_a_time, first['id'], b'x' * 1000, 2000)
        _wait_for_status(client, first['id'], 'saving')
        assert client.upload(second['id'], b'y').status_code == 413
        sock.sendall(b'x' * 1000)
        assert sock.recv(1024).startswith(b'HTTP/1.1 204 ')
        sock.close()
        assert client.upload(second['id'], b'y').status_code == 204
        assert_stored(client, first['id'], b'x' * 2000)
        assert_stored(client, second['id'], b'y')


def test_usage_reports_every_limit(limited):
    with limited.client(deployment.new_project()) as client:
        image = client.create_image()
        client.upload(image['id'], b'u' * (2 * 1024 * 1024 // 4))
        client.create_image()
        usage = client.get('/v2/info/usage').json()['usage']
    assert usage['image_count_total'] == {'limit': 4, 'usage': 2}
    assert usage['image_count_uploading'] == {'limit': -1, 'usage': 0}
    assert usage['image_size_total']['limit'] == 0  # 1000 KiB is 0 whole MiB
    assert usage['image_size_total']['usage'] == 0
    assert usage['image_stage_total'] == {'limit': -1, 'usage': 0}


def test_usage_without_a_project_says_there_is_none(limited):
    with limited.client() as anonymous:
        response = anonymous.get('/v2/info/usage')
    assert response.status_code == 400
    assert 'no project' in response.json()['message']


def test_quota_refusals_of_the_anonymous_admin_name_no_project(limited):
    # The anonymous admin of a noauth deployment has no project: its images have
    # no owner and share one quota, which the messages said was "project None"'s.
    with limited.client() as anonymous:
        image = anonymous.create_image()
        refused = anonymous.upload(image['id'], b'u' * (STORAGE_QUOTA + 1))
        assert refused.status_code == 413
        assert 'Storage quota of the images without an owner exceeded' in \
            refused.text
        assert anonymous.image(image['id'])['status'] == 'queued'
        for _ in range(3):
            anonymous.create_image()
        refused = anonymous.post('/v2/images', json={'disk_format': 'raw',
                                                     'container_format': 'bare'})
        assert refused.status_code == 413
        assert 'Too many images without an owner' in refused.text
        assert 'None' not in refused.text


MiB = 1024 * KiB


class HeldUpload:
    """A ``PUT /file`` with a ``Content-Length``, over a socket: its headers and first
    bytes go at once, the rest when the test says."""

    def __init__(self, glance, project, image_id, data, first=64 * KiB):
        url = urllib.parse.urlparse(glance.url)
        self.data = data
        self.first = first
        self.sock = socket.create_connection((url.hostname, url.port), timeout=60)
        self.sock.sendall((
            'PUT /v2/images/%s/file HTTP/1.1\r\nHost: x\r\n'
            'Content-Type: application/octet-stream\r\nContent-Length: %d\r\n'
            'Accept: application/json\r\nX-Project-Id: %s\r\n'
            'X-User-Id: u\r\nX-Roles: member,reader\r\n\r\n'
            % (image_id, len(data), project)).encode() + data[:first])

    def answered(self):
        return bool(select.select([self.sock], [], [], 0)[0])

    def finish(self):
        self.sock.sendall(self.data[self.first:])

    def status(self):
        response = http.client.HTTPResponse(self.sock, method='PUT')
        response.begin()
        response.read()
        return response.status

    def close(self):
        self.sock.close()


def test_concurrent_uploads_of_known_size_let_through_exactly_those_that_fit(ten_mb):
    """Six 4 MiB uploads at once under a 10 MB quota: each reserves its declared
    size before its first byte, so two fit and four are refused at once (reserving
    chunk by chunk, their partial reservations filled the quota and refused each
    other: two, one or none got through)."""
    project = deployment.new_project()
    with ten_mb.client(project) as client:
        images = [client.create_image()['id'] for _ in range(6)]
        data = [disk_images.raw(4 * MiB) for _ in images]
        uploads = [HeldUpload(ten_mb, project, image_id, body)
                   for image_id, body in zip(images, data)]
        try:
            deadline = time.monotonic() + 20
            while sum(u.answered() for u in uploads) < 4 and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
            refused = [u for u in uploads if u.answered()]
            holding = [u for u in uploads if not u.answered()]
            assert len(refused) == 4, 'refused before any upload finished: %d' % len(
                refused)
            # They overlapped: the four were refused while the two others were
            # still uploading, their bodies not yet sent.
            assert [client.image(images[uploads.index(u)])['status']
                    for u in holding] == ['saving', 'saving']
            assert [u.status() for u in refused] == [413] * 4
            for upload in holding:
                upload.finish()
            assert [u.status() for u in holding] == [204, 204]
        finally:
            for upload in uploads:
                upload.close()

        for upload, image_id, body in zip(uploads, images, data):
            image = client.image(image_id)
            if upload in holding:
                assert (image['status'], image['size'], image['checksum']) == (
                    'active', len(body), hashlib.md5(body).hexdigest())
            else:
                assert (image['status'], image['size']) == ('queued', None)
                assert no_files_for(ten_mb, image_id)
        usage = client.get('/v2/info/usage').json()['usage']['image_size_total']
        assert usage == {'limit': 10, 'usage': 8}


def _stage(client, image_id, data):
    return client.put('/v2/images/%s/stage' % image_id, data=data,
                      headers={'Content-Type': 'application/octet-stream'})


def test_a_stage_is_refused_once_the_projects_staged_data_is_over_its_limit(
        tmp_path):
    with deployment.running(tmp_path / 'glance', api_extra={
            'image_limits': {'image_stage_total': 1}}) as glance, \
            glance.client(deployment.new_project()) as client:
        first, second, third = (client.create_image(disk_format='raw',
                                                    container_format='bare')
                                for _ in range(3))
        # As upstream: a stage starts while the staged data is not over the
        # limit, whatever its own size (unknown before its bytes).
        assert _stage(client, first['id'], b'a' * (3 * MiB // 2)).status_code == 204
        usage = client.get('/v2/info/usage').json()['usage']
        assert usage['image_stage_total'] == {'limit': 1, 'usage': 1}
        assert client.image(first['id'])['size'] == 3 * MiB // 2
        assert _stage(client, second['id'], b'b' * MiB).status_code == 204
        refused = _stage(client, third['id'], b'c' * 10)
        assert refused.status_code == 413
        assert 'image_stage_total is 1 MiB, 2 MiB is staged' in refused.text
        assert client.image(third['id'])['status'] == 'queued'
        # Staged data no longer waiting (its image deleted) frees the limit.
        assert client.delete('/v2/images/%s' % first['id']).status_code == 204
        assert _stage(client, third['id'], b'c' * 10).status_code == 204
        with glance.client() as anonymous:
            # The anonymous admin's images have no owner: they share one limit,
            # which the message said was "Project None"'s.
            first, second = (anonymous.create_image() for _ in range(2))
            assert _stage(anonymous, first['id'], b'a' * 2 * MiB).status_code == 204
            refused = _stage(anonymous, second['id'], b'b' * 10)
            assert refused.status_code == 413
            assert 'The images without an owner are over their limit of staged ' \
                'data: image_stage_total is 1 MiB, 2 MiB is staged' in refused.text
            assert 'None' not in refused.text
            assert anonymous.image(second['id'])['status'] == 'queued'
