"""The staging sweep against real processes: staged files no import will use (their
image active, deleted or absent) are removed at the API's start and periodically,
once older than staging_sweep_min_age; those of uploading and importing images,
fresh ones and names that are not an image's stay."""

import os
import socket
import threading
import time
import uuid

import pytest

from tests.fixtures import deployment
from tests.functional.test_import import glance_direct, image_tasks, stage

MIN_AGE = 8
DATA = b'staged bytes' * 1000


class HeldServer:
    """A loopback HTTP server that answers every GET with headers and a few bytes
    of a longer body, then holds the connection until ``release``: an import
    reading from it stays ``importing``."""

    def __init__(self):
        self._socket = socket.create_server(('127.0.0.1', 0))
        self.port = self._socket.getsockname()[1]
        self._released = threading.Event()
        self._connections = []
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self):
        return 'http://127.0.0.1:%d/held.raw' % self.port

    def _serve(self):
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self._connections.append(connection)
            connection.recv(65536)
            connection.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n'
                               + b'\0' * 4096)

    def release(self):
        self._socket.close()
        for connection in self._connections:
            connection.close()
        self._connections = []


@pytest.fixture(scope='module')
def held():
    server = HeldServer()
    yield server
    server.release()


@pytest.fixture(scope='module')
def glance(tmp_path_factory, held):
    with deployment.running(
            tmp_path_factory.mktemp('staging-sweep'),
            api_extra={'DEFAULT': {'staging_sweep_interval': 1,
                                   'staging_sweep_min_age': MIN_AGE},
                       'import_filtering_opts': {
                           'allowed_ports': '[%d]' % held.port,
                           'allowed_hosts': '[127.0.0.1]'}}) as glance:
        yield glance


def staging_dir(glance):
    return os.path.join(glance.workdir, 'staging')


def plant(glance, name, data=b'left behind'):
    path = os.path.join(staging_dir(glance), name)
    with open(path, 'wb') as f:
        f.write(data)
    return path


def wait_until(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.2)


def test_staged_files_no_import_uses_are_swept_and_the_others_kept(glance, held):
    with glance.client(deployment.new_project()) as tenant:
        active = tenant.create_image(name='active')
        assert tenant.upload(active['id'], DATA).status_code == 204
        deleted = tenant.create_image(name='deleted')
        assert tenant.delete('/v2/images/%s' % deleted['id']).status_code == 204
        uploading = stage(tenant, DATA)
        importing = tenant.create_image(name='importing')
        response = tenant.post('/v2/images/%s/import' % importing['id'], json={
            'method': {'name': 'web-download', 'uri': held.url}})
        assert response.status_code == 202, response.text
        wait_until(lambda: tenant.image(importing['id'])['status'] == 'importing')

        # What dead workers, or the nodes that had them, left behind.
        gone = [plant(glance, active['id']), plant(glance, deleted['id']),
                plant(glance, '%s.converted-%s' % (deleted['id'], uuid.uuid4().hex)),
                plant(glance, str(uuid.uuid4()))]
        kept = [os.path.join(staging_dir(glance), uploading['id']),
                plant(glance, importing['id']), plant(glance, 'notes.txt')]
        time.sleep(MIN_AGE + 1)
        # Younger than MIN_AGE at the sweeps that remove the others.
        fresh = plant(glance, str(uuid.uuid4()))
        wait_until(lambda: not any(os.path.lexists(path) for path in gone))
        assert all(os.path.exists(path) for path in kept + [fresh])

        with open(glance.api.log_path) as log:
            text = log.read()
        for image_id, why in ((active['id'], 'the image is active'),
                              (deleted['id'], 'no such image, or deleted')):
            assert 'staging sweep: removed %s (11 bytes) of image %s: %s' % (
                image_id, image_id, why) in text

        # The kept staged data is still imported.
        assert glance_direct(tenant, uploading['id'])['status'] == 'active', \
            image_tasks(tenant, uploading['id'])
        assert tenant.get('/v2/images/%s/file' % uploading['id']).content == DATA
        assert tenant.image(importing['id'])['status'] == 'importing'
        held.release()
        wait_until(lambda: tenant.image(importing['id'])['status'] == 'queued')


def test_the_staging_directory_is_swept_when_the_api_starts(tmp_path):
    directory = tmp_path / 'glance' / 'staging'
    directory.mkdir(parents=True, mode=0o700)
    orphan = directory / str(uuid.uuid4())
    orphan.write_bytes(b'left before a restart')
    link_target = tmp_path / 'not-ours'
    link_target.write_bytes(b'precious')
    planted = directory / str(uuid.uuid4())
    planted.symlink_to(link_target)
    with deployment.running(tmp_path / 'glance', api_extra={'DEFAULT': {
            'staging_sweep_interval': 0, 'staging_sweep_min_age': 0}}):
        wait_until(lambda: not os.path.lexists(orphan)
                   and not os.path.lexists(planted))
        with open(os.path.join(tmp_path, 'glance', 'api.log')) as log:
            assert 'removed %s (a symbolic link) of image' % planted.name in log.read()
    assert link_target.read_bytes() == b'precious'
