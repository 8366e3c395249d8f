"""Image members over HTTP on every backend: the rows, who sees which, the limits,
and ``member_status`` in the image records."""

import random
import re
import threading

import orjson
import pytest
import requests

from glance_registry.client import errors
from glance_registry.client import identity
from tests.unit.registry.conftest import ADMIN

ISO_Z = re.compile(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ')
FORMATS = {'disk_format': 'raw', 'container_format': 'bare'}


def member_ids(members):
    return sorted(member['member_id'] for member in members)


def test_adding_a_member_makes_a_pending_row_that_the_owner_reads_back(client, project):
    owner, member = project('owner'), project('member')
    image = client.create_image(owner, {})
    added = client.add_member(owner, image['id'], member.project_id)
    assert set(added) == {'image_id', 'member_id', 'status', 'created_at', 'updated_at'}
    assert added['image_id'] == image['id']
    assert added['member_id'] == member.project_id
    assert added['status'] == 'pending'
    assert ISO_Z.fullmatch(added['created_at'])
    assert added['updated_at'] == added['created_at']
    assert client.get_member(owner, image['id'], member.project_id) == added
    assert client.list_members(owner, image['id']) == [added]


def test_status_changes_and_deletion(client, project):
    owner, member = project('owner'), project('member')
    image = client.create_image(owner, {})
    client.add_member(owner, image['id'], member.project_id)
    for status in ('accepted', 'rejected', 'pending', 'accepted'):
        updated = client.update_member(member, image['id'], member.project_id, status)
        assert updated['status'] == status
        assert client.get_member(owner, image['id'], member.project_id) == updated
    assert client.delete_member(owner, image['id'], member.project_id) is None
    assert client.list_members(owner, image['id']) == []
    with pytest.raises(errors.NotFound):
        client.get_member(owner, image['id'], member.project_id)
    with pytest.raises(errors.NotFound):
        client.get_image(member, image['id'])


@pytest.mark.parametrize('visibility', ['public', 'private', 'community'])
def test_only_shared_images_take_members(client, project, visibility):
    owner, member = project('owner'), project('member')
    image = client.create_image(owner, {'visibility': visibility})
    with pytest.raises(errors.Forbidden) as raised:
        client.add_member(owner, image['id'], member.project_id)
    assert raised.value.message == 'Only shared images have members.'
    with pytest.raises(errors.Forbidden):
        client.add_member(ADMIN, image['id'], member.project_id)
    assert client.list_members(owner, image['id']) == []


def test_a_duplicate_member_conflicts_and_keeps_one_row(client, project):
    owner, member = project('owner'), project('member')
    image = client.create_image(owner, {})
    first = client.add_member(owner, image['id'], member.project_id)
    client.update_member(member, image['id'], member.project_id, 'accepted')
    with pytest.raises(errors.Conflict):
        client.add_member(owner, image['id'], member.project_id)
    [row] = client.list_members(owner, image['id'])
    assert row['status'] == 'accepted' and row['created_at'] == first['created_at']


@pytest.mark.parametrize('max_members,added', [(2, 2), (0, 0), (-1, 4), (None, 4)])
def test_max_members_limits_the_rows_an_image_may_have(
        client, project, max_members, added):
    owner = project('owner')
    image = client.create_image(owner, {})
    projects = [project('member').project_id for _ in range(4)]
    outcomes = []
    for project_id in projects:
        try:
            client.add_member(owner, image['id'], project_id, max_members=max_members)
            outcomes.append('added')
        except errors.TooLarge as exc:
            assert exc.details['limit'] == 'max_members'
            assert 'max_members is %d' % max_members in exc.message
            outcomes.append('too_large')
    assert outcomes == ['added'] * added + ['too_large'] * (4 - added)
    assert member_ids(client.list_members(owner, image['id'])) == sorted(
        projects[:added])


def test_racing_additions_never_exceed_max_members(client, project):
    owner = project('owner')
    image = client.create_image(owner, {})
    projects = [project('member').project_id for _ in range(6)]
    barrier = threading.Barrier(len(projects))
    outcomes = []

    def add(project_id):
        barrier.wait()
        try:
            client.add_member(owner, image['id'], project_id, max_members=3)
            outcomes.append(('added', project_id))
        except errors.TooLarge:
            outcomes.append(('too_large', project_id))

    threads = [threading.Thread(target=add, args=(p,)) for p in projects]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    added = sorted(p for outcome, p in outcomes if outcome == 'added')
    assert len(added) == 3 and len(outcomes) == 6, outcomes
    assert member_ids(client.list_members(owner, image['id'])) == added


# -- who sees which rows -------------------------------------------------------------

@pytest.fixture(scope='module')
def shared(registry):
    """A shared image with an accepted, a pending and a rejected member."""
    suffix = '%x' % random.getrandbits(40)
    callers = {name: identity.Identity('%s-user' % name, '%s-%s' % (name, suffix))
               for name in ('owner', 'accepted', 'pending', 'rejected', 'stranger')}
    callers['admin'] = ADMIN
    client = registry.client
    owner = callers['owner']
    image = client.create_image(owner, {})
    for status in ('accepted', 'pending', 'rejected'):
        project_id = callers[status].project_id
        client.add_member(owner, image['id'], project_id)
        if status != 'pending':
            client.update_member(callers[status], image['id'], project_id, status)
    return {'image': image, 'callers': callers}


# (caller, the members it lists, by status name; None: the image is not found)
LISTS = [
    ('admin', ['accepted', 'pending', 'rejected']),
    ('owner', ['accepted', 'pending', 'rejected']),
    ('accepted', ['accepted']),
    ('pending', ['pending']),
    ('rejected', ['rejected']),
    ('stranger', None),
]


@pytest.mark.parametrize('role,listed', LISTS, ids=[role for role, _ in LISTS])
def test_list_shows_the_owner_and_admins_every_row_and_members_their_own(
        registry, shared, role, listed):
    caller, callers = shared['callers'][role], shared['callers']
    if listed is None:
        with pytest.raises(errors.NotFound):
            registry.client.list_members(caller, shared['image']['id'])
        return
    members = registry.client.list_members(caller, shared['image']['id'])
    assert {m['member_id']: m['status'] for m in members} == {
        callers[status].project_id: status for status in listed}


# (caller, whose row, visible) for GET, and for PUT and DELETE of another's row
ROWS = [(caller, row, caller in ('admin', 'owner') or caller == row)
        for caller in ('admin', 'owner', 'accepted', 'pending', 'stranger')
        for row in ('accepted', 'pending', 'rejected')]


@pytest.mark.parametrize('role,row,visible', ROWS,
                         ids=['%s-reads-%s' % (c, r) for c, r, _ in ROWS])
def test_a_row_the_caller_may_not_see_is_not_found(registry, shared, role, row,
                                                   visible):
    caller, image = shared['callers'][role], shared['image']
    member_id = shared['callers'][row].project_id
    client = registry.client
    if visible:
        assert client.get_member(caller, image['id'], member_id)['status'] == row
        return
    before = client.list_members(ADMIN, image['id'])
    with pytest.raises(errors.NotFound):
        client.get_member(caller, image['id'], member_id)
    with pytest.raises(errors.NotFound):
        client.update_member(caller, image['id'], member_id, 'accepted')
    with pytest.raises(errors.NotFound):
        client.delete_member(caller, image['id'], member_id)
    assert client.list_members(ADMIN, image['id']) == before


def test_members_of_an_invisible_image_are_not_found(client, project):
    owner, other = project('owner'), project('other')
    image = client.create_image(owner, {'visibility': 'private'})
    for attempt in (lambda: client.list_members(other, image['id']),
                    lambda: client.add_member(other, image['id'], other.project_id),
                    lambda: client.get_member(other, image['id'], owner.project_id)):
        with pytest.raises(errors.NotFound):
            attempt()
    deleted = client.create_image(owner, {})
    client.add_member(owner, deleted['id'], other.project_id)
    client.delete_image(owner, deleted['id'])
    with pytest.raises(errors.NotFound):
        client.list_members(owner, deleted['id'])
    with pytest.raises(errors.NotFound):
        client.add_member(ADMIN, deleted['id'], project('late').project_id)


def test_an_unknown_member_is_not_found(client, project):
    owner = project('owner')
    image = client.create_image(owner, {})
    for attempt in (lambda: client.get_member(owner, image['id'], 'nobody'),
                    lambda: client.update_member(owner, image['id'], 'nobody',
                                                 'accepted'),
                    lambda: client.delete_member(owner, image['id'], 'nobody')):
        with pytest.raises(errors.NotFound):
            attempt()


# -- request validation ----------------------------------------------------------------

BAD_MEMBER_BODIES = [
    ({}, 'member'),
    ({'member': ''}, 'member'),
    ({'member': 5}, 'member'),
    ({'member': 'x' * 256}, 'member'),
    # Unreachable at /members/<id>: the row could never be read, answered or removed.
    ({'member': 'a/b'}, 'member'),
    ({'member': '.'}, 'member'),
    ({'member': '..'}, 'member'),
    ({'member': 'p', 'status': 'accepted'}, 'status'),
    ({'member': 'p', 'max_members': '3'}, 'max_members'),
    ({'member': 'p', 'max_members': True}, 'max_members'),
]


@pytest.mark.parametrize('body,field', BAD_MEMBER_BODIES,
                         ids=['%s-%d' % (f, i) for i, (_, f) in
                              enumerate(BAD_MEMBER_BODIES)])
def test_invalid_member_bodies_are_bad_requests(registry, project, body, field):
    owner = project('owner')
    image = registry.client.create_image(owner, {})
    response = requests.post(registry.url + '/v1/images/%s/members' % image['id'],
                             data=orjson.dumps(body),
                             auth=registry.auth(owner),
                             headers={'Content-Type': 'application/json'})
    assert response.status_code == 400, response.text
    assert field in response.json()['error']['message']
    assert registry.client.list_members(owner, image['id']) == []


@pytest.mark.parametrize('body', [{}, {'status': 'maybe'}, {'status': None},
                                  {'status': 'accepted', 'extra': 1}])
def test_invalid_member_status_is_a_bad_request(registry, project, body):
    owner, member = project('owner'), project('member')
    image = registry.client.create_image(owner, {})
    added = registry.client.add_member(owner, image['id'], member.project_id)
    response = requests.put(
        registry.url + '/v1/images/%s/members/%s' % (image['id'], member.project_id),
        data=orjson.dumps(body), auth=registry.auth(member),
        headers={'Content-Type': 'application/json'})
    assert response.status_code == 400, response.text
    assert response.json()['error']['code'] == 'bad_request'
    assert registry.client.get_member(owner, image['id'], member.project_id) == added


# -- member_status in image records ----------------------------------------------------

def test_every_image_record_carries_the_callers_member_status(client, project, scope):
    owner, member = project('owner'), project('member')
    image = client.create_image(owner, dict(FORMATS, properties={'test_scope': scope}))
    assert image['member_status'] is None
    client.add_member(owner, image['id'], member.project_id)
    assert client.get_image(owner, image['id'])['member_status'] is None
    assert client.get_image(ADMIN, image['id'])['member_status'] is None
    assert client.get_image(member, image['id'])['member_status'] == 'pending'
    listed = [('test_scope', scope), ('member_status', 'all')]
    assert [i['member_status'] for i in client.list_images(member, listed)[0]] == [
        'pending']
    client.update_member(member, image['id'], member.project_id, 'accepted')
    assert [i['member_status'] for i in client.list_images(
        member, [('test_scope', scope)])[0]] == ['accepted']
    assert client.list_images(owner, [('test_scope', scope)])[0][0][
        'member_status'] is None
    # The image is its owner's to change, whatever the policy (the guard's rule).
    with pytest.raises(errors.Forbidden, match='You do not own this image'):
        client.update_image(member, image['id'], values={'min_ram': 1})


def test_accepting_puts_a_shared_image_in_the_members_default_list(
        client, project, scope):
    owner, member = project('owner'), project('member')
    image = client.create_image(owner, {'properties': {'test_scope': scope}})
    client.add_member(owner, image['id'], member.project_id)
    assert client.list_images(member, [('test_scope', scope)])[0] == []
    client.update_member(member, image['id'], member.project_id, 'accepted')
    assert [i['id'] for i in client.list_images(member, [('test_scope', scope)])[0]] \
        == [image['id']]
    client.update_member(member, image['id'], member.project_id, 'rejected')
    assert client.list_images(member, [('test_scope', scope)])[0] == []
    # Whatever its answer, a member can still read the image.
    assert client.get_image(member, image['id'])['member_status'] == 'rejected'
