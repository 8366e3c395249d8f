"""Create, read, update, status compare-and-swap, tags and delete, over HTTP, on every
database backend."""

import re
import threading
import uuid

import pytest

from glance_registry.client import errors
from tests.unit.registry.conftest import ADMIN

ISO_Z = re.compile(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ')
FORMATS = {'disk_format': 'qcow2', 'container_format': 'bare'}


def test_create_makes_a_queued_shared_image_owned_by_the_caller(client, project):
    caller = project()
    image = client.create_image(caller, {})
    assert uuid.UUID(image['id'])
    assert image['status'] == 'queued'
    assert image['visibility'] == 'shared'
    assert image['owner'] == caller.project_id
    assert image['protected'] is False and image['os_hidden'] is False
    assert image['min_disk'] == 0 and image['min_ram'] == 0
    assert image['size'] is None and image['checksum'] is None
    assert image['deleted'] is False and image['deleted_at'] is None
    assert image['properties'] == {} and image['tags'] == [] and image['locations'] == []
    assert ISO_Z.fullmatch(image['created_at'])
    assert image['updated_at'] == image['created_at']
    assert client.get_image(caller, image['id']) == image


def test_create_takes_every_base_attribute_properties_and_tags(client, project):
    # An admin: only admins create images for another project.
    caller = project(admin=True)
    image_id = str(uuid.uuid4())
    values = {'id': image_id, 'name': 'cirros', 'visibility': 'private',
              'protected': True, 'os_hidden': True, 'min_disk': 1, 'min_ram': 512,
              'disk_format': 'qcow2', 'container_format': 'bare', 'owner': 'other',
              'properties': {'os_distro': 'cirros', 'long': 'x' * 65535},
              'tags': ['b', 'a', 'b']}
    image = client.create_image(caller, values)
    expected = dict(values, tags=['a', 'b'])
    assert {key: image[key] for key in expected} == expected
    assert client.get_image(ADMIN, image_id) == image


def test_owner_may_be_created_null(client, project):
    image = client.create_image(ADMIN, {'owner': None, 'visibility': 'public'})
    assert image['owner'] is None


def test_duplicate_id_conflicts_even_after_deletion(client, project):
    caller = project()
    image = client.create_image(caller, {'name': 'first'})
    with pytest.raises(errors.Conflict):
        client.create_image(caller, {'id': image['id'], 'name': 'second'})
    client.delete_image(caller, image['id'])
    with pytest.raises(errors.Conflict):
        client.create_image(caller, {'id': image['id'], 'name': 'third'})
    with pytest.raises(errors.NotFound):
        client.get_image(caller, image['id'])


def test_unknown_image_is_not_found(client, project):
    with pytest.raises(errors.NotFound):
        client.get_image(project(), str(uuid.uuid4()))
    with pytest.raises(errors.NotFound):
        client.get_image(ADMIN, 'no-such-image')


def test_update_sets_values_properties_and_replaces_tags(client, project):
    caller = project()
    image = client.create_image(caller, {'name': 'old', 'tags': ['x', 'y'],
                                         'properties': {'keep': '1', 'drop': '2'}})
    updated = client.update_image(
        caller, image['id'],
        values={'name': 'new', 'min_ram': 512, 'protected': True},
        properties={'drop': None, 'add': 'value', 'keep': 'changed'},
        tags=['z', 'a'])
    assert updated['name'] == 'new' and updated['min_ram'] == 512
    assert updated['protected'] is True
    assert updated['properties'] == {'keep': 'changed', 'add': 'value'}
    assert updated['tags'] == ['a', 'z']
    assert updated['updated_at'] >= image['updated_at']
    assert client.get_image(caller, image['id']) == updated


def test_update_with_empty_tags_clears_them_and_without_tags_keeps_them(client, project):
    caller = project()
    image = client.create_image(caller, {'tags': ['x']})
    assert client.update_image(caller, image['id'], values={'name': 'n'})['tags'] == ['x']
    assert client.update_image(caller, image['id'], tags=[])['tags'] == []


def test_removing_a_missing_property_conflicts_and_changes_nothing(client, project):
    caller = project()
    image = client.create_image(caller, {'name': 'before', 'properties': {'a': '1'}})
    with pytest.raises(errors.Conflict) as raised:
        client.update_image(caller, image['id'], values={'name': 'after'},
                            properties={'a': None, 'missing': None})
    assert 'missing' in raised.value.message
    after = client.get_image(caller, image['id'])
    assert after['name'] == 'before' and after['properties'] == {'a': '1'}


def test_update_of_deleted_or_invisible_image_is_not_found(client, project):
    owner, other = project(), project()
    image = client.create_image(owner, {'visibility': 'private'})
    with pytest.raises(errors.NotFound):
        client.update_image(other, image['id'], values={'name': 'stolen'})
    client.delete_image(owner, image['id'])
    with pytest.raises(errors.NotFound):
        client.update_image(owner, image['id'], values={'name': 'late'})
    assert client.list_images(ADMIN, [('id', image['id'])])[0] == []


def upload(client, caller, image, **values):
    saving = client.transition_status(caller, image['id'], 'queued', 'saving')
    assert saving['status'] == 'saving'
    return client.transition_status(
        caller, image['id'], 'saving', 'active',
        values=dict({'size': 5, 'checksum': 'c' * 32, 'os_hash_algo': 'sha512',
                     'os_hash_value': 'f' * 128, 'virtual_size': None}, **values),
        locations=[{'url': 'file:///%s' % image['id'], 'metadata': {'k': 1}}])


def test_status_moves_queued_saving_active_and_records_the_data(client, project):
    caller = project()
    image = client.create_image(caller, dict(FORMATS))
    active = upload(client, caller, image, size=2 ** 40)
    assert active['status'] == 'active'
    assert active['size'] == 2 ** 40
    assert active['checksum'] == 'c' * 32 and active['os_hash_value'] == 'f' * 128
    assert active['locations'] == [{'url': 'file:///%s' % image['id'],
                                    'metadata': {'k': 1}, 'status': 'active'}]
    assert client.get_image(caller, image['id']) == active


def test_locations_are_replaced_in_order_and_cleared_with_an_empty_list(client, project):
    caller = project()
    image = client.create_image(caller, dict(FORMATS))
    upload(client, caller, image)
    urls = ['http://b', 'file:///a', 'http://c']
    image = client.transition_status(caller, image['id'], 'active', 'deactivated',
                                     locations=[{'url': u} for u in urls])
    assert [loc['url'] for loc in image['locations']] == urls
    image = client.transition_status(caller, image['id'], 'deactivated', 'active')
    assert [loc['url'] for loc in image['locations']] == urls
    image = client.transition_status(caller, image['id'], 'active', 'deactivated',
                                     locations=[])
    assert image['locations'] == []


def test_lost_compare_and_swap_conflicts_with_the_current_status(client, project):
    caller = project()
    image = client.create_image(caller, dict(FORMATS))
    client.transition_status(caller, image['id'], 'queued', 'saving')
    with pytest.raises(errors.Conflict) as raised:
        client.transition_status(caller, image['id'], 'queued', 'saving')
    assert raised.value.details['current_status'] == 'saving'
    with pytest.raises(errors.Conflict) as raised:
        client.transition_status(caller, image['id'], 'queued', 'active',
                                 values={'size': 1})
    assert raised.value.details['current_status'] == 'saving'
    after = client.get_image(caller, image['id'])
    assert after['status'] == 'saving' and after['size'] is None


def test_an_update_for_one_status_is_refused_once_the_image_left_it(client, project):
    # The API lets a format change through only while the image is queued; an
    # upload or import that took the image on meanwhile inspects its data as the
    # formats it found, so the change must not land after it.
    caller = project()
    image = client.create_image(caller, dict(FORMATS))
    client.transition_status(caller, image['id'], 'queued', 'saving')
    with pytest.raises(errors.Conflict) as raised:
        client.update_image(caller, image['id'], values={'disk_format': 'raw'},
                            expected_status='queued')
    assert raised.value.reason == 'status_changed'
    assert raised.value.details['current_status'] == 'saving'
    location = {'url': 'file:///expected-status-%s' % image['id'], 'metadata': {},
                'status': 'active'}
    with pytest.raises(errors.Conflict) as raised:
        client.replace_locations(caller, image['id'], [location], update={
            'values': {'container_format': 'ova'}, 'expected_status': 'queued'})
    assert raised.value.reason == 'status_changed'
    after = client.get_image(caller, image['id'])
    assert (after['disk_format'], after['container_format']) == (
        FORMATS['disk_format'], FORMATS['container_format'])
    assert after['locations'] == []
    queued = client.create_image(caller, dict(FORMATS))
    assert client.update_image(caller, queued['id'], values={'disk_format': 'raw'},
                               expected_status='queued')['disk_format'] == 'raw'


def test_an_update_expecting_properties_present_or_absent_writes_only_if_they_are(
        client, project):
    # What a JSON patch judged on the image the API read: a writer that changed the
    # property since makes the patch fail as if it came after it.
    caller = project()
    image = client.create_image(caller, {'name': 'before',
                                         'properties': {'here': '1'}})
    for expected, reason in (({'here': True, 'gone': True}, 'missing_property'),
                             ({'here': False}, 'property_exists')):
        with pytest.raises(errors.Conflict) as raised:
            client.update_image(caller, image['id'], values={'name': 'after'},
                                properties={'gone': 'x'},
                                expected_properties=expected)
        assert raised.value.reason == reason
        assert raised.value.details['properties'] == (
            ['gone'] if reason == 'missing_property' else ['here'])
    location = {'url': 'file:///expected-properties-%s' % image['id'],
                'metadata': {}, 'status': 'active'}
    with pytest.raises(errors.Conflict) as raised:
        client.replace_locations(caller, image['id'], [location], update={
            'properties': {'gone': 'x'}, 'expected_properties': {'gone': True}})
    assert raised.value.reason == 'missing_property'
    after = client.get_image(caller, image['id'])
    assert after['name'] == 'before' and after['properties'] == {'here': '1'}
    assert after['locations'] == []
    updated = client.update_image(caller, image['id'], properties={'here': '2'},
                                  expected_properties={'here': True, 'gone': False})
    assert updated['properties'] == {'here': '2'}


def test_an_update_may_expect_more_properties_than_a_statement_takes(client,
                                                                      project):
    # Far more names than any backend takes as parameters of one statement (a
    # body of about 5 MB): each is checked, and it is no database error.
    caller = project()
    image = client.create_image(caller, {'properties': {'here': '1'}})
    names = ['p%d' % i for i in range(300_000)]
    updated = client.update_image(caller, image['id'], properties={'new': '1'},
                                  expected_properties=dict.fromkeys(names, False))
    assert updated['properties'] == {'here': '1', 'new': '1'}
    with pytest.raises(errors.Conflict) as raised:
        client.update_image(caller, image['id'], properties={'newer': '1'},
                            expected_properties=dict.fromkeys(names + ['here'],
                                                              True))
    assert raised.value.reason == 'missing_property'
    assert len(raised.value.details['properties']) == len(names)


@pytest.mark.parametrize('source,target', [('queued', 'killed'), ('queued', 'deactivated'),
                                           ('queued', 'queued')])
def test_transitions_outside_the_table_conflict(client, project, source, target):
    caller = project()
    image = client.create_image(caller, dict(FORMATS))
    with pytest.raises(errors.Conflict) as raised:
        client.transition_status(caller, image['id'], source, target)
    assert raised.value.details['current_status'] == 'queued'
    assert client.get_image(caller, image['id'])['status'] == 'queued'


@pytest.mark.parametrize('target', ['saving', 'active', 'importing'])
@pytest.mark.parametrize('formats', [{}, {'disk_format': 'raw'},
                                     {'container_format': 'bare'}])
def test_taking_data_without_disk_and_container_format_is_a_bad_request(
        client, project, target, formats):
    caller = project()
    image = client.create_image(caller, formats)
    with pytest.raises(errors.BadRequest) as raised:
        client.transition_status(caller, image['id'], 'queued', target)
    missing = {'disk_format', 'container_format'} - set(formats)
    assert all(name in raised.value.message for name in missing)
    assert client.get_image(caller, image['id'])['status'] == 'queued'


def test_status_change_of_deleted_or_invisible_image_is_not_found(client, project):
    owner, other = project(), project()
    image = client.create_image(owner, dict(FORMATS, visibility='private'))
    with pytest.raises(errors.NotFound):
        client.transition_status(other, image['id'], 'queued', 'saving')
    client.transition_status(owner, image['id'], 'queued', 'saving')
    client.delete_image(owner, image['id'])
    with pytest.raises(errors.NotFound):
        client.transition_status(owner, image['id'], 'saving', 'active')


def test_moving_to_deleted_goes_through_delete(client, project):
    caller = project()
    image = client.create_image(caller, {})
    with pytest.raises(errors.BadRequest):
        client.transition_status(caller, image['id'], 'queued', 'deleted')
    assert client.get_image(caller, image['id'])['status'] == 'queued'


@pytest.mark.parametrize('racers', [2, 6])
def test_racing_transitions_have_exactly_one_winner(client, project, race, racers):
    caller = project()
    for _ in range(5):
        image = client.create_image(caller, dict(FORMATS))
        outcomes = race([
            lambda n=n: client.transition_status(caller, image['id'], 'queued',
                                                 'saving', values={'size': n})
            for n in range(racers)])
        winners = [n for n, outcome in enumerate(outcomes)
                   if not isinstance(outcome, errors.RegistryError)]
        assert len(winners) == 1, outcomes
        losers = [outcome for outcome in outcomes if outcome is not outcomes[winners[0]]]
        assert all(isinstance(o, errors.Conflict) for o in losers), outcomes
        assert [o.details.get('current_status') for o in losers] == \
            ['saving'] * (racers - 1)
        after = client.get_image(caller, image['id'])
        assert after['status'] == 'saving' and after['size'] == winners[0]


def test_concurrent_writers_never_fail(client, project):
    """Read-then-write transactions from many threads at once all succeed (on SQLite,
    upstream's deferred BEGIN fails such writers with "database is locked")."""
    caller = project()
    created = [client.create_image(caller, {}) for _ in range(4)]
    failures = []
    barrier = threading.Barrier(8)

    def write(n):
        barrier.wait()
        image = created[n % len(created)]
        for i in range(6):
            try:
                client.update_image(caller, image['id'], values={'min_ram': i},
                                    properties={'writer-%d' % n: str(i)},
                                    tags=['t%d' % n])
                client.add_tag(caller, image['id'], 'shared-%d' % i)
            except errors.RegistryError as exc:
                failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    for n, image in enumerate(created):
        properties = client.get_image(caller, image['id'])['properties']
        assert properties == {'writer-%d' % w: '5' for w in range(8) if w % 4 == n}


def test_tags_are_idempotent_and_sorted(client, project):
    caller = project()
    image = client.create_image(caller, {})
    for tag in ['b', 'a', 'b', 'ünïcode tag', 'with/slash']:
        client.add_tag(caller, image['id'], tag)
    assert client.get_image(caller, image['id'])['tags'] == sorted(
        ['a', 'b', 'ünïcode tag', 'with/slash'])
    client.delete_tag(caller, image['id'], 'with/slash')
    client.delete_tag(caller, image['id'], 'b')
    assert client.get_image(caller, image['id'])['tags'] == ['a', 'ünïcode tag']


def test_tags_differing_in_case_are_different_tags(client, project):
    caller = project()
    image = client.create_image(caller, {'tags': ['Tag', 'tag']})
    client.add_tag(caller, image['id'], 'TAG')
    assert client.get_image(caller, image['id'])['tags'] == ['TAG', 'Tag', 'tag']


def test_deleting_a_missing_tag_or_tagging_a_missing_image_is_not_found(client, project):
    caller = project()
    image = client.create_image(caller, {'tags': ['a']})
    with pytest.raises(errors.NotFound):
        client.delete_tag(caller, image['id'], 'b')
    with pytest.raises(errors.NotFound):
        client.add_tag(caller, str(uuid.uuid4()), 'a')
    assert client.get_image(caller, image['id'])['tags'] == ['a']


def test_overlong_tag_is_a_bad_request(client, project):
    caller = project()
    image = client.create_image(caller, {})
    client.add_tag(caller, image['id'], 'x' * 255)
    with pytest.raises(errors.BadRequest):
        client.add_tag(caller, image['id'], 'x' * 256)
    assert client.get_image(caller, image['id'])['tags'] == ['x' * 255]


def test_delete_returns_the_image_as_it_was_and_hides_it(client, project):
    caller = project()
    image = client.create_image(caller, dict(FORMATS, tags=['t'],
                                             properties={'p': 'v'}))
    active = upload(client, caller, image)
    deleted = client.delete_image(caller, image['id'])
    assert deleted == dict(active, delayed=False)
    with pytest.raises(errors.NotFound):
        client.get_image(caller, image['id'])
    with pytest.raises(errors.NotFound):
        client.get_image(ADMIN, image['id'])
    with pytest.raises(errors.NotFound):
        client.delete_image(caller, image['id'])
    assert client.list_images(ADMIN, [('id', image['id'])])[0] == []


def test_deleting_a_protected_image_is_forbidden_and_keeps_it(client, project):
    caller = project()
    image = client.create_image(caller, {'protected': True})
    with pytest.raises(errors.Forbidden):
        client.delete_image(caller, image['id'])
    with pytest.raises(errors.Forbidden):
        client.delete_image(ADMIN, image['id'])
    assert client.get_image(caller, image['id'])['status'] == 'queued'
    client.update_image(caller, image['id'], values={'protected': False})
    assert client.delete_image(caller, image['id'])['id'] == image['id']


def test_timestamps_are_whole_second_utc_with_z(client, project):
    caller = project()
    image = client.create_image(caller, {})
    deleted = client.delete_image(caller, image['id'])
    assert ISO_Z.fullmatch(deleted['created_at'])
    assert ISO_Z.fullmatch(deleted['updated_at'])
