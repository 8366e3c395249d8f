"""Deleting an image: at once, or with ``delayed_delete`` kept for the scrubber
unless its store needs the caller's credentials to delete it later."""

import pytest

from glance_api.access.context import SERVICE_IDENTITY
from tests.fixtures.inprocess import caller

OWNER = caller('delete-owner')


def _active_image(deployment):
    created = deployment.request('POST', '/v2/images', OWNER, {
        'name': 'x', 'disk_format': 'raw', 'container_format': 'bare'})
    assert created.status_code == 201, created.json
    image_id = created.json['id']
    uploaded = deployment.request('PUT', '/v2/images/%s/file' % image_id, OWNER,
                                  b'data', content_type='application/octet-stream')
    assert uploaded.status_code == 204, uploaded.data
    return image_id


@pytest.mark.parametrize('delayed, acts_as_caller, kept', [
    (False, False, False),
    (True, False, True),
    # Multi-tenant Swift: the scrubber would have no token of the owner.
    (True, True, False),
])
def test_delete_keeps_the_data_only_when_the_scrubber_can_delete_it_later(
        make_deployment, delayed, acts_as_caller, kept):
    deployment = make_deployment(api={'delayed_delete': delayed})
    deployment.store.acts_as_caller = acts_as_caller
    image_id = _active_image(deployment)
    assert deployment.store.names() == [image_id]
    response = deployment.request('DELETE', '/v2/images/%s' % image_id, OWNER)
    assert response.status_code == 204
    assert deployment.store.names() == ([image_id] if kept else [])
    assert deployment.request('GET', '/v2/images/%s' % image_id,
                              OWNER).status_code == 404
    claimed = deployment.registry.claim_scrub(SERVICE_IDENTITY, 'test', 60, 0, 1000)
    assert [image['id'] for image in claimed] == ([image_id] if kept else [])
