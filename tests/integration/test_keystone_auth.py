"""The API behind a real Keystone: tokens, 401s, project isolation, outages."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse

import pytest
import requests

from tests.fixtures import disk_images

pytestmark = pytest.mark.keystone


def as_user(keystone, secured, name):
    session = requests.Session()
    session.headers['X-Auth-Token'] = keystone.token_for(name)
    session.headers['Accept'] = 'application/json'
    return session


def test_request_without_a_token_is_401_with_www_authenticate(secured, keystone):
    response = requests.get(secured.url + '/v2/images')
    assert response.status_code == 401
    assert response.headers['WWW-Authenticate'].startswith('Keystone uri=')
    assert response.headers['x-openstack-request-id'].startswith('req-')


def test_invalid_token_is_401(secured):
    response = requests.get(secured.url + '/v2/images',
                            headers={'X-Auth-Token': 'not-a-token'})
    assert response.status_code == 401


def test_identity_headers_without_a_token_are_ignored(secured, keystone):
    response = requests.get(secured.url + '/v2/images', headers={
        'X-Roles': 'admin', 'X-Project-Id': keystone.projects['alpha'].id})
    assert response.status_code == 401


def test_the_healthcheck_needs_no_token(secured):
    response = requests.get(secured.url + '/healthcheck')
    assert (response.status_code, response.text) == (200, 'OK')


@pytest.mark.parametrize('path, status', [('/versions', 200), ('/', 300)])
def test_versions_need_no_token(secured, path, status):
    """Answered before authentication, as upstream: clients, load balancers and
    deployment tools discover versions (and see that the API is up) without one."""
    response = requests.get(secured.url + path)
    assert response.status_code == status
    assert response.json()['versions'][0] == {
        'id': 'v2.17', 'status': 'CURRENT',
        'links': [{'rel': 'self', 'href': secured.url + '/v2/'}]}
    assert response.headers['x-openstack-request-id'].startswith('req-')


@pytest.mark.parametrize('path', ['/v2/images', '/v2.1/images', '/v2/nothing-here'])
def test_versioned_paths_need_a_token(secured, path):
    assert requests.get(secured.url + path).status_code == 401


def test_member_creates_for_its_project_and_other_projects_cannot_see_it(secured,
                                                                         keystone):
    alpha = as_user(keystone, secured, 'alpha-member')
    created = alpha.post(secured.url + '/v2/images', json={
        'name': 'alpha-private', 'visibility': 'private', 'disk_format': 'raw',
        'container_format': 'bare'})
    assert created.status_code == 201, created.text
    image = created.json()
    assert image['owner'] == keystone.projects['alpha'].id
    gamma = as_user(keystone, secured, 'gamma-member')
    assert gamma.get(secured.url + '/v2/images/%s' % image['id']).status_code == 404
    listed = gamma.get(secured.url + '/v2/images').json()['images']
    assert image['id'] not in [i['id'] for i in listed]
    admin = as_user(keystone, secured, 'admin')
    assert admin.get(secured.url + '/v2/images/%s' % image['id']).status_code == 200


def test_reader_can_read_but_not_write(secured, keystone):
    member = as_user(keystone, secured, 'beta-member')
    image = member.post(secured.url + '/v2/images', json={'name': 'beta'}).json()
    reader = as_user(keystone, secured, 'beta-reader')
    assert reader.get(secured.url + '/v2/images/%s' % image['id']).status_code == 200
    assert reader.post(secured.url + '/v2/images', json={}).status_code == 403
    response = reader.delete(secured.url + '/v2/images/%s' % image['id'])
    assert response.status_code == 403


def test_openstackclient_with_a_real_token(secured, keystone, tmp_path):
    disk = tmp_path / 'disk.raw'
    disk.write_bytes(disk_images.raw(4096))
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env.update(keystone.openrc('delta-member'))
    openstack = os.path.join(os.path.dirname(sys.executable), 'openstack')

    def run(*args):
        result = subprocess.run([openstack] + list(args) + ['-f', 'json'], env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    created = run('image', 'create', '--file', str(disk), '--disk-format', 'raw',
                  '--container-format', 'bare', 'delta-disk')
    assert created['status'] == 'active'
    assert created['owner'] == keystone.projects['delta'].id
    assert created['id'] in [i['ID'] for i in run('image', 'list')]


def test_keystone_outage_answers_503_and_recovers(secured, keystone):
    token = keystone.token_for('alpha-reader', fresh=True)
    with keystone.outage():
        response = requests.get(secured.url + '/v2/images',
                                headers={'X-Auth-Token': token,
                                         'Accept': 'application/json'})
        assert response.status_code == 503
        assert 'Traceback' not in response.text
    response = requests.get(secured.url + '/v2/images',
                            headers={'X-Auth-Token': token})
    assert response.status_code == 200


def test_a_long_upload_survives_its_token_being_revoked(secured, keystone):
    """The API calls the registry with the caller's identity signed by itself, not
    with the caller's token, so the final update does not need the token any more."""
    # A token of its own, not the fixture's cached one: this test revokes it.
    token, _ = keystone.issue_token('alpha-member')
    alpha = as_user(keystone, secured, 'alpha-member')
    image = alpha.post(secured.url + '/v2/images', json={
        'disk_format': 'raw', 'container_format': 'bare'}).json()
    url = urllib.parse.urlparse(secured.url)
    sock = socket.create_connection((url.hostname, url.port))
    sock.sendall(('PUT /v2/images/%s/file HTTP/1.1\r\nHost: x\r\n'
                  'X-Auth-Token: %s\r\nContent-Type: application/octet-stream\r\n'
                  'Content-Length: 2000\r\n\r\n' % (image['id'], token)).encode()
                 + b'x' * 1000)
    deadline = time.monotonic() + 20
    while alpha.get(secured.url + '/v2/images/%s' % image['id']).json()['status'] \
            != 'saving':
        assert time.monotonic() < deadline
        time.sleep(0.05)
    revoked = requests.delete(keystone.auth_url + '/auth/tokens', headers={
        'X-Auth-Token': keystone.token_for('admin'), 'X-Subject-Token': token})
    assert revoked.status_code == 204
    sock.sendall(b'x' * 1000)
    assert b' 204 ' in sock.recv(4096).split(b'\r\n')[0]
    sock.close()
    shown = alpha.get(secured.url + '/v2/images/%s' % image['id']).json()
    assert shown['status'] == 'active' and shown['size'] == 2000


@pytest.mark.parametrize('scope', ['system', 'domain'])
def test_an_admin_token_not_scoped_to_a_project_is_refused(secured, keystone, scope):
    """Upstream's rules are for project-scoped tokens (scope_types=['project']):
    oslo.policy refuses a system- or domain-scoped token whatever its roles. An
    admin of domain_b (a role Keystone gives domain managers) listed every
    project's images and created images without an owner."""
    if scope == 'system':
        token, _ = keystone.issue_token('admin', scope={'system': {'all': True}})
    else:
        persona = keystone.add_persona('domain-b-admin', 'gamma')
        domain = keystone.domains['domain_b']
        keystone.admin_api('PUT', '/domains/%s/users/%s/roles/%s' % (
            domain, persona.user_id, keystone.roles['admin']))
        token, _ = keystone.issue_token('domain-b-admin',
                                        scope={'domain': {'id': domain}})
    session = requests.Session()
    session.headers.update({'X-Auth-Token': token, 'Accept': 'application/json'})
    alpha = as_user(keystone, secured, 'alpha-member')
    image = alpha.post(secured.url + '/v2/images', json={
        'name': 'alpha-private', 'visibility': 'private'}).json()
    listed = session.get(secured.url + '/v2/images')
    assert (listed.status_code, listed.json()['message']) == (
        403, 'You are not authorized to complete get_images action.')
    # refused get_image too: 404, as upstream's image policy answers
    assert session.get(secured.url + '/v2/images/%s' % image['id']).status_code == 404
    assert session.delete(secured.url + '/v2/images/%s' % image['id']).status_code \
        == 404
    created = session.post(secured.url + '/v2/images', json={'name': 'ownerless'})
    assert created.status_code == 403
    everything = as_user(keystone, secured, 'admin').get(
        secured.url + '/v2/images?visibility=all&limit=1000').json()['images']
    assert 'ownerless' not in [i['name'] for i in everything]
    assert image['id'] in [i['id'] for i in everything]
