"""An upload refused for its token (401, from keystonemiddleware, before the API sees
it) keeps the client's keep-alive connection usable, as every refused upload does
(README: "Uploads that go wrong leave nothing"; tests/functional/test_keepalive.py has
the others). Checked on one raw socket: requests would quietly reconnect."""

import uuid

import pytest

from tests.fixtures import disk_images
from tests.fixtures.raw_http import RawConnection, RawUpload

pytestmark = pytest.mark.keystone

MiB = 1024 * 1024


@pytest.mark.parametrize('chunked', [False, True], ids=['content-length', 'chunked'])
@pytest.mark.parametrize('token', [None, 'not-a-token'], ids=['no-token', 'bad-token'])
def test_an_upload_refused_for_its_token_keeps_the_connection(secured, token, chunked):
    headers = {'Content-Type': 'application/octet-stream'}
    if token:
        headers['X-Auth-Token'] = token
    connection = RawConnection(secured.url)
    try:
        connection.request('PUT', '/v2/images/%s/file' % uuid.uuid4(), headers,
                           disk_images.raw(MiB), chunked=chunked)
        status, answer_headers, _ = connection.response()
        assert (status, answer_headers['Connection']) == (401, 'keep-alive')
        assert answer_headers['WWW-Authenticate'].startswith('Keystone uri=')
        # The same socket: the body was read to its end, the next request is heard.
        connection.request('GET', '/healthcheck')
        status, _, body = connection.response('GET')
    finally:
        connection.close()
    assert (status, body) == (200, 'OK')


def test_a_large_upload_refused_for_its_token_closes_the_connection_after_the_answer(
        secured):
    upload = RawUpload(secured.url, str(uuid.uuid4()), content_length=64 * MiB)
    try:
        upload.send(disk_images.raw(MiB))
        status, headers, _ = upload.response()
        assert (status, headers['Connection']) == (401, 'close')
        assert upload.closed_by_server()
    finally:
        upload.close()
