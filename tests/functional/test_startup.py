"""What the daemons say when they start, or refuse to: real processes, real configs."""

import os
import subprocess
import sys

import pytest

from tests.fixtures import processes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ETC = os.path.join(ROOT, 'etc')


def run_daemon(module, *config_files, timeout=60):
    """Run a daemon that is expected to stop by itself; its exit status and output."""
    argv = [sys.executable, '-m', module]
    for path in config_files:
        argv += ['--config-file', str(path)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize('module, sample', [
    ('glance_api.cmd', 'glance-api.conf'),
    ('glance_registry.cmd', 'glance-registry.conf'),
])
def test_a_daemon_refuses_the_sample_placeholder_secret(module, sample):
    status, output = run_daemon(module, os.path.join(ETC, sample))
    assert status == 2, output
    assert "registry_auth_secret is the placeholder 'change-me'" in output, output
    assert 'Traceback' not in output and 'listening' not in output


@pytest.mark.parametrize('module', ['glance_api.cmd', 'glance_registry.cmd'])
def test_a_daemon_refuses_an_empty_secret(tmp_path, module):
    config = tmp_path / 'empty.conf'
    config.write_text('[DEFAULT]\nregistry_auth_secret =\n')
    status, output = run_daemon(module, config)
    assert status == 2, output
    assert 'registry_auth_secret is not set' in output, output


def test_noauth_beyond_loopback_is_a_loud_warning(tmp_path):
    # An address of TEST-NET-1 that this host does not have: the warning comes
    # before the bind, which then fails, so nothing listens beyond loopback.
    config = tmp_path / 'open.conf'
    config.write_text(processes.ini({
        'DEFAULT': {'bind_host': '192.0.2.10', 'bind_port': processes.free_port(),
                    'registry_auth_secret': processes.new_secret(),
                    'workers': 1},
        'glance_store': {'filesystem_store_datadir': str(tmp_path / 'images')}}))
    status, output = run_daemon('glance_api.cmd', config)
    assert status != 0, output
    warning = [line for line in output.splitlines()
               if 'WARNING' in line and 'UNAUTHENTICATED API ON THE NETWORK' in line]
    assert warning, output
    assert 'bind_host = 192.0.2.10' in warning[0]
    assert 'a request without them is an admin' in warning[0]


def test_noauth_on_loopback_does_not_warn(glance):
    with open(glance.api.log_path) as f:
        assert 'UNAUTHENTICATED' not in f.read()
