"""The operator's ``schema-image.json`` beside glance-api.conf, with real daemons:
the schema served, what python-glanceclient builds from it, and a file that
cannot be used."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.fixtures import deployment, processes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope='module')
def typed(tmp_path_factory):
    """A deployment with the shipped ``etc/schema-image.json`` beside its config."""
    workdir = tmp_path_factory.mktemp('typed')
    shutil.copy(os.path.join(ROOT, 'etc', 'schema-image.json'), workdir)
    with deployment.running(workdir) as running:
        yield running


def test_the_served_image_schema_has_the_custom_properties(typed):
    with typed.client() as client:
        schema = client.get(typed.url + '/v2/schemas/image').json()
        response = client.post(typed.url + '/v2/images',
                               json={'name': 'pv', 'kernel_id': 'vmlinuz'})
    assert schema['properties']['os_distro'] == {
        'type': 'string', 'is_base': False,
        'description': schema['properties']['os_distro']['description']}
    assert response.status_code == 400
    assert "'vmlinuz' does not match" in response.json()['message']
    assert response.json()['message'].endswith('(at kernel_id)')


def test_glance_cli_has_the_options_of_the_custom_properties(typed, tmp_path):
    # glanceclient builds image-create's options from the schema it downloads
    # (cached under $HOME/.glanceclient).
    env = dict(os.environ, OS_IMAGE_URL=typed.url, OS_AUTH_TOKEN='none',
               HOME=str(tmp_path))
    result = subprocess.run(
        [os.path.join(BIN, 'glance'), '--os-image-api-version', '2', 'image-create',
         '--name', 'distro', '--disk-format', 'raw', '--container-format', 'bare',
         '--os-distro', 'cirros', '--architecture', 'x86_64',
         '--kernel-id', '6a3f5d8e-1b2c-4d5e-8f90-a1b2c3d4e5f6'],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    image_id = next(line.split('|')[2].strip() for line in result.stdout.splitlines()
                    if line.startswith('| id '))
    with typed.client() as client:
        shown = client.get(typed.url + '/v2/images/' + image_id).json()
    assert (shown['os_distro'], shown['architecture'], shown['kernel_id']) == (
        'cirros', 'x86_64', '6a3f5d8e-1b2c-4d5e-8f90-a1b2c3d4e5f6')


def test_the_api_refuses_to_start_with_a_malformed_file(tmp_path):
    config = tmp_path / 'glance-api.conf'
    config.write_text(processes.ini({
        'DEFAULT': {'bind_host': '127.0.0.1', 'bind_port': processes.free_port(),
                    'registry_auth_secret': processes.new_secret(), 'workers': 1},
        'glance_store': {'filesystem_store_datadir': str(tmp_path / 'images')}}))
    schema = tmp_path / 'schema-image.json'
    schema.write_text(json.dumps({'os_distro': {'type': 'string'}})[:-1])
    result = subprocess.run([sys.executable, '-m', 'glance_api.cmd', '--config-file',
                             str(config)], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    refusal = [line for line in output.splitlines() if str(schema) in line]
    assert len(refusal) == 1 and 'custom image schema %s: Expecting' % schema \
        in refusal[0], output
    assert 'Traceback' not in output and 'listening' not in output


def test_patterns_are_matched_in_linear_time_and_a_backtracking_one_is_named_once(
        tmp_path):
    # '^([0-9]+)+$' takes Python's re 2 ** 59 steps on LONG; RE2, microseconds.
    # The lookahead stays on Python's re: glance-api says so once, not once per
    # worker, and so does the registry for a protection section.
    (tmp_path / 'schema-image.json').write_text(json.dumps({
        'build': {'type': 'string', 'pattern': '^([0-9]+)+$'},
        'codename': {'type': 'string', 'pattern': '^(?!test-)[a-z-]+$'}}))
    protections = tmp_path / 'property-protections.conf'
    protections.write_text('[^(x+)+$]\ncreate = admin\nread = @\nupdate = admin\n'
                           'delete = admin\n[^(?!x_)]\ncreate = @\nread = @\n'
                           'update = @\ndelete = @\n')
    api_log, registry_log = tmp_path / 'api.log', tmp_path / 'registry.log'
    long_value = '1' * 59 + 'x'
    with deployment.running(tmp_path, api_extra={'DEFAULT': {
            'log_file': str(api_log), 'property_protection_file': str(protections)}},
            registry_extra={'DEFAULT': {'log_file': str(registry_log)}}) as glance:
        with glance.client(project='p', roles=('member', 'reader')) as client:
            started = time.monotonic()
            refused = client.post(glance.url + '/v2/images',
                                  json={'name': 'n', 'build': long_value})
            created = client.post(glance.url + '/v2/images',
                                  json={'name': 'n', 'x' * 59 + '!': 'v'})
            elapsed = time.monotonic() - started
            named = client.post(glance.url + '/v2/images',
                                json={'name': 'n', 'codename': 'test-one'})
    assert (refused.status_code, refused.json()['message']) == (
        400, "Provided object does not match schema 'image': '%s' does not match "
             "'^([0-9]+)+$' (at build)" % long_value)
    assert created.status_code == 201, created.text
    assert elapsed < 10
    assert named.status_code == 400 and named.json()['message'].endswith(
        '(at codename)')
    warned = [line for line in api_log.read_text().splitlines()
              if 'backtracking engine' in line]
    assert len(warned) == 2 and all(' WARNING ' in line for line in warned), warned
    assert 'property protection section [^(?!x_)]' in warned[0], warned
    assert "property codename ('^(?!test-)[a-z-]+$')" in warned[1], warned
    warned = [line for line in registry_log.read_text().splitlines()
              if 'backtracking engine' in line]
    assert len(warned) == 1 and 'section [^(?!x_)]' in warned[0], warned
