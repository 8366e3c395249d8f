"""Version discovery, schemas, request ids and the error contract of every response."""

import jsonschema
import pytest
import requests

from glance_api.v2 import routes
from tests.fixtures.deployment import PATCH_2_1


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


@pytest.mark.parametrize('method, path', [
    ('GET', '/versions/'), ('GET', '/versions/anything'), ('POST', '/versions'),
    ('DELETE', '/versions'), ('OPTIONS', '/versions'),
])
def test_every_request_for_versions_is_answered_with_the_document(glance, method,
                                                                    path):
    """Upstream answers version discovery before routing, whatever the method."""
    response = requests.request(method, glance.url + path)
    assert response.status_code == 200
    assert response.json()['versions'][0]['id'] == 'v2.17'


def test_head_of_versions_is_200_without_a_body(glance):
    response = requests.head(glance.url + '/versions')
    assert (response.status_code, response.content) == (200, b'')
    # Not even one gunicorn had to drop (it would warn in the log).
    with open(glance.api.log_path) as log:
        assert 'body bytes on a no-body response' not in log.read()


@pytest.mark.parametrize('path', ['/v3/images', '/nothing', '/v1/images', '//',
                                  '/v2.99/images'])
def test_a_path_without_a_served_version_lists_the_versions_with_300(glance, path):
    response = requests.get(glance.url + path)
    assert response.status_code == 300
    assert response.json()['versions'][0]['id'] == 'v2.17'


@pytest.mark.parametrize('path', ['/v2.1/images', '/v2.0/images', '/v2.17/images',
                                  '/v2.15/images'])
def test_a_minor_version_in_the_path_is_served_as_v2(tenant, path):
    image = tenant.create_image()
    response = tenant.get(path + '/' + image['id'])
    assert response.status_code == 200
    assert response.json()['id'] == image['id']


def test_a_version_in_the_media_type_is_served_as_v2(tenant):
    image = tenant.create_image()
    response = tenant.get('/images/' + image['id'], headers={
        'Accept': 'application/vnd.openstack.images-v2.1'})
    assert response.status_code == 200
    assert response.json()['id'] == image['id']
    unknown = tenant.get('/images/' + image['id'], headers={
        'Accept': 'application/vnd.openstack.images-v9'})
    assert unknown.status_code == 300


def test_every_response_has_a_request_id(glance, tenant):
    # Whoever answers: the application, the health check, a CORS preflight, or
    # gunicorn refusing a request line or a header before the application sees
    # it (upstream's has none on a preflight).
    preflight = {'Origin': 'http://horizon.example.org',
                 'Access-Control-Request-Method': 'GET'}
    for response in (tenant.get('/versions'), tenant.get('/v2/images'),
                     tenant.get('/v2/images/nope'), tenant.delete('/v2/schemas/image'),
                     tenant.get('/healthcheck'), tenant.head('/healthcheck'),
                     tenant.options('/v2/images', headers=preflight),
                     tenant.get('/v2/images/' + 'x' * 9000),
                     tenant.get('/v2/images', headers={'X-Long': 'x' * 20000})):
        assert response.headers['x-openstack-request-id'].startswith('req-'), (
            response.status_code, response.request.url[:60])


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


NOT_FOUND = 'No image found with ID 00000000-0000-0000-0000-000000000000'


@pytest.mark.parametrize('accept', ['*/*', 'text/html', 'text/*',
                                    'application/json, */*'])
def test_clients_that_accept_anything_get_html_errors_as_upstream(glance, accept):
    """webob's choice, which upstream answers with: python-glanceclient and
    openstacksdk send ``*/*``, and each shows HTML (not a flat JSON error, not text)."""
    response = requests.get(glance.url + IMAGE, headers={'Accept': accept})
    assert response.status_code == 404
    assert response.headers['Content-Type'].startswith('text/html')
    assert '<title>404 Not Found</title>' in response.text
    assert NOT_FOUND in response.text


def test_html_errors_escape_the_message(tenant):
    image = tenant.create_image()
    response = tenant.patch('/v2/images/' + image['id'], headers={
        'Accept': '*/*', 'Content-Type': PATCH_2_1},
        data='[{"op": "add", "path": "/a/<b>", "value": "y"}]')
    assert response.status_code == 400
    assert 'Nested paths are not allowed: `/a/&lt;b&gt;`' in response.text
    assert '<b>' not in response.text


@pytest.mark.parametrize('accept', [None, '', 'application/json',
                                    'text/html;q=0.5, application/json'])
def test_clients_that_ask_for_json_or_nothing_get_json_errors(glance, accept):
    """openstacksdk sends an empty ``Accept`` when it patches or uploads: it shows
    JSON, but not the text upstream answers it."""
    response = requests.get(glance.url + IMAGE, headers={'Accept': accept})
    assert response.headers['Content-Type'] == 'application/json'
    assert response.json() == {'message': NOT_FOUND, 'code': '404 Not Found',
                               'title': 'Not Found'}


@pytest.mark.parametrize('accept', ['text/plain', 'application/xml'])
def test_clients_that_accept_neither_html_nor_json_get_text_errors(glance, accept):
    response = requests.get(glance.url + IMAGE, headers={'Accept': accept})
    assert response.headers['Content-Type'].startswith('text/plain')
    assert response.text == '404 Not Found\n\n%s\n' % NOT_FOUND


@pytest.fixture
def shared_image(tenant, other_tenant):
    """An image of the tenant's with a tag and a member, so that every path of the
    routes table names something that exists."""
    image = tenant.create_image(tags=['t'])
    response = tenant.post('/v2/images/%s/members' % image['id'],
                           json={'member': other_tenant.project})
    assert response.status_code == 200, response.text
    return image


def _concrete(path, image_id, member_id):
    return (path.replace('<image_id>', image_id).replace('<member_id>', member_id)
            .replace('<tag:tag>', 't').replace('<store_id>', 'file'))


@pytest.mark.parametrize('route', routes.ROUTES,
                         ids=lambda route: '%s %s' % (route.method, route.path))
def test_a_trailing_slash_is_404_on_every_route_as_upstream(tenant, other_tenant,
                                                            shared_image, route):
    """Upstream's router matches no path with a trailing slash; nothing is done."""
    path = _concrete(route.path, shared_image['id'], other_tenant.project)
    response = tenant.request(route.method, path + '/', allow_redirects=False,
                              json={} if route.accepts_body else None)
    assert response.status_code == 404, response.text
    assert response.json()['code'] == '404 Not Found'
    image = tenant.image(shared_image['id'])
    assert (image['status'], image['tags']) == ('queued', ['t'])
    assert tenant.get('/v2/images/%s/members' % image['id']).json()['members']


# A stray byte, a UTF-16 surrogate, an overlong '/'.
@pytest.mark.parametrize('tag', ['%FF', '%ED%A0%80', '%C0%AF'])
def test_a_path_that_is_not_utf8_is_400_and_changes_nothing(tenant, tag):
    # Each was read as U+FFFD (one, two or three): every such tag request named
    # the same few tags, which no client could have meant.
    image = tenant.create_image()
    response = tenant.put('/v2/images/%s/tags/%s' % (image['id'], tag))
    assert response.status_code == 400, response.text
    assert response.json()['message'] == 'The request path is not UTF-8.'
    assert tenant.image(image['id'])['tags'] == []


@pytest.mark.parametrize('query', ['name=%FF', 'tag=a%E9', 'os_distro=%C3'])
def test_a_query_string_that_is_not_utf8_is_400(tenant, query):
    # Each was read as its percent-encoded text: name=%FF found the images named
    # '%FF', as name=%25FF does.
    tenant.create_image(name='%FF', tags=['a%E9'], os_distro='%C3')
    response = tenant.get('/v2/images?' + query)
    assert response.status_code == 400, response.text
    assert response.json()['message'] == 'The query string is not UTF-8.'


def test_a_project_id_no_image_could_be_owned_by_is_400_naming_the_header(glance):
    response = requests.post(glance.url + '/v2/images', json={'name': 'x'}, headers={
        'X-Project-Id': 'p' * 256, 'X-Roles': 'member,reader',
        'Accept': 'application/json'})
    assert response.status_code == 400
    assert 'X-Project-Id is longer than 255 characters' in response.text
