"""Issue 18.3 against the real processes: an http store location that the import
filters allow cannot lead, through redirects, to services inside the network (here
the registry's /healthcheck, as Keystone's /v3 was in the report), and refused or
failed reads tell the client nothing of the network (addresses, ports, statuses,
connection errors).

The deployment is the one the report used: a file store and a read-only http store,
locations shown, hashing of added locations on, and ``[import_filtering_opts]``
allowing one loopback host and port: the tenant's web server's.
"""

import pytest
import requests

from tests.fixtures import deployment, web_server
from tests.fixtures.processes import free_port
from tests.fixtures.web_server import pattern

# A port the filters allow where nothing listens: failures there must read like any
# other failure.
CLOSED_PORT = free_port()


@pytest.fixture(scope='module')
def tenant_web():
    """The web server a tenant controls, on the one allowed port."""
    with web_server.running() as server:
        yield server


@pytest.fixture(scope='module')
def glance(tmp_path_factory, tenant_web):
    workdir = tmp_path_factory.mktemp('redirects')
    with deployment.running(workdir, api_extra={
            'DEFAULT': {'enabled_backends': 'local:file, web:http',
                        'show_multiple_locations': True, 'http_retries': 0},
            'glance_store': {'default_backend': 'local'},
            'local': {'filesystem_store_datadir': str(workdir / 'local')},
            'import_filtering_opts': {
                'allowed_hosts': '127.0.0.1',
                'allowed_ports': '%d,%d' % (tenant_web.port, CLOSED_PORT)}}) as glance:
        yield glance


def internal_targets(glance):
    """What must stay out of reach: the registry's health check and the API's own
    port (the same process), both on loopback."""
    return {'registry': glance.registry.url + '/healthcheck',
            'api': glance.url + '/versions'}


def assert_generic(response, status, glance, url=''):
    """The error message, checked to say nothing of the network beyond the URL
    the client sent itself."""
    assert response.status_code == status, response.text
    message = response.json()['message']
    told = message.replace(url, '') if url else message
    for secret in (str(glance.registry.port), str(glance.api.port), 'onnection',
                   'refused', 'timed out', str(CLOSED_PORT), ' 500', ' 404'):
        assert secret not in told, message
    return message


@pytest.mark.parametrize('target', ['registry', 'api'])
def test_an_added_location_redirecting_inside_never_becomes_image_data(
        glance, tenant_web, target):
    inside = internal_targets(glance)[target]
    secret = requests.get(inside, timeout=10).content
    url = tenant_web.redirect(inside)
    with glance.client(deployment.new_project()) as owner:
        image = owner.create_image()
        response = owner.post('/v2/images/%s/locations' % image['id'],
                              json={'url': url})
        assert response.status_code == 202, response.text
        image = owner.settled(image['id'])
        assert (image['status'], image['locations']) == ('queued', [])
        assert image['size'] is None
        download = owner.get('/v2/images/%s/file' % image['id'])
        assert download.status_code == 204 and secret not in download.content


@pytest.mark.parametrize('target', ['registry', 'api'])
def test_patching_in_a_location_redirecting_inside_is_refused_generically(
        glance, tenant_web, target):
    url = tenant_web.redirect(internal_targets(glance)[target])
    with glance.client(deployment.new_project()) as owner:
        image = owner.create_image()
        response = owner.patch_image(image['id'], [
            {'op': 'add', 'path': '/locations/-',
             'value': {'url': url, 'metadata': {}}}])
        assert_generic(response, 400, glance, url)
        assert owner.image(image['id']) == image


def test_a_location_that_starts_redirecting_inside_is_not_downloaded(
        glance, tenant_web):
    # Admitted and hashed while it served the image; the tenant then turns it into
    # a redirect to the registry.
    path = '/data/%d' % 4096
    url = tenant_web.url + path
    with glance.client(deployment.new_project()) as owner:
        image = owner.create_image()
        owner.post('/v2/images/%s/locations' % image['id'], json={'url': url})
        image = owner.settled(image['id'])
        assert image['status'] == 'active'
        assert owner.get('/v2/images/%s/file' % image['id']).content == pattern(4096)
        secret = requests.get(internal_targets(glance)['registry'], timeout=10).content
        tenant_web.moved[path] = internal_targets(glance)['registry']
        try:
            download = owner.get('/v2/images/%s/file' % image['id'])
        finally:
            del tenant_web.moved[path]
        assert_generic(download, 503, glance)
        assert secret not in download.content


@pytest.mark.parametrize('url', [
    lambda web: 'http://127.0.0.1:%d/image' % CLOSED_PORT,   # nothing listens
    lambda web: web.url + '/status/500',
    lambda web: web.url + '/status/404',
    lambda web: web.redirect('http://127.0.0.1:%d/image' % CLOSED_PORT),
], ids=['closed-port', 'status-500', 'status-404', 'redirect-to-closed-port'])
def test_failed_reads_do_not_say_why(glance, tenant_web, url):
    # Connection refused, an error status, a missing file: the client learns only
    # that the data could not be read (no port scanning through error bodies).
    with glance.client(deployment.new_project()) as owner:
        image = owner.create_image()
        url = url(tenant_web)
        response = owner.patch_image(image['id'], [
            {'op': 'add', 'path': '/locations/-',
             'value': {'url': url, 'metadata': {}}}])
        assert response.status_code in (400, 503), response.text
        assert_generic(response, response.status_code, glance, url)
        assert owner.image(image['id']) == image


def test_an_allowed_location_still_works(glance, tenant_web):
    url = tenant_web.redirect(tenant_web.url + '/data/1000')
    with glance.client(deployment.new_project()) as owner:
        image = owner.create_image()
        response = owner.patch_image(image['id'], [
            {'op': 'add', 'path': '/locations/-',
             'value': {'url': url, 'metadata': {}}}])
        assert response.status_code == 200, response.text
        assert owner.get('/v2/images/%s/file' % image['id']).content == pattern(1000)
