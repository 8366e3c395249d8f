"""A location taken off a live image is recorded, in the transaction that takes it
off, as data still to be removed: invisible as a location, held by its remover's
lease, confirmed by whoever removed the data, claimed by a sweep once nobody holds
it, and ended by adding the URL back. On every database backend."""

import time

import pytest

from glance_registry.client import Lease
from glance_registry.client import errors
from tests.unit.registry import races
from tests.unit.registry.conftest import ADMIN

FORMATS = {'disk_format': 'raw', 'container_format': 'bare'}


def urls(record):
    return [location['url'] for location in record['locations']]


@pytest.fixture
def two_copies(client, project, file_url, make_image):
    """``make()``: an active image of a new project with its data at two URLs;
    ``(owner, image id, first url, second url)``."""
    def make(name='copy'):
        owner = project()
        first, second = file_url(name + '-1'), file_url(name + '-2')
        image = make_image(owner, **FORMATS)
        client.transition_status(owner, image['id'], 'queued', 'saving')
        client.transition_status(owner, image['id'], 'saving', 'active',
                                 values={'size': 5},
                                 locations=[{'url': first}, {'url': second}])
        return owner, image['id'], first, second
    return make


def _claim(client, owner, seconds=60, limit=1000):
    return {(removal['image_id'], removal['url']): removal
            for removal in client.claim_removals(ADMIN, owner, seconds, limit)}


def test_a_removed_location_is_gone_for_readers_but_its_data_still_to_remove(
        client, two_copies, list_scope):
    owner, image_id, first, second = two_copies()
    after = client.remove_location(owner, image_id, second)
    assert urls(after) == [first]
    assert urls(client.get_image(owner, image_id)) == [first]
    assert urls(client.get_image(ADMIN, image_id)) == [first]
    listed, _ = list_scope(owner)
    assert [urls(image) for image in listed if image['id'] == image_id] == [[first]]
    # Counted once: one active location holds the image's 5 bytes.
    assert client.usage(owner)['image_size_total'] == 5
    with pytest.raises(errors.NotFound):
        client.remove_location(owner, image_id, second)
    # It is the image's data until removed: no other image may take the URL.
    assert client.location_references(ADMIN, [second]) == {second: [image_id]}
    assert _claim(client, 'sweep-a')[(image_id, second)]['url'] == second


def test_the_removers_lease_holds_the_sweep_off_until_it_runs_out(client,
                                                                   two_copies):
    owner, image_id, _first, second = two_copies()
    client.remove_location(owner, image_id, second,
                           removal_lease=Lease('api-1', 1))
    assert (image_id, second) not in _claim(client, 'sweep-a')
    time.sleep(1.2)   # the API worker died: nobody confirms
    assert (image_id, second) in _claim(client, 'sweep-a')
    with pytest.raises(errors.Conflict) as lost:
        client.confirm_location_removed(ADMIN, image_id, second, 'api-1')
    assert lost.value.reason == 'removal_lease_lost'
    client.confirm_location_removed(ADMIN, image_id, second, 'sweep-a')
    assert (image_id, second) not in _claim(client, 'sweep-b')
    client.confirm_location_removed(ADMIN, image_id, second, 'sweep-a')   # twice


def test_the_removers_confirmation_ends_it_before_any_sweep(client, two_copies):
    owner, image_id, first, second = two_copies()
    client.remove_location(owner, image_id, second,
                           removal_lease=Lease('api-1', 3600))
    client.confirm_location_removed(ADMIN, image_id, second, 'api-1')
    assert (image_id, second) not in _claim(client, 'sweep-a')
    assert urls(client.get_image(owner, image_id)) == [first]
    # Its data gone, the URL is free for the image again.
    assert urls(client.add_location(owner, image_id, second)) == [first, second]


def test_a_given_up_removal_is_the_next_sweeps_at_once(client, two_copies):
    owner, image_id, _first, second = two_copies()
    client.remove_location(owner, image_id, second,
                           removal_lease=Lease('api-1', 3600))
    client.renew_removal_lease(ADMIN, image_id, second, 'api-1', 0)
    assert _claim(client, 'sweep-a')[(image_id, second)]['attempts'] == 1


def test_a_url_added_back_is_never_swept(client, two_copies):
    owner, image_id, first, second = two_copies()
    client.remove_location(owner, image_id, second)
    assert urls(client.add_location(owner, image_id, second)) == [first, second]
    assert (image_id, second) not in _claim(client, 'sweep-a')
    # Removed and given back by a replacement, the same.
    client.replace_locations(owner, image_id, [{'url': first}])
    client.replace_locations(owner, image_id, [{'url': first}, {'url': second}])
    assert (image_id, second) not in _claim(client, 'sweep-a')
    assert urls(client.get_image(owner, image_id)) == [first, second]


def test_a_url_cannot_come_back_while_its_data_is_being_removed(client,
                                                                  two_copies):
    owner, image_id, first, second = two_copies()
    client.remove_location(owner, image_id, second,
                           removal_lease=Lease('api-1', 3600))
    for add_back in (lambda: client.add_location(owner, image_id, second),
                     lambda: client.replace_locations(
                         owner, image_id, [{'url': first}, {'url': second}])):
        with pytest.raises(errors.Conflict) as refused:
            add_back()
        assert refused.value.reason == 'removal_in_progress'
        assert refused.value.details['url'] == second
    assert urls(client.get_image(owner, image_id)) == [first]
    # A sweep that holds it refuses it too.
    client.renew_removal_lease(ADMIN, image_id, second, 'api-1', 0)
    assert (image_id, second) in _claim(client, 'sweep-a')
    with pytest.raises(errors.Conflict):
        client.add_location(owner, image_id, second)


def test_a_replacement_that_drops_a_url_records_its_data_to_remove(client,
                                                                    two_copies):
    owner, image_id, first, second = two_copies()
    after = client.replace_locations(owner, image_id, [{'url': first}],
                                     removal_lease=Lease('api-1', 3600))
    assert urls(after) == [first]
    client.renew_removal_lease(ADMIN, image_id, second, 'api-1', 0)
    assert (image_id, second) in _claim(client, 'sweep-a')
    # Kept in the replacement, a URL is no removal at all.
    assert (image_id, first) not in _claim(client, 'sweep-a')


def test_deleting_the_image_hands_the_waiting_removals_to_the_delete(client,
                                                                     two_copies):
    owner, image_id, first, second = two_copies()
    client.remove_location(owner, image_id, second)
    deleted = client.delete_image(owner, image_id)
    assert urls(deleted) == [first, second]
    assert deleted['locations'][1]['status'] == 'pending_delete'
    # The image's data now, swept with it: no longer a live image's removal.
    assert (image_id, second) not in _claim(client, 'sweep-a')
    claimed = {image['id']: image for image in client.claim_scrub(
        ADMIN, 'sweep-a', 60, 0, 1000, status='deleted')}
    assert sorted(urls(claimed[image_id])) == sorted([first, second])
    client.confirm_data_removed(ADMIN, image_id, 'sweep-a')
    # The remover that was still at it finds nothing left to confirm.
    client.confirm_location_removed(ADMIN, image_id, second, 'api-1')


def test_a_scrubbed_image_confirms_the_removals_its_locations_waited_for(
        client, two_copies):
    owner, image_id, first, second = two_copies()
    client.remove_location(owner, image_id, second)
    assert client.delete_image(owner, image_id, delayed=True)['delayed']
    claimed = {image['id']: image for image in client.claim_scrub(
        ADMIN, 'scrubber', 60, 0, 1000)}
    assert sorted(urls(claimed[image_id])) == sorted([first, second])
    client.finish_scrub(ADMIN, image_id, 'scrubber')
    assert image_id not in {image['id'] for image in client.claim_scrub(
        ADMIN, 'sweep-a', 60, 0, 1000, status='deleted')}


def test_only_admins_claim_renew_or_confirm_removals(client, two_copies, project):
    owner, image_id, _first, second = two_copies()
    client.remove_location(owner, image_id, second,
                           removal_lease=Lease('api-1', 3600))
    for caller in (owner, project()):
        for call in (lambda: client.claim_removals(caller, 'x', 60, 10),
                     lambda: client.renew_removal_lease(caller, image_id, second,
                                                        'api-1', 0),
                     lambda: client.confirm_location_removed(caller, image_id,
                                                             second, 'api-1')):
            with pytest.raises(errors.Forbidden) as refused:
                call()
            assert refused.value.reason == 'admin_only'
    client.renew_removal_lease(ADMIN, image_id, second, 'api-1', 0)
    assert (image_id, second) in _claim(client, 'sweep-a')   # still to remove


def test_concurrent_sweeps_never_claim_one_removal_twice(registry, client,
                                                         two_copies, race):
    removals = set()
    for n in range(6):
        owner, image_id, _first, second = two_copies('race-%d' % n)
        client.remove_location(owner, image_id, second)
        removals.add((image_id, second))
    # PostgreSQL: held at the compare-and-swap, after each read the candidates.
    outcomes = race([lambda name=name: _claim(client, name)
                     for name in ('sweep-1', 'sweep-2', 'sweep-3')],
                    gate=races.PostgresqlLocationsGate
                    if registry.backend == 'postgresql' else None)
    mine = [set(outcome) & removals for outcome in outcomes]
    assert set().union(*mine) == removals
    assert sum(len(claimed) for claimed in mine) == len(removals)
