"""``glance-status upgrade check`` on an API host's configuration."""

import json
import os
import subprocess
import sys

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
