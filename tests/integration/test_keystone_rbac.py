"""Upstream's secure-RBAC defaults with real Keystone tokens: every persona against
one project's shared image, in one table (persona x operation -> status)."""

import pytest
import requests

from tests.fixtures import disk_images

pytestmark = pytest.mark.keystone

DATA = disk_images.raw(4096)

#: What each operation does to alpha's shared image (``{id}``), which beta accepted.
OPERATIONS = {
    'list': ('GET', '/v2/images', None),
    'show': ('GET', '/v2/images/{id}', None),
    'download': ('GET', '/v2/images/{id}/file', None),
    'rename': ('PATCH', '/v2/images/{id}', [
        {'op': 'replace', 'path': '/name', 'value': 'renamed'}]),
    'tag': ('PUT', '/v2/images/{id}/tags/probe', None),
    'members': ('GET', '/v2/images/{id}/members', None),
    'share': ('POST', '/v2/images/{id}/members', {'member': 'another-project'}),
    'deactivate': ('POST', '/v2/images/{id}/actions/deactivate', None),
    'locations': ('GET', '/v2/images/{id}/locations', None),
    'tasks': ('GET', '/v2/tasks', None),
    'create': ('POST', '/v2/images', {'name': 'mine'}),
}

# 404: the image is not the caller's to see (upstream's policy answers a refused
# get_image so, and the registry hides it); 403: it sees it and may not do that.
EXPECTED = {
    #                  list show file rename tag mem share deact loc tasks create
    'alpha-member':    (200, 200, 200, 200, 204, 200, 200, 204, 403, 403, 201),
    'alpha-reader':    (200, 200, 403, 403, 403, 200, 403, 403, 403, 403, 403),
    # the project the image is shared with
    'beta-member':     (200, 200, 200, 403, 403, 200, 403, 403, 403, 403, 201),
    'beta-reader':     (200, 200, 403, 403, 403, 200, 403, 403, 403, 403, 403),
    # a project it is not shared with
    'gamma-member':    (200, 404, 404, 404, 404, 404, 404, 404, 404, 403, 201),
    # alpha's users with a role upstream's rules do not name, and with the
    # service role only (what upstream gives it: the locations)
    'alpha-observer':  (403, 404, 404, 404, 404, 404, 404, 404, 404, 403, 403),
    'alpha-service':   (403, 404, 404, 404, 404, 404, 404, 404, 200, 403, 403),
    'admin':           (200, 200, 200, 200, 204, 200, 200, 204, 200, 200, 201),
}


@pytest.fixture(scope='module')
def shared_image(secured, keystone):
    if 'observer' not in keystone.roles:
        keystone.roles['observer'] = keystone.admin_api(
            'POST', '/roles', {'role': {'name': 'observer'}})['role']['id']
    keystone.add_persona('alpha-observer', 'alpha', role='observer')
    keystone.add_persona('alpha-service', 'alpha', role='service')
    owner = session(keystone, 'alpha-member')
    image = owner.post(secured.url + '/v2/images', json={
        'name': 'rbac', 'visibility': 'shared', 'disk_format': 'raw',
        'container_format': 'bare'}).json()
    url = secured.url + '/v2/images/%s' % image['id']
    assert owner.put(url + '/file', data=DATA, headers={
        'Content-Type': 'application/octet-stream'}).status_code == 204
    beta = keystone.projects['beta'].id
    assert owner.post(url + '/members', json={'member': beta}).status_code == 200
    assert session(keystone, 'beta-member').put(
        url + '/members/%s' % beta, json={'status': 'accepted'}).status_code == 200
    return image


def session(keystone, persona):
    client = requests.Session()
    client.headers.update({'X-Auth-Token': keystone.token_for(persona),
                           'Accept': 'application/json'})
    return client


@pytest.mark.parametrize('persona', sorted(EXPECTED))
def test_each_persona_gets_upstreams_answer_for_each_operation(secured, keystone,
                                                               shared_image, persona):
    client = session(keystone, persona)
    admin = session(keystone, 'admin')
    url = secured.url + '/v2/images/%s' % shared_image['id']
    got = {}
    for name, (method, path, body) in OPERATIONS.items():
        headers = {}
        if method == 'PATCH':
            headers['Content-Type'] = 'application/openstack-images-v2.1-json-patch'
        response = client.request(method, secured.url + path.format(
            id=shared_image['id']), json=body, headers=headers)
        got[name] = response.status_code
        # Whatever was allowed is undone, so that every persona meets the same
        # image.
        if name == 'rename' and response.status_code == 200:
            admin.patch(url, json=[{'op': 'replace', 'path': '/name', 'value': 'rbac'}],
                        headers=headers)
        if name == 'tag' and response.status_code == 204:
            admin.delete(url + '/tags/probe')
        if name == 'share' and response.status_code == 200:
            admin.delete(url + '/members/another-project')
        if name == 'deactivate' and response.status_code == 204:
            admin.post(url + '/actions/reactivate')
    assert got == dict(zip(OPERATIONS, EXPECTED[persona]))
    shown = admin.get(url).json()
    assert (shown['name'], shown['status'], shown['tags']) == ('rbac', 'active', [])
