"""What the daemons say when they start, or refuse to: real processes, real configs."""

import json
import os
import re
import socket
import subprocess
import sys

import pytest
import requests

from tests.fixtures import deployment, processes
from tests.functional.conftest import IMAGE_SIZE_CAP

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


def test_an_upstream_keystone_flavor_with_noauth_refuses_to_start(tmp_path):
    # Upstream turns Keystone on with the flavor alone: the API must not serve
    # unauthenticated what the operator's config says is behind Keystone.
    config = tmp_path / 'glance-api.conf'
    config.write_text(processes.ini({
        'DEFAULT': {'bind_host': '127.0.0.1', 'bind_port': processes.free_port(),
                    'registry_auth_secret': processes.new_secret(),
                    'auth_strategy': 'noauth', 'workers': 1},
        'paste_deploy': {'flavor': 'keystone+cachemanagement'},
        'glance_store': {'filesystem_store_datadir': str(tmp_path / 'images')}}))
    status, output = run_daemon('glance_api.cmd', config)
    assert status == 2, output
    assert ('[paste_deploy] flavor = keystone+cachemanagement asks for Keystone '
            'authentication but auth_strategy = noauth') in output, output
    assert 'Traceback' not in output and 'listening' not in output


@pytest.mark.parametrize('option, value, message', [
    ('user_storage_quota', '5XB', "configuration error: user_storage_quota: '5XB' is "
                                  "not a size (e.g. 500MB, 10GB)"),
    ('user_storage_quota', '-1', "configuration error: user_storage_quota: '-1' is "
                                 "not a size"),
    ('hashing_algorithm', 'md9', "configuration error: hashing_algorithm: 'md9' is "
                                 "not an algorithm of hashlib"),
    ('image_cache_dir', '/proc/no-such/cache', 'configuration error: image_cache_dir: '
                                               'cannot create /proc/no-such/cache: '
                                               'No such file or directory'),
    # Longer than the registry's node names: every report of cached copies
    # failed, and GET /v2/cache/nodes never named this node.
    ('worker_self_reference_url', 'http://%s:9292' % ('n' * 250),
     'exceeds maximum length 255'),
])
def test_a_bad_value_only_workers_read_refuses_to_start_in_one_line(
        tmp_path, option, value, message):
    config = tmp_path / 'glance-api.conf'
    config.write_text(processes.ini({
        'DEFAULT': {'bind_host': '127.0.0.1', 'bind_port': processes.free_port(),
                    'registry_auth_secret': processes.new_secret(), 'workers': 1,
                    option: value},
        'glance_store': {'filesystem_store_datadir': str(tmp_path / 'images')}}))
    status, output = run_daemon('glance_api.cmd', config, timeout=30)
    assert status == 2, output
    assert message in output, output
    assert 'Traceback' not in output and 'listening' not in output


@pytest.mark.parametrize('notifications, message', [
    # A typo: oslo.messaging logged "Could not load messaging_v2" in each worker
    # and every notification was lost.
    ({'driver': 'messaging_v2', 'transport_url': 'rabbit://glance:s3cr3t@mq:5672/'},
     '[oslo_messaging_notifications] driver: messaging_v2 is not a notification '
     'driver'),
    # oslo.messaging's routing driver loads none of the drivers its routing_config
    # names: every notification failed with a traceback.
    ({'driver': 'routing', 'transport_url': 'rabbit://glance:s3cr3t@mq:5672/'},
     '[oslo_messaging_notifications] driver: routing cannot send'),
    # Every worker failed to boot, with a traceback.
    ({'driver': 'messagingv2', 'transport_url': 'rabit://glance:s3cr3t@mq:5672/'},
     'transport_url: Failed to load transport driver "rabit"'),
    ({'driver': 'messagingv2', 'transport_url': '//glance:s3cr3t@mq:5672/'},
     'transport_url: No scheme specified'),
])
def test_notification_options_that_cannot_work_refuse_to_start_in_one_line(
        tmp_path, notifications, message):
    config = tmp_path / 'glance-api.conf'
    config.write_text(processes.ini({
        'DEFAULT': {'bind_host': '127.0.0.1', 'bind_port': processes.free_port(),
                    'registry_auth_secret': processes.new_secret(), 'workers': 1},
        'oslo_messaging_notifications': notifications,
        'glance_store': {'filesystem_store_datadir': str(tmp_path / 'images')}}))
    status, output = run_daemon('glance_api.cmd', config, timeout=30)
    assert status == 2, output
    assert message in output, output
    assert 'Traceback' not in output and 'listening' not in output
    assert 's3cr3t' not in output


@pytest.mark.parametrize('inject', [
    'os_glance_import_task:x', 'visibility:public',
    # Reserved attributes, and a name longer than a property's: the registry
    # refused every activation that injected them.
    'location:x', 'deleted:x', 'properties:x', 'n' * 256 + ':x'])
def test_an_injected_reserved_or_base_property_refuses_to_start_in_one_line(
        tmp_path, inject):
    # None could ever be written into an imported image.
    config = tmp_path / 'glance-api.conf'
    config.write_text(processes.ini({
        'DEFAULT': {'bind_host': '127.0.0.1', 'bind_port': processes.free_port(),
                    'registry_auth_secret': processes.new_secret(), 'workers': 1},
        'image_import_opts': {'image_import_plugins': "['inject_image_metadata']"},
        'inject_metadata_properties': {'inject': inject},
        'glance_store': {'filesystem_store_datadir': str(tmp_path / 'images')}}))
    status, output = run_daemon('glance_api.cmd', config, timeout=30)
    assert status == 2, output
    assert ('[inject_metadata_properties] inject names %r, which is no custom '
            'property an import may set' % inject.split(':')[0]) in output, output
    assert 'Traceback' not in output and 'listening' not in output


def test_an_injected_value_the_image_schema_refuses_refuses_to_start(tmp_path):
    # Every imported image would hold a value its own schema refuses:
    # python-glanceclient checks the whole image against the schema before it
    # patches one, so glance image-update failed on every imported image.
    (tmp_path / 'schema-image.json').write_text(json.dumps(
        {'hw_firmware_type': {'type': 'string', 'enum': ['bios', 'uefi']}}))
    config = tmp_path / 'glance-api.conf'
    config.write_text(processes.ini({
        'DEFAULT': {'bind_host': '127.0.0.1', 'bind_port': processes.free_port(),
                    'registry_auth_secret': processes.new_secret(), 'workers': 1},
        'image_import_opts': {'image_import_plugins': "['inject_image_metadata']"},
        'inject_metadata_properties': {'inject': 'hw_firmware_type:efi'},
        'glance_store': {'filesystem_store_datadir': str(tmp_path / 'images')}}))
    status, output = run_daemon('glance_api.cmd', config, timeout=30)
    assert status == 2, output
    assert ("[inject_metadata_properties] inject: Provided object does not match "
            "schema 'image': 'efi' is not one of ['bios', 'uefi'] (at "
            "hw_firmware_type)") in output, output
    assert 'Traceback' not in output and 'listening' not in output


@pytest.mark.parametrize('store', ['file', 'os_glance_staging_store'])
def test_an_image_cache_in_a_stores_directory_refuses_to_start(tmp_path, store):
    # Both name their files after their image: the cache's cleaner would remove
    # the store's files as copies its index does not list.
    images, staging = tmp_path / 'images', tmp_path / 'staging'
    shared = images if store == 'file' else staging
    shared.mkdir()
    image_file = shared / '8a8b8c8d-0000-4000-8000-000000000001'
    image_file.write_bytes(b'image data')
    config = tmp_path / 'glance-api.conf'
    config.write_text(processes.ini({
        'DEFAULT': {'bind_host': '127.0.0.1', 'bind_port': processes.free_port(),
                    'registry_auth_secret': processes.new_secret(), 'workers': 1,
                    'node_staging_uri': 'file://%s' % staging,
                    'image_cache_dir': str(shared)},
        'glance_store': {'filesystem_store_datadir': str(images)}}))
    status, output = run_daemon('glance_api.cmd', config, timeout=30)
    assert status == 2, output
    assert 'image_cache_dir %s is the data directory of store %s' % (shared, store) \
        in output, output
    assert 'Traceback' not in output and 'listening' not in output
    assert sorted(os.listdir(shared)) == [image_file.name]


def test_an_image_cache_whose_index_is_no_database_refuses_to_start_in_one_line(
        tmp_path):
    # Every worker failed to boot on it, a traceback each, after "listening".
    cache = tmp_path / 'cache'
    cache.mkdir()
    (cache / 'cache.sqlite').write_bytes(b'not a database, ' * 512)
    config = tmp_path / 'glance-api.conf'
    config.write_text(processes.ini({
        'DEFAULT': {'bind_host': '127.0.0.1', 'bind_port': processes.free_port(),
                    'registry_auth_secret': processes.new_secret(), 'workers': 1,
                    'image_cache_dir': str(cache)},
        'glance_store': {'filesystem_store_datadir': str(tmp_path / 'images')}}))
    status, output = run_daemon('glance_api.cmd', config, timeout=30)
    assert status == 2, output
    assert 'configuration error: image_cache_dir: cannot open the cache index %s: ' \
        'file is not a database (a damaged index may be removed: the cache then ' \
        'starts empty)' % (cache / 'cache.sqlite') in output, output
    assert 'Traceback' not in output and 'listening' not in output


def test_noauth_on_loopback_does_not_warn(glance):
    with open(glance.api.log_path) as f:
        assert 'UNAUTHENTICATED' not in f.read()


LINE = re.compile(r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[,.]\d{3} \d+ [A-Z]+ (\S+) ')


def logger_names(log_path):
    """The logger name of every line of a daemon's log (None: not our format)."""
    with open(log_path) as f:
        return [(LINE.match(line) or [None, None])[1] for line in f if line.strip()]


def test_the_registry_says_listening_only_once_bound(glance):
    with open(glance.registry.log_path) as f:
        lines = f.read().splitlines()
    bound = next(n for n, line in enumerate(lines) if 'Listening at:' in line)
    listening = next(n for n, line in enumerate(lines)
                     if 'glance-registry listening on http://127.0.0.1:%d/'
                     % glance.registry.port in line)
    assert bound < listening, lines


def test_each_daemon_logs_under_its_own_logger_names(glance):
    registry = logger_names(glance.registry.log_path)
    api = logger_names(glance.api.log_path)
    assert 'glance_registry.server' in registry    # gunicorn's own lines
    assert 'glance_api.server' in api
    # Besides, one access line per request (glance.access), in both.
    assert all(name and name.startswith(('glance_registry', 'glance.access'))
               for name in registry), registry
    assert all(name and name.startswith(('glance_api', 'stores', 'glance.access'))
               for name in api), api


@pytest.mark.parametrize('module', ['glance_api.cmd', 'glance_registry.cmd'])
def test_a_daemon_on_a_port_in_use_names_it_and_the_option_at_once(tmp_path, module):
    database = tmp_path / 'glance.sqlite'
    deployment.db_sync(str(tmp_path), 'sqlite:///%s' % database)
    with socket.socket() as holder:
        holder.bind(('127.0.0.1', 0))
        holder.listen()
        taken = holder.getsockname()[1]
        config = tmp_path / 'daemon.conf'
        config.write_text(processes.ini({
            'DEFAULT': {'bind_host': '127.0.0.1', 'bind_port': taken,
                        'registry_auth_secret': processes.new_secret()},
            'database': {'connection': 'sqlite:///%s' % database},
            'glance_store': {'filesystem_store_datadir': str(tmp_path / 'images')}}))
        status, output = run_daemon(module, config)
    assert status == 2, output
    assert ('cannot listen on 127.0.0.1:%d: Address already in use; set bind_port '
            '(or bind_host) in [DEFAULT]' % taken) in output, output
    assert 'listening' not in output
    # At once: gunicorn never tried (it retries for five seconds, saying so).
    assert 'Connection in use' not in output and 'Retrying' not in output, output


def test_glance_all_on_a_port_in_use_names_the_flag_and_writes_nothing(tmp_path):
    data_dir = tmp_path / 'new-data'
    with socket.socket() as holder:
        holder.bind(('127.0.0.1', 0))
        holder.listen()
        taken = holder.getsockname()[1]
        for flags, flag in ((['--registry-port', str(taken),
                              '--port', str(processes.free_port())], '--registry-port'),
                            (['--port', str(taken), '--registry-port',
                              str(processes.free_port())], '--port')):
            result = subprocess.run(
                [os.path.join(os.path.dirname(sys.executable), 'glance-all'),
                 '--data-dir', str(data_dir)] + flags,
                capture_output=True, text=True, timeout=60)
            assert result.returncode == 1
            assert ('port %d already in use on 127.0.0.1' % taken) in result.stderr
            assert 'choose another with %s; not starting' % flag in result.stderr
            assert not data_dir.exists()


def test_an_unreachable_registry_is_named_by_host_and_port(tmp_path):
    nowhere = processes.free_port()
    api = processes.api_daemon(str(tmp_path), nowhere, processes.new_secret(),
                               str(tmp_path / 'images')).start()
    try:
        response = requests.get(api.url + '/v2/images', timeout=30)
    finally:
        api.stop()
    assert response.status_code == 503
    assert 'registry unreachable at 127.0.0.1:%d: ConnectionRefusedError' % nowhere \
        in api.log_tail()


@pytest.mark.parametrize('directory_exists', [False, True])
def test_a_missing_database_says_to_run_db_sync_and_creates_nothing(
        tmp_path, directory_exists):
    directory = tmp_path / 'db'
    if directory_exists:
        directory.mkdir()
    database = directory / 'glance.sqlite'
    config = tmp_path / 'registry.conf'
    config.write_text(processes.ini({
        'DEFAULT': {'bind_port': processes.free_port(),
                    'registry_auth_secret': processes.new_secret()},
        'database': {'connection': 'sqlite:///%s' % database}}))
    status, output = run_daemon('glance_registry.cmd', config)
    assert status == 2, output
    assert ('no database at sqlite:///%s: run `glance-manage db sync` to create it'
            % database) in output, output
    assert not database.exists()
    assert directory.exists() == directory_exists
    if directory_exists:
        assert os.listdir(directory) == []


def test_an_upload_over_the_image_size_cap_says_so(admin):
    image = admin.create_image()
    declared = admin.upload(image['id'], b'x' * (IMAGE_SIZE_CAP + 1))
    streamed = admin.upload(image['id'], iter([b'x' * (1024 * 1024)] * 9))
    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        message = response.json()['message']
        assert 'image size cap of %d bytes' % IMAGE_SIZE_CAP in message
        assert 'quota' not in message
    assert admin.image(image['id'])['status'] == 'queued'


@pytest.mark.parametrize('command, config_name, options, words', [
    (['glance-api'], 'glance-api.conf', {}, "placeholder 'change-me'"),
    (['glance-registry'], 'glance-registry.conf', {}, "placeholder 'change-me'"),
    (['glance-scrubber'], 'glance-scrubber.conf', {}, "placeholder 'change-me'"),
    (['glance-cache-pruner'], 'glance-cache.conf', {'image_cache_dir': 'cache'},
     "placeholder 'change-me'"),
    (['glance-status', 'upgrade', 'check'], 'glance-api.conf',
     {'registry_auth_secret': 'a-secret-of-ours', 'registry_port': 1},
     'The registry at 127.0.0.1:1 does not answer'),
])
def test_without_a_config_file_a_command_reads_upstreams_files(
        tmp_path, command, config_name, options, words):
    # As upstream's: <prog>.conf (and glance.conf) from ~/.glance, ~, /etc/glance
    # or /etc when no --config-file is given (systemd units and cron jobs written
    # for upstream give none).
    home = tmp_path / 'home'
    (home / '.glance').mkdir(parents=True)
    values = dict({'registry_auth_secret': 'change-me'}, **options)
    if 'image_cache_dir' in values:
        values['image_cache_dir'] = str(tmp_path / values['image_cache_dir'])
    (home / '.glance' / config_name).write_text(processes.ini({'DEFAULT': values}))
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), command[0])] + command[1:],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env=dict(os.environ, HOME=str(home)))
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert words in output, output


@pytest.mark.parametrize('settings, warned', [
    ({'DEFAULT': {'allow_anonymous_access': 'true',
                  'metadata_encryption_key': 'key-never-logged-0123456789',
                  'max_request_id_length': '128'},
      'taskflow_executor': {'conversion_format': 'qcow2'},
      'glance_store': {'filesystem_store_metadata_file': '/etc/glance/metadata.json',
                       'filesystem_thin_provisioning': 'true',
                       'filesystem_store_timeout': '30',
                       'swift_buffer_on_upload': 'true'},
      'oslo_policy': {'enforce_new_defaults': 'false'},
      'profiler': {'enabled': 'true'},
      'paste_deploy': {'config_file': '/etc/glance/glance-api-paste.ini'}}, [
        '[DEFAULT] allow_anonymous_access = True is ignored: requests without a '
        'valid token are never given',
        '[DEFAULT] metadata_encryption_key = **** is ignored: image locations are '
        'stored unencrypted',
        '[DEFAULT] max_request_id_length = 128 is ignored: the API gives each '
        'request an id of its own',
        '[taskflow_executor] conversion_format = qcow2 is ignored: legacy import '
        'tasks are converted as other imports are',
        '[glance_store] filesystem_store_metadata_file = /etc/glance/metadata.json '
        'is ignored: a file store location\'s metadata holds its store id only',
        '[glance_store] filesystem_thin_provisioning = True is ignored: the file '
        'store writes every byte',
        '[glance_store] filesystem_store_timeout = 30 is ignored: file store '
        'operations have no time limit',
        '[glance_store] swift_buffer_on_upload = True is ignored: Swift segments '
        'are streamed as they arrive',
        '[oslo_policy] enforce_new_defaults = False is ignored: the secure-RBAC '
        'defaults apply whatever it says',
        '[profiler] enabled = True is ignored: this service makes no OSProfiler '
        'traces',
        '[paste_deploy] config_file = /etc/glance/glance-api-paste.ini is ignored: '
        'the paste file is not read',
    ]),
    # Written out at upstream's defaults (as deployment tools do), they change
    # nothing upstream either.
    ({'DEFAULT': {'allow_anonymous_access': 'false', 'max_request_id_length': '64'},
      'glance_store': {'filesystem_thin_provisioning': 'false',
                       'filesystem_store_timeout': '0'},
      'oslo_policy': {'enforce_new_defaults': 'true'}}, []),
    # Multi-store configs put a store's options in its own section.
    ({'DEFAULT': {'enabled_backends': 'fast:file'},
      'glance_store': {'default_backend': 'fast'},
      'fast': {'filesystem_store_datadir': '{tmp}/fast',
               'filesystem_thin_provisioning': 'true'}}, [
        '[fast] filesystem_thin_provisioning = True is ignored: the file store '
        'writes every byte',
    ]),
], ids=['every one set', 'set to upstream defaults', 'in a multi-store section'])
def test_the_api_warns_once_of_each_upstream_option_it_ignores(tmp_path, settings,
                                                                warned):
    settings = {section: {name: value.replace('{tmp}', str(tmp_path))
                          for name, value in values.items()}
                for section, values in settings.items()}
    with deployment.running(tmp_path / 'glance', api_extra=settings) as glance:
        assert glance.client().get('/v2/images').status_code == 200
    with open(glance.api.log_path) as f:
        output = f.read()
    said = [line.split(' WARNING glance_api [-] ', 1)[1]
            for line in output.splitlines() if ' is ignored: ' in line]
    assert len(said) == len(warned), said
    for line, start in zip(said, warned):
        start = start.replace('{tmp}', str(tmp_path))
        assert line.startswith(start) and line.endswith('.'), line
    assert 'key-never-logged' not in output


def test_a_bad_value_of_an_ignored_option_in_a_store_section_refuses_the_start(
        tmp_path):
    # Read, to warn of it, only once enabled_backends names the section.
    config = tmp_path / 'multi.conf'
    config.write_text(processes.ini({
        'DEFAULT': {'registry_auth_secret': processes.new_secret(),
                    'bind_host': '127.0.0.1', 'enabled_backends': 'fast:file'},
        'glance_store': {'default_backend': 'fast'},
        'fast': {'filesystem_store_datadir': str(tmp_path / 'fast'),
                 'filesystem_thin_provisioning': 'perhaps'}}))
    status, output = run_daemon('glance_api.cmd', config)
    assert status == 2, output
    assert 'configuration error:' in output and 'perhaps' in output, output
    assert 'filesystem_thin_provisioning' in output and 'Traceback' not in output
    assert not (tmp_path / 'fast').exists()   # refused before any store was made


@pytest.mark.parametrize('module', ['glance_api.cmd', 'glance_registry.cmd'])
def test_a_policy_file_that_cannot_be_parsed_refuses_to_start_in_one_line(
        tmp_path, module):
    # Read at the first request, it made every request a 500 with a traceback.
    policy = tmp_path / 'policy.yaml'
    policy.write_text('{"get_images": [\n')
    database_url = 'sqlite:///%s' % (tmp_path / 'glance.sqlite')
    deployment.db_sync(str(tmp_path), database_url)
    config = tmp_path / 'glance.conf'
    config.write_text(processes.ini({
        'DEFAULT': {'bind_host': '127.0.0.1', 'bind_port': processes.free_port(),
                    'registry_auth_secret': processes.new_secret(), 'workers': 1},
        'database': {'connection': database_url},
        'glance_store': {'filesystem_store_datadir': str(tmp_path / 'images')},
        'oslo_policy': {'policy_file': str(policy)}}))
    status, output = run_daemon(module, config, timeout=30)
    assert status == 2, output
    assert 'cannot read the policy file %s: ' % policy in output, output
    assert 'Traceback' not in output and 'listening' not in output


def test_a_policy_file_configured_but_missing_is_named_at_start(tmp_path):
    # oslo.policy says so at DEBUG only, and applies the defaults: the operator's
    # overrides would be lost without a word.
    missing = tmp_path / 'no-such-policy.yaml'
    settings = {'oslo_policy': {'policy_file': str(missing)}}
    with deployment.running(tmp_path / 'glance', api_extra=settings) as glance:
        assert glance.client().get('/v2/images').status_code == 200
    for log_path in (glance.api.log_path, glance.registry.log_path):
        with open(log_path) as f:
            assert ('[oslo_policy] policy_file %s is not found: the default rules '
                    'apply until it exists' % missing) in f.read(), log_path
