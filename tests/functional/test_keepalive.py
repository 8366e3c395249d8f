"""A refused request body never breaks the client's keep-alive connection.

The API may answer an upload (409, 413, 415, 403, ...) before reading its body. The
client, a ``requests.Session`` as python-glanceclient uses, then sends its next request
on the same pooled connection: the server must either have read the rest of the body
(small bodies) or have said ``Connection: close`` and closed cleanly (large ones), so
that the client sees the full error response and the next request just works.
"""

import os

import pytest

from tests.functional.conftest import IMAGE_SIZE_CAP
from tests.functional.test_image_data import chunks

MiB = 1024 * 1024
ITERATIONS = 30

SIZES = {'small': 1000, '1 MiB': MiB, '32 MiB': 32 * MiB}


def _body(size, chunked):
    data = os.urandom(min(size, MiB)) * max(1, size // MiB)
    return chunks(data) if chunked else data


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
def test_a_refused_upload_leaves_the_session_usable(tenant, size, chunked):
    active = tenant.create_image()
    assert tenant.upload(active['id'], b'first').status_code == 204
    queued = tenant.create_image()
    refusals = _refusals(tenant, active['id'], queued['id'])
    iterations = ITERATIONS if size <= MiB else 4
    for turn in range(iterations):
        what, status, send = refusals[turn % len(refusals)]
        response = send(_body(size, chunked))
        assert response.status_code == status, (what, response.text)
        assert response.json()['code'].startswith(str(status)), what
        # The next request goes over the same session: it must not meet a closed
        # connection nor the rest of the refused body.
        assert tenant.image(queued['id'])['status'] == 'queued', what
    assert tenant.image(active['id'])['size'] == len(b'first')


def test_a_small_refused_body_keeps_the_connection_alive(tenant):
    image = tenant.create_image()
    assert tenant.upload(image['id'], b'first').status_code == 204
    response = tenant.upload(image['id'], os.urandom(MiB))
    assert response.status_code == 409
    assert response.headers['Connection'] == 'keep-alive'


def test_a_large_refused_body_closes_the_connection_after_the_answer(tenant):
    image = tenant.create_image()
    assert tenant.upload(image['id'], b'first').status_code == 204
    response = tenant.upload(image['id'], _body(64 * MiB, chunked=True))
    assert response.status_code == 409
    assert response.headers['Connection'] == 'close'
    assert tenant.image(image['id'])['status'] == 'active'
