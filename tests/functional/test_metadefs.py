"""/v2/metadefs over HTTP against the real registry and API processes: the 28
operations with upstream's bodies and status codes, the 10 schemas, and every kind
of bad request answered with a 4xx that says what is wrong."""

import urllib.parse
import uuid

import jsonschema
import pytest

from tests.fixtures import deployment as deployment_fixture

JSON = {'Content-Type': 'application/json'}
STRING = {'type': 'string', 'title': 'A string'}
NAMESPACE_KEYS = {'namespace', 'display_name', 'description', 'visibility', 'self',
                  'schema', 'protected', 'owner', 'created_at', 'updated_at'}
# Without a display name or description, a namespace has no such members.
BARE_KEYS = NAMESPACE_KEYS - {'display_name', 'description'}


@pytest.fixture
def ns():
    """A namespace name unique to this test; ``ns('x')`` another one."""
    prefix = 'Test::%s' % uuid.uuid4().hex[:12]
    return lambda suffix='ns': '%s::%s' % (prefix, suffix)


@pytest.fixture
def owner(glance):
    """An admin of a fresh project (by default only admins write the catalog)."""
    with glance.client(deployment_fixture.new_project(),
                       roles=('admin', 'member', 'reader')) as client:
        yield client


def url(namespace, *rest):
    return '/'.join(['/v2/metadefs/namespaces', namespace] + list(rest))


def make(client, namespace, **values):
    response = client.post('/v2/metadefs/namespaces', json=dict(values,
                                                                namespace=namespace))
    assert response.status_code == 201, response.text
    return response.json()


def error(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {'message', 'code', 'title'}, body
    return body['message']


def test_a_namespace_lives_as_upstreams_does(owner, ns):
    """Create (201, Location, defaults), duplicate (409), show, update (a full
    replacement, rename too), protected (403 on delete), delete (204), gone (404)."""
    response = owner.post('/v2/metadefs/namespaces', json={
        'namespace': ns(), 'display_name': 'Mine', 'description': 'What it is'})
    assert response.status_code == 201
    assert response.headers['Location'].endswith('/v2/metadefs/namespaces/%s' % ns())
    created = response.json()
    assert set(created) == NAMESPACE_KEYS
    assert {key: created[key] for key in NAMESPACE_KEYS - {'created_at', 'updated_at'}} \
        == {'namespace': ns(), 'display_name': 'Mine', 'description': 'What it is',
            'visibility': 'private', 'protected': False, 'owner': owner.project,
            'self': '/v2/metadefs/namespaces/%s' % ns(),
            'schema': '/v2/schemas/metadefs/namespace'}
    assert 'already exists' in error(owner.post('/v2/metadefs/namespaces',
                                                json={'namespace': ns()}), 409)
    assert owner.get(url(ns())).json() == created

    other_project = deployment_fixture.new_project()
    response = owner.put(url(ns()), json={
        'namespace': ns('renamed'), 'display_name': 'New', 'protected': True,
        'owner': other_project})
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated['namespace'], updated['display_name'], updated['protected'],
            updated['owner'], updated['visibility']) == (
        ns('renamed'), 'New', True, other_project, 'private')
    assert 'description' not in updated          # not given: back to none
    assert updated['self'] == '/v2/metadefs/namespaces/%s' % ns('renamed')
    error(owner.get(url(ns())), 404)
    assert 'is protected' in error(owner.delete(url(ns('renamed'))), 403)
    response = owner.put(url(ns('renamed')), json={'namespace': ns('renamed')})
    assert response.json()['owner'] == owner.project
    response = owner.delete(url(ns('renamed')))
    assert (response.status_code, response.content) == (204, b'')
    assert error(owner.get(url(ns('renamed'))), 404) == (
        'Metadata definition namespace=%s was not found.' % ns('renamed'))


def test_a_namespace_created_with_its_contents_shows_them(owner, ns):
    created = make(
        owner, ns(), visibility='public',
        properties={'cpu': dict(STRING, enum=['a', 'b'])},
        objects=[{'name': 'obj', 'required': ['x'],
                  'properties': {'x': {'type': 'integer', 'title': 'X', 'default': 5}}}],
        tags=[{'name': 'fast'}],
        resource_type_associations=[{'name': 'OS::Glance::Image', 'prefix': 'hw_'},
                                    {'name': 'OS::Nova::Flavor', 'prefix': 'hw:',
                                     'properties_target': 'flavor'}])
    assert created['properties'] == {'cpu': dict(STRING, enum=['a', 'b'])}
    assert created['tags'] == [{'name': 'fast'}]
    shown = owner.get(url(ns())).json()
    obj, = shown['objects']
    assert obj['properties']['x']['default'] == '5'     # upstream's model: a string
    assert obj['self'] == '/v2/metadefs/namespaces/%s/objects/obj' % ns()
    assert [a['name'] for a in shown['resource_type_associations']] == [
        'OS::Glance::Image', 'OS::Nova::Flavor']
    assert 'properties_target' not in shown['resource_type_associations'][0]
    prefixed = owner.get(url(ns()), params={'resource_type': 'OS::Nova::Flavor'}).json()
    assert list(prefixed['properties']) == ['hw:cpu']
    assert prefixed['objects'][0]['required'] == ['hw:x']
    # Without contents, none of the keys.
    assert set(make(owner, ns('empty'))) == BARE_KEYS
    assert set(owner.get(url(ns('empty'))).json()) == BARE_KEYS


def test_namespace_lists_page_with_links(owner, ns):
    resource_type = 'Test::%s' % uuid.uuid4().hex
    for suffix in 'abc':
        make(owner, ns(suffix), resource_type_associations=[{'name': resource_type}])
    response = owner.get('/v2/metadefs/namespaces', params={
        'resource_types': resource_type, 'limit': 2, 'sort_key': 'namespace',
        'sort_dir': 'asc'})
    page = response.json()
    assert [n['namespace'] for n in page['namespaces']] == [ns('a'), ns('b')]
    assert page['schema'] == '/v2/schemas/metadefs/namespaces'
    assert page['first'].startswith('/v2/metadefs/namespaces?')
    assert 'marker' not in page['first'] and 'limit=2' in page['first']
    assert 'marker=' in page['next']
    assert page['namespaces'][0]['resource_type_associations'][0]['name'] == \
        resource_type
    last = owner.get(page['next']).json()
    assert [n['namespace'] for n in last['namespaces']] == [ns('c')]
    assert 'next' not in last
    assert owner.get('/v2/metadefs/namespaces').json()['first'] == \
        '/v2/metadefs/namespaces'


def test_resource_types_given_more_than_once_list_namespaces_of_any(owner, ns):
    """As a comma-separated list; openstacksdk sends a list as repeated values."""
    first, second = ('Test::%s' % uuid.uuid4().hex for _ in range(2))
    for suffix, resource_type in (('a', first), ('b', second), ('c', first)):
        make(owner, ns(suffix), resource_type_associations=[{'name': resource_type}])
    params = {'limit': 2, 'sort_key': 'namespace', 'sort_dir': 'asc'}
    joined = owner.get('/v2/metadefs/namespaces', params=dict(
        params, resource_types='%s,%s' % (first, second))).json()
    repeated = owner.get('/v2/metadefs/namespaces', params=dict(
        params, resource_types=[first, second])).json()
    assert [n['namespace'] for n in repeated['namespaces']] == [ns('a'), ns('b')]
    assert repeated['namespaces'] == joined['namespaces']
    # The next page keeps both types.
    assert [n['namespace'] for n in owner.get(repeated['next']).json()['namespaces']] \
        == [ns('c')]


@pytest.mark.parametrize('params, status, message', [
    ({'limit': 'x'}, 400, 'limit param must be an integer'),
    ({'limit': '-1'}, 400, 'limit param must be positive'),
    ({'sort_dir': 'up'}, 400, 'Invalid sort direction: up'),
    ({'sort_key': 'owner'}, 400, "'sort_key' must be one of"),
    ({'visibility': 'shared'}, 400, 'Invalid visibility value: shared'),
    ({'marker': 'No::Such::Namespace'}, 404, 'was not found'),
    ({'resource_types': 'a/b'}, 400, "cannot contain '/'"),
    # Which of two values was meant? Refused, as the image list refuses it.
    ({'visibility': ['public', 'private']}, 400,
     "Parameter 'visibility' may be given only once"),
    ({'sort_key': ['namespace', 'created_at']}, 400,
     "Parameter 'sort_key' may be given only once"),
    ({'sort_dir': ['asc', 'desc']}, 400, "Parameter 'sort_dir' may be given only once"),
    ({'limit': ['1', '2']}, 400, "Parameter 'limit' may be given only once"),
    ({'marker': ['a', 'b']}, 400, "Parameter 'marker' may be given only once"),
])
def test_bad_list_parameters_say_what_is_wrong(admin, params, status, message):
    assert message in error(admin.get('/v2/metadefs/namespaces', params=params), status)


@pytest.mark.parametrize('path, name', [
    ((), 'resource_type'), (('properties', 'p'), 'resource_type'),
    (('tags',), 'limit'), (('tags',), 'marker'), (('tags',), 'sort_key'),
    (('tags',), 'sort_dir'),
])
def test_a_parameter_given_twice_is_refused(owner, ns, path, name):
    make(owner, ns(), properties={'p': {'type': 'string', 'title': 'P'}},
         tags=[{'name': 'a'}, {'name': 'b'}],
         resource_type_associations=[{'name': 'OS::Glance::Image'}])
    response = owner.get(url(ns(), *path),
                         params={name: ['OS::Glance::Image', 'OS::Nova::Flavor']})
    assert error(response, 400) == "Parameter '%s' may be given only once" % name


def test_objects(owner, ns):
    make(owner, ns())
    body = {'name': 'obj', 'description': 'd', 'required': ['p1'], 'properties': {
        'p1': {'type': 'integer', 'title': 'P1', 'operators': ['<all-in>'],
               'default': 100, 'minimum': 100, 'maximum': 30000369},
        'p2': dict(STRING, default='v', minLength=2, maxLength=50)}}
    response = owner.post(url(ns(), 'objects'), json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {'name', 'description', 'required', 'properties', 'self',
                            'schema', 'created_at', 'updated_at'}
    assert created['properties']['p1']['default'] == '100'
    assert created['schema'] == '/v2/schemas/metadefs/object'
    error(owner.post(url(ns(), 'objects'), json=body), 409)
    assert owner.get(url(ns(), 'objects', 'obj')).json() == created
    listed = owner.get(url(ns(), 'objects')).json()
    assert listed == {'objects': [created], 'schema': 'v2/schemas/metadefs/objects'}
    response = owner.put(url(ns(), 'objects', 'obj'), json={
        'name': 'renamed', 'properties': {'p1': {'type': 'string', 'title': 'P1'}}})
    updated = response.json()
    assert (updated['name'], updated['required'], list(updated['properties'])) == (
        'renamed', [], ['p1'])
    assert 'description' not in updated
    error(owner.get(url(ns(), 'objects', 'obj')), 404)
    assert owner.delete(url(ns(), 'objects', 'renamed')).status_code == 204
    error(owner.get(url(ns(), 'objects', 'renamed')), 404)
    assert 'was not found' in error(owner.delete(url(ns(), 'objects', 'renamed')), 404)


def test_properties(owner, ns):
    make(owner, ns(), resource_type_associations=[{'name': 'OS::Glance::Image',
                                                   'prefix': 'hw_'}])
    response = owner.post(url(ns(), 'properties'), json={
        'name': 'p', 'type': 'integer', 'title': 'P', 'default': 100, 'minimum': 100,
        'maximum': 30000369, 'readonly': False})
    assert response.status_code == 201, response.text
    assert response.json() == {'name': 'p', 'type': 'integer', 'title': 'P',
                               'default': '100', 'minimum': 100, 'maximum': 30000369,
                               'readonly': False}
    error(owner.post(url(ns(), 'properties'), json={'name': 'p', **STRING}), 409)
    assert owner.get(url(ns(), 'properties', 'p')).json()['default'] == '100'
    image = {'resource_type': 'OS::Glance::Image'}
    assert owner.get(url(ns(), 'properties', 'hw_p'), params=image).json()['name'] == 'p'
    assert "does not start with the expected resource type association prefix of " \
        "'hw_'" in error(owner.get(url(ns(), 'properties', 'p'), params=image), 404)
    error(owner.get(url(ns(), 'properties', 'hw_p'),
                    params={'resource_type': 'Not::Associated'}), 404)
    assert owner.get(url(ns(), 'properties')).json() == {'properties': {
        'p': {'type': 'integer', 'title': 'P', 'default': '100', 'minimum': 100,
              'maximum': 30000369, 'readonly': False}}}
    response = owner.put(url(ns(), 'properties', 'p'), json={
        'name': 'q', 'type': 'string', 'title': 'Q', 'operators': ['<or>'],
        'minLength': 5, 'maxLength': 10, 'readonly': True})
    assert response.json() == {'name': 'q', 'type': 'string', 'title': 'Q',
                               'operators': ['<or>'], 'minLength': 5,
                               'maxLength': 10, 'readonly': True}
    assert owner.delete(url(ns(), 'properties', 'q')).status_code == 204
    assert owner.get(url(ns(), 'properties')).json() == {'properties': {}}


def test_tags(owner, ns):
    make(owner, ns())
    response = owner.post(url(ns(), 'tags', 'tag1'))
    assert response.status_code == 201
    assert set(response.json()) == {'name', 'created_at', 'updated_at'}
    error(owner.post(url(ns(), 'tags', 'tag1')), 409)
    assert 'is too long' in error(owner.post(url(ns(), 'tags', 'x' * 81)), 400)
    assert owner.get(url(ns(), 'tags', 'tag1')).json()['name'] == 'tag1'
    assert owner.put(url(ns(), 'tags', 'tag1'),
                     json={'name': 'tag1-renamed'}).json()['name'] == 'tag1-renamed'
    assert owner.delete(url(ns(), 'tags', 'tag1-renamed')).status_code == 204
    error(owner.get(url(ns(), 'tags', 'tag1-renamed')), 404)

    def names():
        return sorted(t['name'] for t in owner.get(url(ns(), 'tags')).json()['tags'])

    response = owner.post(url(ns(), 'tags'), json={'tags': [{'name': n} for n in
                                                            ('t1', 't2', 't3')]})
    assert (response.status_code, response.json()) == (
        201, {'tags': [{'name': 't1'}, {'name': 't2'}, {'name': 't3'}]})
    error(owner.post(url(ns(), 'tags'), json={'tags': [{'name': 't4'}, {'name': 't4'}]}),
          409)
    assert names() == ['t1', 't2', 't3']
    append = {'X-Openstack-Append': 'True'}
    owner.post(url(ns(), 'tags'), json={'tags': [{'name': 't4'}]}, headers=append)
    error(owner.post(url(ns(), 'tags'), json={'tags': [{'name': 't4'}]},
                     headers=append), 409)
    assert names() == ['t1', 't2', 't3', 't4']
    owner.post(url(ns(), 'tags'), json={'tags': [{'name': 't5'}]})      # replaces
    assert names() == ['t5']
    owner.post(url(ns(), 'tags'), json={'tags': [{'name': 'a'}, {'name': 'b'}]},
               headers={'X-Openstack-Append': 'yes'})
    page = owner.get(url(ns(), 'tags'), params={'sort_key': 'name', 'sort_dir': 'asc',
                                                'limit': 2, 'marker': 'a'}).json()
    assert page == {'tags': [{'name': 'b'}, {'name': 't5'}]}
    assert owner.delete(url(ns(), 'tags')).status_code == 204
    assert names() == []


def test_a_tag_list_takes_a_limit_of_any_size(owner, ns):
    # Upstream takes any integer; one past 18 digits was refused with "Parameter
    # 'limit' must be an integer" (the registry's words, about an integer).
    make(owner, ns(), tags=[{'name': 'a'}, {'name': 'b'}])
    for limit in ('2', '99999999999999999999999'):
        response = owner.get(url(ns(), 'tags'), params={'limit': limit,
                                                        'sort_key': 'name'})
        assert response.status_code == 200, response.text
        assert response.json() == {'tags': [{'name': 'b'}, {'name': 'a'}]}


def test_resource_types(owner, ns):
    make(owner, ns())
    assert owner.get(url(ns(), 'resource_types')).json() == {
        'resource_type_associations': []}
    name = 'Test::%s' % uuid.uuid4().hex
    response = owner.post(url(ns(), 'resource_types'), json={
        'name': name, 'prefix': 'hw_', 'properties_target': 'image'})
    assert response.status_code == 201
    assert set(response.json()) == {'name', 'prefix', 'properties_target',
                                    'created_at', 'updated_at'}
    error(owner.post(url(ns(), 'resource_types'), json={'name': name}), 409)
    assert owner.get(url(ns(), 'resource_types')).json()['resource_type_associations'][
        0]['prefix'] == 'hw_'
    listed = owner.get('/v2/metadefs/resource_types').json()['resource_types']
    entry, = [rt for rt in listed if rt['name'] == name]
    assert set(entry) == {'name', 'created_at', 'updated_at'}
    assert owner.delete(url(ns(), 'resource_types', name)).status_code == 204
    assert 'was not found' in error(owner.delete(url(ns(), 'resource_types', name)),
                                    404)
    # The resource type stays.
    assert name in [rt['name'] for rt in
                    owner.get('/v2/metadefs/resource_types').json()['resource_types']]


def test_deleting_all_objects_properties_or_tags(owner, ns):
    make(owner, ns(), objects=[{'name': 'o'}], properties={'p': STRING},
         tags=[{'name': 't'}])
    for kind in ('objects', 'properties', 'tags'):
        assert owner.delete(url(ns(), kind)).status_code == 204
    shown = owner.get(url(ns())).json()
    assert set(shown) == BARE_KEYS


def test_a_protected_namespace_keeps_its_contents(owner, ns):
    make(owner, ns(), protected=True, objects=[{'name': 'o'}], properties={'p': STRING},
         tags=[{'name': 't'}], resource_type_associations=[{'name': 'OS::Glance::Image'}])
    for path, message in (
            (url(ns()), 'Metadata definition namespace %s is protected' % ns()),
            (url(ns(), 'objects'), 'is protected'), (url(ns(), 'properties'), None),
            (url(ns(), 'tags'), None),
            (url(ns(), 'objects', 'o'), 'Metadata definition object o is protected'),
            (url(ns(), 'properties', 'p'), 'property p is protected'),
            (url(ns(), 'tags', 't'), 'tag t is protected'),
            (url(ns(), 'resource_types', 'OS::Glance::Image'),
             'resource-type-association OS::Glance::Image is protected')):
        assert (message or 'protected') in error(owner.delete(path), 403)
    error(owner.post(url(ns(), 'tags'), json={'tags': [{'name': 'x'}]}), 403)
    assert owner.post(url(ns(), 'tags'), json={'tags': [{'name': 'x'}]},
                      headers={'X-Openstack-Append': 'true'}).status_code == 201
    assert len(owner.get(url(ns())).json()['tags']) == 2


def test_the_ten_schemas_are_served_and_valid(admin):
    names = ('namespace', 'namespaces', 'object', 'objects', 'property', 'properties',
             'resource_type', 'resource_types', 'tag', 'tags')
    schemas = {}
    for name in names:
        response = admin.get('/v2/schemas/metadefs/%s' % name)
        assert response.status_code == 200
        schemas[name] = response.json()
        jsonschema.Draft4Validator.check_schema(schemas[name])
    assert schemas['namespace']['required'] == ['namespace']
    assert schemas['namespace']['additionalProperties'] is False
    assert schemas['property']['required'] == ['title', 'type', 'name']
    assert schemas['properties']['properties']['properties']['additionalProperties'][
        'required'] == ['title', 'type']
    assert schemas['resource_type']['name'] == 'resource_type_association'
    assert schemas['resource_types']['name'] == 'resource_type_associations'
    assert schemas['tag']['properties']['name']['maxLength'] == 80
    assert 'definitions' in schemas['objects'] and 'definitions' not in \
        schemas['objects']['properties']['objects']['items']
    error(admin.post('/v2/schemas/metadefs/tag', json={}), 405)


def test_documents_fit_the_schemas_clients_validate_them_with(owner, ns):
    # confidential too: upstream stores it but its property schema leaves it out,
    # and glance md-property-show failed with "Additional properties are not allowed".
    make(owner, ns(), properties={'p': dict(STRING, default='x', confidential=True)},
         objects=[{'name': 'o', 'properties': {'q': STRING}}], tags=[{'name': 't'}],
         resource_type_associations=[{'name': 'OS::Glance::Image', 'prefix': 'hw_'}])

    def check(schema, document):
        jsonschema.validate(document, owner.get('/v2/schemas/metadefs/%s'
                                                % schema).json())

    check('namespace', owner.get(url(ns())).json())
    check('namespaces', owner.get('/v2/metadefs/namespaces').json())
    check('object', owner.get(url(ns(), 'objects', 'o')).json())
    check('property', owner.get(url(ns(), 'properties', 'p')).json())
    check('properties', owner.get(url(ns(), 'properties')).json())
    check('tag', owner.get(url(ns(), 'tags', 't')).json())
    check('resource_type',
          owner.get(url(ns(), 'resource_types')).json()['resource_type_associations'][0])


@pytest.mark.parametrize('method, path, body, status, message', [
    ('POST', '', {'namespace': 'x', 'self': 'y'}, 403, "Attribute 'self' is read-only."),
    ('POST', '', {'namespace': 'x', 'created_at': 'y'}, 403, 'read-only'),
    ('POST', '', {'namespace': 'x', 'colour': 'red'}, 400,
     "Provided object does not match schema 'namespace': Additional properties are "
     "not allowed"),
    ('POST', '', {'display_name': 'x'}, 400, "'namespace' is a required property"),
    ('POST', '', {'namespace': 5}, 400, "5 is not of type 'string'"),
    ('POST', '', {'namespace': 'x' * 81}, 400, 'is too long'),
    ('POST', '', {'namespace': 'a/b'}, 400, "'namespace' cannot contain '/'"),
    ('POST', '', {'namespace': ''}, 400, "'namespace' must not be empty"),
    ('POST', '', {'namespace': '{ns}', 'visibility': 'shared'}, 400, 'is not one of'),
    ('POST', '', {'namespace': '{ns}', 'protected': 'yes'}, 400,
     "is not of type 'boolean'"),
    ('POST', '', {'namespace': '{ns}', 'tags': [{}]}, 400, "needs a 'name'"),
    ('POST', '', {'namespace': '{ns}', 'properties': {'p': {'title': 'T'}}}, 400,
     "'type' is a required property"),
    ('POST', '', {'namespace': '{ns}', 'properties': {'p': dict(STRING, colour=1)}},
     400, "unknown attribute 'colour'"),
    ('POST', '', {'namespace': '{ns}', 'properties': {'p': dict(STRING, enum=[1, 2])}},
     400, "'enum item' must be a string"),
    ('POST', '', [1, 2], 400, 'must be a JSON object'),
    ('POST', '/objects', {'name': 'o', 'properties': {'p': dict(STRING, x=1)}}, 400,
     "Provided object does not match schema 'property'"),
    ('POST', '/objects', {'name': 'o', 'schema': 'x'}, 403, 'read-only'),
    ('POST', '/properties', STRING, 400, "'name' is a required property"),
    ('POST', '/properties', {'name': 'p', 'type': 'str', 'title': 'T'}, 400,
     'is not one of'),
    ('POST', '/tags', {'tags': [{'name': 't', 'x': 1}]}, 400,
     'Additional properties are not allowed'),
    ('POST', '/tags', {'tags': [{'name': 'x' * 81}]}, 400,
     'is longer than 80 characters'),
    ('PUT', '/tags/t', {'name': 5}, 400, "is not of type 'string'"),
    ('PUT', '/tags/t', {'name': 'n', 'updated_at': 'x'}, 403, 'read-only'),
    ('POST', '/resource_types', {'prefix': 'x'}, 400, "'name' is a required property"),
    ('POST', '/resource_types', {'name': 'R', 'extra': 1}, 400,
     'Additional properties are not allowed'),
])
def test_bad_bodies_are_refused_saying_what_is_wrong(owner, ns, method, path, body,
                                                     status, message):
    make(owner, ns(), tags=[{'name': 't'}])
    if isinstance(body, dict):
        body = {key: ns('new') if value == '{ns}' else value
                for key, value in body.items()}
    target = '/v2/metadefs/namespaces' if path == '' else url(ns()) + path
    assert message in error(owner.request(method, target, json=body), status)
    shown = owner.get(url(ns())).json()
    assert shown['tags'] == [{'name': 't'}] and 'objects' not in shown
    error(owner.get(url(ns('new'))), 404)


@pytest.mark.parametrize('dots', ['.', '..'])
def test_a_name_that_is_a_dot_segment_is_refused(owner, ns, dots):
    """Clients remove ``.`` and ``..`` segments from a URL (RFC 3986, 5.2.4), so
    nothing of that name could be shown, changed or deleted (upstream makes it)."""
    make(owner, ns(), objects=[{'name': 'o'}], properties={'p': STRING},
         tags=[{'name': 't'}])
    before = owner.get(url(ns())).json()
    for method, path, body in [
            ('POST', '/v2/metadefs/namespaces', {'namespace': dots}),
            ('POST', '/v2/metadefs/namespaces', {'namespace': ns('new'),
                                                 'tags': [{'name': dots}]}),
            ('PUT', url(ns()), {'namespace': dots}),
            ('POST', url(ns(), 'objects'), {'name': dots}),
            ('PUT', url(ns(), 'objects', 'o'), {'name': dots}),
            ('POST', url(ns(), 'properties'), dict(STRING, name=dots)),
            ('PUT', url(ns(), 'properties', 'p'), dict(STRING, name=dots)),
            ('POST', url(ns(), 'tags'), {'tags': [{'name': dots}]}),
            ('POST', url(ns(), 'tags', '%2E' * len(dots)), None),
            ('PUT', url(ns(), 'tags', 't'), {'name': dots}),
            ('POST', url(ns(), 'resource_types'), {'name': dots})]:
        message = error(owner.request(method, path, json=body), 400)
        assert "cannot be '.' or '..'" in message, (method, path)
    assert owner.get(url(ns())).json() == before
    error(owner.get(url(ns('new'))), 404)


def test_malformed_huge_and_deep_bodies_are_4xx(owner, ns):
    make(owner, ns())
    target = '/v2/metadefs/namespaces'
    assert 'Malformed JSON' in error(owner.post(target, data=b'{"namespace": ',
                                                headers=JSON), 400)
    assert 'empty' in error(owner.post(target, data=b'', headers=JSON), 400)
    error(owner.post(target, data=b'{}', headers={'Content-Type': 'text/plain'}), 415)
    deep = '[' * 100 + ']' * 100
    assert 'nested more than' in error(owner.post(
        target, data=('{"namespace": "x", "tags": %s}' % deep).encode(), headers=JSON),
        400)
    huge = b'{"namespace": "x", "description": "' + b'x' * (5 * 1024 * 1024) + b'"}'
    assert 'larger than' in error(owner.post(target, data=huge, headers=JSON), 413)
    # Chunked, without a length.
    assert 'larger than' in error(owner.post(target, data=iter([huge]), headers=JSON),
                                  413)
    error(owner.get(url(ns()), data=b'{}', headers=JSON), 400)
    error(owner.post(url(ns(), 'tags', 'x'), data=b'{}', headers=JSON), 400)


def test_unknown_paths_and_methods(owner, ns):
    make(owner, ns())
    error(owner.get('/v2/metadefs/nothing'), 404)
    response = owner.patch(url(ns()), json={})
    error(response, 405)
    assert set(response.headers['Allow'].split(', ')) == {'GET', 'PUT', 'DELETE'}
    error(owner.get(url(ns('missing'), 'objects')), 404)
    error(owner.get(url(ns(), 'objects', 'missing')), 404)
    error(owner.get(url(ns(), 'properties', 'missing')), 404)
    error(owner.get(url(ns(), 'tags', 'missing')), 404)
    error(owner.put(url(ns(), 'tags', 'missing'), json={'name': 'x'}), 404)


@pytest.mark.parametrize('rest', [(), ('objects', 'o'), ('tags', 't')])
def test_a_long_name_of_colons_is_not_found(owner, rest):
    # Quoted for the registry, each ':' of the path became '%3A': a 3000-byte
    # name made a line the registry refused, and the client read "Request Line is
    # too large (9100 > 8190)" about a request it never sent.
    name = ':' * 3000
    response = owner.get(url(name, *rest))
    assert error(response, 404) == 'Metadata definition namespace=%s was not ' \
                                   'found.' % name


def test_names_with_any_characters_are_addressable(owner):
    name = 'Test::%s::näme with spaces?&%%' % uuid.uuid4().hex[:8]
    make(owner, name, tags=[{'name': 'ü tag?'}])
    quoted = '/v2/metadefs/namespaces/%s' % urllib.parse.quote(name, safe='')
    assert owner.get(quoted).json()['namespace'] == name
    assert owner.get(quoted + '/tags/%C3%BC%20tag%3F').json()['name'] == 'ü tag?'
    assert owner.delete(quoted).status_code == 204
