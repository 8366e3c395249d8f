"""Deleted at once, an image's data is recorded as still to be removed until the
caller confirms it; the sweep claims the unconfirmed ones under the scrubber's
leases."""

import time

import pytest

from glance_registry.client import errors
from tests.unit.registry.conftest import ADMIN

RAW = {'disk_format': 'raw', 'container_format': 'bare'}


@pytest.fixture
def deleted_image(client, project, make_image):
    """``make()``: an active image with one location, owned by a new project,
    deleted at once (as the API does before it removes the data); its owner, id
    and location URL."""
    def make():
        owner = project()
        image = make_image(owner, **RAW)
        url = 'file:///removal-%s' % image['id']
        client.add_location(owner, image['id'], url, transition=('queued', 'active'),
                            values={'size': 3})
        before = client.delete_image(owner, image['id'])
        assert before['delayed'] is False and before['status'] == 'active'
        return owner, image['id'], url
    return make


def _sweep(client, owner, seconds=60, older_than=0, limit=1000):
    return {image['id']: image for image in
            client.claim_scrub(ADMIN, owner, seconds, older_than, limit,
                               status='deleted')}


def test_a_delete_at_once_leaves_the_data_to_remove_until_confirmed(client,
                                                                  deleted_image):
    _owner, image_id, url = deleted_image()
    claimed = _sweep(client, 'sweep-a')[image_id]
    assert claimed['status'] == 'deleted' and claimed['deleted']
    assert claimed['locations'] == [{'url': url, 'metadata': {},
                                     'status': 'pending_delete'}]
    # Deleted: it uses the URL no more, for deciding whether to remove the data.
    assert client.location_references(ADMIN, [url]) == {url: []}
    client.confirm_data_removed(ADMIN, image_id, 'sweep-a')
    assert image_id not in _sweep(client, 'sweep-b')
    client.confirm_data_removed(ADMIN, image_id)   # twice: no error


def test_the_callers_confirmation_ends_it_before_any_sweep(client, deleted_image):
    _owner, image_id, _url = deleted_image()
    client.confirm_data_removed(ADMIN, image_id)
    assert image_id not in _sweep(client, 'sweep-a')


def test_the_sweep_waits_older_than(client, deleted_image):
    _owner, image_id, _url = deleted_image()
    assert image_id not in _sweep(client, 'sweep-a', older_than=3600)
    time.sleep(1.1)
    assert image_id in _sweep(client, 'sweep-a', older_than=1)


def test_images_without_data_and_delayed_deletes_are_not_swept(client, project,
                                                               make_image):
    owner = project()
    empty = make_image(owner, **RAW)
    client.delete_image(owner, empty['id'])
    delayed = make_image(owner, **RAW)
    client.add_location(owner, delayed['id'], 'file:///removal-%s' % delayed['id'],
                        transition=('queued', 'active'), values={'size': 3})
    assert client.delete_image(owner, delayed['id'], delayed=True)['delayed']
    swept = _sweep(client, 'sweep-a')
    assert empty['id'] not in swept and delayed['id'] not in swept
    # The delayed one is the scrubber's, and can still be restored.
    assert client.restore_image(ADMIN, delayed['id'])['status'] == 'active'


def test_a_sweep_that_lost_its_lease_cannot_confirm_and_another_takes_over(
        client, deleted_image):
    _owner, image_id, _url = deleted_image()
    assert image_id in _sweep(client, 'sweep-a', seconds=1)
    assert image_id not in _sweep(client, 'sweep-b')
    time.sleep(1.2)   # sweep-a died: nobody renews
    assert image_id in _sweep(client, 'sweep-b')
    with pytest.raises(errors.Conflict) as lost:
        client.confirm_data_removed(ADMIN, image_id, 'sweep-a')
    assert lost.value.reason == 'scrub_lease_lost'
    client.confirm_data_removed(ADMIN, image_id, 'sweep-b')
    assert image_id not in _sweep(client, 'sweep-c')
    with pytest.raises(errors.Conflict) as gone:
        client.renew_scrub_lease(ADMIN, image_id, 'sweep-b', 60)
    assert gone.value.reason == 'scrub_lease_lost'


def test_only_a_deleted_images_removal_is_confirmed(client, project, make_image):
    owner = project()
    image = make_image(owner, **RAW)
    client.add_location(owner, image['id'], 'file:///removal-%s' % image['id'],
                        transition=('queued', 'active'), values={'size': 3})
    with pytest.raises(errors.Conflict) as refused:
        client.confirm_data_removed(ADMIN, image['id'])
    assert refused.value.reason == 'not_deleted'
    assert refused.value.details['current_status'] == 'active'
    client.delete_image(owner, image['id'], delayed=True)
    with pytest.raises(errors.Conflict) as pending:
        client.confirm_data_removed(ADMIN, image['id'])
    assert pending.value.details['current_status'] == 'pending_delete'
    with pytest.raises(errors.NotFound):
        client.confirm_data_removed(ADMIN, '00000000-0000-0000-0000-000000000000')


def test_only_admins_sweep_or_confirm(client, deleted_image):
    owner, image_id, _url = deleted_image()
    for call in (lambda: client.claim_scrub(owner, 'x', 60, 0, 10, status='deleted'),
                 lambda: client.confirm_data_removed(owner, image_id),
                 lambda: client.confirm_data_removed(owner, image_id, 'x')):
        with pytest.raises(errors.Forbidden) as refused:
            call()
        assert refused.value.reason == 'admin_only'
    assert image_id in _sweep(client, 'sweep-a')   # still to be removed


def test_a_claim_names_pending_delete_or_deleted(registry, client):
    with pytest.raises(errors.BadRequest) as refused:
        client.claim_scrub(ADMIN, 'x', 60, 0, 10, status='active')
    assert "'status' must be pending_delete or deleted" in refused.value.message


def test_concurrent_sweeps_never_claim_one_image_twice(client, deleted_image, race):
    image_ids = {deleted_image()[1] for _ in range(6)}
    outcomes = race([lambda name=name: _sweep(client, name)
                     for name in ('sweep-1', 'sweep-2', 'sweep-3')])
    mine = [set(outcome) & image_ids for outcome in outcomes]
    assert set().union(*mine) == image_ids
    assert sum(len(claimed) for claimed in mine) == len(image_ids)
