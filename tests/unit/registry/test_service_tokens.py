"""Keystone service tokens as a second registry credential, against a real Keystone.

The registry runs with ``accept_service_tokens = true`` and ``[keystone_authtoken]``:
a token with the ``service`` role is a caller like any signed identity (its user,
project and roles; admin with the ``admin`` role); any other token is refused; and
signed requests work as before on the same daemon.
"""

import collections
import uuid

import pytest
import requests

from glance_registry import client as client_module
from glance_registry.client import errors
from glance_registry.client import identity
from tests.fixtures import processes
from tests.fixtures import registry_signing
from tests.unit.registry.conftest import sync

pytestmark = pytest.mark.keystone

# What a token-authenticated client passes as ``identity``: the token decides.
IGNORED = identity.Identity('not-sent', 'not-sent')

Secured = collections.namedtuple('Secured', 'daemon signed secret')


@pytest.fixture(scope='module')
def secured(keystone, databases, tmp_path_factory):  # noqa: F811
    """A registry that accepts service tokens, and a signed client of it."""
    url = databases.create('sqlite')
    sync(url)
    secret = processes.new_secret()
    daemon = processes.registry_daemon(
        str(tmp_path_factory.mktemp('secured-registry')), url, secret,
        extra={'DEFAULT': {'accept_service_tokens': 'true'},
               'keystone_authtoken': keystone.authtoken_config()}).start()
    signed = client_module.RegistryClient(daemon.url, secret, timeout=30)
    yield Secured(daemon, signed, secret)
    signed.close()
    daemon.stop()


def token_client(daemon, token_provider):
    return client_module.RegistryClient(daemon.url, None, timeout=30,
                                        token_provider=token_provider)


def test_a_service_token_calls_as_its_project_with_that_projects_visibility(
        secured, keystone):  # noqa: F811
    daemon, signed, _ = secured
    service = token_client(daemon, keystone.session_for('glance').get_token)
    service_project = keystone.projects['service'].id
    # Made by a member of the service project (a token with only the service role
    # may not create images: see test_guard.py).
    as_signed = identity.Identity('u', service_project, ('member',))
    mine = signed.create_image(as_signed, {'visibility': 'private'})
    assert mine['owner'] == service_project
    assert service.get_image(IGNORED, mine['id']) == mine
    theirs = signed.create_image(
        identity.Identity('u', 'other-%s' % uuid.uuid4().hex, ('member',)),
        {'visibility': 'private'})
    with pytest.raises(errors.NotFound):
        service.get_image(IGNORED, theirs['id'])
    listed = {image['id'] for image in service.list_images(
        IGNORED, [('visibility', 'all'), ('limit', '1000')])[0]}
    assert mine['id'] in listed and theirs['id'] not in listed
    service.close()


@pytest.mark.parametrize('persona', ['alpha-member', 'admin'])
def test_a_token_without_the_service_role_is_forbidden_and_writes_nothing(
        secured, keystone, persona):  # noqa: F811
    daemon, signed, _ = secured
    token = keystone.token_for(persona)
    project = keystone.personas[persona].project_id
    response = requests.post(daemon.url + '/v1/images', json={'name': 'refused'},
                             headers={'X-Auth-Token': token})
    assert response.status_code == 403
    assert response.json()['error']['code'] == 'forbidden'
    assert 'service' in response.json()['error']['message']
    assert signed.usage(identity.Identity('u', project))['image_count_total'] == 0
    response = requests.get(daemon.url + '/v1/images', headers={'X-Auth-Token': token})
    assert response.status_code == 403


def test_an_invalid_token_is_unauthorized_even_with_a_valid_signature(secured):
    daemon, _, secret = secured
    response = requests.get(daemon.url + '/v1/images',
                            headers={'X-Auth-Token': 'not-a-token'})
    assert response.status_code == 401
    assert response.json()['error']['code'] == 'unauthorized'
    # A request that carries a token is judged by its token alone.
    signer = registry_signing.Signed(identity.Identity('u', 'p'), secret)
    assert requests.get(daemon.url + '/v1/images', auth=signer,
                        headers={'X-Auth-Token': 'not-a-token'}).status_code == 401


def test_signed_requests_work_as_before_on_the_same_daemon(secured):
    daemon, signed, _ = secured
    caller = identity.Identity('u', 'signed-%s' % uuid.uuid4().hex, ('member',))
    image = signed.create_image(caller, {'name': 'signed'})
    assert signed.get_image(caller, image['id']) == image
    assert requests.get(daemon.url + '/v1/images').status_code == 401
    assert requests.get(daemon.url + '/healthcheck').status_code == 200


def test_the_admin_role_makes_a_service_token_an_admin(secured, keystone):  # noqa: F811
    daemon, signed, _ = secured
    name = 'registry-admin-%s' % uuid.uuid4().hex[:8]
    service_project = keystone.projects['service']
    user = keystone.admin_api('POST', '/users', {'user': {
        'name': name, 'password': 'pw-' + name, 'domain_id': 'default'}})['user']
    for role in ('service', 'admin'):
        keystone.admin_api('PUT', '/projects/%s/users/%s/roles/%s' % (
            service_project.id, user['id'], keystone.roles[role]))
    token = requests.post(keystone.auth_url + '/auth/tokens', timeout=30, json={
        'auth': {'identity': {'methods': ['password'], 'password': {'user': {
            'name': name, 'domain': {'id': 'default'}, 'password': 'pw-' + name}}},
            'scope': {'project': {'id': service_project.id}}}}).headers['X-Subject-Token']
    private = signed.create_image(
        identity.Identity('u', 'other-%s' % uuid.uuid4().hex, ('member',)),
        {'visibility': 'private'})
    admin = token_client(daemon, lambda: token)
    assert admin.get_image(IGNORED, private['id'])['id'] == private['id']
    plain = token_client(daemon, keystone.session_for('glance').get_token)
    with pytest.raises(errors.NotFound):
        plain.get_image(IGNORED, private['id'])
    admin.close()
    plain.close()
