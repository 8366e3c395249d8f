"""``glance-all``: both daemons from one command, on the embedded default."""

import os
import signal
import subprocess
import sys
import threading
import time

import requests

from tests.fixtures import processes


def wait_for(url, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, 'glance-all exited %s' % process.returncode
        try:
            return requests.get(url, timeout=1)
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError('%s never answered' % url)


def test_glance_all_serves_creates_its_database_and_stops_on_sigterm(tmp_path):
    api_port, registry_port = processes.free_port(), processes.free_port()
    data_dir = tmp_path / 'data'
    glance_all = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), 'glance-all'),
         '--data-dir', str(data_dir), '--port', str(api_port),
         '--registry-port', str(registry_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
        # glance-all says it is ready after its own check, which may come after
        # the API first answered us.
        deadline = time.monotonic() + 30
        while not any('ready:' in line for line in list(lines)):
            assert time.monotonic() < deadline, ''.join(lines)
            time.sleep(0.1)
    finally:
        glance_all.send_signal(signal.SIGTERM)
        glance_all.wait(timeout=60)
        reader.join(timeout=10)
    output = ''.join(lines)
    assert glance_all.returncode == 0, output
    assert 'image data: %s' % (data_dir / 'images') in output
    assert 'ready: Images API v2 at http://127.0.0.1:%d/' % api_port in output
    for port in (api_port, registry_port):
        try:
            requests.get('http://127.0.0.1:%d/' % port, timeout=1)
        except requests.ConnectionError:
            continue
        raise AssertionError('port %d still answers after SIGTERM' % port)
