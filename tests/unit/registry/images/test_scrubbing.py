"""Delayed delete: images pending delete, the scrubbers' leases on them, restores."""

import time
import uuid

import pytest

from glance_registry.client import Lease
from glance_registry.client import errors
from tests.unit.registry.conftest import ADMIN

RAW = {'disk_format': 'raw', 'container_format': 'bare'}
LOCK = 'os_glance_import_task'
IMPORTING_TO = 'os_glance_importing_to_stores'
FAILED = 'os_glance_failed_import'


@pytest.fixture
def active_image(client, project, make_image):
    """``make()``: an active image with one location, owned by a new project."""
    def make():
        owner = project()
        image = make_image(owner, **RAW)
        client.add_location(owner, image['id'], 'file:///scrub-%s' % image['id'],
                            transition=('queued', 'active'), values={'size': 3})
        return owner, image['id']
    return make


def _claim(client, owner, seconds=60, older_than=0, limit=1000):
    return {image['id']: image for image in
            client.claim_scrub(ADMIN, owner, seconds, older_than, limit)}


def test_a_delayed_delete_keeps_the_data_of_an_active_image(client, active_image):
    owner, image_id = active_image()
    before = client.delete_image(owner, image_id, delayed=True)
    assert before['delayed'] is True and before['status'] == 'active'
    with pytest.raises(errors.NotFound):
        client.get_image(owner, image_id)
    url = 'file:///scrub-%s' % image_id
    # Its data may come back: no other image may take it, nor delete it.
    assert client.location_references(ADMIN, [url]) == {url: [image_id]}
    claimed = _claim(client, 'scrubber-a')[image_id]
    assert claimed['status'] == 'pending_delete' and claimed['deleted']
    assert [location['url'] for location in claimed['locations']] == [url]


def test_a_delayed_delete_of_an_image_without_data_deletes_it(client, project,
                                                              make_image):
    owner = project()
    image = make_image(owner, **RAW)
    assert client.delete_image(owner, image['id'], delayed=True)['delayed'] is False
    assert image['id'] not in _claim(client, 'scrubber-a')
    with pytest.raises(errors.Conflict) as refused:
        client.restore_image(ADMIN, image['id'])
    assert refused.value.reason == 'not_pending_delete'
    assert refused.value.details['current_status'] == 'deleted'


def test_scrub_time_holds_images_back(client, active_image):
    owner, image_id = active_image()
    client.delete_image(owner, image_id, delayed=True)
    assert image_id not in _claim(client, 'scrubber-a', older_than=3600)
    time.sleep(1.1)
    assert image_id in _claim(client, 'scrubber-a', older_than=1)


def test_one_scrubber_at_a_time_and_a_dead_ones_lease_is_taken_over(client,
                                                                   active_image):
    owner, image_id = active_image()
    client.delete_image(owner, image_id, delayed=True)
    assert image_id in _claim(client, 'scrubber-a', seconds=1)
    assert image_id not in _claim(client, 'scrubber-b')
    time.sleep(1.2)   # scrubber-a died: nobody renews
    assert image_id in _claim(client, 'scrubber-b')
    with pytest.raises(errors.Conflict) as lost:
        client.finish_scrub(ADMIN, image_id, 'scrubber-a')
    assert lost.value.reason == 'scrub_lease_lost'
    with pytest.raises(errors.Conflict):
        client.renew_scrub_lease(ADMIN, image_id, 'scrubber-a', 60)
    client.renew_scrub_lease(ADMIN, image_id, 'scrubber-b', 60)
    done = client.finish_scrub(ADMIN, image_id, 'scrubber-b')
    assert done['status'] == 'deleted'
    assert client.location_references(ADMIN, ['file:///scrub-%s' % image_id]) == {
        'file:///scrub-%s' % image_id: []}
    assert image_id not in _claim(client, 'scrubber-c')


def test_concurrent_scrubbers_never_claim_one_image_twice(client, active_image,
                                                         race):
    image_ids = set()
    for _ in range(6):
        owner, image_id = active_image()
        client.delete_image(owner, image_id, delayed=True)
        image_ids.add(image_id)
    outcomes = race([lambda name=name: _claim(client, name)
                     for name in ('scrubber-1', 'scrubber-2', 'scrubber-3')])
    mine = [set(outcome) & image_ids for outcome in outcomes]
    assert set().union(*mine) == image_ids
    assert sum(len(claimed) for claimed in mine) == len(image_ids)


def test_a_restored_image_is_active_with_its_data(client, active_image):
    owner, image_id = active_image()
    client.delete_image(owner, image_id, delayed=True)
    restored = client.restore_image(ADMIN, image_id)
    assert restored['status'] == 'active' and not restored['deleted']
    assert restored['deleted_at'] is None
    shown = client.get_image(owner, image_id)
    assert [location['url'] for location in shown['locations']] == [
        'file:///scrub-%s' % image_id]
    with pytest.raises(errors.Conflict) as refused:
        client.restore_image(ADMIN, image_id)
    assert refused.value.reason == 'not_pending_delete'


def test_an_image_a_scrubber_claimed_is_never_restored(client, active_image):
    owner, image_id = active_image()
    client.delete_image(owner, image_id, delayed=True)
    _claim(client, 'scrubber-a', seconds=1)
    time.sleep(1.2)   # even once that scrubber is gone: its data may be half deleted
    with pytest.raises(errors.Conflict) as refused:
        client.restore_image(ADMIN, image_id)
    assert refused.value.reason == 'scrub_started'


def test_only_admins_scrub_or_restore(client, active_image):
    owner, image_id = active_image()
    client.delete_image(owner, image_id, delayed=True)
    for call in (lambda: client.claim_scrub(owner, 'x', 60, 0, 10),
                 lambda: client.restore_image(owner, image_id),
                 lambda: client.finish_scrub(owner, image_id, 'x'),
                 lambda: client.renew_scrub_lease(owner, image_id, 'x', 60)):
        with pytest.raises(errors.Forbidden) as refused:
            call()
        assert refused.value.reason == 'admin_only'


def test_images_a_scrubber_failed_on_come_after_the_others(client, active_image):
    failed = []
    for _ in range(2):
        owner, image_id = active_image()
        client.delete_image(owner, image_id, delayed=True)
        failed.append(image_id)
    assert set(failed) <= set(_claim(client, 'scrubber-a'))
    for image_id in failed:
        client.renew_scrub_lease(ADMIN, image_id, 'scrubber-a', 0)   # gave up
    owner, fresh = active_image()
    client.delete_image(owner, fresh, delayed=True)
    claimed = [image['id'] for image in
               client.claim_scrub(ADMIN, 'scrubber-b', 60, 0, 1000)]
    mine = [image_id for image_id in claimed if image_id in failed + [fresh]]
    assert mine == [fresh] + failed


def test_a_restore_racing_a_scrubber_either_wins_or_is_refused(client, active_image,
                                                              race):
    owner, image_id = active_image()
    client.delete_image(owner, image_id, delayed=True)
    restored, claimed = race([lambda: client.restore_image(ADMIN, image_id),
                              lambda: _claim(client, 'scrubber-a')])
    if isinstance(restored, errors.Conflict):
        assert restored.reason == 'scrub_started'
        assert image_id in claimed
    else:
        assert restored['status'] == 'active'
        assert image_id not in claimed
        assert client.get_image(owner, image_id)['status'] == 'active'


def _copy_interrupted_by_delete(client, active_image, seconds=60):
    """An active image deleted (delayed) while a copy-image import of it ran; the
    import's task."""
    owner, image_id = active_image()
    lease = Lease('copier', seconds)
    task = client.create_task(
        owner, {'id': str(uuid.uuid4()), 'type': 'api_image_import',
                'input': {'image_id': image_id}}, ttl=3600, lease=lease,
        image={'id': image_id, 'properties': {IMPORTING_TO: 'cheap',
                                              FAILED: ''}})['task']
    client.claim_task(owner, task['id'], lease)
    client.delete_image(owner, image_id, delayed=True)
    return owner, image_id, task, lease


def test_a_restore_drops_the_lock_of_an_import_that_ended(client, active_image):
    # The import failed as the image went (its worker found it deleted): restored,
    # the image is not being imported, and a new import of it is not refused.
    owner, image_id, task, lease = _copy_interrupted_by_delete(client, active_image)
    client.finish_task(ADMIN, task['id'], lease, 'failure',
                       message='Image was deleted during the import.')
    restored = client.restore_image(ADMIN, image_id)
    assert LOCK not in restored['properties']
    assert restored['properties'][IMPORTING_TO] == ''
    shown = client.get_image(owner, image_id)['properties']
    assert LOCK not in shown and shown[IMPORTING_TO] == ''


def test_a_restore_keeps_the_lock_of_an_import_still_running(client, active_image):
    # Its worker goes on copying (and finishes it on the restored image).
    owner, image_id, task, lease = _copy_interrupted_by_delete(client, active_image)
    restored = client.restore_image(ADMIN, image_id)
    assert restored['properties'][LOCK] == task['id']
    assert restored['properties'][IMPORTING_TO] == 'cheap'
    done = client.finish_task(ADMIN, task['id'], lease, 'success',
                              image={'properties': {IMPORTING_TO: ''}})
    assert LOCK not in done['image']['properties']
