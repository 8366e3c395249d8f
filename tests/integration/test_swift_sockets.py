"""An API worker on the Swift store keeps no connection to Swift after the request
that used it: its sockets to the proxy do not grow with the uploads, downloads and
deletes it serves (one worker of a real deployment, counted through /proc)."""

import os
import uuid

import pytest

from tests.fixtures import deployment
from tests.fixtures import disk_images
from tests.integration.swift_helpers import MiB, api_workers, swift_store_options

pytestmark = pytest.mark.swift

SEGMENT = MiB
ROUNDS = 8


@pytest.fixture(scope='module')
def swift_glance(swift_service, tmp_path_factory):
    """One API worker whose only store is the suite's Swift, in 1 MiB segments."""
    workdir = tmp_path_factory.mktemp('swift-sockets')
    options = swift_store_options(swift_service, workdir,
                                  'glance-%s' % uuid.uuid4().hex[:8], SEGMENT)
    options['default_store'] = 'swift'
    with deployment.running(workdir, api_extra={'DEFAULT': {'workers': 1},
                                                'glance_store': options}) as glance:
        yield glance


def _sockets(pid):
    """How many sockets ``pid`` holds open (the worker's listening socket, its
    registry connections and any to Swift)."""
    fd_dir = '/proc/%d/fd' % pid
    count = 0
    for fd in os.listdir(fd_dir):
        try:
            count += os.readlink(os.path.join(fd_dir, fd)).startswith('socket:')
        except OSError:
            pass   # closed meanwhile
    return count


def _round(client, data):
    """Upload (one segmented image, one single object), download whole and in
    part, delete: each talks to Swift."""
    for payload in (data, data[:1000]):
        image_id = client.create_image(name='sockets')['id']
        assert client.upload(image_id, payload).status_code == 204
        response = client.get('/v2/images/%s/file' % image_id)
        assert response.status_code == 200 and response.content == payload
        response = client.get('/v2/images/%s/file' % image_id,
                              headers={'Range': 'bytes=10-99'})
        assert response.status_code == 206
        assert client.delete('/v2/images/%s' % image_id).status_code == 204


def test_requests_to_swift_leave_no_socket_open(swift_glance):
    """swiftclient's ``Connection.close`` leaves the sockets of urllib3 2's pools to
    the garbage collector, which a worker may not run for hours: every request
    that used Swift would hold one (in CLOSE_WAIT once Swift gives up on it)."""
    data = disk_images.raw(2 * SEGMENT + 100)
    [worker] = api_workers(swift_glance)
    with swift_glance.client() as client:
        _round(client, data)   # the worker's registry connections, made once
        baseline = _sockets(worker)
        for _ in range(ROUNDS):
            _round(client, data)
        assert _sockets(worker) <= baseline
