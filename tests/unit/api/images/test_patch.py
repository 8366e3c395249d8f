"""JSON patch of an image (``glance_api.images.patch``), rule by rule, through the
API application in this process: what each patch answers and leaves behind."""

import pytest

from stores.memory import MemoryStore
from tests.fixtures.inprocess import InProcessDeployment, caller

V21 = 'application/openstack-images-v2.1-json-patch'
V20 = 'application/openstack-images-v2.0-json-patch'
OWNER = caller('owner-project')


@pytest.fixture
def image(deployment):
    response = deployment.request('POST', '/v2/images', OWNER, {
        'name': 'patched', 'disk_format': 'raw', 'container_format': 'bare',
        'kept': 'yes', 'tags': ['a']})
    assert response.status_code == 201
    return response.json


def patch(deployment, image, body, media_type=V21, who=OWNER):
    return deployment.request('PATCH', '/v2/images/%s' % image['id'], who, body,
                              content_type=media_type)


# (why, media type, patch, status, message or None, attributes after or None)
CASES = [
    ('2.1 add overwrites a property', V21,
     [{'op': 'add', 'path': '/kept', 'value': 'new'}], 200, None, {'kept': 'new'}),
    ('2.0 add of a present property conflicts', V20,
     [{'add': '/kept', 'value': 'new'}], 409, 'Property kept already present.',
     {'kept': 'yes'}),
    ('2.0 add of a new property', V20,
     [{'add': '/fresh', 'value': 'v'}], 200, None, {'fresh': 'v', 'kept': 'yes'}),
    ('2.0 add of a base attribute conflicts: it is always present', V20,
     [{'add': '/name', 'value': 'new'}], 409, 'Property name already present.',
     {'name': 'patched'}),
    ('2.0 add of the tags conflicts', V20,
     [{'add': '/tags', 'value': ['b']}], 409, 'Property tags already present.',
     {'tags': ['a']}),
    ('2.0 replace of a base attribute', V20,
     [{'replace': '/name', 'value': 'new'}], 200, None, {'name': 'new'}),
    ('2.1 add of a base attribute sets it', V21,
     [{'op': 'add', 'path': '/name', 'value': 'new'}], 200, None, {'name': 'new'}),
    ('escapes decode: ~1 is "/", ~0 is "~"', V21,
     [{'op': 'add', 'path': '/a~1b~0c~01', 'value': 'v'}], 200, None,
     {'a/b~c~1': 'v'}),
    ('a "~" escaping nothing, though "~0"/"~1" follow it', V21,
     [{'op': 'add', 'path': '/a~~01', 'value': 'v'}], 400,
     'Pointer `/a~~01` contains "~" not part of a recognized escape sequence.', None),
    ('a property name of 255 characters', V21,
     [{'op': 'add', 'path': '/' + 'k' * 255, 'value': 'v'}], 200, None,
     {'k' * 255: 'v'}),
    ('a property name over 255 characters', V21,
     [{'op': 'add', 'path': '/' + 'k' * 256, 'value': 'v'}], 400,
     'Custom property should not be greater than 255 characters.', None),
    ('a trailing "~"', V21,
     [{'op': 'add', 'path': '/a~', 'value': 'v'}], 400,
     'Pointer `/a~` contains "~" not part of a recognized escape sequence.', None),
    ('remove a missing property', V21,
     [{'op': 'remove', 'path': '/missing'}], 409, 'Property missing does not exist.',
     None),
    ('remove the tags', V21,
     [{'op': 'remove', 'path': '/tags'}], 403, 'Property tags may not be removed.',
     {'tags': ['a']}),
    ('remove a base attribute', V21,
     [{'op': 'remove', 'path': '/name'}], 403, 'Property name may not be removed.',
     {'name': 'patched'}),
    ('replace a read-only attribute', V21,
     [{'op': 'replace', 'path': '/status', 'value': 'active'}], 403,
     "Attribute 'status' is read-only.", {'status': 'queued'}),
    ('add a reserved property', V21,
     [{'op': 'add', 'path': '/os_glance_secret', 'value': 'x'}], 403,
     "Attribute 'os_glance_secret' is reserved.", None),
    ('a nested path', V21,
     [{'op': 'add', 'path': '/kept/deeper', 'value': 'x'}], 400,
     'Nested paths are not allowed: `/kept/deeper`.', None),
    ('adjacent slashes', V21,
     [{'op': 'add', 'path': '//kept', 'value': 'x'}], 400,
     'Pointer `//kept` contains adjacent "/".', None),
    ('a trailing slash', V21,
     [{'op': 'add', 'path': '/kept/', 'value': 'x'}], 400,
     'Pointer `/kept/` ends with "/".', None),
    ('an object, not a list', V21, {'op': 'add', 'path': '/x', 'value': 'y'}, 400,
     'A JSON patch must be a JSON array of operation objects.', None),
    ('an unknown operation', V21, [{'op': 'move', 'path': '/x', 'from': '/kept'}],
     400, 'Operation "op" must be one of "add", "remove" or "replace", not \'move\'.',
     None),
    ('add without a value', V21, [{'op': 'add', 'path': '/x'}], 400,
     'Operation "add" requires a member named "value".', None),
    ('a value outside the schema', V21,
     [{'op': 'replace', 'path': '/min_ram', 'value': -1}], 400, None, {'min_ram': 0}),
    ('tags replaced whole', V21,
     [{'op': 'replace', 'path': '/tags', 'value': ['b', 'c']}], 200, None,
     {'tags': ['b', 'c']}),
]


@pytest.mark.parametrize('why,media_type,body,status,message,after', CASES,
                         ids=[case[0] for case in CASES])
def test_a_patch_answers_as_upstream(deployment, image, why, media_type, body, status,
                                     message, after):
    response = patch(deployment, image, body, media_type)
    assert response.status_code == status, response.json
    if message is not None:
        assert response.json['message'] == message
    shown = deployment.request('GET', '/v2/images/%s' % image['id'], OWNER).json
    for name, value in (after or {}).items():
        assert sorted(shown[name]) == sorted(value) if name == 'tags' \
            else shown[name] == value


def test_another_media_type_is_415_with_the_patch_types_accepted(deployment, image):
    response = patch(deployment, image, [], media_type='application/json')
    assert response.status_code == 415
    assert set(response.headers['Accept-Patch'].split(', ')) == {V20, V21}


def test_formats_change_only_while_the_image_is_queued(deployment, image):
    upload = deployment.request('PUT', '/v2/images/%s/file' % image['id'], OWNER,
                                b'\0' * 4096, content_type='application/octet-stream')
    assert upload.status_code == 204
    response = patch(deployment, image,
                     [{'op': 'replace', 'path': '/disk_format', 'value': 'qcow2'}])
    assert response.status_code == 403
    assert response.json['message'] == ('Attribute disk_format can be only replaced '
                                        'for a queued image.')


def test_a_patch_is_applied_whole_or_not_at_all(deployment, image):
    response = patch(deployment, image, [
        {'op': 'replace', 'path': '/name', 'value': 'renamed'},
        {'op': 'remove', 'path': '/missing'}])
    assert response.status_code == 409
    shown = deployment.request('GET', '/v2/images/%s' % image['id'], OWNER).json
    assert shown['name'] == 'patched'


def test_an_image_whose_format_was_dropped_from_the_config_can_still_be_patched(
        tmp_path):
    # Only the values a patch sets are validated, as upstream: an active image
    # whose disk_format the operator has since removed from disk_formats can still
    # be renamed and unprotected (so deleted).
    store = MemoryStore('memory')
    before = InProcessDeployment(str(tmp_path), store=store)
    image = before.request('POST', '/v2/images', OWNER, {
        'name': 'old', 'disk_format': 'vdi', 'container_format': 'ova',
        'protected': True}).json
    assert before.request('PUT', '/v2/images/%s/file' % image['id'], OWNER,
                          b'\0' * 4096,
                          content_type='application/octet-stream').status_code == 204
    after = InProcessDeployment(str(tmp_path), store=store, api={
        'image_format.disk_formats': ['raw', 'qcow2'],
        'image_format.container_formats': ['bare']})

    response = patch(after, image, [
        {'op': 'replace', 'path': '/name', 'value': 'renamed'},
        {'op': 'replace', 'path': '/protected', 'value': False}])

    assert response.status_code == 200, response.json
    shown = after.request('GET', '/v2/images/%s' % image['id'], OWNER).json
    assert (shown['name'], shown['protected'], shown['disk_format'],
            shown['status']) == ('renamed', False, 'vdi', 'active')
    # What a patch sets is still checked against the deployment's formats.
    response = patch(after, image,
                     [{'op': 'replace', 'path': '/container_format', 'value': 'ova'}])
    assert response.status_code == 400
    assert after.request('DELETE', '/v2/images/%s' % image['id'],
                         OWNER).status_code == 204


def test_every_change_is_checked_before_any_is_played(deployment, image):
    # As upstream's deserializer: a read-only attribute or an invalid value later
    # in the patch is reported before a missing property earlier in it.
    response = patch(deployment, image, [
        {'op': 'remove', 'path': '/missing'},
        {'op': 'replace', 'path': '/min_ram', 'value': 'lots'}])
    assert response.status_code == 400
    assert response.json['message'].endswith("(at min_ram)")
    response = patch(deployment, image, [
        {'op': 'remove', 'path': '/missing'},
        {'op': 'replace', 'path': '/status', 'value': 'active'}])
    assert response.status_code == 403


def test_a_custom_property_name_over_255_characters_is_refused_on_create(deployment):
    response = deployment.request('POST', '/v2/images', OWNER, {
        'name': 'long', 'k' * 256: 'v'})
    assert (response.status_code, response.json['message']) == (
        400, 'Custom property should not be greater than 255 characters.')
    listed = deployment.request('GET', '/v2/images', OWNER).json['images']
    assert listed == []
