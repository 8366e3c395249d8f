"""The metadata definitions catalog behind the real Keystone, cell by cell:
namespace visibility × caller × operation, with upstream's secure-RBAC defaults.

Callers: a member of the owning project (alpha-member), a reader of it
(alpha-reader), a member of another project (beta-member), an admin, and an
anonymous caller (no token). Namespaces, owned by alpha: public and private.

For ``list`` the cell says whether the namespace is in the caller's list (Y/N), or
the status code when the list itself is refused. Every other cell is the exact
status code: readers see public namespaces and their project's private ones (404
for the others, even where writing is refused), and only admins write (403).
"""

import uuid

import pytest

from tests.integration.conftest import persona_session

pytestmark = pytest.mark.keystone

CALLERS = ('owner', 'reader', 'other', 'admin', 'anonymous')
PERSONAS = {'owner': 'alpha-member', 'reader': 'alpha-reader', 'other': 'beta-member',
            'admin': 'admin', 'anonymous': None}
KINDS = ('public', 'private')

#                 owner reader other admin anon
EXPECTED = {
    'list': {
        'public':  'Y     Y      Y     Y     401',
        'private': 'Y     Y      N     Y     401',
    },
    'show': {
        'public':  '200   200    200   200   401',
        'private': '200   200    404   200   401',
    },
    'show_for_resource_type': {
        'public':  '200   200    200   200   401',
        'private': '200   200    404   200   401',
    },
    'list_objects': {
        'public':  '200   200    200   200   401',
        'private': '200   200    404   200   401',
    },
    'show_object': {
        'public':  '200   200    200   200   401',
        'private': '200   200    404   200   401',
    },
    'list_properties': {
        'public':  '200   200    200   200   401',
        'private': '200   200    404   200   401',
    },
    'show_property': {
        'public':  '200   200    200   200   401',
        'private': '200   200    404   200   401',
    },
    'list_tags': {
        'public':  '200   200    200   200   401',
        'private': '200   200    404   200   401',
    },
    'show_tag': {
        'public':  '200   200    200   200   401',
        'private': '200   200    404   200   401',
    },
    'list_associations': {
        'public':  '200   200    200   200   401',
        'private': '200   200    404   200   401',
    },
    'list_resource_types': {
        'public':  '200   200    200   200   401',
        'private': '200   200    200   200   401',
    },
    'create_namespace': {
        'public':  '403   403    403   201   401',
        'private': '403   403    403   201   401',
    },
    'update_namespace': {
        'public':  '403   403    403   200   401',
        'private': '403   403    404   200   401',
    },
    'delete_namespace': {
        'public':  '403   403    403   204   401',
        'private': '403   403    404   204   401',
    },
    'create_object': {
        'public':  '403   403    403   201   401',
        'private': '403   403    404   201   401',
    },
    'update_property': {
        'public':  '403   403    403   200   401',
        'private': '403   403    404   200   401',
    },
    'create_tag': {
        'public':  '403   403    403   201   401',
        'private': '403   403    404   201   401',
    },
    'replace_tags': {
        'public':  '403   403    403   201   401',
        'private': '403   403    404   201   401',
    },
    'delete_tag': {
        'public':  '403   403    403   204   401',
        'private': '403   403    404   204   401',
    },
    'delete_all_objects': {
        'public':  '403   403    403   204   401',
        'private': '403   403    404   204   401',
    },
    'associate': {
        'public':  '403   403    403   201   401',
        'private': '403   403    404   201   401',
    },
    'dissociate': {
        'public':  '403   403    403   204   401',
        'private': '403   403    404   204   401',
    },
}

CELLS = [(operation, kind, caller, expected)
         for operation, rows in EXPECTED.items()
         for kind, row in rows.items()
         for caller, expected in zip(CALLERS, row.split())]

# Operations that change nothing share one namespace of each kind.
READS = ('list', 'show', 'show_for_resource_type', 'list_objects', 'show_object',
         'list_properties', 'show_property', 'list_tags', 'show_tag',
         'list_associations', 'list_resource_types')


class World:
    """Keystone sessions for the callers, and alpha's namespaces."""

    def __init__(self, keystone, glance):
        self.keystone = keystone
        self.url = glance.url
        self.sessions = {}
        self.shared = {}

    def session(self, caller):
        if caller not in self.sessions:
            self.sessions[caller] = persona_session(self.keystone, PERSONAS[caller])
        return self.sessions[caller]

    def make(self, kind):
        """A new namespace of ``kind`` owned by alpha, with one of everything."""
        name = 'Matrix::%s::%s' % (kind, uuid.uuid4().hex[:12])
        response = self.session('admin').post(self.url + '/v2/metadefs/namespaces', json={
            'namespace': name, 'visibility': kind,
            'owner': self.keystone.personas['alpha-member'].project_id,
            'properties': {'p': {'type': 'string', 'title': 'P'}},
            'objects': [{'name': 'o'}], 'tags': [{'name': 't'}],
            'resource_type_associations': [{'name': 'OS::Glance::Image',
                                            'prefix': 'hw_'}]})
        assert response.status_code == 201, response.text
        return name

    def namespace(self, operation, kind):
        if operation not in READS:
            return self.make(kind)
        if kind not in self.shared:
            self.shared[kind] = self.make(kind)
        return self.shared[kind]


@pytest.fixture(scope='module')
def world(keystone, secured):
    return World(keystone, secured)


def perform(world, operation, kind, caller):
    """Do ``operation`` as ``caller`` on a namespace of ``kind``: status or Y/N."""
    session = world.session(caller)
    name = world.namespace(operation, kind)
    base = world.url + '/v2/metadefs/namespaces/' + name
    if operation == 'list':
        response = session.get(world.url + '/v2/metadefs/namespaces',
                               params={'limit': 1000, 'sort_key': 'namespace'})
        if response.status_code != 200:
            return response.status_code
        return 'Y' if name in [n['namespace'] for n in response.json()['namespaces']] \
            else 'N'
    requests_by_operation = {
        'show': ('GET', base, None),
        'show_for_resource_type': ('GET', base + '?resource_type=OS::Glance::Image',
                                   None),
        'list_objects': ('GET', base + '/objects', None),
        'show_object': ('GET', base + '/objects/o', None),
        'list_properties': ('GET', base + '/properties', None),
        'show_property': ('GET', base + '/properties/hw_p?resource_type='
                                        'OS::Glance::Image', None),
        'list_tags': ('GET', base + '/tags', None),
        'show_tag': ('GET', base + '/tags/t', None),
        'list_associations': ('GET', base + '/resource_types', None),
        'list_resource_types': ('GET', world.url + '/v2/metadefs/resource_types', None),
        'create_namespace': ('POST', world.url + '/v2/metadefs/namespaces',
                             {'namespace': name + '::new', 'visibility': kind}),
        'update_namespace': ('PUT', base, {'namespace': name, 'visibility': kind}),
        'delete_namespace': ('DELETE', base, None),
        'create_object': ('POST', base + '/objects', {'name': 'new'}),
        'update_property': ('PUT', base + '/properties/p',
                            {'name': 'p', 'type': 'integer', 'title': 'P'}),
        'create_tag': ('POST', base + '/tags/new', None),
        'replace_tags': ('POST', base + '/tags', {'tags': [{'name': 'new'}]}),
        'delete_tag': ('DELETE', base + '/tags/t', None),
        'delete_all_objects': ('DELETE', base + '/objects', None),
        'associate': ('POST', base + '/resource_types', {'name': 'OS::Nova::Flavor'}),
        'dissociate': ('DELETE', base + '/resource_types/OS::Glance::Image', None),
    }
    method, target, body = requests_by_operation[operation]
    response = session.request(method, target, json=body, timeout=60)
    assert response.status_code < 500, response.text
    return response.status_code


@pytest.mark.parametrize('operation, kind, caller, expected', CELLS,
                         ids=['%s-%s-%s' % cell[:3] for cell in CELLS])
def test_metadef_access(world, operation, kind, caller, expected):
    assert str(perform(world, operation, kind, caller)) == expected


def test_a_refused_write_changes_nothing(world):
    """Judged before it is done: a reader's delete leaves the namespace whole."""
    name = world.make('public')
    base = world.url + '/v2/metadefs/namespaces/' + name
    for caller in ('reader', 'other', 'owner'):
        session = world.session(caller)
        assert session.delete(base + '/tags/t').status_code == 403
        assert session.delete(base).status_code == 403
    shown = world.session('admin').get(base).json()
    assert (shown['tags'], len(shown['objects'])) == ([{'name': 't'}], 1)
