"""/v2/images: create, show, update, delete, tags and (de)activation, over HTTP."""

import urllib.parse
import uuid

import pytest

from tests.fixtures.deployment import PATCH_2_1

PATCH_2_0 = 'application/openstack-images-v2.0-json-patch'


def assert_error(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert body['code'].startswith(str(status))
    assert body['title'] and body['message']
    assert 'Traceback' not in response.text
    return body['message']


# -- create -----------------------------------------------------------------------

def test_create_returns_queued_image_with_upstream_defaults(tenant):
    response = tenant.post('/v2/images', json={'name': 'cirros'})
    assert response.status_code == 201
    image = response.json()
    assert response.headers['Location'] == '/v2/images/%s' % image['id']
    assert image['status'] == 'queued'
    assert image['visibility'] == 'shared'
    assert image['protected'] is False and image['os_hidden'] is False
    assert image['owner'] == tenant.project
    assert image['min_ram'] == 0 and image['min_disk'] == 0
    for empty in ('size', 'virtual_size', 'checksum', 'os_hash_algo', 'os_hash_value',
                  'disk_format', 'container_format'):
        assert image[empty] is None
    assert image['tags'] == []
    assert image['self'] == '/v2/images/%s' % image['id']
    assert image['file'] == '/v2/images/%s/file' % image['id']
    assert image['schema'] == '/v2/schemas/image'
    assert image['created_at'].endswith('Z') and image['updated_at'].endswith('Z')
    assert response.headers['x-openstack-request-id'].startswith('req-')


def test_create_keeps_every_writable_attribute_and_custom_properties(tenant):
    image_id = str(uuid.uuid4())
    image = tenant.create_image(id=image_id, name='full', visibility='private',
                                protected=True, os_hidden=True, min_ram=512,
                                min_disk=2, disk_format='raw', container_format='ovf',
                                tags=['b', 'a', 'a'], os_distro='cirros',
                                hw_disk_bus='virtio')
    assert image['id'] == image_id
    assert (image['name'], image['visibility'], image['protected'],
            image['os_hidden'], image['min_ram'], image['min_disk'],
            image['disk_format'], image['container_format']) == \
        ('full', 'private', True, True, 512, 2, 'raw', 'ovf')
    assert sorted(image['tags']) == ['a', 'b']
    assert image['os_distro'] == 'cirros' and image['hw_disk_bus'] == 'virtio'
    assert tenant.image(image_id) == image
    tenant.patch_image(image_id, [{'op': 'replace', 'path': '/protected',
                                   'value': False}])


@pytest.mark.parametrize('body, fragment', [
    ({'name': 5}, "5 is not of type"),
    ({'name': 'x' * 256}, 'is too long'),
    ({'min_ram': 'big'}, "'big' is not of type 'integer'"),
    ({'min_ram': True}, "True is not of type 'integer'"),
    ({'min_disk': -1}, 'less than the minimum'),
    ({'protected': 'yes'}, "'yes' is not of type 'boolean'"),
    ({'visibility': 'everyone'}, "'everyone' is not one of"),
    ({'disk_format': 'floppy'}, "'floppy' is not one of"),
    ({'container_format': 'box'}, "'box' is not one of"),
    ({'tags': 'a'}, "'a' is not of type 'array'"),
    ({'tags': ['x' * 256]}, 'is too long'),
    ({'id': 'not-a-uuid'}, 'does not match'),
    ({'os_distro': 7}, "7 is not of type 'string'"),
])
def test_create_rejects_invalid_values_with_400(tenant, body, fragment):
    message = assert_error(tenant.post('/v2/images', json=body), 400)
    assert fragment in message


@pytest.mark.parametrize('attribute, word', [
    ('status', 'read-only'), ('size', 'read-only'), ('checksum', 'read-only'),
    ('created_at', 'read-only'), ('os_hash_value', 'read-only'),
    ('self', 'read-only'), ('file', 'read-only'), ('schema', 'read-only'),
    ('direct_url', 'read-only'), ('stores', 'read-only'),
    ('location', 'reserved'), ('deleted', 'reserved'), ('deleted_at', 'reserved'),
    ('os_glance_import_task', 'reserved'),
])
def test_create_refuses_read_only_and_reserved_attributes_with_403(tenant, attribute,
                                                                   word):
    message = assert_error(tenant.post('/v2/images', json={attribute: 'x'}), 403)
    assert "Attribute '%s' is %s." % (attribute, word) == message


def test_create_with_malformed_json_is_400(tenant):
    response = tenant.post('/v2/images', data=b'{"name": ',
                           headers={'Content-Type': 'application/json'})
    assert 'Malformed JSON' in assert_error(response, 400)


def test_create_with_a_number_json_cannot_hold_is_400_saying_so(tenant):
    response = tenant.post('/v2/images', data=b'{"min_ram": 1e400}',
                           headers={'Content-Type': 'application/json'})
    assert 'infinity' in assert_error(response, 400)


@pytest.mark.parametrize('number, shown', [
    (b'18446744073709551616', '18446744073709551616'),
    (b'-9223372036854775809', '-9223372036854775809'),
    (b'1' + b'0' * 30, '10000000000000000000...'),
    (b'9' * 300, '99999999999999999999...'),
])
def test_an_integer_beyond_64_bits_is_400_as_the_integer_it_is(tenant, number,
                                                                 shown):
    # The fast parser reads such an integer as a float: the client was told that
    # its integer "1e+30 is not of type 'integer'".
    response = tenant.post('/v2/images', data=b'{"min_ram": %s}' % number,
                           headers={'Content-Type': 'application/json'})
    assert assert_error(response, 400) == (
        'The request body holds an integer out of range: %s (at most 64 bits).'
        % shown)


def test_floats_and_64_bit_integers_in_one_body_are_read_as_sent(tenant):
    image = tenant.create_image()
    response = tenant.patch('/v2/images/%s' % image['id'], data=(
        b'[{"op": "add", "path": "/locations/-", "value": {"url": "http://x/y", '
        b'"metadata": {"f": 0.5, "big": 18446744073709551615}}}]'), headers={
        'Content-Type': 'application/openstack-images-v2.1-json-patch'})
    # Refused for the URL, not for the numbers: they reached the location checks.
    assert response.status_code in (400, 403), response.text
    assert 'JSON' not in response.json()['message']


def test_documents_nested_a_thousand_levels_deep_are_400(tenant):
    deep = b'{"a":' * 1000 + b'1' + b'}' * 1000
    response = tenant.post('/v2/images', data=deep,
                           headers={'Content-Type': 'application/json'})
    assert 'nested more than' in assert_error(response, 400)
    image = tenant.create_image()
    response = tenant.patch('/v2/images/%s' % image['id'], data=(
        b'[{"op": "add", "path": "/n", "value": ' + deep + b'}]'), headers={
        'Content-Type': 'application/openstack-images-v2.1-json-patch'})
    assert 'nested more than' in assert_error(response, 400)
    assert tenant.image(image['id']) == image


def test_create_with_a_json_array_is_400(tenant):
    assert_error(tenant.post('/v2/images', json=['name']), 400)


def test_create_with_a_non_json_media_type_is_415(tenant):
    response = tenant.post('/v2/images', data=b'name=x',
                           headers={'Content-Type': 'text/plain'})
    assert_error(response, 415)


def test_create_with_a_duplicate_id_is_409(tenant):
    image = tenant.create_image()
    assert_error(tenant.post('/v2/images', json={'id': image['id']}), 409)


def test_create_public_image_needs_an_admin(tenant, admin):
    assert_error(tenant.post('/v2/images', json={'visibility': 'public'}), 403)
    assert admin.create_image(visibility='public')['visibility'] == 'public'


def test_create_for_another_owner_needs_an_admin(tenant, admin):
    assert_error(tenant.post('/v2/images', json={'owner': 'someone-else'}), 403)
    assert admin.create_image(owner='someone-else')['owner'] == 'someone-else'


# -- show -------------------------------------------------------------------------

def test_show_unknown_or_malformed_id_is_404(tenant):
    assert_error(tenant.get('/v2/images/%s' % uuid.uuid4()), 404)
    assert_error(tenant.get('/v2/images/not-a-uuid'), 404)


def test_private_image_of_another_project_is_404_not_403(tenant, other_tenant):
    image = tenant.create_image(visibility='private')
    assert_error(other_tenant.get('/v2/images/%s' % image['id']), 404)
    assert_error(other_tenant.delete('/v2/images/%s' % image['id']), 404)


def test_public_image_is_readable_but_not_writable_by_other_projects(admin,
                                                                      other_tenant):
    image = admin.create_image(visibility='public', owner='owner-project')
    assert other_tenant.image(image['id'])['id'] == image['id']
    response = other_tenant.patch_image(image['id'], [
        {'op': 'replace', 'path': '/name', 'value': 'mine'}])
    assert_error(response, 403)
    assert_error(other_tenant.delete('/v2/images/%s' % image['id']), 403)


# -- update -----------------------------------------------------------------------

def test_patch_replaces_adds_and_removes(tenant):
    image = tenant.create_image(name='before', os_distro='cirros', color='red')
    response = tenant.patch_image(image['id'], [
        {'op': 'replace', 'path': '/name', 'value': 'after'},
        {'op': 'add', 'path': '/architecture', 'value': 'x86_64'},
        {'op': 'replace', 'path': '/os_distro', 'value': 'ubuntu'},
        {'op': 'add', 'path': '/color', 'value': 'blue'},
        {'op': 'remove', 'path': '/os_distro'},
        {'op': 'replace', 'path': '/tags', 'value': ['t2', 't1']},
        {'op': 'replace', 'path': '/min_ram', 'value': 1024},
    ])
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated['name'] == 'after'
    assert updated['architecture'] == 'x86_64'
    assert updated['color'] == 'blue'
    assert 'os_distro' not in updated
    assert sorted(updated['tags']) == ['t1', 't2']
    assert updated['min_ram'] == 1024
    assert tenant.image(image['id']) == updated


def test_patch_path_escapes_are_decoded(tenant):
    image = tenant.create_image()
    response = tenant.patch_image(image['id'], [
        {'op': 'add', 'path': '/a~1b~0c', 'value': 'v'}])
    assert response.json()['a/b~c'] == 'v'


def test_patch_with_wrong_media_type_is_415_with_accept_patch(tenant):
    image = tenant.create_image()
    response = tenant.patch('/v2/images/%s' % image['id'],
                            json=[{'op': 'replace', 'path': '/name', 'value': 'x'}])
    assert_error(response, 415)
    assert PATCH_2_1 in response.headers['Accept-Patch']
    assert PATCH_2_0 in response.headers['Accept-Patch']


def test_patch_with_wrong_media_type_is_415_before_the_image_is_looked_up(tenant):
    """As upstream: its deserializer refuses the media type first."""
    response = tenant.patch('/v2/images/%s' % uuid.uuid4(),
                            json=[{'op': 'replace', 'path': '/name', 'value': 'x'}])
    assert_error(response, 415)
    assert PATCH_2_1 in response.headers['Accept-Patch']


@pytest.mark.parametrize('document', [
    {'op': 'replace', 'path': '/name', 'value': 'x'},
    [{'op': 'move', 'from': '/name', 'path': '/title'}],
    [{'op': 'test', 'path': '/name', 'value': 'x'}],
    [{'op': 'replace', 'path': 'name', 'value': 'x'}],
    [{'op': 'replace', 'path': '/a/b', 'value': 'x'}],
    [{'op': 'replace', 'path': '/name'}],
    ['replace'],
    [{'op': 'replace', 'path': '/min_ram', 'value': 'lots'}],
    [{'op': 'add', 'path': '/custom', 'value': 5}],
    [{'op': 'replace', 'path': '/tags', 'value': [1]}],
])
def test_invalid_patch_documents_are_400(tenant, document):
    image = tenant.create_image()
    assert_error(tenant.patch_image(image['id'], document), 400)


@pytest.mark.parametrize('path, message', [
    ('/', 'Pointer `/` does not contain a valid token.'),
    ('//', 'Pointer `//` contains adjacent "/".'),
    ('/name/', 'Pointer `/name/` ends with "/".'),
    ('/a/b', 'Nested paths are not allowed: `/a/b`.'),
    ('/a~2', 'Pointer `/a~2` contains "~" not part of a recognized escape sequence.'),
])
def test_malformed_pointers_are_400_saying_what_is_wrong(tenant, path, message):
    image = tenant.create_image()
    response = tenant.patch_image(image['id'], [
        {'op': 'replace', 'path': path, 'value': 'x'}])
    assert assert_error(response, 400) == message


@pytest.mark.parametrize('operation, status', [
    ({'op': 'replace', 'path': '/status', 'value': 'active'}, 403),
    ({'op': 'replace', 'path': '/id', 'value': str(uuid.uuid4())}, 403),
    ({'op': 'replace', 'path': '/size', 'value': 1}, 403),
    ({'op': 'add', 'path': '/os_glance_foo', 'value': 'x'}, 403),
    ({'op': 'add', 'path': '/deleted', 'value': 'x'}, 403),
    ({'op': 'remove', 'path': '/name'}, 403),
    ({'op': 'remove', 'path': '/missing'}, 409),
    ({'op': 'replace', 'path': '/missing', 'value': 'x'}, 409),
    ({'op': 'replace', 'path': '/owner', 'value': 'another'}, 403),
    ({'op': 'replace', 'path': '/visibility', 'value': 'public'}, 403),
])
def test_forbidden_and_conflicting_patches(tenant, operation, status):
    image = tenant.create_image(name='unchanged')
    assert_error(tenant.patch_image(image['id'], [operation]), status)
    assert tenant.image(image['id'])['name'] == 'unchanged'


def test_patch_2_0_media_type_add_of_existing_property_conflicts(tenant):
    image = tenant.create_image(color='red')
    response = tenant.patch_image(image['id'], [{'add': '/color', 'value': 'blue'}],
                                  media_type=PATCH_2_0)
    assert_error(response, 409)
    response = tenant.patch_image(image['id'], [{'replace': '/color', 'value': 'blue'}],
                                  media_type=PATCH_2_0)
    assert response.json()['color'] == 'blue'


def test_patch_2_1_add_of_existing_property_overwrites(tenant):
    image = tenant.create_image(color='red')
    response = tenant.patch_image(image['id'], [
        {'op': 'add', 'path': '/color', 'value': 'blue'}])
    assert response.json()['color'] == 'blue'


def test_disk_format_can_change_only_while_queued(tenant):
    image = tenant.create_image(disk_format='qcow2')
    tenant.patch_image(image['id'], [{'op': 'replace', 'path': '/disk_format',
                                      'value': 'raw'}])
    assert tenant.upload(image['id'], b'data').status_code == 204
    response = tenant.patch_image(image['id'], [
        {'op': 'replace', 'path': '/disk_format', 'value': 'qcow2'}])
    assert_error(response, 403)


def test_admin_may_change_owner(admin):
    image = admin.create_image(owner='first')
    response = admin.patch_image(image['id'], [
        {'op': 'replace', 'path': '/owner', 'value': 'second'}])
    assert response.json()['owner'] == 'second'


# -- delete -----------------------------------------------------------------------

def test_delete_removes_image_and_its_data(glance, tenant):
    image = tenant.create_image()
    assert tenant.upload(image['id'], b'x' * 1000).status_code == 204
    assert image['id'] in glance.stored_files()
    assert tenant.delete('/v2/images/%s' % image['id']).status_code == 204
    assert_error(tenant.get('/v2/images/%s' % image['id']), 404)
    assert image['id'] not in glance.stored_files()
    assert_error(tenant.delete('/v2/images/%s' % image['id']), 404)


def test_protected_image_cannot_be_deleted(tenant):
    image = tenant.create_image(protected=True)
    assert_error(tenant.delete('/v2/images/%s' % image['id']), 403)
    assert tenant.image(image['id'])['status'] == 'queued'


def test_deleted_id_cannot_be_reused(tenant):
    image = tenant.create_image()
    tenant.delete('/v2/images/%s' % image['id'])
    assert_error(tenant.post('/v2/images', json={'id': image['id']}), 409)


# -- tags -------------------------------------------------------------------------

def test_tags_are_added_idempotently_and_removed(tenant):
    image = tenant.create_image()
    url = '/v2/images/%s/tags/' % image['id']
    assert tenant.put(url + 'gold').status_code == 204
    assert tenant.put(url + 'gold').status_code == 204
    assert tenant.put(url + 'with%20space').status_code == 204
    assert sorted(tenant.image(image['id'])['tags']) == ['gold', 'with space']
    assert tenant.delete(url + 'gold').status_code == 204
    assert tenant.image(image['id'])['tags'] == ['with space']
    assert_error(tenant.delete(url + 'gold'), 404)
    assert_error(tenant.put(url + 'x' * 256), 400)


@pytest.mark.parametrize('tag', ['a/b', 'line\nbreak', '\n', 'tab\there'])
def test_any_tag_can_be_added_and_removed_through_its_url(tenant, tag):
    image = tenant.create_image(tags=[tag])
    url = '/v2/images/%s/tags/%s' % (image['id'], urllib.parse.quote(tag, safe=''))
    assert tenant.delete(url).status_code == 204
    assert tenant.image(image['id'])['tags'] == []
    assert tenant.put(url).status_code == 204
    assert tenant.image(image['id'])['tags'] == [tag]


@pytest.mark.parametrize('tag', ['.', '..'])
def test_dot_segment_tags_are_400(tenant, tag):
    """Clients drop "." and ".." segments from a URL (RFC 3986, 5.2.4): such a tag's
    /tags/<tag> would reach the image instead, so ``openstack image unset --tag``
    and ``glance image-tag-delete`` could never remove it."""
    message = "'tags item' cannot be '.' or '..'"
    assert assert_error(tenant.post('/v2/images', json={'tags': [tag]}), 400) == message
    image = tenant.create_image(tags=['kept'])
    assert assert_error(tenant.patch_image(image['id'], [
        {'op': 'add', 'path': '/tags', 'value': ['kept', tag]}]), 400) == message
    url = '/v2/images/%s/tags/' % image['id']
    # Only a client that escapes the dots reaches the tag's URL.
    assert assert_error(tenant.put(url + tag.replace('.', '%2E')), 400) == \
        "'tag' cannot be '.' or '..'"
    assert tenant.image(image['id'])['tags'] == ['kept']


def test_tagging_an_unknown_image_is_404(tenant):
    assert_error(tenant.put('/v2/images/%s/tags/t' % uuid.uuid4()), 404)


# -- deactivate / reactivate --------------------------------------------------------

def test_deactivated_image_can_be_downloaded_only_by_admins(admin, tenant):
    image = tenant.create_image()
    tenant.upload(image['id'], b'payload')
    url = '/v2/images/%s/actions/' % image['id']
    assert tenant.post(url + 'deactivate').status_code == 204
    assert tenant.post(url + 'deactivate').status_code == 204
    assert tenant.image(image['id'])['status'] == 'deactivated'
    assert_error(tenant.get('/v2/images/%s/file' % image['id']), 403)
    assert admin.get('/v2/images/%s/file' % image['id']).content == b'payload'
    assert tenant.post(url + 'reactivate').status_code == 204
    assert tenant.image(image['id'])['status'] == 'active'
    assert tenant.get('/v2/images/%s/file' % image['id']).content == b'payload'


def test_queued_image_cannot_be_deactivated(tenant):
    image = tenant.create_image()
    assert_error(tenant.post('/v2/images/%s/actions/deactivate' % image['id']), 403)
    assert_error(tenant.post('/v2/images/%s/actions/reactivate' % image['id']), 403)


# -- callers without a project ------------------------------------------------------

@pytest.mark.parametrize('project_header', [None, 'None'])
def test_a_caller_without_a_project_owns_no_ownerless_image(glance, admin,
                                                             project_header):
    # The header-less admin creates images without an owner; a member without a
    # project (or one naming the project "None") must not own them.
    image = admin.create_image(visibility='public')
    admin.upload(image['id'], b'x')
    headers = {'X-User-Id': 'mallory', 'X-Roles': 'member,reader'}
    if project_header:
        headers['X-Project-Id'] = project_header
    with glance.client() as nobody:
        nobody.headers.update(headers)
        url = '/v2/images/%s' % image['id']
        assert nobody.get(url).status_code == 200   # public: readable by all
        assert_error(nobody.patch_image(image['id'], [
            {'op': 'replace', 'path': '/name', 'value': 'pwned'}]), 403)
        assert_error(nobody.post(url + '/actions/deactivate'), 403)
        assert_error(nobody.put(url + '/tags/t'), 403)
        assert_error(nobody.delete(url), 403)
    shown = admin.image(image['id'])
    assert (shown['name'], shown['status'], shown['tags']) == (None, 'active', [])


def test_making_an_image_public_again_needs_the_right_to_publicize(glance, admin,
                                                                   tenant):
    image = tenant.create_image()
    assert admin.patch_image(image['id'], [
        {'op': 'replace', 'path': '/visibility', 'value': 'public'}]).status_code == 200
    # As upstream: every replace of visibility with public is checked.
    assert_error(tenant.patch_image(image['id'], [
        {'op': 'replace', 'path': '/visibility', 'value': 'public'}]), 403)
