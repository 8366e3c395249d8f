"""Version discovery, schemas, request ids and the error contract of every response."""

import jsonschema
import pytest
import requests


def test_root_lists_versions_with_300(glance):
    response = requests.get(glance.url + '/')
    assert response.status_code == 300
    versions = response.json()['versions']
    assert versions[0] == {'id': 'v2.17', 'status': 'CURRENT',
                           'links': [{'rel': 'self', 'href': glance.url + '/v2/'}]}
    assert [v['id'] for v in versions] == [
        'v2.17', 'v2.9', 'v2.7', 'v2.6', 'v2.5', 'v2.4', 'v2.3', 'v2.2', 'v2.1',
        'v2.0']


def test_versions_lists_versions_with_200(glance):
    response = requests.get(glance.url + '/versions')
    assert response.status_code == 200
    assert response.json() == requests.get(glance.url + '/').json()


def test_every_response_has_a_request_id(glance, tenant):
    for response in (tenant.get('/versions'), tenant.get('/v2/images'),
                     tenant.get('/v2/images/nope'), tenant.delete('/v2/schemas/image')):
        assert response.headers['x-openstack-request-id'].startswith('req-')


def test_image_schema_validates_real_images(glance, tenant):
    schema = tenant.get('/v2/schemas/image').json()
    assert schema['name'] == 'image'
    assert schema['additionalProperties'] == {'type': 'string'}
    assert None in schema['properties']['disk_format']['enum']
    assert 'qcow2' in schema['properties']['disk_format']['enum']
    image = tenant.create_image(os_distro='cirros', tags=['a'])
    jsonschema.validate(image, schema)


def test_images_schema_describes_a_list_page(tenant):
    schema = tenant.get('/v2/schemas/images').json()
    assert schema['name'] == 'images'
    jsonschema.validate(tenant.get('/v2/images').json(), schema)


def test_unknown_path_is_404_json(tenant):
    response = tenant.get('/v2/nothing-here')
    assert response.status_code == 404
    assert response.json() == {'message': 'The resource could not be found.',
                               'code': '404 Not Found', 'title': 'Not Found'}


@pytest.mark.parametrize('method, path, allowed', [
    ('DELETE', '/v2/images', {'GET', 'POST'}),
    ('POST', '/v2/images/00000000-0000-0000-0000-000000000000',
     {'GET', 'PATCH', 'DELETE'}),
    ('POST', '/v2/images/00000000-0000-0000-0000-000000000000/file', {'GET', 'PUT'}),
    ('PUT', '/v2/schemas/image', {'GET'}),
    ('GET', '/v2/images/00000000-0000-0000-0000-000000000000/actions/deactivate',
     {'POST'}),
])
def test_wrong_method_is_405_with_allow(tenant, method, path, allowed):
    response = tenant.request(method, path)
    assert response.status_code == 405
    assert response.json()['code'] == '405 Method Not Allowed'
    allow = {m.strip() for m in response.headers['Allow'].split(',')}
    assert allow == allowed


IMAGE = '/v2/images/00000000-0000-0000-0000-000000000000'


@pytest.mark.parametrize('path', ['/v2//images', '/v2/images//x/file'])
def test_doubled_slashes_are_404_not_redirects(tenant, path):
    response = tenant.get(path, allow_redirects=False)
    assert response.status_code == 404
    assert response.json()['code'] == '404 Not Found'


@pytest.mark.parametrize('method', ['HEAD', 'OPTIONS'])
@pytest.mark.parametrize('path, allowed', [
    ('/v2/images', {'GET', 'POST'}),
    (IMAGE, {'GET', 'PATCH', 'DELETE'}),
    (IMAGE + '/file', {'GET', 'PUT'}),
    ('/versions', {'GET'}),
])
def test_head_and_options_are_405_as_upstream_routes_them(tenant, method, path,
                                                         allowed):
    response = tenant.request(method, path)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers['Allow'].split(',')} == allowed


@pytest.mark.parametrize('method, path', [
    ('GET', '/v2/images'), ('GET', IMAGE), ('DELETE', IMAGE),
    ('PUT', IMAGE + '/tags/t'), ('DELETE', IMAGE + '/tags/t'),
    ('POST', IMAGE + '/actions/deactivate'), ('GET', '/v2/schemas/image'),
])
def test_a_body_where_none_is_expected_is_400(tenant, method, path):
    response = tenant.request(method, path, data=b'{"x": 1}',
                              headers={'Content-Type': 'application/json'})
    assert response.status_code == 400
    assert response.json()['message'] == 'A body is not expected with this request.'


def test_clients_that_accept_anything_get_plain_text_errors(glance):
    """python-glanceclient sends Accept: */* and cannot parse a flat JSON error."""
    response = requests.get(glance.url + '/v2/images/nope',
                            headers={'Accept': '*/*'})
    assert response.status_code == 404
    assert response.headers['Content-Type'].startswith('text/plain')
    assert response.text.startswith('404 Not Found')


def test_errors_without_an_accept_header_are_json(glance):
    response = requests.get(glance.url + '/v2/images/nope', headers={'Accept': None})
    assert response.json()['code'] == '404 Not Found'
