"""Logging with oslo.log: upstream's options work, and one request id traces a
request through the API's and the registry's lines, access lines included."""

import json
import os
import re
import signal
import socket
import time
import uuid

import pytest

from tests.fixtures import deployment, processes


def _lines(path):
    with open(path) as f:
        return f.read().splitlines()


def test_a_request_id_traces_a_request_through_both_daemons_logs(tmp_path):
    api_log, registry_log = tmp_path / 'api-oslo.log', tmp_path / 'registry-oslo.log'
    with deployment.running(tmp_path / 'glance', api_extra={
            'DEFAULT': {'log_file': str(api_log), 'debug': 'true'}}, registry_extra={
            # Any case, as operators write it (it used to fail the start).
            'DEFAULT': {'log_file': str(registry_log), 'use_json': 'true',
                        'log_level': 'debug'}}) as glance:
        client = glance.client(project='logged-project', user='logged-user')
        created = client.post('/v2/images', json={'name': 'traced'})
        assert created.status_code == 201
        request_id = created.headers['x-openstack-request-id']
        missing = client.get('/v2/images/00000000-0000-0000-0000-000000000000')
        assert missing.status_code == 404
        missing_id = missing.headers['x-openstack-request-id']
    api_lines = _lines(api_log)
    # The access line, with the caller's identity in oslo.log's context part.
    [access] = [line for line in api_lines if request_id in line
                and 'glance.access' in line]
    assert re.search(r'\[None %s logged-user logged-project - - - -\] 127\.0\.0\.1 '
                     r'"POST /v2/images" status: 201 len: %d time: \d+\.\d+ '
                     r'request: %s$' % (request_id, len(created.content), request_id),
                     access), access
    assert any('glance.access' in line and '"GET /v2/images/0000' in line
               and 'status: 404' in line and missing_id in line for line in api_lines)
    # gunicorn's own lines go to the same file, at the level debug asks for.
    assert any('Booting worker' in line for line in api_lines)
    assert any(' DEBUG glance_api.server ' in line for line in api_lines)

    records = [json.loads(line) for line in _lines(registry_log)]
    registry_access = [r for r in records if r['name'] == 'glance.access'
                       and r['context'].get('request_id') == request_id]
    assert len(registry_access) == 1
    assert registry_access[0]['context']['user'] == 'logged-user'
    assert registry_access[0]['context']['project'] == 'logged-project'
    assert '"POST /v1/images" status: 201' in registry_access[0]['message']
    assert any(r['levelname'] == 'DEBUG' for r in records)


def test_the_callers_request_id_is_the_global_request_id_in_both_daemons_logs(
        tmp_path):
    # As oslo.middleware's request_id: another service's X-OpenStack-Request-ID
    # (nova's, say) is the global request id of every line, the request keeping
    # an id of its own; what is not a request id of that form is not taken.
    registry_log = tmp_path / 'registry-oslo.log'
    nova_request = 'req-%s' % uuid.uuid4()
    with deployment.running(tmp_path / 'glance', registry_extra={
            'DEFAULT': {'log_file': str(registry_log), 'use_json': 'true'}}) as glance:
        client = glance.client(project='nova-project', user='nova')
        created = client.post('/v2/images', json={'name': 'traced'},
                              headers={'X-OpenStack-Request-ID': nova_request})
        assert created.status_code == 201
        request_id = created.headers['x-openstack-request-id']
        assert request_id != nova_request
        chosen = client.get('/v2/images', headers={
            'X-OpenStack-Request-ID': 'req-chosen-by-the-caller'})
        assert chosen.status_code == 200
        chosen_id = chosen.headers['x-openstack-request-id']
    api_lines = _lines(glance.api.log_path)
    [access] = [line for line in api_lines if 'glance.access' in line
                and request_id in line]
    assert '[%s %s nova nova-project - - - -]' % (nova_request, request_id) in access
    [access] = [line for line in api_lines if 'glance.access' in line
                and chosen_id in line]
    assert '[None %s nova nova-project' % chosen_id in access
    assert 'req-chosen-by-the-caller' not in '\n'.join(api_lines)
    records = [json.loads(line) for line in _lines(registry_log)]
    [registry_access] = [r for r in records if r['name'] == 'glance.access'
                         and r['context'].get('request_id') == request_id]
    assert registry_access['context']['global_request_id'] == nova_request


def test_background_work_logs_under_the_request_that_started_it(tmp_path):
    # An import runs on after its request was answered: its lines name that
    # request (and the caller), so that one id finds why a task failed.
    nova_request = 'req-%s' % uuid.uuid4()
    with deployment.running(tmp_path / 'glance') as glance:
        admin = glance.client()
        created = admin.post('/v2/tasks', headers={'X-OpenStack-Request-ID': nova_request},
                             json={'type': 'import', 'input': {
                                 # Port 9 is not one web-download may read.
                                 'import_from': 'http://127.0.0.1:9/disk.raw',
                                 'import_from_format': 'raw',
                                 'image_properties': {'container_format': 'bare'}}})
        assert created.status_code == 201, created.text
        request_id = created.headers['x-openstack-request-id']
        _wait_for_line(glance.api.log_path, 'refused to read http://127.0.0.1:9/')
    [refused] = [line for line in _lines(glance.api.log_path)
                 if 'refused to read http://127.0.0.1:9/' in line]
    assert '[%s %s - ' % (nova_request, request_id) in refused, refused


def test_a_request_gunicorn_refuses_is_logged_under_the_id_it_was_answered_with(
        tmp_path):
    # A request line over the limit never reaches the application: gunicorn
    # answers 414 and logs why; the client's id finds that line.
    with deployment.running(tmp_path / 'glance') as glance:
        refused = glance.client().get('/v2/images/' + 'x' * 9000)
        assert refused.status_code == 414
        request_id = refused.headers['x-openstack-request-id']
        # A header name with a space.
        with socket.create_connection(('127.0.0.1', glance.api.port)) as sock:
            sock.sendall(b'GET /versions HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n')
            answer = sock.recv(65536).decode()
        assert answer.startswith('HTTP/1.1 400 '), answer
        header_id = re.search(r'x-openstack-request-id: (req-[0-9a-f-]+)',
                              answer).group(1)
    lines = _lines(glance.api.log_path)
    [line] = [line for line in lines if 'Invalid request from ip=' in line
              and 'too large' in line]
    assert ' %s ' % request_id in line, line
    [line] = [line for line in lines if 'Invalid request from ip=' in line
              and 'Bad Name' in line]
    assert ' %s ' % header_id in line, line


@pytest.mark.parametrize('console_scripts', [False, True],
                         ids=['python -m, as glance-all starts them',
                              'their console scripts'])
def test_with_log_dir_each_daemon_logs_to_the_file_its_command_names(
        tmp_path, console_scripts):
    # Upstream's log_dir without log_file: <log_dir>/glance-api.log and
    # glance-registry.log. oslo.log names the file after the running script:
    # both daemons started with python -m shared "<frozen runpy>.log".
    log_dir = tmp_path / 'logs'
    log_dir.mkdir()
    in_log_dir = {'DEFAULT': {'log_dir': str(log_dir)}}
    with deployment.running(tmp_path / 'glance', api_extra=in_log_dir,
                            registry_extra=in_log_dir,
                            console_scripts=console_scripts):
        pass
    assert sorted(os.listdir(log_dir)) == ['glance-api.log', 'glance-registry.log']
    assert 'glance-api listening on' in (log_dir / 'glance-api.log').read_text()
    assert 'glance-registry listening on' in (
        log_dir / 'glance-registry.log').read_text()


def _wait_for_line(path, text, timeout=15):
    deadline = time.monotonic() + timeout
    while not any(text in line for line in _lines(path)):
        assert time.monotonic() < deadline, '%r never logged in %s' % (text, path)
        time.sleep(0.1)


def test_sighup_rereads_the_config_and_replaces_workers_letting_requests_finish(
        tmp_path):
    # Upstream's daemons reload their config files on SIGHUP: a mutable option
    # (debug) takes effect without a restart, the service answering throughout.
    data = os.urandom(8 * 1024 * 1024)
    with deployment.running(tmp_path / 'glance') as glance, glance.client() as admin:
        image = admin.create_image(name='read-across-sighup')
        assert admin.upload(image['id'], data).status_code == 204
        download = admin.get('/v2/images/%s/file' % image['id'], stream=True)
        chunks = download.iter_content(64 * 1024)
        received = [next(chunks)]
        for daemon in (glance.registry, glance.api):
            daemon.config['DEFAULT']['debug'] = 'true'
            with open(daemon.config_path, 'w') as f:
                f.write(processes.ini(daemon.config))
            os.kill(daemon.process.pid, signal.SIGHUP)
        for daemon in (glance.registry, glance.api):
            _wait_for_line(daemon.log_path,
                           'SIGHUP: configuration reloaded; log level DEBUG')
        # The download begun before the signal finishes on its old worker.
        received.extend(chunks)
        assert b''.join(received) == data
        _wait_for_line(glance.api.log_path, 'Worker exiting')
        assert admin.get('/v2/images/%s' % image['id']).status_code == 200
        _wait_for_line(glance.api.log_path, ' DEBUG glance_api')
        _wait_for_line(glance.registry.log_path, ' DEBUG glance_registry')
        assert glance.api.process.poll() is None
        assert glance.registry.process.poll() is None
