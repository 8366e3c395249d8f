"""Tenant isolation, cell by cell: caller × image × operation, with real Keystone tokens.

Callers: the owner (alpha-member), a reader of the owner's project (alpha-reader),
members of the shared images with each status (beta pending, gamma accepted, delta
rejected), another project (epsilon), an admin, a service user (the ``service`` role
only) and an anonymous caller (no token).

Images, all owned by alpha: private, shared (with the three members), community,
public, and deactivated (shared, with the same members, data uploaded).

Each table row is one image; its columns are the callers in the order of ``CALLERS``.
For ``list`` the cell says whether the image is in the caller's default list (Y/N), or
the status code when the list itself is refused. Every other cell is the exact status
code. These are upstream Glance's secure-RBAC defaults. A caller refused an image
it may not see either (``get_image``: the service user, without the reader role) is
answered 404, whatever it asked, as upstream's image policy does. (Community images
are left out of every default list but their owner's, an admin's included:
``visibility=community`` or ``all`` lists them.)
"""

import uuid

import pytest

from tests.integration.conftest import persona_session

pytestmark = pytest.mark.keystone

CALLERS = ('owner', 'reader', 'pending', 'accepted', 'rejected', 'other', 'admin',
           'service', 'anonymous')
PERSONAS = {'owner': 'alpha-member', 'reader': 'alpha-reader',
            'pending': 'beta-member', 'accepted': 'gamma-member',
            'rejected': 'delta-member', 'other': 'epsilon-member', 'admin': 'admin',
            'service': 'glance', 'anonymous': None}
MEMBERS = {'pending': 'beta', 'accepted': 'gamma', 'rejected': 'delta'}
IMAGES = ('private', 'shared', 'community', 'public', 'deactivated')

#            owner reader pend  acc   rej   other admin serv  anon
EXPECTED = {
    'list': {
        'private':     'Y     Y      N     N     N     N     Y     403   401',
        'shared':      'Y     Y      N     Y     N     N     Y     403   401',
        'community':   'Y     Y      N     N     N     N     N     403   401',
        'public':      'Y     Y      Y     Y     Y     Y     Y     403   401',
        'deactivated': 'Y     Y      N     Y     N     N     Y     403   401',
    },
    'show': {
        'private':     '200   200    404   404   404   404   200   404   401',
        'shared':      '200   200    200   200   200   404   200   404   401',
        'community':   '200   200    200   200   200   200   200   404   401',
        'public':      '200   200    200   200   200   200   200   404   401',
        'deactivated': '200   200    200   200   200   404   200   404   401',
    },
    'download': {
        'private':     '200   403    404   404   404   404   200   404   401',
        'shared':      '200   403    200   200   200   404   200   404   401',
        'community':   '200   403    200   200   200   200   200   404   401',
        'public':      '200   403    200   200   200   200   200   404   401',
        'deactivated': '403   403    403   403   403   404   200   404   401',
    },
    'patch': {
        'private':     '200   403    404   404   404   404   200   404   401',
        'shared':      '200   403    403   403   403   404   200   404   401',
        'community':   '200   403    403   403   403   403   200   404   401',
        'public':      '200   403    403   403   403   403   200   404   401',
        'deactivated': '200   403    403   403   403   404   200   404   401',
    },
    'delete': {
        'private':     '204   403    404   404   404   404   204   404   401',
        'shared':      '204   403    403   403   403   404   204   404   401',
        'community':   '204   403    403   403   403   403   204   404   401',
        'public':      '204   403    403   403   403   403   204   404   401',
        'deactivated': '204   403    403   403   403   404   204   404   401',
    },
    'tag': {
        'private':     '204   403    404   404   404   404   204   404   401',
        'shared':      '204   403    403   403   403   404   204   404   401',
        'community':   '204   403    403   403   403   403   204   404   401',
        'public':      '204   403    403   403   403   403   204   404   401',
        'deactivated': '204   403    403   403   403   404   204   404   401',
    },
    'add_member': {
        'private':     '403   403    404   404   404   404   403   404   401',
        'shared':      '200   403    403   403   403   404   200   404   401',
        'community':   '403   403    403   403   403   403   403   404   401',
        'public':      '403   403    403   403   403   403   403   404   401',
        'deactivated': '200   403    403   403   403   404   200   404   401',
    },
    'change_member_status': {
        'private':     '403   403    404   404   404   404   403   404   401',
        'shared':      '403   403    200   200   200   404   200   404   401',
        'community':   '403   403    403   403   403   403   403   404   401',
        'public':      '403   403    403   403   403   403   403   404   401',
        'deactivated': '403   403    200   200   200   404   200   404   401',
    },
    'deactivate': {
        'private':     '204   403    404   404   404   404   204   404   401',
        'shared':      '204   403    403   403   403   404   204   404   401',
        'community':   '204   403    403   403   403   403   204   404   401',
        'public':      '204   403    403   403   403   403   204   404   401',
        'deactivated': '204   403    403   403   403   404   204   404   401',
    },
}

CELLS = [(operation, image, caller, expected)
         for operation, rows in EXPECTED.items()
         for image, row in rows.items()
         for caller, expected in zip(CALLERS, row.split())]


class World:
    """The Keystone personas and a factory of alpha's images in each shape."""

    def __init__(self, keystone, glance):
        self.keystone = keystone
        self.url = glance.url
        keystone.add_persona('epsilon-member', 'epsilon', 'domain_b', 'member')
        self.sessions = {}
        self.shared_images = {}

    def session(self, caller):
        if caller not in self.sessions:
            self.sessions[caller] = persona_session(self.keystone, PERSONAS[caller])
        return self.sessions[caller]

    def project(self, caller):
        return self.keystone.personas[PERSONAS[caller]].project_id

    def make(self, kind):
        """A new image of ``kind`` owned by alpha, with data and (if shared) members."""
        owner, admin = self.session('owner'), self.session('admin')
        visibility = 'shared' if kind == 'deactivated' else kind
        creator = admin if kind == 'public' else owner
        body = {'name': 'matrix-%s' % kind, 'visibility': visibility,
                'disk_format': 'raw', 'container_format': 'bare'}
        if kind == 'public':
            body['owner'] = self.project('owner')
        response = creator.post(self.url + '/v2/images', json=body)
        assert response.status_code == 201, response.text
        image_id = response.json()['id']
        response = owner.put(self.url + '/v2/images/%s/file' % image_id, data=b'bits',
                             headers={'Content-Type': 'application/octet-stream'})
        assert response.status_code == 204, response.text
        if visibility == 'shared':
            for caller, status in (('pending', 'pending'), ('accepted', 'accepted'),
                                   ('rejected', 'rejected')):
                response = owner.post(self.url + '/v2/images/%s/members' % image_id,
                                      json={'member': self.project(caller)})
                assert response.status_code == 200, response.text
                if status != 'pending':
                    response = self.session(caller).put(
                        self.url + '/v2/images/%s/members/%s'
                        % (image_id, self.project(caller)), json={'status': status})
                    assert response.status_code == 200, response.text
        if kind == 'deactivated':
            response = owner.post(self.url + '/v2/images/%s/actions/deactivate'
                                  % image_id)
            assert response.status_code == 204, response.text
        return image_id

    def shared(self, kind):
        """One image of ``kind`` reused by the operations that change nothing."""
        if kind not in self.shared_images:
            self.shared_images[kind] = self.make(kind)
        return self.shared_images[kind]


@pytest.fixture(scope='module')
def world(keystone, secured):
    return World(keystone, secured)


def perform(world, operation, kind, caller):
    """Do ``operation`` as ``caller`` on an image of ``kind``; status or Y/N."""
    session, url = world.session(caller), world.url
    if operation in ('list', 'show', 'download'):
        image_id = world.shared(kind)
    else:
        image_id = world.make(kind)
    image_url = url + '/v2/images/%s' % image_id
    if operation == 'list':
        response = session.get(url + '/v2/images?limit=1000')
        if response.status_code != 200:
            return response.status_code
        listed = {i['id'] for i in response.json()['images']}
        return 'Y' if image_id in listed else 'N'
    if operation == 'show':
        return session.get(image_url).status_code
    if operation == 'download':
        response = session.get(image_url + '/file')
        if response.status_code == 200:
            assert response.content == b'bits'
        return response.status_code
    if operation == 'patch':
        return session.patch(image_url, json=[
            {'op': 'replace', 'path': '/name', 'value': 'renamed'}], headers={
            'Content-Type': 'application/openstack-images-v2.1-json-patch'}).status_code
    if operation == 'delete':
        return session.delete(image_url).status_code
    if operation == 'tag':
        return session.put(image_url + '/tags/matrix').status_code
    if operation == 'add_member':
        return session.post(image_url + '/members',
                            json={'member': uuid.uuid4().hex}).status_code
    if operation == 'change_member_status':
        target = world.project(caller) if caller in MEMBERS else world.project(
            'pending')
        return session.put(image_url + '/members/%s' % target,
                           json={'status': 'accepted'}).status_code
    if operation == 'deactivate':
        return session.post(image_url + '/actions/deactivate').status_code
    raise AssertionError(operation)


@pytest.mark.parametrize('operation, kind, caller, expected', CELLS,
                         ids=['%s-%s-%s' % cell[:3] for cell in CELLS])
def test_tenant_isolation(world, operation, kind, caller, expected):
    assert str(perform(world, operation, kind, caller)) == expected
