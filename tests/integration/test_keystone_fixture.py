"""The Keystone fixture itself: personas, catalog, keystonemiddleware, outages."""

import os
import subprocess
import sys

import openstack
from keystonemiddleware import auth_token
import pytest
import requests
import webob

pytestmark = pytest.mark.keystone

PROJECT_ROLES = {
    'member': {'member', 'reader'},
    'reader': {'reader'},
    'manager': {'manager', 'member', 'reader'},
}

# persona, project, project's domain, roles the token carries (implied ones included)
PERSONAS = [
    ('admin', 'admin', 'Default', {'admin', 'manager', 'member', 'reader'}),
    ('glance', 'service', 'Default', {'service'}),
] + [
    ('%s-%s' % (project, kind), project, domain, roles)
    for project, domain in [('alpha', 'Default'), ('beta', 'Default'),
                            ('gamma', 'domain_b'), ('delta', 'domain_b')]
    for kind, roles in PROJECT_ROLES.items()
]


@pytest.mark.parametrize('name, project, domain, roles', PERSONAS,
                         ids=[p[0] for p in PERSONAS])
def test_persona_token_is_scoped_to_its_project_with_its_roles(
        keystone, name, project, domain, roles):
    token, body = keystone.issue_token(name)
    scope = body['token']['project']
    assert scope['name'] == project
    assert scope['id'] == keystone.personas[name].project_id
    assert scope['domain']['name'] == domain
    assert {r['name'] for r in body['token']['roles']} == roles
    assert body['token']['user']['id'] == keystone.personas[name].user_id


def test_token_for_caches_the_token(keystone):
    token = keystone.token_for('beta-reader')
    assert keystone.token_for('beta-reader') == token
    assert keystone.token_for('beta-reader', fresh=True) != token


def test_projects_of_both_domains_are_distinct(keystone):
    ids = {keystone.projects[p].id for p in ('alpha', 'beta', 'gamma', 'delta')}
    assert len(ids) == 4
    assert keystone.projects['gamma'].domain_id == keystone.domains['domain_b']
    assert keystone.projects['alpha'].domain_id == 'default'


def image_endpoints(keystone, persona='alpha-member'):
    """The image endpoints in the catalog as the persona sees it now."""
    token = keystone.token_for(persona)
    response = requests.get(keystone.auth_url + '/auth/catalog', timeout=10,
                            headers={'X-Auth-Token': token})
    assert response.status_code == 200, response.text
    services = [s for s in response.json()['catalog'] if s['type'] == 'image']
    return {(e['interface'], e['url']) for s in services for e in s['endpoints']}


def test_catalog_lists_image_service_after_registration(keystone):
    # The catalog is the test process's: a deployment registered before this test
    # (the ``secured`` fixture) is pointed at again after it, for the tests after.
    before = dict(image_endpoints(keystone)).get('public')
    try:
        keystone.register_image_endpoint('http://127.0.0.1:9/first')
        assert image_endpoints(keystone) == {('public', 'http://127.0.0.1:9/first'),
                                             ('internal', 'http://127.0.0.1:9/first')}
        # registering again moves the endpoints rather than adding more
        keystone.register_image_endpoint('http://127.0.0.1:9/second')
        assert image_endpoints(keystone, 'gamma-reader') == {
            ('public', 'http://127.0.0.1:9/second'),
            ('internal', 'http://127.0.0.1:9/second')}
    finally:
        if before:
            keystone.register_image_endpoint(before)


def test_keystoneauth_session_authenticates_as_persona(keystone):
    session = keystone.session_for('delta-manager')
    assert session.get_project_id() == keystone.personas['delta-manager'].project_id
    assert session.get_user_id() == keystone.personas['delta-manager'].user_id


def test_openstacksdk_connects_with_connection_kwargs(keystone):
    conn = openstack.connect(**keystone.connection_kwargs('alpha-reader'))
    assert conn.current_project_id == keystone.personas['alpha-reader'].project_id


def test_openstack_cli_authenticates_with_openrc(keystone):
    # python-openstackclient is a test extra: its script sits beside the interpreter
    cli = os.path.join(os.path.dirname(sys.executable), 'openstack')
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env.update(keystone.openrc('gamma-member'), PYTHONWARNINGS='ignore')
    result = subprocess.run([cli, 'token', 'issue', '-f', 'value', '-c', 'project_id'],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == keystone.personas['gamma-member'].project_id


class IdentityEcho:
    """A WSGI app that answers 200 and remembers what auth_token put in the environ."""

    def __init__(self):
        self.environ = None

    def __call__(self, environ, start_response):
        self.environ = environ
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'ok']


@pytest.fixture
def protected(keystone):
    """IdentityEcho behind keystonemiddleware, configured as the image API will be."""
    echo = IdentityEcho()
    app = auth_token.filter_factory({}, **keystone.authtoken_config())(echo)

    def call(token=None, service_token=None):
        request = webob.Request.blank('/v2/images')
        if token:
            request.headers['X-Auth-Token'] = token
        if service_token:
            request.headers['X-Service-Token'] = service_token
        echo.environ = None
        return request.get_response(app), echo.environ

    return call


def test_auth_token_sets_identity_headers_for_a_user_token(keystone, protected):
    persona = keystone.personas['alpha-member']
    response, environ = protected(keystone.token_for('alpha-member'))
    assert response.status_int == 200
    assert environ['HTTP_X_IDENTITY_STATUS'] == 'Confirmed'
    assert environ['HTTP_X_PROJECT_ID'] == persona.project_id
    assert environ['HTTP_X_USER_ID'] == persona.user_id
    assert set(environ['HTTP_X_ROLES'].split(',')) == {'member', 'reader'}
    assert environ['keystone.token_auth'].user.project_id == persona.project_id


def test_auth_token_confirms_the_glance_service_token(keystone, protected):
    response, environ = protected(keystone.token_for('beta-reader'),
                                  service_token=keystone.token_for('glance'))
    assert response.status_int == 200
    assert environ['HTTP_X_SERVICE_IDENTITY_STATUS'] == 'Confirmed'
    assert 'service' in environ['HTTP_X_SERVICE_ROLES'].split(',')
    assert set(environ['HTTP_X_ROLES'].split(',')) == {'reader'}


def test_auth_token_rejects_a_bad_token_pointing_at_keystone(keystone, protected):
    response, environ = protected('not-a-token')
    assert response.status_int == 401
    assert environ is None
    assert keystone.auth_url in response.headers['WWW-Authenticate']


def test_outage_answers_503_and_recovers_with_data_kept(keystone, protected):
    seen = keystone.token_for('alpha-reader', fresh=True)
    unseen = keystone.token_for('alpha-manager', fresh=True)
    assert protected(seen)[0].status_int == 200
    with keystone.outage():
        assert not keystone.is_up()
        response, environ = protected(unseen)
        assert response.status_int == 503
        assert environ is None
        # keystonemiddleware answers from its own cache (token_cache_time) meanwhile
        assert protected(seen)[0].status_int == 200
    assert keystone.is_up()
    # same fernet keys and database: tokens issued before the outage still validate
    response, environ = protected(unseen)
    assert response.status_int == 200
    assert environ['HTTP_X_PROJECT_ID'] == keystone.personas['alpha-manager'].project_id
    assert keystone.issue_token('delta-reader')[1]['token']['project']['name'] == 'delta'


def test_restart_after_a_crash_keeps_users(keystone):
    user_id = keystone.personas['beta-member'].user_id
    keystone.kill()
    assert not keystone.is_up()
    keystone.start()
    assert keystone.admin_api('GET', '/users/%s' % user_id)['user']['name'] == 'beta-member'
