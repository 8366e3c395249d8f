"""``glance-status upgrade check`` on an API host's configuration."""

import json
import os
import subprocess
import sys

import pytest

from tests.fixtures import processes


def _status(*config_paths):
    args = [sys.executable, '-m', 'glance_api.status']
    for path in config_paths:
        args += ['--config-file', path]
    result = subprocess.run(args + ['upgrade', 'check', '--json'],
                            capture_output=True, text=True, timeout=60)
    checks = {check['check']: check for check in json.loads(result.stdout)['checks']}
    return result.returncode, checks


def test_a_working_api_configuration_passes(glance):
    code, checks = _status(glance.api.config_path)
    assert code == 0, checks
    assert {name: check['result'] for name, check in checks.items()} == {
        'Registry': 0, 'Stores': 0, 'Unified limits': 0}


def test_an_unknown_store_driver_and_a_silent_registry_fail(glance, tmp_path):
    override = os.path.join(str(tmp_path), 'override.conf')
    with open(override, 'w') as f:
        f.write(processes.ini({'DEFAULT': {'registry_port': processes.free_port()},
                               'glance_store': {'default_store': 'rbd'}}))
    code, checks = _status(glance.api.config_path, override)
    assert code == 2
    assert checks['Stores']['result'] == 2
    assert "unknown store type 'rbd'" in checks['Stores']['details']
    assert checks['Registry']['result'] == 2
    assert 'does not answer' in checks['Registry']['details']


def _status_output(*args):
    result = subprocess.run([sys.executable, '-m', 'glance_api.status', *args],
                            capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize('content, says', [
    (None, 'Failed to find some config files'),
    ('[DEFAULT\n', 'Failed to parse'),
    ('[DEFAULT]\nregistry_auth_secret = 0123456789abcdef\nregistry_port = abc\n',
     'Value for option [DEFAULT] registry_port in'),
], ids=['missing', 'unparsable', 'bad value'])
def test_an_unusable_config_file_is_one_line_not_a_traceback(tmp_path, content, says):
    # As the other commands: oslo.upgradecheck let the error out with a traceback
    # (a bad value only once a check read it, as an "Error" result's traceback).
    path = tmp_path / 'glance-api.conf'
    if content is not None:
        path.write_text(content)
    code, output = _status_output('--config-file', str(path), 'upgrade', 'check')
    assert code == 255, output
    assert output.startswith('configuration error: ') and says in output, output
    assert 'Traceback' not in output and output.count('\n') == 1, output


def test_the_check_writes_nothing(tmp_path):
    # The file store's data directory is not made (nor is the store probed).
    datadir = tmp_path / 'images'
    path = tmp_path / 'glance-api.conf'
    path.write_text(processes.ini({
        'DEFAULT': {'registry_auth_secret': processes.new_secret(),
                    'registry_port': processes.free_port()},
        'glance_store': {'filesystem_store_datadir': str(datadir)}}))
    code, output = _status_output('--config-file', str(path), 'upgrade', 'check',
                                  '--json')
    assert code == 2, output   # no registry answers
    assert json.loads(output)['checks'][1] == {'check': 'Stores', 'result': 0,
                                               'details': None}
    assert not datadir.exists()
