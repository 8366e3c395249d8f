"""/healthcheck: what load balancers poll, answered before authentication."""

import requests

from tests.fixtures import deployment, processes


def test_a_healthy_worker_answers_ok(glance):
    response = requests.get(glance.url + '/healthcheck')
    assert (response.status_code, response.text) == (200, 'OK')
    assert response.headers['Content-Type'].startswith('text/plain')
    head = requests.head(glance.url + '/healthcheck')
    assert head.status_code == 204


def test_other_methods_are_405(glance):
    response = requests.post(glance.url + '/healthcheck')
    assert response.status_code == 405
    assert response.headers['Allow'] == 'GET, HEAD'


def test_the_disable_file_drains_the_node_and_the_registry_must_answer(
        tmp_path):
    disable = tmp_path / 'healthcheck_disable'
    with deployment.running(tmp_path / 'glance', api_extra={
            'healthcheck': {'disable_by_file_path': str(disable)}}) as glance:
        url = glance.url + '/healthcheck'
        assert requests.get(url).status_code == 200
        disable.write_text('')
        response = requests.get(url)
        assert (response.status_code, response.text) == (503, 'DISABLED BY FILE')
        assert requests.head(url).status_code == 503
        disable.unlink()
        assert requests.get(url).status_code == 200

        glance.registry.stop()
        response = requests.get(url)
        assert (response.status_code, response.text) == (503, 'REGISTRY UNAVAILABLE')


def test_a_registry_secret_that_differs_makes_the_api_unhealthy(tmp_path):
    """Every image call would get 503: so must the load balancer's health check."""
    with deployment.running(tmp_path / 'glance', api_extra={
            'DEFAULT': {'registry_auth_secret': processes.new_secret()}}) as glance:
        assert glance.client().get('/v2/images').status_code == 503
        response = requests.get(glance.url + '/healthcheck')
        assert (response.status_code, response.text) == (
            503, 'REGISTRY REFUSES OUR CREDENTIALS: registry_auth_secret differs '
                 'between the API and the registry')
        assert requests.head(glance.url + '/healthcheck').status_code == 503
