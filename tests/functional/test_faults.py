"""Faults outside the API process: the registry going away and coming back."""

import pytest

from tests.fixtures import deployment


@pytest.fixture
def fragile(tmp_path):
    """A deployment of its own, since these tests stop its registry."""
    with deployment.running(tmp_path) as glance:
        yield glance


def test_registry_down_answers_503_json_and_recovers(fragile):
    with fragile.client(deployment.new_project()) as client:
        image = client.create_image(name='survivor')
        fragile.registry.stop()
        for response in (client.get('/v2/images'),
                         client.get('/v2/images/%s' % image['id']),
                         client.post('/v2/images', json={'name': 'x'}),
                         client.upload(image['id'], b'data')):
            assert response.status_code == 503, response.text
            body = response.json()
            assert body['code'] == '503 Service Unavailable'
            # The reason (connection refused, which address) is for the log.
            assert body['message'] == ('The image registry is not available; try '
                                       'again later.'), body
        fragile.registry.start()
        assert client.image(image['id'])['name'] == 'survivor'
        assert client.image(image['id'])['status'] == 'queued'
        assert client.upload(image['id'], b'data').status_code == 204


def test_registry_refuses_an_api_with_the_wrong_secret(tmp_path):
    with deployment.running(tmp_path, api_extra={
            'DEFAULT': {'registry_auth_secret': 'not-the-registry-secret'}}) as glance:
        with glance.client() as client:
            response = client.get('/v2/images')
            assert response.status_code == 503
            assert 'registry' in response.json()['message']
