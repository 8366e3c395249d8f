"""A refused request body never breaks the client's keep-alive connection.

The API may answer an upload (409, 413, 415, 403, ...) before reading its body. The
client, a ``requests.Session`` as python-glanceclient uses, then sends its next request
on the same pooled connection: the server must either have read the rest of the body
(small bodies) or have said ``Connection: close`` and closed cleanly (large ones), so
that the client sees the full error response and the next request just works.

requests silently opens a new connection when the server dropped the old one, so a
session that keeps working proves little: the tests count the connections the session
opened, and send the next request on the very same socket. The 401 of a missing token
is in tests/integration/test_keystone_keepalive.py.
"""


import pytest
import urllib3

from glance_api.http.keepalive import DRAIN_BYTES
from tests.fixtures import disk_images
from tests.fixtures.raw_http import RawConnection, RawUpload
from tests.functional.conftest import IMAGE_SIZE_CAP
from tests.functional.test_image_data import chunks

MiB = 1024 * 1024
ITERATIONS = 30

SIZES = {'small': 1000, '1 MiB': MiB, '32 MiB': 32 * MiB}


def _body(size, chunked):
    data = disk_images.raw(min(size, MiB)) * max(1, size // MiB)
    return chunks(data) if chunked else data


@pytest.fixture
def tcp_connects(monkeypatch):
    """Every TCP connection the test's HTTP clients open, as ``(host, port)``: urllib3
    reopens a closed pooled connection without a word, but not without connecting."""
    opened = []
    connect = urllib3.util.connection.create_connection

    def counted(address, *args, **kwargs):
        opened.append(address)
        return connect(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, 'create_connection', counted)
    return opened


def _refusals(tenant, active_id, queued_id):
    """(what, status, send(body)) for each way an upload is refused unread."""
    file_of = '/v2/images/%s/file'
    return [
        ('not queued', 409, lambda body: tenant.upload(active_id, body)),
        ('wrong media type', 415, lambda body: tenant.put(
            file_of % queued_id, data=body, headers={'Content-Type': 'text/plain'})),
        ('declared over the cap', 413, lambda body: tenant.upload(
            queued_id, body, **{'x-openstack-image-size': str(IMAGE_SIZE_CAP + 1)})),
        ('unknown image', 404, lambda body: tenant.upload('0' * 32, body)),
    ]


@pytest.mark.parametrize('chunked', [False, True], ids=['content-length', 'chunked'])
@pytest.mark.parametrize('size', list(SIZES.values()), ids=list(SIZES))
def test_a_refused_upload_leaves_the_session_usable(tenant, tcp_connects, size,
                                                   chunked):
    active = tenant.create_image()
    assert tenant.upload(active['id'], b'first').status_code == 204
    queued = tenant.create_image()
    refusals = _refusals(tenant, active['id'], queued['id'])
    iterations = ITERATIONS if size <= MiB else 4
    del tcp_connects[:]
    for turn in range(iterations):
        what, status, send = refusals[turn % len(refusals)]
        response = send(_body(size, chunked))
        assert response.status_code == status, (what, response.text)
        assert response.json()['code'].startswith(str(status)), what
        # The next request goes over the same session: it must not meet a closed
        # connection nor the rest of the refused body.
        assert tenant.image(queued['id'])['status'] == 'queued', what
    assert tenant.image(active['id'])['size'] == len(b'first')
    # A body the API could drain kept the one connection; a larger one cost a new
    # connection after each refusal, as its answer said.
    assert len(tcp_connects) == (0 if size <= DRAIN_BYTES else iterations)


@pytest.mark.parametrize('chunked', [False, True], ids=['content-length', 'chunked'])
@pytest.mark.parametrize('refusal', range(4), ids=['409', '415', '413', '404'])
def test_the_next_request_is_answered_on_the_socket_of_a_refused_upload(
        glance, tenant, refusal, chunked):
    active = tenant.create_image()
    assert tenant.upload(active['id'], b'first').status_code == 204
    queued = tenant.create_image()
    image_id, headers, status = [
        (active['id'], {}, 409),
        (queued['id'], {'Content-Type': 'text/plain'}, 415),
        (queued['id'], {'x-openstack-image-size': str(IMAGE_SIZE_CAP + 1)}, 413),
        ('0' * 32, {}, 404)][refusal]
    headers = dict({'Content-Type': 'application/octet-stream',
                    'X-Project-Id': tenant.project, 'X-Roles': 'member,reader'},
                   **headers)
    connection = RawConnection(glance.url)
    try:
        connection.request('PUT', '/v2/images/%s/file' % image_id, headers,
                           disk_images.raw(MiB), chunked=chunked)
        answer, answer_headers, body = connection.response()
        assert (answer, answer_headers['Connection']) == (status, 'keep-alive'), body
        connection.request('GET', '/v2/images/%s' % queued['id'], headers)
        answer, _, body = connection.response('GET')
    finally:
        connection.close()
    assert (answer, body['status']) == (200, 'queued')


def test_a_large_refused_body_closes_the_connection_after_the_answer(glance, tenant):
    image = tenant.create_image()
    assert tenant.upload(image['id'], b'first').status_code == 204
    upload = RawUpload(glance.url, image['id'], content_length=64 * MiB, headers={
        'X-Project-Id': tenant.project, 'X-Roles': 'member,reader'})
    try:
        upload.send(disk_images.raw(MiB))
        status, headers, _ = upload.response()
        assert (status, headers['Connection']) == (409, 'close')
        # Closed cleanly after the whole answer, not in the middle of the body.
        assert upload.closed_by_server()
    finally:
        upload.close()
    assert tenant.image(image['id'])['status'] == 'active'
