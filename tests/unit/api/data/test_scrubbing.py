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


def test_data_is_deleted_only_while_half_the_lease_surely_remains(make_deployment):
    """A scrubber whose renewals fail (a registry out of reach) may have lost its
    lease: what claimed the image or location since (a URL given back to its
    image) must not have its data deleted."""
    deployment = make_deployment(api={'delayed_delete': True})
    registry = deployment.registry
    image_id = _pending_delete_image(deployment)
    # Claimed for the whole lease: a lease that ran out is free, and the first to
    # renew it would take it.
    assert [image['id'] for image in registry.claim_scrub(
        SERVICE_IDENTITY, 'scrubber', 9, 0, 1000)] == [image_id]

    def renew(held_id, seconds):
        registry.renew_scrub_lease(SERVICE_IDENTITY, held_id, 'scrubber', seconds)

    def renew_refused(held_id, seconds):   # not its lease: the registry refuses
        registry.renew_scrub_lease(SERVICE_IDENTITY, held_id, 'another', seconds)

    # Leases of 9 s, renewed every 3 s; half of one is 4.5 s. At 6 s the renewal
    # made at 3 s is 3 s old; the refused one's lease is still the claim's.
    with scrubbing._Leases(renew, 9) as renewed, \
            scrubbing._Leases(renew_refused, 9) as refused:
        renewed.hold(image_id)
        refused.hold(image_id)
        assert renewed.secure(image_id) and refused.secure(image_id)
        time.sleep(6)
        assert renewed.secure(image_id)
        assert not refused.secure(image_id)
        renewed.release(image_id)
        assert not renewed.secure(image_id)
