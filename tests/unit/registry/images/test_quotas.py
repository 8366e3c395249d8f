"""Limits the caller passes, enforced in the write's transaction; upload reservations
and a project's usage, on every backend. The racing tests run many writers of one
project at once: exactly the writes that fit may succeed."""

import time
import uuid

import orjson
import pytest
import requests

from glance_registry import db as db_module
from glance_registry.client import errors
from glance_registry.client import identity
from glance_registry.images import quotas
from tests.unit.registry.conftest import ADMIN

FORMATS = {'disk_format': 'raw', 'container_format': 'bare'}


def too_large(limit, call, *args, **kwargs):
    """Call; assert it raised ``TooLarge`` for ``limit``; returns the error."""
    with pytest.raises(errors.TooLarge) as raised:
        call(*args, **kwargs)
    assert raised.value.details['limit'] == limit
    assert '%s is' % limit in raised.value.message
    return raised.value


def saving(client, caller, **values):
    image = client.create_image(caller, dict(FORMATS, **values))
    return client.transition_status(caller, image['id'], 'queued', 'saving')


def activate(client, caller, image, size, locations=('active',)):
    return client.transition_status(
        caller, image['id'], 'saving', 'active', values={'size': size},
        locations=[{'url': 'file:///%s-%d' % (image['id'], i), 'status': status}
                   for i, status in enumerate(locations)])


# -- per-image limits ------------------------------------------------------------------

# (quota, properties, tags, limit that refuses or None)
CREATES = [
    ({'max_properties': 2}, {'a': '1', 'b': '2'}, [], None),
    ({'max_properties': 2}, {'a': '1', 'b': '2', 'c': '3'}, [], 'max_properties'),
    ({'max_properties': 0}, {}, ['t'], None),
    ({'max_properties': 0}, {'a': '1'}, [], 'max_properties'),
    ({'max_tags': 2}, {}, ['a', 'b', 'a'], None),
    ({'max_tags': 2}, {}, ['a', 'b', 'c'], 'max_tags'),
    ({'max_properties': -1, 'max_tags': -1}, {str(i): 'v' for i in range(50)},
     [str(i) for i in range(50)], None),
    ({'max_properties': None, 'max_tags': 1}, {'a': '1'}, ['x'], None),
]


@pytest.mark.parametrize('quota,properties,tags,refused', CREATES)
def test_create_refuses_more_properties_or_tags_than_the_quota(
        client, project, quota, properties, tags, refused):
    caller, image_id = project(), str(uuid.uuid4())
    values = {'id': image_id, 'properties': properties, 'tags': tags}
    if refused:
        too_large(refused, client.create_image, caller, values, quota=quota)
        with pytest.raises(errors.NotFound):
            client.get_image(caller, image_id)
    else:
        image = client.create_image(caller, values, quota=quota)
        assert image['properties'] == properties
        assert image['tags'] == sorted(set(tags))


def test_update_refuses_to_grow_past_max_properties_but_allows_shrinking(
        client, project):
    caller = project()
    image = client.create_image(caller, {'properties': {'a': '1', 'b': '2'}})
    quota = {'max_properties': 2}
    too_large('max_properties', client.update_image, caller, image['id'],
              values={'name': 'no'}, properties={'c': '3'}, quota=quota)
    assert client.get_image(caller, image['id']) == image
    swapped = client.update_image(caller, image['id'], properties={'a': None, 'c': '3',
                                                                   'b': 'changed'},
                                  quota=quota)
    assert swapped['properties'] == {'b': 'changed', 'c': '3'}
    # Over a lowered limit, an image can still shrink or change in place.
    lowered = {'max_properties': 0}
    assert client.update_image(caller, image['id'], values={'name': 'renamed'},
                               properties={'b': 'again'},
                               quota=lowered)['properties'] == {'b': 'again', 'c': '3'}
    assert client.update_image(caller, image['id'], properties={'c': None},
                               quota=lowered)['properties'] == {'b': 'again'}


def test_update_refuses_replacing_tags_with_more_than_max_tags(client, project):
    caller = project()
    image = client.create_image(caller, {'tags': ['a', 'b', 'c']})
    too_large('max_tags', client.update_image, caller, image['id'],
              tags=['a', 'b', 'c', 'd'], quota={'max_tags': 3})
    assert client.get_image(caller, image['id']) == image
    assert client.update_image(caller, image['id'], tags=['x', 'y'],
                               quota={'max_tags': 1})['tags'] == ['x', 'y']
    assert client.update_image(caller, image['id'], tags=['z', 'z'],
                               quota={'max_tags': 1})['tags'] == ['z']


def test_add_tag_refuses_a_new_tag_over_max_tags(client, project):
    caller = project()
    image = client.create_image(caller, {'tags': ['a', 'b']})
    client.add_tag(caller, image['id'], 'a', max_tags=2)
    too_large('max_tags', client.add_tag, caller, image['id'], 'c', max_tags=2)
    assert client.get_image(caller, image['id'])['tags'] == ['a', 'b']
    client.add_tag(caller, image['id'], 'c', max_tags=-1)
    client.add_tag(caller, image['id'], 'd', max_tags=4)
    assert client.get_image(caller, image['id'])['tags'] == ['a', 'b', 'c', 'd']


# -- per-project counts ----------------------------------------------------------------

def test_max_images_counts_the_owners_images_that_are_not_deleted(client, project):
    owner, other = project('owner'), project('other')
    quota = {'max_images': 2}
    first = client.create_image(owner, {}, quota=quota)
    client.create_image(owner, {}, quota=quota)
    too_large('max_images', client.create_image, owner, {}, quota=quota)
    # The limit is the owner's, whoever creates the image.
    too_large('max_images', client.create_image, ADMIN, {'owner': owner.project_id},
              quota=quota)
    client.create_image(other, {}, quota=quota)
    client.delete_image(owner, first['id'])
    client.create_image(owner, {}, quota=quota)
    assert client.usage(owner)['image_count_total'] == 2


def test_racing_creates_never_exceed_max_images(client, project, race):
    owner = project('owner')
    client.create_image(owner, {})
    outcomes = race([lambda: client.create_image(owner, {}, quota={'max_images': 4})
                     for _ in range(8)])
    created = [o for o in outcomes if isinstance(o, dict)]
    assert len(created) == 3, outcomes
    assert all(isinstance(o, errors.TooLarge) for o in outcomes if o not in created)
    assert client.usage(owner)['image_count_total'] == 4


def test_max_uploading_counts_the_owners_uploads_in_progress(client, project):
    owner = project('owner')
    quota = {'max_uploading': 2}
    images = [client.create_image(owner, FORMATS) for _ in range(4)]
    client.transition_status(owner, images[0]['id'], 'queued', 'saving', quota=quota)
    client.transition_status(owner, images[1]['id'], 'queued', 'uploading',
                             quota=quota)
    too_large('max_uploading', client.transition_status, owner, images[2]['id'],
              'queued', 'saving', quota=quota)
    assert client.get_image(owner, images[2]['id'])['status'] == 'queued'
    activate(client, owner, client.get_image(owner, images[0]['id']), 1)
    client.transition_status(owner, images[2]['id'], 'queued', 'saving', quota=quota)
    client.transition_status(owner, images[3]['id'], 'queued', 'saving',
                             quota={'max_uploading': -1})
    assert client.usage(owner)['image_count_uploading'] == 3


def test_racing_uploads_never_exceed_max_uploading(client, project, race):
    owner = project('owner')
    images = [client.create_image(owner, FORMATS) for _ in range(6)]
    outcomes = race([
        lambda image_id=image['id']: client.transition_status(
            owner, image_id, 'queued', 'saving', quota={'max_uploading': 2})
        for image in images])
    assert [o['status'] for o in outcomes if isinstance(o, dict)] == ['saving'] * 2, \
        outcomes
    assert client.usage(owner)['image_count_uploading'] == 2


# -- storage: reservations and usage ---------------------------------------------------

@pytest.mark.parametrize('status', ['queued', 'active', 'uploading'])
def test_only_an_upload_in_progress_reserves_storage(client, project, status):
    caller = project()
    image = client.create_image(caller, FORMATS)
    if status == 'active':
        image = activate(client, caller, saving(client, caller), 1)
    elif status == 'uploading':
        client.transition_status(caller, image['id'], 'queued', 'uploading')
    with pytest.raises(errors.Conflict) as raised:
        client.reserve(caller, image['id'], 10, -1)
    assert raised.value.details['current_status'] == status
    assert client.usage(caller)['image_size_total'] == (1 if status == 'active' else 0)


def test_a_stage_in_progress_reserves_storage_until_its_data_is_staged(client,
                                                                      project):
    caller = project()
    image = client.create_image(caller, FORMATS)
    client.transition_status(caller, image['id'], 'queued', 'uploading', lease=60,
                             upload_id='stage')
    assert client.reserve(caller, image['id'], 10, -1)['reserved'] == 10
    assert client.usage(caller)['image_size_total'] == 10
    client.transition_status(caller, image['id'], 'uploading', 'uploading',
                             upload_id='stage', locations=[])
    assert client.usage(caller)['image_size_total'] == 0
    with pytest.raises(errors.Conflict):
        client.reserve(caller, image['id'], 10, -1)


def test_reservations_grow_within_the_limit_and_shrink_freely(client, project):
    caller = project()
    first, second = saving(client, caller), saving(client, caller)
    assert client.reserve(caller, first['id'], 600, 1000) == {'usage': 600,
                                                              'reserved': 600}
    error = too_large('max_storage', client.reserve, caller, second['id'], 500, 1000)
    assert 'max_storage is 1000' in error.message
    assert client.usage(caller)['image_size_total'] == 600
    assert client.reserve(caller, second['id'], 400, 1000)['usage'] == 1000
    too_large('max_storage', client.reserve, caller, first['id'], 601, 1000)
    assert client.reserve(caller, first['id'], 100, 1000) == {'usage': 500,
                                                              'reserved': 100}
    # Shrinking is always allowed, even over a lowered limit.
    assert client.reserve(caller, second['id'], 300, 10)['usage'] == 400
    assert client.reserve(caller, second['id'], 10 ** 15, -1)['usage'] == 10 ** 15 + 100
    # A reservation does not change the image.
    assert client.get_image(caller, first['id']) == first


def test_activation_counts_the_stored_bytes_instead_of_the_reservation(
        client, project):
    caller = project()
    image = saving(client, caller)
    client.reserve(caller, image['id'], 300, -1)
    activate(client, caller, image, 300, locations=('active', 'active', 'deleted'))
    usage = client.usage(caller)
    assert usage['image_size_total'] == 600  # 300 bytes in each active location
    assert usage['image_count_uploading'] == 0
    # Without a size nothing counts.
    sizeless = saving(client, caller)
    client.transition_status(caller, sizeless['id'], 'saving', 'active',
                             locations=[{'url': 'http://example.com/x'}])
    assert client.usage(caller)['image_size_total'] == 600


def test_a_failed_upload_or_a_deletion_gives_the_reservation_back(client, project):
    caller = project()
    failed, deleted = saving(client, caller), saving(client, caller)
    client.reserve(caller, failed['id'], 100, -1)
    client.reserve(caller, deleted['id'], 20, -1)
    assert client.usage(caller)['image_size_total'] == 120
    client.transition_status(caller, failed['id'], 'saving', 'queued')
    assert client.usage(caller)['image_size_total'] == 20
    client.delete_image(caller, deleted['id'])
    assert client.usage(caller)['image_size_total'] == 0
    again = client.transition_status(caller, failed['id'], 'queued', 'saving')
    assert client.reserve(caller, again['id'], 5, -1) == {'usage': 5, 'reserved': 5}


def test_racing_reservations_get_exactly_the_bytes_that_fit(client, project, race):
    """Six uploads race for the last 600 bytes, 200 each: three succeed."""
    caller = project()
    activate(client, caller, saving(client, caller), 400)
    uploads = [saving(client, caller) for _ in range(6)]
    outcomes = race([lambda image_id=image['id']: client.reserve(caller, image_id,
                                                                 200, 1000)
                     for image in uploads])
    granted = [o for o in outcomes if isinstance(o, dict)]
    assert len(granted) == 3, outcomes
    assert all(isinstance(o, errors.TooLarge) for o in outcomes if o not in granted)
    assert sorted(o['usage'] for o in granted) == [600, 800, 1000]
    assert client.usage(caller)['image_size_total'] == 1000


def test_uploads_growing_their_reservations_together_never_exceed_the_limit(
        client, project, race):
    """Each upload grows its reservation step by step until it no longer fits: the
    steps granted fill the limit exactly, whatever the interleaving."""
    caller = project()
    uploads = [saving(client, caller) for _ in range(4)]
    granted = [0] * len(uploads)

    def grow(i):
        def run():
            while True:
                try:
                    client.reserve(caller, uploads[i]['id'], granted[i] + 50, 1000)
                except errors.TooLarge:
                    return
                granted[i] += 50
        return run

    outcomes = race([grow(i) for i in range(len(uploads))])
    assert outcomes == [None] * len(uploads)
    assert sum(granted) == 1000, granted
    assert client.usage(caller)['image_size_total'] == 1000


def test_usage_counts_a_projects_images_bytes_and_uploads(client, project):
    caller, other = project(), project()
    activate(client, caller, saving(client, caller), 100, locations=('active',) * 2)
    client.reserve(caller, saving(client, caller)['id'], 50, -1)
    queued = client.create_image(caller, FORMATS)
    uploading = client.create_image(caller, {})
    client.transition_status(caller, uploading['id'], 'queued', 'uploading')
    gone = activate(client, caller, saving(client, caller), 1000)
    client.delete_image(caller, gone['id'])
    activate(client, other, saving(client, other), 7)
    expected = {'image_size_total': 250, 'image_count_total': 4,
                'image_count_uploading': 2, 'image_stage_total': 0}
    assert client.usage(caller) == expected
    assert client.usage(caller, project_id=caller.project_id) == expected
    assert client.usage(ADMIN, project_id=caller.project_id) == expected
    assert client.usage(other)['image_size_total'] == 7
    assert client.get_image(caller, queued['id'])['status'] == 'queued'


def test_another_projects_usage_is_for_admins_only(client, project):
    caller, other = project(), project()
    with pytest.raises(errors.Forbidden):
        client.usage(caller, project_id=other.project_id)
    anonymous = identity.Identity(None, None)
    with pytest.raises(errors.BadRequest):
        client.usage(anonymous)
    with pytest.raises(errors.Forbidden):
        client.usage(anonymous, project_id=other.project_id)
    assert client.usage(ADMIN, project_id=other.project_id)['image_count_total'] == 0


# -- uploads whose lease ran out -------------------------------------------------------

def dead_upload(client, caller, status='saving', reserved=0, max_storage=-1):
    """An upload (or a stage) that reserved ``reserved`` bytes and whose worker
    then died: its one-second lease has run out when this returns."""
    image = client.create_image(caller, FORMATS)
    client.transition_status(caller, image['id'], 'queued', status, lease=1,
                             upload_id='dead')
    if reserved:
        client.reserve(caller, image['id'], reserved, max_storage)
    time.sleep(1.2)
    return image


@pytest.mark.parametrize('status', ['saving', 'uploading'])
def test_an_upload_whose_lease_ran_out_no_longer_counts_in_usage(client, project,
                                                                 status):
    caller = project()
    dead = client.create_image(caller, FORMATS)
    client.transition_status(caller, dead['id'], 'queued', status, lease=1)
    client.reserve(caller, dead['id'], 600, 1000)
    # One started before leases existed counts until it ends, as before.
    unleased = saving(client, caller)
    client.reserve(caller, unleased['id'], 50, 1000)
    assert client.usage(caller) == {'image_size_total': 650, 'image_count_total': 2,
                                    'image_count_uploading': 2,
                                    'image_stage_total': 0}
    time.sleep(1.2)   # the first upload's worker died: nobody renews
    assert client.usage(caller) == {'image_size_total': 50, 'image_count_total': 2,
                                    'image_count_uploading': 1,
                                    'image_stage_total': 0}
    assert client.get_image(caller, dead['id'])['status'] == status


def test_a_project_whose_upload_died_may_use_its_quota_again(client, project):
    caller = project()
    dead_upload(client, caller, reserved=1000, max_storage=1000)
    first, second = (client.create_image(caller, FORMATS) for _ in range(2))
    client.transition_status(caller, first['id'], 'queued', 'saving', lease=60,
                             upload_id='first')
    assert client.reserve(caller, first['id'], 1000, 1000) == {'usage': 1000,
                                                               'reserved': 1000}
    client.transition_status(caller, second['id'], 'queued', 'saving', lease=60,
                             upload_id='second', quota={'max_uploading': 2})
    assert client.usage(caller)['image_count_uploading'] == 2


def test_taking_over_a_dead_upload_is_checked_as_a_new_start(client, project):
    caller = project()
    dead = dead_upload(client, caller)
    quota = {'max_uploading': 1}
    other = client.create_image(caller, FORMATS)
    client.transition_status(caller, other['id'], 'queued', 'saving', quota=quota,
                             lease=60, upload_id='other')
    too_large('max_uploading', client.transition_status, caller, dead['id'],
              'queued', 'saving', quota=quota, lease=60, upload_id='new')
    activate(client, caller, other, 1)
    taken = client.transition_status(caller, dead['id'], 'queued', 'saving',
                                     quota=quota, lease=60, upload_id='new')
    assert taken['status'] == 'saving'
    assert client.usage(caller)['image_count_uploading'] == 1


@pytest.mark.parametrize('status', ['saving', 'uploading'])
def test_an_upload_that_comes_back_after_its_lease_ran_out_may_only_give_up(
        client, project, status):
    """Its reservation stopped counting and another upload took the storage: it may
    neither renew, reserve nor publish (which would take the project over its
    quota), only give the image back."""
    caller = project()
    stalled = dead_upload(client, caller, status, reserved=600, max_storage=1000)
    other = saving(client, caller)
    client.reserve(caller, other['id'], 1000, 1000)
    attempts = [
        lambda: client.renew_upload_lease(caller, stalled['id'], 60, upload_id='dead'),
        lambda: client.reserve(caller, stalled['id'], 600, 1000),
        lambda: client.reserve(caller, stalled['id'], 700, -1),
        lambda: client.reserve(caller, stalled['id'], 0, 1000),
        lambda: client.transition_status(
            caller, stalled['id'], status, 'active' if status == 'saving' else status,
            values={'size': 600}, upload_id='dead',
            locations=[{'url': 'file:///%s' % stalled['id']}]
            if status == 'saving' else [])]
    for attempt in attempts:
        with pytest.raises(errors.Conflict) as refused:
            attempt()
        assert refused.value.reason == 'lease_expired'
        assert refused.value.details['current_status'] == status
        assert client.usage(caller)['image_size_total'] == 1000
    assert client.get_image(caller, stalled['id'])['locations'] == []
    client.transition_status(caller, stalled['id'], status, 'queued',
                             upload_id='dead')
    assert client.usage(caller) == {'image_size_total': 1000, 'image_count_total': 2,
                                    'image_count_uploading': 1,
                                    'image_stage_total': 0}


# -- request validation ----------------------------------------------------------------

def _send(registry, method, path, body, caller):
    return requests.request(method, registry.url + path, data=orjson.dumps(body),
                            auth=registry.auth(caller),
                            headers={'Content-Type': 'application/json'})


BAD_QUOTAS = [
    ('POST', '', {'quota': []}, 'quota'),
    ('POST', '', {'quota': {'max_members': 1}}, 'max_members'),
    ('POST', '', {'quota': {'max_uploading': 1}}, 'max_uploading'),
    ('POST', '', {'quota': {'max_tags': '1'}}, 'max_tags'),
    ('POST', '', {'quota': {'max_images': 1.5}}, 'max_images'),
    ('POST', '', {'quota': {'max_properties': True}}, 'max_properties'),
    ('PATCH', '/{id}', {'quota': {'max_images': 1}}, 'max_images'),
    ('PATCH', '/{id}', {'quota': {'max_tags': 2 ** 63}}, 'max_tags'),
    ('PUT', '/{id}/status', {'from': 'queued', 'to': 'saving',
                             'quota': {'max_tags': 1}}, 'max_tags'),
    ('PUT', '/{id}/reservation', {'max_storage': 5}, 'bytes'),
    ('PUT', '/{id}/reservation', {'bytes': -1, 'max_storage': 5}, 'bytes'),
    ('PUT', '/{id}/reservation', {'bytes': '1', 'max_storage': 5}, 'bytes'),
    ('PUT', '/{id}/reservation', {'bytes': 1, 'max_storage': '5'}, 'max_storage'),
    ('PUT', '/{id}/reservation', {'bytes': 1, 'size': 5}, 'size'),
]


@pytest.mark.parametrize('method,path,body,field', BAD_QUOTAS,
                         ids=['%s-%d' % (f, i) for i, (_, _, _, f) in
                              enumerate(BAD_QUOTAS)])
def test_invalid_limits_are_bad_requests_and_change_nothing(
        registry, project, method, path, body, field):
    caller = project()
    image = saving(registry.client, caller)
    response = _send(registry, method, '/v1/images' + path.format(id=image['id']),
                     body, caller)
    assert response.status_code == 400, response.text
    assert field in response.json()['error']['message']
    assert registry.client.get_image(caller, image['id']) == image
    assert registry.client.usage(caller)['image_count_total'] == 1
    assert registry.client.usage(caller)['image_size_total'] == 0


@pytest.mark.parametrize('query,parameter', [
    ('max_tags=x', 'max_tags'), ('max_tags=1&max_tags=2', 'max_tags'),
    ('max_tags=%201', 'max_tags'), ('other=1', 'other'),
])
def test_invalid_add_tag_parameters_are_bad_requests(
        registry, project, query, parameter):
    caller = project()
    image = registry.client.create_image(caller, {})
    response = requests.put(registry.url + '/v1/images/%s/tags/t?%s'
                            % (image['id'], query), auth=registry.auth(caller))
    assert response.status_code == 400, response.text
    assert parameter in response.json()['error']['message']
    assert registry.client.get_image(caller, image['id'])['tags'] == []


@pytest.mark.parametrize('query,parameter', [
    ('project_id=', 'project_id'), ('project_id=a&project_id=b', 'project_id'),
    ('owner=x', 'owner'),
])
def test_invalid_usage_parameters_are_bad_requests(registry, query, parameter):
    response = requests.get(registry.url + '/v1/usage?' + query,
                            auth=registry.auth())
    assert response.status_code == 400, response.text
    assert parameter in response.json()['error']['message']


def test_usage_is_one_query_whatever_the_number_of_images(registry, project):
    caller = project()
    for _ in range(3):
        activate(registry.client, caller, saving(registry.client, caller), 10)
    db = db_module.open_database(registry.database_url)
    queries = []
    db.query_hooks.append(lambda event: queries.append(event.sql))
    with db_module.connection(db):
        usage = quotas.usage(db, caller)
    db.close_all()
    assert usage.image_size_total == 30 and usage.image_count_total == 3
    assert len(queries) == 1, queries


def test_an_upload_taken_over_cannot_change_the_new_uploads_reservation(client,
                                                                       project):
    """The dead upload comes back before renewing (which would tell it it lost the
    image): its reservation names it, and the registry refuses it."""
    caller = project()
    image = dead_upload(client, caller, reserved=600, max_storage=1000)
    client.transition_status(caller, image['id'], 'queued', 'saving', lease=60,
                             upload_id='new')
    client.reserve(caller, image['id'], 300, 1000, upload_id='new')
    with pytest.raises(errors.Conflict) as refused:
        client.reserve(caller, image['id'], 0, 1000, upload_id='dead')
    assert refused.value.reason == 'taken_over'
    assert client.usage(caller)['image_size_total'] == 300
