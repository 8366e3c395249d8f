"""Unified limits: ``use_keystone_limits`` reads each project's limits from the real
Keystone with oslo.limit; the registry enforces them, and ``/v2/info/usage`` shows
them."""

import contextlib
import json
import subprocess
import sys
import uuid

import pytest
import requests

from tests.fixtures import deployment
from tests.fixtures.keystone import ADMIN_PASSWORD, REGION

pytestmark = pytest.mark.keystone

MiB = 1024 * 1024
REGISTERED = {'image_count_total': 2, 'image_size_total': 1,
              'image_count_uploading': 1, 'image_stage_total': 0}


class Limits:
    """This module's service in Keystone and its limits, set as the system admin."""

    def __init__(self, keystone, service_id):
        self.keystone = keystone
        self.service_id = service_id
        self.token, _ = keystone.issue_token('admin', scope={'system': {'all': True}})

    def api(self, method, path, body=None):
        response = requests.request(method, self.keystone.auth_url + path, json=body,
                                    headers={'X-Auth-Token': self.token}, timeout=30)
        assert response.ok, (method, path, response.status_code, response.text)
        return response.json() if response.content else {}

    def register(self, limits):
        return self.api('POST', '/registered_limits', {'registered_limits': [
            {'service_id': self.service_id, 'region_id': REGION,
             'resource_name': name, 'default_limit': value}
            for name, value in limits.items()]})['registered_limits']

    def set_project_limit(self, project_id, name, value):
        found = self.api('GET', '/limits?service_id=%s&project_id=%s&resource_name=%s'
                         % (self.service_id, project_id, name))['limits']
        if found:
            return self.api('PATCH', '/limits/%s' % found[0]['id'],
                            {'limit': {'resource_limit': value}})
        return self.api('POST', '/limits', {'limits': [{
            'service_id': self.service_id, 'region_id': REGION,
            'project_id': project_id, 'resource_name': name,
            'resource_limit': value}]})

    def remove_all(self):
        for limit in self.api('GET', '/limits?service_id=%s'
                              % self.service_id)['limits']:
            self.api('DELETE', '/limits/%s' % limit['id'])
        for limit in self.api('GET', '/registered_limits?service_id=%s'
                              % self.service_id)['registered_limits']:
            self.api('DELETE', '/registered_limits/%s' % limit['id'])


@pytest.fixture(scope='module')
def limited(keystone, tmp_path_factory):
    """``(deployment, Limits)``: an API with use_keystone_limits over a service of
    its own in Keystone, with ``REGISTERED`` as its registered limits."""
    service_type = 'image-limits-%s' % uuid.uuid4().hex[:8]
    with keystone.service_endpoints(service_type, 'glance-limits',
                                    {'public': 'http://127.0.0.1:9/'}) as service_id:
        limits = Limits(keystone, service_id)
        limits.register(REGISTERED)
        try:
            with deployment.running(
                    tmp_path_factory.mktemp('limited'),
                    api_extra={'DEFAULT': {'auth_strategy': 'keystone',
                                           'use_keystone_limits': True},
                               'keystone_authtoken': keystone.authtoken_config(),
                               'oslo_limit': {
                                   'auth_type': 'password',
                                   'auth_url': keystone.auth_url,
                                   'username': 'admin', 'password': ADMIN_PASSWORD,
                                   'user_domain_id': 'default',
                                   'system_scope': 'all',
                                   'endpoint_service_type': service_type,
                                   'endpoint_region_name': REGION,
                                   'endpoint_interface': 'public'}}) as glance:
                yield glance, limits
        finally:
            limits.remove_all()


@contextlib.contextmanager
def member_of_new_project(keystone, glance):
    """A session of a member of a new project, and the project's id."""
    name = 'limits-%s' % uuid.uuid4().hex[:8]
    persona = keystone.add_persona(name + '-member', name)
    with requests.Session() as session:
        session.headers.update({'X-Auth-Token': keystone.token_for(persona.name),
                                'Accept': 'application/json'})
        session.base = glance.url
        yield session, persona.project_id


def _create(session, **extra):
    return session.post(session.base + '/v2/images', json=dict(
        {'name': 'limited', 'disk_format': 'raw', 'container_format': 'bare'},
        **extra))


def _usage(session):
    response = session.get(session.base + '/v2/info/usage')
    assert response.status_code == 200, response.text
    return response.json()['usage']


def test_the_registered_limit_caps_a_projects_images(keystone, limited):
    glance, _limits = limited
    with member_of_new_project(keystone, glance) as (session, _project):
        assert [_create(session).status_code for _ in range(2)] == [201, 201]
        refused = _create(session)
        assert refused.status_code == 413, refused.text
        assert _usage(session)['image_count_total'] == {'limit': 2, 'usage': 2}


def test_a_project_limit_in_keystone_overrides_the_registered_one_at_once(
        keystone, limited):
    glance, limits = limited
    with member_of_new_project(keystone, glance) as (session, project_id):
        limits.set_project_limit(project_id, 'image_count_total', 3)
        assert [_create(session).status_code for _ in range(4)] == [201, 201, 201, 413]
        limits.set_project_limit(project_id, 'image_count_total', 4)
        assert _create(session).status_code == 201   # no restart, no cache
        assert _usage(session) == {
            'image_size_total': {'limit': 1, 'usage': 0},
            'image_stage_total': {'limit': 0, 'usage': 0},
            'image_count_total': {'limit': 4, 'usage': 4},
            'image_count_uploading': {'limit': 1, 'usage': 0}}


def test_image_size_total_caps_the_data_a_project_stores(keystone, limited):
    glance, limits = limited
    with member_of_new_project(keystone, glance) as (session, project_id):
        limits.set_project_limit(project_id, 'image_count_total', 10)
        first, second = (_create(session).json()['id'] for _ in range(2))
        headers = {'Content-Type': 'application/octet-stream'}
        assert session.put(session.base + '/v2/images/%s/file' % first,
                           data=b'a' * (MiB // 2), headers=headers).status_code == 204
        over = session.put(session.base + '/v2/images/%s/file' % second,
                           data=b'b' * (MiB // 2 + 1), headers=headers)
        assert over.status_code == 413, over.text
        assert session.get(session.base + '/v2/images/%s' % second).json()[
            'status'] == 'queued'
        limits.set_project_limit(project_id, 'image_size_total', 2)
        assert session.put(session.base + '/v2/images/%s/file' % second,
                           data=b'b' * (MiB // 2 + 1), headers=headers).status_code == 204
        assert _usage(session)['image_size_total'] == {'limit': 2, 'usage': 1}


def test_minus_one_in_keystone_is_unlimited(keystone, limited):
    glance, limits = limited
    with member_of_new_project(keystone, glance) as (session, project_id):
        limits.set_project_limit(project_id, 'image_count_total', -1)
        assert [_create(session).status_code for _ in range(3)] == [201] * 3
        assert _usage(session)['image_count_total'] == {'limit': -1, 'usage': 3}


def test_a_resource_without_a_registered_limit_is_limited_to_zero(keystone, limited):
    glance, limits = limited
    with member_of_new_project(keystone, glance) as (session, _project):
        image_id = _create(session).json()['id']
        (registered,) = limits.api(
            'GET', '/registered_limits?service_id=%s&resource_name='
            'image_count_uploading' % limits.service_id)['registered_limits']
        limits.api('DELETE', '/registered_limits/%s' % registered['id'])
        try:
            refused = session.put(session.base + '/v2/images/%s/file' % image_id,
                                  data=b'x', headers={
                                      'Content-Type': 'application/octet-stream'})
            assert refused.status_code == 413, refused.text
            assert _usage(session)['image_count_uploading'] == {'limit': 0,
                                                                'usage': 0}
        finally:
            limits.register({'image_count_uploading': 1})


def test_limits_that_cannot_be_read_are_503_not_a_pass(keystone, limited):
    glance, _limits = limited
    with member_of_new_project(keystone, glance) as (session, _project):
        # A token validated before the outage is cached by auth_token.
        assert session.get(session.base + '/v2/images').status_code == 200
        with keystone.outage():
            refused = _create(session)
        assert refused.status_code == 503, refused.text
        assert 'limits cannot be read from Keystone' in refused.text
        assert _create(session).status_code == 201


def _status(glance, *extra_config):
    args = [sys.executable, '-m', 'glance_api.status', '--config-file',
            glance.api.config_path]
    for path in extra_config:
        args += ['--config-file', path]
    result = subprocess.run(args + ['upgrade', 'check', '--json'],
                            capture_output=True, text=True, timeout=120)
    checks = {check['check']: check for check in json.loads(result.stdout)['checks']}
    return result.returncode, checks['Unified limits']


def test_glance_status_checks_the_registered_limits(keystone, limited, tmp_path):
    glance, limits = limited
    assert _status(glance) == (0, {'check': 'Unified limits', 'result': 0,
                                   'details': None})
    (registered,) = limits.api(
        'GET', '/registered_limits?service_id=%s&resource_name=image_stage_total'
        % limits.service_id)['registered_limits']
    limits.api('DELETE', '/registered_limits/%s' % registered['id'])
    try:
        code, check = _status(glance)
        assert (code, check['result']) == (1, 1)
        assert 'image_stage_total' in check['details']
    finally:
        limits.register({'image_stage_total': 0})
    wrong = tmp_path / 'wrong.conf'
    wrong.write_text('[oslo_limit]\nendpoint_service_type = no-such-service\n')
    code, check = _status(glance, str(wrong))
    assert (code, check['result']) == (2, 2)
