"""Every list of the API reads ``limit`` the same way (glance_api/http/paging.py):
upstream's two messages for a value that is not a whole number or is negative (an
empty ``?limit=`` included, as upstream's ``int('')``), and a limit above
``api_limit_max`` is capped where upstream caps it."""

import pytest

from tests.fixtures.inprocess import InProcessDeployment

NAMESPACE = 'Limits::Tags'
LISTS = {
    'images': '/v2/images',
    'tasks': '/v2/tasks',
    'namespaces': '/v2/metadefs/namespaces',
    'tags': '/v2/metadefs/namespaces/%s/tags' % NAMESPACE,
}


@pytest.fixture(scope='module')
def capped(tmp_path_factory):
    deployment = InProcessDeployment(str(tmp_path_factory.mktemp('limits')),
                                     api={'api_limit_max': 2})
    assert deployment.request('POST', '/v2/metadefs/namespaces', body={
        'namespace': NAMESPACE, 'tags': [{'name': 't%d' % n} for n in range(3)],
    }).status_code == 201
    for n in range(3):
        assert deployment.request('POST', '/v2/images', body={
            'name': 'limits-%d' % n}).status_code == 201
        assert deployment.request('POST', '/v2/metadefs/namespaces', body={
            'namespace': 'Limits::N%d' % n}).status_code == 201
        assert deployment.request('POST', '/v2/tasks', body={
            'type': 'import', 'input': {
                'import_from': 'http://127.0.0.1:1/x.raw', 'import_from_format': 'raw',
                'image_properties': {'disk_format': 'raw', 'container_format': 'bare'},
            }}).status_code == 201
    return deployment


@pytest.mark.parametrize('name', sorted(LISTS))
@pytest.mark.parametrize('limit, message', [
    ('', 'limit param must be an integer'),
    ('abc', 'limit param must be an integer'),
    ('1.5', 'limit param must be an integer'),
    ('-1', 'limit param must be positive'),
])
def test_a_bad_limit_gets_upstreams_message_on_every_list(capped, name, limit, message):
    response = capped.request('GET', LISTS[name] + '?limit=' + limit)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()['message'] == message


@pytest.mark.parametrize('name', sorted(LISTS))
def test_a_limit_given_twice_is_refused_on_every_list(capped, name):
    # Which was meant? Every other list parameter given twice is refused too.
    response = capped.request('GET', LISTS[name] + '?limit=1&limit=2')
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()['message'] == "Parameter 'limit' may be given only once"


@pytest.mark.parametrize('name, listed', [
    ('images', 2), ('tasks', 2), ('namespaces', 2),
    # Upstream caps no tag list: a namespace's tags come in one page.
    ('tags', 3)])
def test_a_limit_above_api_limit_max_is_capped_where_upstream_caps_it(capped, name,
                                                                      listed):
    response = capped.request('GET', LISTS[name] + '?limit=99999999999999999999')
    assert response.status_code == 200, response.get_data(as_text=True)
    assert len(response.get_json()[name]) == listed
