"""``glance-cache-manage`` as an operator runs it against a Keystone-secured API:
with an openrc's ``OS_*`` variables (or upstream's flags) it gets its own token,
as upstream's does whenever an auth URL is given."""

import os
import subprocess
import sys

import pytest

from tests.fixtures import deployment

BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope='module')
def cached(keystone, tmp_path_factory):
    workdir = tmp_path_factory.mktemp('cache-keystone')
    with deployment.running(
            workdir / 'glance',
            api_extra={'DEFAULT': {'auth_strategy': 'keystone',
                                   'image_cache_dir': str(workdir / 'cache')},
                       'keystone_authtoken': keystone.authtoken_config()}) as glance:
        yield glance


def _clean_environ():
    return {name: value for name, value in os.environ.items()
            if not name.startswith('OS_')}


def _cache_manage(glance, *args, env):
    result = subprocess.run(
        [os.path.join(BIN, 'glance-cache-manage'), '--port', str(glance.api.port),
         *args], capture_output=True, text=True, timeout=60, env=env)
    return result.returncode, result.stdout + result.stderr


def test_an_openrcs_variables_authenticate_it(keystone, cached):
    env = dict(_clean_environ(), **keystone.openrc('admin'))
    status, out = _cache_manage(cached, 'list-cached', env=env)
    assert status == 0, out
    assert out.startswith('Found 0 cached images')


def test_upstreams_flags_authenticate_it(keystone, cached):
    persona = keystone.personas['admin']
    auth_url = keystone.auth_url.rstrip('/')
    if auth_url.endswith('/v3'):
        # Upstream adds /v3 itself to an auth URL without it.
        auth_url = auth_url[:-len('/v3')]
    status, out = _cache_manage(
        cached, '-v', '-I', persona.name, '-K', persona.password,
        '-T', persona.project, '-N', auth_url, '-S', 'keystone', 'list-queued',
        env=_clean_environ())
    assert status == 0, out
    assert 'Found 0 queued images' in out


def test_without_credentials_it_says_the_api_refused(cached):
    status, out = _cache_manage(cached, 'list-cached', env=_clean_environ())
    assert status == 1 and out.startswith('401: '), out


def test_wrong_credentials_say_so_in_one_line(keystone, cached):
    env = dict(_clean_environ(), **keystone.openrc('admin'))
    env['OS_PASSWORD'] = 'wrong'
    status, out = _cache_manage(cached, 'list-cached', env=env)
    assert status == 1, out
    assert out.startswith('Keystone refused the credentials') and \
        'Traceback' not in out, out
