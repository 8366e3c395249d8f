"""No request to the catalog gets a 5xx: every member of every body, and every query
parameter, replaced in turn by values of every JSON type (and extremes), is
answered with a 2xx or a 4xx that says what is wrong, and a refused write changes
nothing."""

import uuid

import pytest

from tests.fixtures import deployment as deployment_fixture

JUNK = [None, True, 0, -1, 2 ** 63, 1e300, 1.5, '', 'x' * 100000, '/', '\u2603' * 90,
        '\x00', [], [None], [{}], {}, {'a': {'b': []}}, 'OS::Glance::Image']

PROPERTY = {'name': 'p', 'type': 'string', 'title': 'P', 'description': 'd',
            'operators': ['<or>'], 'default': 'x', 'readonly': False, 'minimum': 0,
            'maximum': 9, 'enum': ['x'], 'pattern': '^x$', 'minLength': 0,
            'maxLength': 5, 'items': {'type': 'string', 'enum': ['a']},
            'uniqueItems': True, 'minItems': 0, 'maxItems': 3, 'additionalItems': False,
            'confidential': False}
OBJECT = {'name': 'o', 'description': 'd', 'required': ['p'],
          'properties': {'p': {'type': 'string', 'title': 'P'}}}
NAMESPACE = {'namespace': 'N', 'display_name': 'D', 'description': 'd',
             'visibility': 'public', 'protected': False, 'owner': 'someone',
             'properties': {'p': {'type': 'string', 'title': 'P'}},
             'objects': [OBJECT], 'tags': [{'name': 't'}],
             'resource_type_associations': [{'name': 'R', 'prefix': 'p_',
                                             'properties_target': 't'}]}
BODIES = {
    ('POST', ''): NAMESPACE,
    ('PUT', '/{ns}'): NAMESPACE,
    ('POST', '/{ns}/objects'): OBJECT,
    ('PUT', '/{ns}/objects/o'): OBJECT,
    ('POST', '/{ns}/properties'): PROPERTY,
    ('PUT', '/{ns}/properties/p'): PROPERTY,
    ('POST', '/{ns}/tags'): {'tags': [{'name': 'a'}]},
    ('PUT', '/{ns}/tags/t'): {'name': 'u'},
    ('POST', '/{ns}/resource_types'): {'name': 'R2', 'prefix': 'p',
                                       'properties_target': 't'},
}


def _variants(body):
    """``body`` with one member (at any depth) replaced by each junk value."""
    if isinstance(body, dict):
        for key, value in body.items():
            for junk in JUNK:
                yield dict(body, **{key: junk})
            for variant in _variants(value):
                yield dict(body, **{key: variant})
    elif isinstance(body, list) and body:
        for variant in _variants(body[0]):
            yield [variant] + body[1:]
        for junk in JUNK:
            yield [junk]


@pytest.fixture
def owner(glance):
    with glance.client(deployment_fixture.new_project(),
                       roles=('admin', 'member', 'reader')) as client:
        yield client


@pytest.mark.parametrize('method, path', list(BODIES))
def test_no_body_gets_a_server_error(owner, method, path):
    name = 'Robust::%s' % uuid.uuid4().hex[:12]
    response = owner.post('/v2/metadefs/namespaces', json={
        'namespace': name, 'objects': [{'name': 'o'}], 'tags': [{'name': 't'}],
        'properties': {'p': {'type': 'string', 'title': 'P'}}})
    assert response.status_code == 201, response.text
    target = '/v2/metadefs/namespaces' + path.format(ns=name)
    statuses = set()
    for variant in _variants(BODIES[method, path]):
        response = owner.request(method, target, json=variant)
        assert response.status_code < 500, (variant, response.text)
        statuses.add(response.status_code)
        if response.status_code >= 400:
            assert response.json()['message']
        elif method == 'PUT' and path == '/{ns}' and response.json()[
                'namespace'] != name:
            # A valid rename: name it back for the next variant.
            owner.put('/v2/metadefs/namespaces/' + response.json()['namespace'],
                      json={'namespace': name})
    assert 400 in statuses
    if method == 'POST' and path == '/{ns}/tags':
        return   # valid variants replaced the tags
    if path.startswith('/{ns}') and method == 'POST':
        return   # valid variants added things
    after = owner.get('/v2/metadefs/namespaces/' + name)
    assert after.status_code == 200


@pytest.mark.parametrize('path, parameters', [
    ('', ('limit', 'marker', 'sort_key', 'sort_dir', 'visibility', 'resource_types')),
    ('/{ns}', ('resource_type',)),
    ('/{ns}/objects', ('limit', 'marker', 'sort_dir', 'visibility')),
    ('/{ns}/properties/p', ('resource_type',)),
    ('/{ns}/tags', ('limit', 'marker', 'sort_key', 'sort_dir')),
])
def test_no_query_parameter_gets_a_server_error(owner, path, parameters):
    name = 'Robust::%s' % uuid.uuid4().hex[:12]
    owner.post('/v2/metadefs/namespaces', json={
        'namespace': name, 'properties': {'p': {'type': 'string', 'title': 'P'}}})
    target = '/v2/metadefs/namespaces' + path.format(ns=name)
    for parameter in parameters:
        for value in ('', '0', '-1', '1e3', '99999999999999999999', 'x' * 5000, '/',
                      '%00', '\u2603', 'a,b,,', ',', 'asc', 'namespace'):
            response = owner.get(target, params={parameter: value})
            assert response.status_code < 500, (parameter, value, response.text)
        response = owner.get(target + '?%s=a&%s=b' % (parameter, parameter))
        assert response.status_code < 500, response.text
