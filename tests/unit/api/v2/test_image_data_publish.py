"""An upload whose publication (``saving -> active``) gets no answer from the
registry cannot tell whether it was published: the registry may still commit it
(a lock it waited for, a slow database) after the API gave up. The data is removed
only once the image is known not to use it: the upload puts the image back to
``queued`` first, which also makes a late publication fail."""

import json

import pytest

from glance_registry.client import transport as http_transport
from tests.fixtures.inprocess import caller

OWNER = caller('publish-owner')


class _LosesThePublication:
    """A transport whose answer to the publication (a status change to
    ``active``) is lost: after the registry ran it (``committed``), or before."""

    def __init__(self, inner, committed):
        self.inner = inner
        self.committed = committed

    def request(self, method, path, headers, body, timeout):
        if method == 'PUT' and path.endswith('/status') and \
                json.loads(body).get('to') == 'active':
            if self.committed:
                self.inner.request(method, path, headers, body, timeout)
            raise http_transport.NoAnswer()
        return self.inner.request(method, path, headers, body, timeout)

    def close(self):
        self.inner.close()


@pytest.mark.parametrize('committed', [True, False])
def test_an_unanswered_publication_never_leaves_an_active_image_without_data(
        deployment, committed):
    image_id = deployment.request('POST', '/v2/images', OWNER, {
        'disk_format': 'raw', 'container_format': 'bare'}).get_json()['id']
    registry = deployment.registry
    registry._transport = _LosesThePublication(registry._transport, committed)

    response = deployment.request('PUT', '/v2/images/%s/file' % image_id, OWNER,
                                  b'data' * 1024,
                                  content_type='application/octet-stream')
    assert response.status_code == 503, response.data

    registry._transport = registry._transport.inner
    image = deployment.request('GET', '/v2/images/%s' % image_id, OWNER).get_json()
    if committed:
        # Published after all: its data stays.
        assert image['status'] == 'active'
        assert deployment.store.names() == [image_id]
        download = deployment.request('GET', '/v2/images/%s/file' % image_id, OWNER)
        assert download.status_code == 200
        assert download.get_data() == b'data' * 1024
    else:
        # Not published: queued again, no bytes left behind, and it can be retried.
        assert image['status'] == 'queued'
        assert deployment.store.names() == []
        assert deployment.request('PUT', '/v2/images/%s/file' % image_id, OWNER,
                                  b'data', content_type='application/octet-stream'
                                  ).status_code == 204
