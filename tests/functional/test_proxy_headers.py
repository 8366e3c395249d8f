"""Behind a TLS-terminating proxy with a path prefix (Debian's nginx on loopback):
``[oslo_middleware] enable_proxy_headers_parsing`` makes every URL the API hands out
right for the client, and the standard clients work through the proxy."""

import hashlib
import io
import os
import subprocess
import sys
import urllib.parse

import glanceclient.v2.client
import openstack
import pytest
import requests

from tests.fixtures import deployment as deployment_fixture
from tests.fixtures import disk_images, nginx
from tests.fixtures.tls import (  # noqa: F401 (fixtures)
    _no_ca_bundle_from_the_environment, ca)

BIN = os.path.dirname(sys.executable)
PREFIXES = ('image', 'forwarded')   # X-Forwarded-*, and RFC 7239's Forwarded


@pytest.fixture(scope='module')
def behind_proxy(tmp_path_factory, ca):
    """``(deployment, proxy)``: the API parsing proxy headers, nginx in front."""
    workdir = tmp_path_factory.mktemp('proxied')
    with deployment_fixture.running(
            workdir, api_extra={
                'DEFAULT': {'show_image_direct_url': True},
                'oslo_middleware': {'enable_proxy_headers_parsing': True}}) as glance:
        with nginx.running(workdir, glance.url, ca.issue('proxy')) as proxy:
            yield glance, proxy


def _session(ca, project=None):
    session = requests.Session()
    session.verify = ca.cert
    session.trust_env = False   # REQUESTS_CA_BUNDLE would replace the CA
    session.headers['Accept'] = 'application/json'
    if project:
        session.headers.update({'X-Project-Id': project, 'X-User-Id': 'u',
                                'X-Roles': 'member,reader'})
    return session


@pytest.mark.parametrize('prefix', PREFIXES)
def test_versions_document_links_to_the_public_url(behind_proxy, ca, prefix):
    _, proxy = behind_proxy
    endpoint = '%s/%s' % (proxy.url, prefix)
    for path in ('/versions', '/'):
        document = _session(ca).get(endpoint + path).json()
        hrefs = {link['href'] for version in document['versions']
                 for link in version['links']}
        assert hrefs == {'%s/v2/' % endpoint}


@pytest.mark.parametrize('prefix', PREFIXES)
def test_links_location_and_direct_url_are_right_behind_the_prefix(behind_proxy, ca,
                                                                   prefix):
    glance, proxy = behind_proxy
    endpoint = '%s/%s' % (proxy.url, prefix)
    session = _session(ca, deployment_fixture.new_project())
    created = session.post(endpoint + '/v2/images', json={
        'name': 'proxied', 'disk_format': 'raw', 'container_format': 'bare'})
    assert created.status_code == 201, created.text
    image = created.json()
    # The Location, resolved as a client resolves it, is the image.
    located = urllib.parse.urljoin(created.url, created.headers['Location'])
    assert located == '%s/v2/images/%s' % (endpoint, image['id'])
    assert session.get(located).json()['id'] == image['id']
    # Links in documents are relative to the endpoint, as upstream's (the
    # clients append them to it).
    assert image['self'] == '/v2/images/%s' % image['id']
    assert session.get(endpoint + image['schema']).json()['name'] == 'image'
    data = b'proxied bytes' * 1000
    uploaded = session.put(endpoint + image['file'], data=data,
                           headers={'Content-Type': 'application/octet-stream'})
    assert uploaded.status_code == 204, uploaded.text
    assert session.get(endpoint + image['file']).content == data
    shown = session.get(endpoint + image['self']).json()
    # The store's own location: no proxy changes it.
    assert shown['direct_url'] == 'file://%s' % os.path.join(glance.datadir,
                                                             image['id'])
    session.post(endpoint + '/v2/images', json={'name': 'second'}).raise_for_status()
    page = session.get(endpoint + '/v2/images?limit=1').json()
    assert page['first'] == '/v2/images?limit=1'
    following = session.get(endpoint + page['next']).json()
    assert len(following['images']) == 1
    assert following['images'][0]['id'] != page['images'][0]['id']


def test_metadef_namespace_location_is_behind_the_prefix(behind_proxy, ca):
    _, proxy = behind_proxy
    created = _session(ca).post(proxy.url + '/image/v2/metadefs/namespaces',
                                json={'namespace': 'Proxied::Namespace'})
    assert created.status_code == 201, created.text
    assert urllib.parse.urljoin(created.url, created.headers['Location']) == \
        proxy.url + '/image/v2/metadefs/namespaces/Proxied::Namespace'


def test_proxy_headers_are_ignored_unless_enabled(glance):
    """Off by default, as upstream: a client cannot choose the URLs handed out."""
    document = requests.get(glance.url + '/versions', headers={
        'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example.com',
        'X-Forwarded-Prefix': '/evil', 'Forwarded': 'proto=https;host=evil.example.com',
    }, timeout=30).json()
    assert document['versions'][0]['links'][0]['href'] == glance.url + '/v2/'
    created = requests.post(glance.url + '/v2/images', json={'name': 'direct'},
                            headers={'X-Forwarded-Prefix': '/evil'}, timeout=30)
    assert created.headers['Location'].startswith('/v2/images/')   # as upstream


def test_openstacksdk_through_the_proxy(behind_proxy, ca):
    _, proxy = behind_proxy
    conn = openstack.connection.Connection(
        auth_type='none', image_endpoint_override=proxy.url + '/image',
        verify=ca.cert)
    data = disk_images.raw(300000)
    image = conn.image.create_image(name='sdk-proxied', data=data, disk_format='raw',
                                    container_format='bare', validate_checksum=True)
    assert image.status == 'active'
    conn.image.create_image(name='sdk-proxied-2', disk_format='raw',
                            container_format='bare')
    # Paginated: the sdk follows the next links through the prefix.
    listed = [i.id for i in conn.image.images(limit=1)]
    assert image.id in listed and len(listed) >= 2
    response = conn.image.download_image(image)
    assert getattr(response, 'content', response) == data
    conn.image.delete_image(image)
    assert conn.image.find_image(image.id) is None


def test_glanceclient_through_the_proxy(behind_proxy, ca, tmp_path):
    _, proxy = behind_proxy
    endpoint = proxy.url + '/forwarded'
    client = glanceclient.v2.client.Client(endpoint, cacert=ca.cert)
    data = disk_images.raw(200000)
    image = client.images.create(name='glanceclient-proxied', disk_format='raw',
                                 container_format='bare')
    client.images.upload(image['id'], io.BytesIO(data))
    assert client.images.get(image['id'])['checksum'] == hashlib.md5(data).hexdigest()
    assert b''.join(client.images.data(image['id'])) == data
    ids = [i['id'] for i in client.images.list(page_size=1)]
    assert image['id'] in ids and len(ids) >= 2

    disk = tmp_path / 'disk.raw'
    disk.write_bytes(disk_images.raw(1024 * 1024))
    result = subprocess.run(
        [os.path.join(BIN, 'glance'), '--os-image-url', endpoint, '--os-cacert',
         ca.cert, 'image-create', '--name', 'cli-proxied', '--disk-format', 'raw',
         '--container-format', 'bare', '--file', str(disk)],
        env=dict(os.environ, OS_AUTH_TOKEN='none'), capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 0, result.stderr
    assert 'active' in result.stdout


def test_openstackclient_through_the_proxy(behind_proxy, ca, tmp_path):
    _, proxy = behind_proxy
    disk = tmp_path / 'disk.raw'
    disk.write_bytes(disk_images.raw(1024 * 1024))
    env = dict(os.environ, OS_AUTH_TYPE='none', OS_ENDPOINT=proxy.url + '/image',
               OS_CACERT=ca.cert, OS_IMAGE_API_VERSION='2')
    openstack_cli = os.path.join(BIN, 'openstack')
    for command in (['image', 'create', '--file', str(disk), '--disk-format', 'raw',
                     '--container-format', 'bare', 'osc-proxied'],
                    ['image', 'list', '--limit', '1']):
        result = subprocess.run([openstack_cli, *command], env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    assert 'osc-proxied' in subprocess.run(
        [openstack_cli, 'image', 'show', 'osc-proxied', '-f', 'value', '-c', 'name'],
        env=env, capture_output=True, text=True, timeout=120).stdout
