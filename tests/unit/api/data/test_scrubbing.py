"""The scrubber's leases: renewed while it works on an image, so that no other
scrubber takes the image over, however long deleting its data takes."""

import time

from glance_api.access.context import SERVICE_IDENTITY
from glance_api.data import scrubbing
from tests.fixtures.inprocess import caller

OWNER = caller('scrub-owner')


def _pending_delete_image(deployment):
    image_id = deployment.request('POST', '/v2/images', OWNER, {
        'disk_format': 'raw', 'container_format': 'bare'}).json['id']
    assert deployment.request('PUT', '/v2/images/%s/file' % image_id, OWNER, b'x',
                              content_type='application/octet-stream'
                              ).status_code == 204
    assert deployment.request('DELETE', '/v2/images/%s' % image_id,
                              OWNER).status_code == 204
    return image_id


def _claimed_by(registry, owner):
    return [image['id'] for image in
            registry.claim_scrub(SERVICE_IDENTITY, owner, 1, 0, 1000)]


def test_a_held_image_stays_with_its_scrubber_past_its_lease(make_deployment):
    deployment = make_deployment(api={'delayed_delete': True})
    registry = deployment.registry
    image_id = _pending_delete_image(deployment)
    assert _claimed_by(registry, 'slow-scrubber') == [image_id]
    # A lease of 3 s, renewed every second: a renewal may come 2 s late (a loaded
    # machine) before another scrubber could take the image.
    def renew(held_id, seconds):
        registry.renew_scrub_lease(SERVICE_IDENTITY, held_id, 'slow-scrubber',
                                   seconds)

    with scrubbing._Leases(renew, 3) as leases:
        leases.hold(image_id)
        time.sleep(6.5)   # more than twice the lease
        assert _claimed_by(registry, 'other-scrubber') == []
        leases.release(image_id)
    time.sleep(3.2)   # no longer renewed: it runs out
    assert _claimed_by(registry, 'other-scrubber') == [image_id]
