"""TLS on both daemons (``cert_file``, ``key_file``, ``ca_file``) and the API's
registry client over HTTPS (``registry_client_protocol = https``,
``registry_client_ca_file``, ``registry_client_cert_file``/``key_file``), with
certificates from a CA made by ``openssl`` for the test: a smoke subset of the
functional suite over TLS, and the ways a TLS setup must fail."""

import hashlib
import io
import os
import socket
import subprocess
import sys
import time

import glanceclient.v2.client
import openstack
import pytest
import requests

from tests.fixtures import deployment as deployment_fixture
from tests.fixtures import disk_images
from tests.fixtures import processes
from tests.fixtures.tls import (  # noqa: F401 (fixtures)
    _no_ca_bundle_from_the_environment, ca)

BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope='module')
def certificates(ca):
    return {'registry': ca.issue('registry'), 'api': ca.issue('api'),
            'api-client': ca.issue('api-client', client=True),
            'stranger': ca.issue('stranger', client=True)}


def _tls_options(ca, certificates):
    registry = certificates['registry']
    api, client = certificates['api'], certificates['api-client']
    return {
        'registry_extra': {'DEFAULT': {'cert_file': registry.cert,
                                       'key_file': registry.key,
                                       'ca_file': ca.cert}},
        'api_extra': {'DEFAULT': {
            'cert_file': api.cert, 'key_file': api.key,
            'registry_client_protocol': 'https',
            'registry_client_ca_file': ca.cert,
            'registry_client_cert_file': client.cert,
            'registry_client_key_file': client.key}},
    }


@pytest.fixture(scope='module')
def secure(tmp_path_factory, ca, certificates):
    """Registry and API over TLS; the registry verifies its clients."""
    client = certificates['api-client']
    with deployment_fixture.running(
            tmp_path_factory.mktemp('tls'), verify=ca.cert,
            client_cert=(client.cert, client.key),
            **_tls_options(ca, certificates)) as deployment:
        yield deployment


def test_image_lifecycle_over_tls(secure):
    assert secure.url.startswith('https://')
    project = deployment_fixture.new_project()
    with secure.client(project) as owner:
        image = owner.create_image(name='secure', visibility='shared')
        data = disk_images.raw(500000)
        assert owner.upload(image['id'], data).status_code == 204
        shown = owner.image(image['id'])
        assert (shown['status'], shown['checksum']) == (
            'active', hashlib.md5(data).hexdigest())
        assert owner.get('/v2/images/%s/file' % image['id']).content == data
        assert owner.patch_image(image['id'], [
            {'op': 'add', 'path': '/color', 'value': 'green'}]).json()['color'] == 'green'
        other = deployment_fixture.new_project()
        assert owner.post('/v2/images/%s/members' % image['id'],
                          json={'member': other}).status_code == 200
        owner.create_image(name='second')
        page = owner.get('/v2/images?limit=1').json()
        assert len(owner.get(page['next']).json()['images']) == 1
        assert owner.delete('/v2/images/%s' % image['id']).status_code == 204
        assert owner.get('/v2/images/%s' % image['id']).status_code == 404


def test_healthcheck_reaches_the_registry_over_tls(secure):
    with secure.client() as admin:
        response = admin.get('/healthcheck')
    assert (response.status_code, response.text) == (200, 'OK')


def test_plain_http_is_not_served(secure):
    with pytest.raises(requests.ConnectionError):
        requests.get(secure.url.replace('https://', 'http://') + '/versions',
                     timeout=10)


def test_registry_refuses_a_client_without_a_certificate(secure, ca, certificates):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(secure.registry.url + '/healthcheck', verify=ca.cert,
                     timeout=10)
    # A certificate of the same CA is let through TLS; the shared secret still
    # decides what it may call.
    stranger = certificates['stranger']
    response = requests.get(secure.registry.url + '/v1/images', verify=ca.cert,
                            cert=(stranger.cert, stranger.key), timeout=10)
    assert response.status_code == 401


def test_standard_clients_over_tls(secure, ca, tmp_path):
    data = disk_images.raw(200000)
    client = glanceclient.v2.client.Client(secure.url, cacert=ca.cert)
    image = client.images.create(name='glanceclient-tls', disk_format='raw',
                                 container_format='bare')
    client.images.upload(image['id'], io.BytesIO(data))
    assert b''.join(client.images.data(image['id'])) == data

    conn = openstack.connection.Connection(
        auth_type='none', image_endpoint_override=secure.url, verify=ca.cert)
    assert image['id'] in [i.id for i in conn.image.images()]
    sdk_image = conn.image.create_image(name='sdk-tls', data=data, disk_format='raw',
                                        container_format='bare',
                                        validate_checksum=True)
    assert sdk_image.status == 'active'

    result = subprocess.run(
        [os.path.join(BIN, 'glance'), '--os-image-url', secure.url, '--os-cacert',
         ca.cert, 'image-list'], env=dict(os.environ, OS_AUTH_TOKEN='none'),
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert 'glanceclient-tls' in result.stdout and 'sdk-tls' in result.stdout


def test_api_verifies_the_registry_certificate_by_default(tmp_path, ca, certificates):
    """Without registry_client_ca_file the registry's certificate (of a CA no one
    installed) is refused: the API is up, but unhealthy, and every image call 503."""
    options = _tls_options(ca, certificates)
    del options['api_extra']['DEFAULT']['registry_client_ca_file']
    client = certificates['api-client']
    with deployment_fixture.running(tmp_path, verify=ca.cert,
                                    client_cert=(client.cert, client.key),
                                    **options) as deployment:
        with deployment.client() as admin:
            assert admin.get('/healthcheck').status_code == 503
            response = admin.get('/v2/images')
        assert response.status_code == 503
        assert 'registry is not available' in response.json()['message']


@pytest.mark.parametrize('options, message', [
    ({'cert_file': '{cert}'}, 'you must specify both a cert_file and key_file'),
    ({'cert_file': '{cert}', 'key_file': '/nonexistent.key'},
     'TLS configuration error'),
    ({'ca_file': '{ca}'}, 'client certificates are verified only over TLS'),
])
def test_incomplete_tls_settings_refuse_to_start(tmp_path, ca, certificates,
                                                 options, message):
    pair = certificates['registry']
    values = {key: value.format(cert=pair.cert, ca=ca.cert)
              for key, value in options.items()}
    database_url = 'sqlite:///%s/glance.sqlite' % tmp_path
    deployment_fixture.db_sync(str(tmp_path), database_url)
    daemon = processes.registry_daemon(str(tmp_path), database_url,
                                       processes.new_secret(),
                                       extra={'DEFAULT': values})
    with open(daemon.config_path, 'w') as f:
        f.write(processes.ini(daemon.config))
    result = subprocess.run([sys.executable, '-m', 'glance_registry.cmd',
                             '--config-file', daemon.config_path],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr, result.stderr


def test_api_refuses_an_unusable_registry_client_certificate(tmp_path, ca):
    daemon = processes.api_daemon(str(tmp_path), processes.free_port(),
                                  processes.new_secret(), str(tmp_path),
                                  extra={'DEFAULT': {
                                      'registry_client_protocol': 'https',
                                      'registry_client_cert_file': ca.cert}})
    with open(daemon.config_path, 'w') as f:
        f.write(processes.ini(daemon.config))
    result = subprocess.run([sys.executable, '-m', 'glance_api.cmd',
                             '--config-file', daemon.config_path],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert 'registry_client_cert_file and registry_client_key_file go together' in \
        result.stderr, result.stderr


def test_glance_all_serves_the_api_over_tls(tmp_path, ca, certificates):
    pair = certificates['api']
    api_port = processes.free_port()
    glance_all = subprocess.Popen(
        [os.path.join(BIN, 'glance-all'), '--data-dir', str(tmp_path / 'data'),
         '--port', str(api_port), '--registry-port', str(processes.free_port()),
         '--cert-file', pair.cert, '--key-file', pair.key],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
        url = 'https://127.0.0.1:%d' % api_port
        for line in glance_all.stdout:
            if 'ready: Images API v2 at' in line:
                break
        assert 'ready: Images API v2 at %s/' % url in line
        with requests.Session() as session:
            session.verify, session.trust_env = ca.cert, False
            created = session.post(url + '/v2/images', json={'name': 'all-tls'})
            assert created.status_code == 201, created.text
            assert session.get(url + '/v2/images').json()['images'][0]['name'] == \
                'all-tls'
    finally:
        processes.stop_process_group(glance_all)
        glance_all.stdout.close()
    assert glance_all.returncode == 0


def test_clients_that_never_finish_the_handshake_hold_no_thread(secure, ca):
    """The TLS handshake is read off the request threads too (2 x 8 of them here):
    200 connections that send the first byte of a handshake and stop."""
    host, port = secure.url.rsplit('/', 1)[-1].split(':')
    stalled = []
    try:
        for _ in range(200):
            sock = socket.create_connection((host, int(port)), timeout=10)
            sock.sendall(b'\x16')   # a TLS record starts; the rest never comes
            stalled.append(sock)
        time.sleep(1)
        with secure.client() as admin:
            for _ in range(5):
                started = time.monotonic()
                assert admin.get('/versions').status_code == 200
                assert time.monotonic() - started < 1.0
    finally:
        for sock in stalled:
            sock.close()
