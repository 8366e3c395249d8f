"""/v2/images/{id}/members: sharing between projects, as upstream."""

import jsonschema
import pytest

from tests.fixtures import deployment


@pytest.fixture
def sharing(glance):
    """An owner with a shared image, and two other projects' clients."""
    owner = glance.client(deployment.new_project())
    friend = glance.client(deployment.new_project())
    stranger = glance.client(deployment.new_project())
    image = owner.create_image(name='shared')
    owner.upload(image['id'], b'shared bytes')
    yield owner, friend, stranger, image
    for client in (owner, friend, stranger):
        client.close()


def members_url(image, member=None):
    url = '/v2/images/%s/members' % image['id']
    return url + '/' + member if member else url


def listed(client, image):
    response = client.get('/v2/images?limit=1000')
    return image['id'] in {i['id'] for i in response.json()['images']}


def test_owner_adds_a_pending_member_who_can_read_at_once(sharing):
    owner, friend, _, image = sharing
    response = owner.post(members_url(image), json={'member': friend.project})
    assert response.status_code == 200
    member = response.json()
    assert member['status'] == 'pending'
    assert (member['image_id'], member['member_id']) == (image['id'], friend.project)
    assert member['schema'] == '/v2/schemas/member'
    jsonschema.validate(member, owner.get('/v2/schemas/member').json())
    assert friend.image(image['id'])['id'] == image['id']
    assert friend.get('/v2/images/%s/file' % image['id']).content == b'shared bytes'
    assert not listed(friend, image)


def test_member_status_decides_only_the_default_list(sharing):
    owner, friend, _, image = sharing
    owner.post(members_url(image), json={'member': friend.project})
    accept = friend.put(members_url(image, friend.project), json={'status': 'accepted'})
    assert accept.status_code == 200 and accept.json()['status'] == 'accepted'
    assert listed(friend, image)
    friend.put(members_url(image, friend.project), json={'status': 'rejected'})
    assert not listed(friend, image)
    assert friend.image(image['id'])['id'] == image['id']
    response = friend.get('/v2/images?member_status=rejected&limit=1000')
    assert image['id'] in {i['id'] for i in response.json()['images']}


def test_owner_sees_every_member_and_a_member_only_itself(sharing, glance):
    owner, friend, _, image = sharing
    other = glance.client(deployment.new_project())
    for project in (friend.project, other.project):
        owner.post(members_url(image), json={'member': project})
    body = owner.get(members_url(image)).json()
    assert {m['member_id'] for m in body['members']} == {friend.project, other.project}
    assert body['schema'] == '/v2/schemas/members'
    jsonschema.validate(body, owner.get('/v2/schemas/members').json())
    mine = friend.get(members_url(image)).json()['members']
    assert [m['member_id'] for m in mine] == [friend.project]
    assert friend.get(members_url(image, other.project)).status_code == 404
    other.close()


def test_only_the_member_changes_its_status(sharing):
    owner, friend, _, image = sharing
    owner.post(members_url(image), json={'member': friend.project})
    response = owner.put(members_url(image, friend.project), json={'status': 'accepted'})
    assert response.status_code == 403
    assert owner.get(members_url(image, friend.project)).json()['status'] == 'pending'


def test_only_the_owner_adds_and_removes_members(sharing, glance):
    owner, friend, stranger, image = sharing
    owner.post(members_url(image), json={'member': friend.project})
    response = friend.post(members_url(image), json={'member': stranger.project})
    assert response.status_code == 403
    assert friend.delete(members_url(image, friend.project)).status_code == 403
    assert owner.delete(members_url(image, friend.project)).status_code == 204
    assert friend.get('/v2/images/%s' % image['id']).status_code == 404
    assert owner.delete(members_url(image, friend.project)).status_code == 404


def test_strangers_cannot_see_the_members(sharing):
    owner, friend, stranger, image = sharing
    owner.post(members_url(image), json={'member': friend.project})
    assert stranger.get(members_url(image)).status_code == 404
    assert stranger.post(members_url(image),
                         json={'member': stranger.project}).status_code == 404


def test_duplicate_member_conflicts(sharing):
    owner, friend, _, image = sharing
    owner.post(members_url(image), json={'member': friend.project})
    response = owner.post(members_url(image), json={'member': friend.project})
    assert response.status_code == 409


@pytest.mark.parametrize('visibility', ['private', 'public', 'community'])
def test_only_shared_images_have_members(admin, visibility):
    image = admin.create_image(visibility=visibility)
    response = admin.post(members_url(image), json={'member': 'someone'})
    assert response.status_code == 403
    assert response.json()['message'] == 'Only shared images have members.'


@pytest.mark.parametrize('visibility', ['private', 'public', 'community'])
def test_showing_a_member_of_an_image_no_longer_shared_is_404(sharing, admin,
                                                              visibility):
    """Upstream's GET .../members/{member_id} answers 404, never 403 (its
    documented errors are 400, 401 and 404)."""
    owner, friend, _, image = sharing
    owner.post(members_url(image), json={'member': friend.project})
    assert admin.patch_image(image['id'], [{'op': 'replace', 'path': '/visibility',
                                            'value': visibility}]).status_code == 200
    response = owner.get(members_url(image, friend.project))
    assert response.status_code == 404
    assert response.json()['message'] == 'Only shared images have members.'


@pytest.mark.parametrize('body', [
    {}, {'member': ''}, {'member': 5}, {'member': 'x' * 256}, ['x'],
    {'member': 'a/b'},   # its /members/<id> URL could never reach it
])
def test_malformed_member_bodies_are_400(sharing, body):
    owner, _, _, image = sharing
    assert owner.post(members_url(image), json=body).status_code == 400


def test_other_keys_beside_the_member_are_ignored_as_upstream(sharing):
    """openstacksdk's add_member(image, member_id=..., status=...) sends the status
    too: upstream reads the member and ignores the rest."""
    owner, friend, _, image = sharing
    response = owner.post(members_url(image), json={
        'member': friend.project, 'status': 'accepted', 'extra': 1})
    assert response.status_code == 200, response.text
    assert response.json()['status'] == 'pending'


@pytest.mark.parametrize('method, body', [('GET', None), ('PUT', {'status': 'accepted'}),
                                          ('DELETE', None)])
def test_a_long_member_id_of_colons_is_not_found(sharing, method, body):
    # Quoted for the registry, each ':' of the path became '%3A': a 3000-byte id
    # made a line the registry refused, and the client read "Request Line is too
    # large (9069 > 8190)" about a request it never sent.
    owner, _, _, image = sharing
    member_id = ':' * 3000
    response = owner.request(method, members_url(image, member_id), json=body)
    assert response.status_code == 404, response.text
    assert response.json()['message'] == 'Member %s not found for image %s.' % (
        member_id, image['id'])


@pytest.mark.parametrize('member_id', ['.', '..'])
def test_dot_segment_member_ids_are_400(sharing, member_id):
    """Clients drop "." and ".." segments from a URL (RFC 3986, 5.2.4): such a
    member's /members/<id> would reach /v2/images/<id>/ instead, so it could never
    be shown, answered or removed."""
    owner, _, _, image = sharing
    response = owner.post(members_url(image), json={'member': member_id})
    assert response.status_code == 400
    assert response.json()['message'] == 'A member id cannot be "." or "..".'
    assert owner.get(members_url(image)).json()['members'] == []


@pytest.mark.parametrize('body', [{'status': 'maybe'}, {}, {'status': None}, []])
def test_invalid_member_status_is_400(sharing, body):
    owner, friend, _, image = sharing
    owner.post(members_url(image), json={'member': friend.project})
    assert friend.put(members_url(image, friend.project), json=body).status_code == 400


def test_caller_membership_grants_get_image_policy(sharing):
    """A member's project may read even though it neither owns nor sees it listed."""
    owner, friend, _, image = sharing
    owner.post(members_url(image), json={'member': friend.project})
    assert friend.get('/v2/images/%s' % image['id']).status_code == 200
