"""``glance-all``: both daemons from one command, on the embedded default."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest
import requests

from tests.fixtures import disk_images
from tests.fixtures import processes, tools
from tests.fixtures.databases import databases  # noqa: F401 (a fixture)


def wait_for(url, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, 'glance-all exited %s' % process.returncode
        try:
            return requests.get(url, timeout=1)
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError('%s never answered' % url)


def run_glance_all(data_dir, api_port, registry_port, prefix=(), config_files=(),
                   **popen):
    """Start ``glance-all`` (after the ``prefix`` command, e.g. ``setsid``; with
    the operator's ``config_files``); its output is discarded unless ``popen``
    says otherwise."""
    popen.setdefault('stdout', subprocess.DEVNULL)
    popen.setdefault('stderr', subprocess.DEVNULL)
    return subprocess.Popen(
        list(prefix) + [os.path.join(os.path.dirname(sys.executable), 'glance-all'),
                        '--data-dir', str(data_dir), '--port', str(api_port),
                        '--registry-port', str(registry_port)]
        + [arg for path in config_files for arg in ('--config-file', str(path))],
        **popen)


def test_glance_all_serves_creates_its_database_and_stops_on_sigterm(tmp_path):
    api_port, registry_port = processes.free_port(), processes.free_port()
    data_dir = tmp_path / 'data'
    glance_all = run_glance_all(data_dir, api_port, registry_port,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(glance_all.stdout),
                              daemon=True)
    reader.start()
    try:
        url = 'http://127.0.0.1:%d' % api_port
        assert wait_for(url + '/versions', glance_all).status_code == 200
        created = requests.post(url + '/v2/images', json={
            'name': 'embedded', 'disk_format': 'raw', 'container_format': 'bare'})
        assert created.status_code == 201
        image_id = created.json()['id']
        upload = requests.put(url + '/v2/images/%s/file' % image_id, data=b'bytes',
                              headers={'Content-Type': 'application/octet-stream'})
        assert upload.status_code == 204
        assert (data_dir / 'glance.sqlite').exists()
        assert (data_dir / 'images' / image_id).read_bytes() == b'bytes'
        # The secret, and the configs that carry it, are for their owner only.
        for name in ('registry.secret', 'glance-registry.generated.conf',
                     'glance-api.generated.conf', 'glance-registry.flags.conf',
                     'glance-api.flags.conf'):
            assert (data_dir / name).stat().st_mode & 0o777 == 0o600, name
        # glance-all says it is ready after its own check, which may come after
        # the API first answered us.
        deadline = time.monotonic() + 30
        # Its own line: glance-api's "store file (file) ready: ..." comes before.
        while not any('ready: Images API' in line for line in list(lines)):
            assert time.monotonic() < deadline, ''.join(lines)
            time.sleep(0.1)
    finally:
        glance_all.send_signal(signal.SIGTERM)
        glance_all.wait(timeout=60)
        reader.join(timeout=10)
    output = ''.join(lines)
    assert glance_all.returncode == 0, output
    assert 'store file (file) ready: data_dir %s,' % (data_dir / 'images') in output
    assert 'ready: Images API v2 at http://127.0.0.1:%d/' % api_port in output
    for port in (api_port, registry_port):
        try:
            requests.get('http://127.0.0.1:%d/' % port, timeout=1)
        except requests.ConnectionError:
            continue
        raise AssertionError('port %d still answers after SIGTERM' % port)


def _start(data_dir, api_port, registry_port, **options):
    process = run_glance_all(data_dir, api_port, registry_port, **options)
    wait_for('http://127.0.0.1:%d/versions' % api_port, process)
    return process


def test_with_log_dir_each_command_glance_all_runs_logs_to_a_file_of_its_own(
        tmp_path):
    # As upstream's commands name theirs in log_dir: glance-all runs them with
    # python -m, under which oslo.log named all three "<frozen runpy>.log".
    log_dir = tmp_path / 'logs'
    log_dir.mkdir()
    operator_conf = tmp_path / 'logging.conf'
    operator_conf.write_text('[DEFAULT]\nlog_dir = %s\n' % log_dir)
    glance_all = _start(tmp_path / 'data', processes.free_port(),
                        processes.free_port(), config_files=[operator_conf])
    glance_all.send_signal(signal.SIGTERM)
    assert glance_all.wait(timeout=60) == 0
    assert sorted(os.listdir(log_dir)) == [
        'glance-api.log', 'glance-manage.log', 'glance-registry.log']
    assert 'glance-api listening on' in (log_dir / 'glance-api.log').read_text()
    assert 'glance-registry listening on' in (
        log_dir / 'glance-registry.log').read_text()
    assert 'upgraded to version' in (log_dir / 'glance-manage.log').read_text()


def test_an_upload_in_flight_at_sigterm_completes_before_the_registry_stops(
        tmp_path):
    api_port, registry_port = processes.free_port(), processes.free_port()
    data_dir = tmp_path / 'data'
    glance_all = _start(data_dir, api_port, registry_port)
    url = 'http://127.0.0.1:%d' % api_port
    try:
        image_id = requests.post(url + '/v2/images', json={
            'disk_format': 'raw', 'container_format': 'bare'}).json()['id']
        sock = socket.create_connection(('127.0.0.1', api_port))
        sock.sendall(('PUT /v2/images/%s/file HTTP/1.1\r\nHost: x\r\n'
                      'Content-Type: application/octet-stream\r\n'
                      'Content-Length: 200000\r\n\r\n' % image_id).encode()
                     + b'x' * 100000)
        time.sleep(1)   # the upload is under way
        glance_all.send_signal(signal.SIGTERM)
        time.sleep(1)   # both daemons have been told to stop
        sock.sendall(b'x' * 100000)
        status_line = sock.recv(4096).split(b'\r\n')[0]
        sock.close()
        assert b' 204 ' in status_line, status_line
        glance_all.wait(timeout=60)
    finally:
        if glance_all.poll() is None:
            glance_all.kill()
    glance_all = _start(data_dir, api_port, registry_port)
    try:
        image = requests.get(url + '/v2/images/%s' % image_id).json()
        assert (image['status'], image['size']) == ('active', 200000)
    finally:
        glance_all.send_signal(signal.SIGTERM)
        glance_all.wait(timeout=60)


def _with_password(url, password):
    parsed = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parsed._replace(netloc='%s:%s@%s' % (
        parsed.username, password, parsed.netloc.rpartition('@')[2])))


@pytest.mark.parametrize('backend', [
    'sqlite', pytest.param('postgresql', marks=pytest.mark.postgresql)])
def test_glance_all_says_which_database_it_uses_the_operators_without_password(
        tmp_path, databases, backend):
    # It used to log its default, data/glance.sqlite, whatever [database]
    # connection the operator's --config-file gave.
    url = databases.create(backend)
    password = urllib.parse.urlsplit(url).password
    if backend != 'sqlite' and not password:
        # A server that needs none ignores it.
        password = 'never-logged-%s' % processes.new_secret()
        url = _with_password(url, password)
    data_dir = tmp_path / 'data'
    said = _output_with(tmp_path, '[database]\nconnection = %s\n' % url)
    [line] = [line for line in said.splitlines() if 'upgraded to version' in line]
    assert ' database %s://' % backend in line
    assert urllib.parse.urlsplit(url).path in line   # the database's name or file
    assert str(data_dir / 'glance.sqlite') not in said
    if password:
        assert password not in said
    assert not (data_dir / 'glance.sqlite').exists()


def test_glance_all_says_where_the_operators_file_store_is(tmp_path):
    # It used to log its default, data/images, whatever filesystem_store_datadir
    # the operator's --config-file gave.
    images = tmp_path / 'operator-images'
    said = _output_with(tmp_path,
                        '[glance_store]\nfilesystem_store_datadir = %s\n' % images)
    assert 'store file (file) ready: data_dir %s,' % images in said
    assert str(tmp_path / 'data' / 'images') not in said


def test_its_flags_decide_the_ports_whatever_the_operators_file_says(tmp_path):
    # An upstream glance-api.conf sets bind_port and registry_port; read by both
    # daemons, it put the registry on the API's port, and glance-all waited for
    # a registry that never came.
    api_port, registry_port = processes.free_port(), processes.free_port()
    operator_conf = tmp_path / 'glance-api.conf'
    operator_conf.write_text('[DEFAULT]\nbind_port = %d\nregistry_port = %d\n'
                             % (processes.free_port(), processes.free_port()))
    glance_all = _start(tmp_path / 'data', api_port, registry_port,
                        config_files=[operator_conf])
    try:
        listing = requests.get('http://127.0.0.1:%d/v2/images' % api_port, timeout=10)
        assert listing.status_code == 200, listing.text
        health = requests.get('http://127.0.0.1:%d/healthcheck' % registry_port,
                              timeout=10)
        assert health.status_code == 200
        # A command given the generated config first reaches this registry.
        cache_conf = tmp_path / 'cache.conf'
        cache_conf.write_text('[DEFAULT]\nimage_cache_dir = %s\n' % (tmp_path / 'c'))
        cleaner = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), 'glance-cache-cleaner'),
             '--config-file', str(tmp_path / 'data' / 'glance-api.generated.conf'),
             '--config-file', str(cache_conf)],
            capture_output=True, text=True, timeout=60)
        assert cleaner.returncode == 0, cleaner.stdout + cleaner.stderr
    finally:
        glance_all.send_signal(signal.SIGTERM)
        assert glance_all.wait(timeout=60) == 0


def _output_with(tmp_path, operator_config):
    """What glance-all says from its start to its stop, with the data directory
    ``tmp_path/data`` and an operator's ``--config-file`` holding
    ``operator_config``."""
    operator_conf = tmp_path / 'operator.conf'
    operator_conf.write_text(operator_config)
    output = tmp_path / 'glance-all.out'
    with open(output, 'w') as out:
        glance_all = _start(tmp_path / 'data', processes.free_port(),
                            processes.free_port(), config_files=[operator_conf],
                            stdout=out, stderr=subprocess.STDOUT)
        glance_all.send_signal(signal.SIGTERM)
        assert glance_all.wait(timeout=60) == 0
    return output.read_text()


def test_a_db_sync_that_fails_stops_glance_all_naming_the_command_not_a_migration(
        tmp_path):
    # A log_dir that does not exist fails glance-manage before it opens the
    # database; glance-all said "database migration failed" all the same.
    operator_conf = tmp_path / 'operator.conf'
    operator_conf.write_text('[DEFAULT]\nlog_dir = %s\n' % (tmp_path / 'missing'))
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), 'glance-all'),
         '--data-dir', str(tmp_path / 'data'), '--port', str(processes.free_port()),
         '--registry-port', str(processes.free_port()),
         '--config-file', str(operator_conf)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode != 0
    said = result.stdout + result.stderr
    assert str(tmp_path / 'missing') in said, said
    assert 'glance-manage db sync failed' in said, said
    assert 'migration' not in said, said


@pytest.mark.parametrize('daemon, setting, named', [
    ('glance_api.cmd', 'upload_lease_time = 0', 'upload_lease_time'),
    ('glance_api.cmd', 'workers = abc', 'workers'),
    ('glance_registry.cmd', 'workers = abc', 'workers'),
    # Ignored (glance_api.ignored_opts), but read to warn of it.
    ('glance_api.cmd', 'allow_anonymous_access = perhaps', 'allow_anonymous_access'),
])
def test_a_bad_option_value_stops_the_daemon_at_once_with_one_line(tmp_path, daemon,
                                                                    setting, named):
    config = tmp_path / 'bad.conf'
    config.write_text('[DEFAULT]\nregistry_auth_secret = s\n%s\n' % setting)
    result = subprocess.run([sys.executable, '-m', daemon, '--config-file',
                             str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith('configuration error:'), result.stderr
    assert named in result.stderr and 'Traceback' not in result.stderr


def test_glance_all_refuses_to_start_on_a_port_in_use(tmp_path):
    with socket.socket() as holder:
        holder.bind(('127.0.0.1', 0))
        holder.listen()
        taken = holder.getsockname()[1]
        result = subprocess.run(
            [os.path.join(os.path.dirname(sys.executable), 'glance-all'),
             '--data-dir', str(tmp_path / 'data'), '--port', str(taken),
             '--registry-port', str(processes.free_port())],
            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert 'port %d already in use' % taken in result.stderr
    assert 'ready:' not in result.stderr


@pytest.mark.parametrize('given, missing', [
    (['--cert-file', 'api.pem'], '--key-file'),
    (['--key-file', 'api.key'], '--cert-file'),
    (['--ca-file', 'ca.pem'], '--cert-file'),
])
def test_glance_all_refuses_half_a_tls_setup_before_creating_anything(
        tmp_path, given, missing):
    data_dir = tmp_path / 'data'
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), 'glance-all'),
         '--data-dir', str(data_dir), '--port', str(processes.free_port()),
         '--registry-port', str(processes.free_port())] + given,
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    [error] = [line for line in result.stderr.splitlines()
               if line.startswith('glance-all: error:')]
    assert given[0] in error and missing in error
    assert not data_dir.exists()


def test_everything_under_the_data_dir_is_private_whatever_the_umask(tmp_path):
    api_port, registry_port = processes.free_port(), processes.free_port()
    data_dir = tmp_path / 'data'
    glance_all = run_glance_all(data_dir, api_port, registry_port,
                                preexec_fn=lambda: os.umask(0))
    try:
        url = 'http://127.0.0.1:%d' % api_port
        wait_for(url + '/versions', glance_all)
        image_id = requests.post(url + '/v2/images', json={
            'disk_format': 'raw', 'container_format': 'bare'}).json()['id']
        assert requests.put(url + '/v2/images/%s/file' % image_id, data=b'data',
                            headers={'Content-Type': 'application/octet-stream'}
                            ).status_code == 204
        modes = {}
        for directory, dirs, files in os.walk(data_dir):
            for name in [directory] + [os.path.join(directory, f) for f in files]:
                modes[os.path.relpath(name, data_dir)] = oct(
                    os.stat(name).st_mode & 0o777)
    finally:
        glance_all.send_signal(signal.SIGTERM)
        glance_all.wait(timeout=60)
    for name in ('registry.secret', 'glance-api.generated.conf',
                 'glance-registry.generated.conf', 'glance-api.flags.conf',
                 'glance-registry.flags.conf', 'glance.sqlite',
                 os.path.join('images', image_id)):
        assert modes.pop(name) == '0o600', name
    assert modes.pop('.') == modes.pop('images') == modes.pop('staging') == '0o700'
    # Whatever else there is (SQLite's -wal and -shm files), private too.
    assert set(modes.values()) <= {'0o600'}, modes


def test_ctrl_c_on_the_process_group_lets_an_upload_in_flight_finish(tmp_path):
    # As a terminal does it: glance-all under setsid leads its process group, and
    # Ctrl-C sends SIGINT to the whole group while curl still sends the data.
    curl = tools.require('curl', 'curl')
    api_port, registry_port = processes.free_port(), processes.free_port()
    data_dir = tmp_path / 'data'
    disk = tmp_path / 'disk.raw'
    data = disk_images.raw(48 * 1024 * 1024)
    disk.write_bytes(data)
    glance_all = run_glance_all(data_dir, api_port, registry_port, prefix=['setsid'])
    url = 'http://127.0.0.1:%d' % api_port
    try:
        wait_for(url + '/versions', glance_all)
        assert os.getpgid(glance_all.pid) == glance_all.pid   # setsid made it lead
        image_id = requests.post(url + '/v2/images', json={
            'disk_format': 'raw', 'container_format': 'bare'}).json()['id']
        upload = subprocess.Popen(
            [curl, '-s', '-o', '/dev/null', '-w', '%{http_code}', '--limit-rate', '8M',
             '-X', 'PUT', '-H', 'Content-Type: application/octet-stream',
             '-H', 'Expect:', '-T', str(disk),
             url + '/v2/images/%s/file' % image_id],
            stdout=subprocess.PIPE, text=True)
        time.sleep(2)
        assert upload.poll() is None   # still sending
        os.killpg(glance_all.pid, signal.SIGINT)
        status, _ = upload.communicate(timeout=60)
        assert status == '204'
        glance_all.wait(timeout=60)
    finally:
        if glance_all.poll() is None:
            processes.stop_process_group(glance_all, signal.SIGKILL)
    glance_all = _start(data_dir, api_port, registry_port)
    try:
        image = requests.get(url + '/v2/images/%s' % image_id).json()
        assert (image['status'], image['size']) == ('active', len(data))
        assert (data_dir / 'images' / image_id).read_bytes() == data
        assert requests.get(url + '/v2/images/%s/file' % image_id).content == data
    finally:
        glance_all.send_signal(signal.SIGTERM)
        glance_all.wait(timeout=60)


def test_sighup_reloads_both_daemons_and_glance_all_keeps_serving(tmp_path):
    # A hang-up is the operator's "read your config again": it used to kill
    # glance-all (Python's default action), both daemons stopping with it.
    api_port, registry_port = processes.free_port(), processes.free_port()
    data_dir, log_dir = tmp_path / 'data', tmp_path / 'logs'
    log_dir.mkdir()
    operator = tmp_path / 'operator.conf'
    operator.write_text('[DEFAULT]\nlog_dir = %s\n' % log_dir)
    glance_all = _start(data_dir, api_port, registry_port, config_files=[operator])
    url = 'http://127.0.0.1:%d' % api_port
    try:
        operator.write_text('[DEFAULT]\nlog_dir = %s\ndebug = true\n' % log_dir)
        glance_all.send_signal(signal.SIGHUP)
        for name in ('glance-api.log', 'glance-registry.log'):
            deadline = time.monotonic() + 15
            while 'SIGHUP: configuration reloaded; log level DEBUG' not in \
                    (log_dir / name).read_text():
                assert time.monotonic() < deadline, (log_dir / name).read_text()
                time.sleep(0.1)
        assert glance_all.poll() is None
        assert requests.get(url + '/v2/images').status_code == 200
    finally:
        glance_all.send_signal(signal.SIGTERM)
        glance_all.wait(timeout=60)
    assert glance_all.returncode == 0
