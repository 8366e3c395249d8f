"""Location operations (add one, remove one, replace all, lease a pending one, find
the images that use a URL), over HTTP, on every database backend. Every refused
write is checked to have changed nothing."""

import time

import orjson
import pytest
import requests

from glance_registry.client import Lease
from glance_registry.client import errors
from tests.unit.registry import races
from tests.unit.registry.conftest import ADMIN

FORMATS = {'disk_format': 'raw', 'container_format': 'bare'}
HASH = {'checksum': 'c' * 32, 'os_hash_algo': 'sha512', 'os_hash_value': 'f' * 128}


def urls(record):
    return [location['url'] for location in record['locations']]


def active_image(client, caller, *location_urls):
    """An active image whose data is at ``location_urls``."""
    image = client.create_image(caller, dict(FORMATS))
    client.transition_status(caller, image['id'], 'queued', 'saving')
    return client.transition_status(
        caller, image['id'], 'saving', 'active', values={'size': 5},
        locations=[{'url': url} for url in location_urls])


# -- add ---------------------------------------------------------------------------

def test_add_appends_or_inserts_at_a_position_keeping_metadata(client, project,
                                                                file_url):
    caller = project()
    image = active_image(client, caller, file_url('a'))
    client.add_location(caller, image['id'], file_url('c'), {'store': 'b'})
    client.add_location(caller, image['id'], file_url('b'), position=1)
    record = client.add_location(caller, image['id'], file_url('first'), position=0)
    assert urls(record) == [file_url(name) for name in ('first', 'a', 'b', 'c')]
    assert record['locations'][3] == {'url': file_url('c'), 'metadata': {'store': 'b'},
                                      'status': 'active'}
    record = client.add_location(caller, image['id'], file_url('last'), position=99)
    assert urls(record)[-1] == file_url('last')
    assert record['status'] == 'active' and record['updated_at'] >= image['updated_at']
    assert client.get_image(caller, image['id']) == record


def test_add_activates_a_queued_image_with_its_data_values_in_one_step(client, project):
    caller = project()
    image = client.create_image(caller, dict(FORMATS))
    record = client.add_location(caller, image['id'], 'http://example.com/disk',
                                 transition=('queued', 'active'),
                                 values=dict(HASH, size=1234))
    assert record['status'] == 'active'
    assert (record['size'], record['checksum'], record['os_hash_value']) == (
        1234, HASH['checksum'], HASH['os_hash_value'])
    assert urls(record) == ['http://example.com/disk']
    assert client.get_image(caller, image['id']) == record


@pytest.mark.parametrize('status', ['active', 'saving'])
def test_add_with_a_lost_status_swap_conflicts_and_adds_nothing(client, project, status,
                                                                file_url):
    caller = project()
    image = client.create_image(caller, dict(FORMATS))
    client.transition_status(caller, image['id'], 'queued', 'saving')
    if status == 'active':
        client.transition_status(caller, image['id'], 'saving', 'active',
                                 locations=[{'url': file_url('x')}])
    before = client.get_image(caller, image['id'])
    with pytest.raises(errors.Conflict) as raised:
        client.add_location(caller, image['id'], 'http://example.com/disk',
                            transition=('queued', 'active'), values={'size': 1})
    assert raised.value.details['current_status'] == status
    assert client.get_image(caller, image['id']) == before


def test_add_needs_the_formats_to_activate(client, project):
    caller = project()
    image = client.create_image(caller, {'disk_format': 'raw'})
    with pytest.raises(errors.BadRequest) as raised:
        client.add_location(caller, image['id'], 'http://example.com/disk',
                            transition=('queued', 'active'))
    assert 'container_format' in raised.value.message
    assert client.get_image(caller, image['id']) == image


def test_a_duplicate_url_conflicts_and_changes_nothing(file_url, client, project):
    caller = project()
    image = active_image(client, caller, file_url('a'), file_url('b'))
    with pytest.raises(errors.Conflict) as raised:
        client.add_location(caller, image['id'], file_url('b'), position=0)
    assert raised.value.reason == 'duplicate_location'
    assert client.get_image(caller, image['id']) == image


def test_more_locations_than_max_locations_is_too_large(file_url, client, project):
    caller = project()
    image = active_image(client, caller, file_url('a'))
    client.add_location(caller, image['id'], file_url('b'), max_locations=2)
    before = client.get_image(caller, image['id'])
    with pytest.raises(errors.TooLarge) as raised:
        client.add_location(caller, image['id'], file_url('c'), max_locations=2)
    assert raised.value.details['limit'] == 'max_locations'
    assert client.get_image(caller, image['id']) == before
    # Unlimited: negative or absent.
    assert len(client.add_location(caller, image['id'], file_url('c'),
                                   max_locations=-1)['locations']) == 3


def test_racing_adds_never_exceed_max_locations(file_url, client, project, race):
    caller = project()
    image = active_image(client, caller, file_url('0'))
    outcomes = race([lambda n=n: client.add_location(caller, image['id'],
                                                     file_url('%d' % (n + 1)),
                                                     max_locations=4)
                     for n in range(8)])
    assert sum(not isinstance(o, errors.RegistryError) for o in outcomes) == 3
    assert all(isinstance(o, errors.TooLarge) for o in outcomes
               if isinstance(o, errors.RegistryError))
    assert len(client.get_image(caller, image['id'])['locations']) == 4


def test_racing_adds_of_one_url_add_it_once(file_url, client, project, race):
    caller = project()
    image = active_image(client, caller, file_url('0'))
    outcomes = race([lambda: client.add_location(caller, image['id'], file_url('same'))
                     for _ in range(6)])
    assert sum(isinstance(o, errors.Conflict) for o in outcomes) == 5
    assert urls(client.get_image(caller, image['id'])) == [file_url('0'),
                                                           file_url('same')]


def test_racing_writes_of_one_file_to_several_images_give_it_to_one(
        registry, client, project, race, file_url):
    """A writable store's file holds one image's data: of requests adding it to
    several images at once (a location, an upload's end, a replacement), one wins
    and the others are refused, whoever calls."""
    url = file_url('contended')
    callers = [project() for _ in range(6)]
    images = [client.create_image(caller, dict(FORMATS)) for caller in callers]
    for caller, image in list(zip(callers, images))[4:]:
        client.transition_status(caller, image['id'], 'queued', 'saving')
    writes = [
        lambda c=callers[0], i=images[0]: client.add_location(c, i['id'], url),
        lambda c=callers[1], i=images[1]: client.add_location(
            c, i['id'], url, transition=('queued', 'active'), values={'size': 5}),
        lambda c=callers[2], i=images[2]: client.replace_locations(
            c, i['id'], [{'url': url}]),
        lambda c=callers[3], i=images[3]: client.replace_locations(
            c, i['id'], [{'url': url}], transition=('queued', 'active'),
            values={'size': 5}),
    ] + [lambda c=c, i=i: client.transition_status(
            c, i['id'], 'saving', 'active', values={'size': 5},
            locations=[{'url': url}])
         for c, i in list(zip(callers, images))[4:]]
    # PostgreSQL: held just before adding the location, after the check.
    outcomes = race(writes, gate=races.PostgresqlLocationsGate
                    if registry.backend == 'postgresql' else None)
    won = [n for n, outcome in enumerate(outcomes)
           if not isinstance(outcome, errors.RegistryError)]
    assert len(won) == 1, outcomes
    assert all(outcome.reason == 'location_in_use' for outcome in outcomes
               if isinstance(outcome, errors.RegistryError)), outcomes
    assert client.location_references(ADMIN, [url]) == {url: [images[won[0]]['id']]}
    for n, (caller, image) in enumerate(zip(callers, images)):
        assert urls(client.get_image(caller, image['id'])) == ([url] if n in won
                                                               else [])


def test_add_to_an_invisible_or_deleted_image_is_not_found(file_url, client, project):
    owner, other = project(), project()
    image = client.create_image(owner, dict(FORMATS, visibility='private'))
    with pytest.raises(errors.NotFound):
        client.add_location(other, image['id'], file_url('x'))
    client.delete_image(owner, image['id'])
    with pytest.raises(errors.NotFound):
        client.add_location(owner, image['id'], file_url('x'))


def test_adding_a_copy_over_the_storage_quota_is_too_large(file_url, client, project):
    """Each active location counts the image's size."""
    caller = project()
    image = active_image(client, caller, file_url('a'))     # 5 bytes
    client.add_location(caller, image['id'], file_url('b'), max_storage=10)
    before = client.get_image(caller, image['id'])
    with pytest.raises(errors.TooLarge) as raised:
        client.add_location(caller, image['id'], file_url('c'), max_storage=14)
    assert raised.value.details['limit'] == 'max_storage'
    with pytest.raises(errors.TooLarge):
        client.replace_locations(caller, image['id'], [
            {'url': file_url('a')}, {'url': file_url('b')}, {'url': file_url('c')}],
            max_storage=14)
    assert client.get_image(caller, image['id']) == before
    # A pending location stores nothing yet; activating it counts.
    pending = pending_image(client, caller)
    client.add_location(caller, pending['id'], file_url('p2'), status='pending',
                        max_storage=10)
    with pytest.raises(errors.TooLarge):
        client.transition_status(caller, pending['id'], 'importing', 'active',
                                 values={'size': 1},
                                 locations=[{'url': 'http://example.com/disk'}],
                                 quota={'max_storage': 10})
    assert client.get_image(caller, pending['id'])['status'] == 'importing'
    assert client.usage(caller)['image_size_total'] == 10


# -- remove ------------------------------------------------------------------------

def test_remove_by_url_keeps_the_others_in_order(file_url, client, project):
    caller = project()
    image = active_image(client, caller, file_url('a'), file_url('b'), file_url('c'))
    record = client.remove_location(caller, image['id'], file_url('b'))
    assert urls(record) == [file_url('a'), file_url('c')]
    assert client.get_image(caller, image['id']) == record
    record = client.add_location(caller, image['id'], file_url('b'), position=1)
    assert urls(record) == [file_url('a'), file_url('b'), file_url('c')]


def test_removing_an_unknown_url_is_not_found(file_url, client, project):
    caller = project()
    image = active_image(client, caller, file_url('a'))
    with pytest.raises(errors.NotFound):
        client.remove_location(caller, image['id'], file_url('nope'))
    assert client.get_image(caller, image['id']) == image


@pytest.mark.parametrize('status', ['active', 'deactivated'])
def test_the_last_copy_of_an_image_with_data_stays_unless_allowed(client, project,
                                                                  status, file_url):
    caller = project()
    image = active_image(client, caller, file_url('a'))
    if status == 'deactivated':
        image = client.transition_status(caller, image['id'], 'active', 'deactivated')
    with pytest.raises(errors.Conflict) as raised:
        client.remove_location(caller, image['id'], file_url('a'))
    assert raised.value.reason == 'last_location'
    assert client.get_image(caller, image['id']) == image
    record = client.remove_location(caller, image['id'], file_url('a'), allow_last=True)
    assert record['locations'] == [] and record['status'] == status


def test_a_queued_image_may_lose_its_last_location(file_url, client, project):
    caller = project()
    image = client.create_image(caller, dict(FORMATS))
    client.add_location(caller, image['id'], file_url('a'), status='pending')
    assert client.remove_location(caller, image['id'], file_url('a'))['locations'] == []


def test_racing_removals_keep_the_last_copy(file_url, client, project, race):
    caller = project()
    image = active_image(client, caller, file_url('a'), file_url('b'), file_url('c'))
    outcomes = race([lambda url=url: client.remove_location(caller, image['id'], url)
                     for url in urls(image)])
    assert sum(isinstance(o, errors.Conflict) for o in outcomes) == 1
    assert len(client.get_image(caller, image['id'])['locations']) == 1


# -- replace -------------------------------------------------------------------------

def test_replace_sets_all_locations_in_order_with_an_optional_status_swap(client,
                                                                          project,
                                                                          file_url):
    caller = project()
    image = client.create_image(caller, dict(FORMATS))
    record = client.replace_locations(
        caller, image['id'], [{'url': file_url('b'), 'metadata': {'k': 1}},
                              {'url': file_url('a')}],
        expected_urls=[], transition=('queued', 'active'), values={'size': 3})
    assert record['status'] == 'active' and record['size'] == 3
    assert record['locations'] == [
        {'url': file_url('b'), 'metadata': {'k': 1}, 'status': 'active'},
        {'url': file_url('a'), 'metadata': {}, 'status': 'active'}]
    record = client.replace_locations(caller, image['id'], [{'url': file_url('a')}])
    assert urls(record) == [file_url('a')]


def test_a_list_of_more_locations_than_one_write_takes_is_refused(file_url, client,
                                                                  project):
    # 200,000 of them took 19 s and answered 503 (too many SQL variables).
    caller = project()
    image = active_image(client, caller, file_url('a'))
    many = [{'url': file_url('copy-%d' % n)} for n in range(1001)]
    with pytest.raises(errors.BadRequest) as raised:
        client.replace_locations(caller, image['id'], many)
    assert raised.value.details['field'] == 'locations'
    assert 'at most 1000' in raised.value.message
    assert client.get_image(caller, image['id']) == image


def test_replace_is_a_compare_and_swap_on_the_urls_read(file_url, client, project):
    caller = project()
    image = active_image(client, caller, file_url('a'), file_url('b'))
    with pytest.raises(errors.Conflict) as raised:
        client.replace_locations(caller, image['id'], [{'url': file_url('c')}],
                                 expected_urls=[file_url('b'), file_url('a')])
    assert raised.value.reason == 'locations_changed'
    assert client.get_image(caller, image['id']) == image


def test_replace_changes_the_attributes_of_the_same_patch_in_one_transaction(
        client, project, file_url):
    caller = project()
    image = active_image(client, caller, file_url('a'))
    record = client.replace_locations(
        caller, image['id'], [{'url': file_url('a')}, {'url': file_url('b')}],
        update={'values': {'name': 'both'}, 'properties': {'k': 'v'},
                'tags': ['t']})
    assert (urls(record), record['name'], record['properties'], record['tags']) == (
        [file_url('a'), file_url('b')], 'both', {'k': 'v'}, ['t'])
    # Refused for either part: neither is written.
    for locations, update, error in [
            ([{'url': file_url('c')}], {'properties': {'gone': None}}, errors.Conflict),
            ([{'url': file_url('c')}], {'tags': ['x', 'y'], 'quota': {'max_tags': 1}},
             errors.TooLarge),
            ([{'url': file_url('c')}] * 2, {'values': {'name': 'dup'}},
             errors.Conflict)]:
        with pytest.raises(error):
            client.replace_locations(caller, image['id'], locations, update=update)
        assert client.get_image(caller, image['id']) == record


def test_replace_refuses_duplicates_and_too_many(file_url, client, project):
    caller = project()
    image = active_image(client, caller, file_url('a'))
    with pytest.raises(errors.Conflict):
        client.replace_locations(caller, image['id'],
                                 [{'url': file_url('b')}, {'url': file_url('b')}])
    with pytest.raises(errors.TooLarge):
        client.replace_locations(caller, image['id'],
                                 [{'url': file_url('b')}, {'url': file_url('c')}],
                                 max_locations=1)
    assert client.get_image(caller, image['id']) == image


# -- leases --------------------------------------------------------------------------

def pending_image(client, caller, lease=None):
    image = client.create_image(caller, dict(FORMATS))
    return client.add_location(caller, image['id'], 'http://example.com/disk',
                               status='pending', transition=('queued', 'importing'),
                               values={'os_hash_algo': 'sha512',
                                       'os_hash_value': 'a' * 128},
                               lease=lease)


def test_a_pending_location_shows_its_lease_and_attempts(client, project):
    caller = project()
    record = pending_image(client, caller, Lease('worker-1', 60))
    assert record['status'] == 'importing'
    assert record['os_hash_value'] == 'a' * 128
    (location,) = record['locations']
    assert location['status'] == 'pending' and location['attempts'] == 1
    assert location['lease_expires_at'] > record['updated_at']
    # Pending data is not stored data: it counts for no storage.
    assert client.usage(caller)['image_size_total'] == 0


def test_a_running_lease_is_renewed_by_its_owner_only(client, project):
    caller = project()
    image = pending_image(client, caller, Lease('worker-1', 60))
    renewed = client.claim_location(caller, image['id'], 'http://example.com/disk',
                                    Lease('worker-1', 120))
    assert renewed['locations'][0]['attempts'] == 1
    assert renewed['locations'][0]['lease_expires_at'] >= \
        image['locations'][0]['lease_expires_at']
    with pytest.raises(errors.Conflict) as raised:
        client.claim_location(caller, image['id'], 'http://example.com/disk',
                              Lease('worker-2', 60))
    assert raised.value.details['lease_expires_at'] == \
        renewed['locations'][0]['lease_expires_at']
    assert client.get_image(caller, image['id']) == renewed


def test_an_expired_lease_is_taken_over_counting_an_attempt(client, project):
    caller = project()
    image = pending_image(client, caller, Lease('worker-1', 0))
    time.sleep(0.01)
    taken = client.claim_location(caller, image['id'], 'http://example.com/disk',
                                  Lease('worker-2', 60))
    assert taken['locations'][0]['attempts'] == 2
    # The old owner has lost it.
    with pytest.raises(errors.Conflict):
        client.claim_location(caller, image['id'], 'http://example.com/disk',
                              Lease('worker-1', 60))
    unleased = pending_image(client, caller)
    assert unleased['locations'][0]['attempts'] == 0
    assert unleased['locations'][0]['lease_expires_at'] is None
    claimed = client.claim_location(caller, unleased['id'], 'http://example.com/disk',
                                    Lease('worker-3', 60))
    assert claimed['locations'][0]['attempts'] == 1


def test_racing_claims_of_an_expired_lease_have_one_winner(client, project, race):
    caller = project()
    image = pending_image(client, caller, Lease('dead', 0))
    time.sleep(0.01)
    outcomes = race([lambda n=n: client.claim_location(
        caller, image['id'], 'http://example.com/disk', Lease('w%d' % n, 60))
        for n in range(6)])
    assert sum(isinstance(o, errors.Conflict) for o in outcomes) == 5
    assert client.get_image(caller, image['id'])['locations'][0]['attempts'] == 2


def test_only_pending_locations_are_leased(file_url, client, project):
    caller = project()
    image = active_image(client, caller, file_url('a'))
    with pytest.raises(errors.Conflict) as raised:
        client.claim_location(caller, image['id'], file_url('a'), Lease('w', 60))
    assert raised.value.details['location_status'] == 'active'
    with pytest.raises(errors.NotFound):
        client.claim_location(caller, image['id'], file_url('b'), Lease('w', 60))
    with pytest.raises(errors.BadRequest):
        client.add_location(caller, image['id'], file_url('b'), lease=Lease('w', 60))
    assert client.get_image(caller, image['id']) == image


def test_verification_outcomes_are_status_swaps_with_the_locations(client, project):
    """What the API does when the data is verified, or refused."""
    caller = project()
    image = pending_image(client, caller, Lease('w', 60))
    verified = client.transition_status(
        caller, image['id'], 'importing', 'active', values=dict(HASH, size=7),
        locations=[{'url': 'http://example.com/disk'}])
    assert verified['locations'] == [{'url': 'http://example.com/disk',
                                      'metadata': {}, 'status': 'active'}]
    assert client.usage(caller)['image_size_total'] == 7
    image = pending_image(client, caller, Lease('w', 60))
    refused = client.transition_status(
        caller, image['id'], 'importing', 'queued',
        values=dict.fromkeys(['size', 'checksum', 'os_hash_algo', 'os_hash_value']),
        locations=[])
    assert (refused['status'], refused['locations'], refused['os_hash_value']) == (
        'queued', [], None)


# -- references ----------------------------------------------------------------------

def test_references_name_the_live_images_that_use_a_url(client, project, scope):
    caller = project()
    url = 'http://example.com/shared-%s' % scope
    first = active_image(client, caller, url)
    second = active_image(client, caller, url, url + '-other')
    found = client.location_references(ADMIN, [url, url + '-other', url + '-none'])
    assert found == {url: sorted([first['id'], second['id']]),
                     url + '-other': [second['id']], url + '-none': []}
    client.delete_image(caller, first['id'])
    assert client.location_references(ADMIN, [url]) == {url: [second['id']]}


def test_references_are_for_admins_only(file_url, client, project):
    with pytest.raises(errors.Forbidden):
        client.location_references(project(), [file_url('x')])


# -- request validation --------------------------------------------------------------

BAD_BODIES = [
    ('POST', {}, 'url'),
    ('POST', {'url': ''}, 'url'),
    ('POST', {'url': 5}, 'url'),
    ('POST', {'url': 'file:///x', 'metadata': []}, 'metadata'),
    ('POST', {'url': 'file:///x', 'status': ''}, 'status'),
    ('POST', {'url': 'file:///x', 'position': -1}, 'position'),
    ('POST', {'url': 'file:///x', 'position': 'first'}, 'position'),
    ('POST', {'url': 'file:///x', 'transition': {'from': 'queued'}}, 'to'),
    ('POST', {'url': 'file:///x', 'transition': {'from': 'queued', 'to': 'deleted'}},
     'DELETE'),
    ('POST', {'url': 'file:///x', 'values': {'size': 1}}, 'transition'),
    ('POST', {'url': 'file:///x', 'transition': {'from': 'queued', 'to': 'active'},
              'values': {'name': 'x'}}, 'name'),
    ('POST', {'url': 'file:///x', 'max_locations': 'ten'}, 'max_locations'),
    ('POST', {'url': 'file:///x', 'status': 'pending', 'lease': {'owner': 'w'}},
     'seconds'),
    ('POST', {'url': 'file:///x', 'status': 'pending',
              'lease': {'owner': 'w', 'seconds': -1}}, 'seconds'),
    ('POST', {'url': 'file:///x', 'status': 'pending',
              'lease': {'owner': 'x' * 65, 'seconds': 1}}, 'owner'),
    ('POST', {'url': 'file:///x', 'extra': 1}, 'extra'),
    ('PUT', {}, 'locations'),
    ('PUT', {'locations': [{'url': 'file:///x'}], 'expected_urls': 'x'},
     'expected_urls'),
    ('PUT', {'locations': [{'url': 'file:///x', 'other': 1}]}, 'other'),
    ('DELETE', {}, 'url'),
    ('DELETE', {'url': 'file:///x', 'allow_last': 'yes'}, 'allow_last'),
]


@pytest.mark.parametrize('method,body,field', BAD_BODIES,
                         ids=['%s-%s-%d' % (m, f, i) for i, (m, _, f) in
                              enumerate(BAD_BODIES)])
def test_invalid_location_bodies_are_bad_requests_and_change_nothing(
        registry, project, method, body, field, file_url):
    caller = project()
    image = active_image(registry.client, caller, file_url('a'), file_url('b'))
    response = requests.request(
        method, registry.url + '/v1/images/%s/locations' % image['id'],
        data=orjson.dumps(body),
        auth=registry.auth(caller), headers={'Content-Type': 'application/json'})
    assert response.status_code == 400, response.text
    assert field in response.json()['error']['message']
    assert registry.client.get_image(caller, image['id']) == image


@pytest.mark.parametrize('body,field', [
    ({'url': 'file:///a'}, 'owner'),
    ({'owner': 'w', 'seconds': 1}, 'url'),
    ({'url': 'file:///a', 'owner': 'w', 'seconds': 86401}, 'seconds'),
])
def test_invalid_lease_bodies_are_bad_requests(registry, project, body, field):
    caller = project()
    image = pending_image(registry.client, caller)
    response = requests.put(
        registry.url + '/v1/images/%s/locations/lease' % image['id'],
        data=orjson.dumps(body),
        auth=registry.auth(caller), headers={'Content-Type': 'application/json'})
    assert response.status_code == 400, response.text
    assert field in response.json()['error']['message']
    assert registry.client.get_image(caller, image['id']) == image
