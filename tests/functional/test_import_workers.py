"""Import tasks on one API worker's bounded runner: beyond its threads and queue a
new import is refused with 503 and nothing written; an import whose worker is
killed (or stuck for task_stall_time) is taken over by the next read of its image
once its lease has run out, and one whose source only pauses is not.

Uses its own deployment: one API worker with one task thread and no queue, a short
task lease, and a loopback server whose answers the test holds back.
"""

import http.server
import os
import signal
import threading
import time

import pytest

from tests.fixtures import deployment
from tests.fixtures import disk_images
from tests.fixtures import web_server
from tests.fixtures.raw_http import RawUpload
from tests.integration.swift_helpers import api_workers, wait_until

LEASE = 3
DATA = disk_images.raw(2 * 1024 * 1024 + 11)


class _Held(http.server.BaseHTTPRequestHandler):
    """Sends the first 64 KiB of ``DATA`` at once, the rest once ``release`` is
    set."""

    release = threading.Event()

    def do_GET(self):   # noqa: N802 -- http.server's name
        self.send_response(200)
        self.send_header('Content-Length', str(len(DATA)))
        self.end_headers()
        self.wfile.write(DATA[:65536])
        self.wfile.flush()
        self.release.wait(60)
        try:
            self.wfile.write(DATA[65536:])
        except OSError:
            pass   # the worker reading it was killed

    def log_message(self, *args):
        pass


class _Trickling(http.server.BaseHTTPRequestHandler):
    """Sends zeros, ``/<n>`` bytes every 50 ms, for a minute at most; ``dropped``
    is set once the client stops reading."""

    dropped = threading.Event()

    def do_GET(self):   # noqa: N802 -- http.server's name
        pieces, size = 1200, int(self.path.strip('/'))
        self.send_response(200)
        self.send_header('Content-Length', str(pieces * size))
        self.end_headers()
        try:
            for _ in range(pieces):
                self.wfile.write(bytes(size))
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            self.dropped.set()

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def trickling_server():
    with web_server.running(handler=_Trickling) as server:
        yield server


@pytest.fixture(scope='module')
def held_server():
    with web_server.running(handler=_Held) as server:
        yield server.url + '/disk.raw'
        _Held.release.set()


@pytest.fixture(scope='module')
def glance(tmp_path_factory, held_server, trickling_server):
    port = held_server.split(':')[2].split('/')[0]
    with deployment.running(tmp_path_factory.mktemp('import-workers'), api_extra={
            'DEFAULT': {'workers': 1, 'task_pool_threads': 1,
                        'task_pool_queue_size': 0, 'task_lease_time': LEASE,
                        'upload_lease_time': LEASE},
            'import_filtering_opts': {'allowed_ports': '[%s,%d]' % (
                                          port, trickling_server.port),
                                      'allowed_hosts': '127.0.0.1'}}) as glance:
        yield glance


@pytest.fixture
def tenant(glance):
    with glance.client(deployment.new_project()) as client:
        yield client


def web_download(tenant, image_id, uri):
    return tenant.post('/v2/images/%s/import' % image_id,
                       json={'method': {'name': 'web-download', 'uri': uri}})


def task_of(tenant, image_id):
    tasks = tenant.get('/v2/images/%s/tasks' % image_id).json()['tasks']
    return tasks[0] if tasks else None


def test_an_import_beyond_the_runner_is_refused_with_nothing_written(
        glance, tenant, held_server):
    _Held.release.clear()
    first = tenant.create_image(name='holds-the-thread')
    assert web_download(tenant, first['id'], held_server).status_code == 202
    wait_until(lambda: tenant.image(first['id'])['status'] == 'importing', 10)

    second = tenant.create_image(name='refused')
    staged = tenant.put('/v2/images/%s/stage' % second['id'], data=DATA,
                        headers={'Content-Type': 'application/octet-stream'})
    assert staged.status_code == 204
    refused = tenant.post('/v2/images/%s/import' % second['id'],
                          json={'method': {'name': 'glance-direct'}})
    assert refused.status_code == 503
    assert 'background tasks' in refused.json()['message']
    after = tenant.image(second['id'])
    assert after['status'] == 'uploading'
    assert 'os_glance_import_task' not in after
    assert task_of(tenant, second['id']) is None

    # The verification of an added location waits for the same runner.
    placed = os.path.join(glance.datadir, 'placed-by-hand')
    with open(placed, 'wb') as f:
        f.write(DATA)
    third = tenant.create_image(name='location')
    added = tenant.post('/v2/images/%s/locations' % third['id'],
                        json={'url': 'file://' + placed})
    assert added.status_code == 503
    assert 'background tasks' in added.json()['message']
    assert tenant.image(third['id'])['status'] == 'queued'

    _Held.release.set()
    wait_until(lambda: tenant.image(first['id'])['status'] == 'active', 30)
    # Room again: the refused import can be retried.
    again = tenant.post('/v2/images/%s/import' % second['id'],
                        json={'method': {'name': 'glance-direct'}})
    assert again.status_code == 202
    wait_until(lambda: tenant.image(second['id'])['status'] == 'active', 30)


def test_a_web_download_streams_into_the_store_and_stages_nothing(
        glance, tenant, held_server):
    _Held.release.clear()
    image = tenant.create_image(name='streamed')
    staging = os.path.join(glance.workdir, 'staging')
    assert web_download(tenant, image['id'], held_server).status_code == 202
    # Half-way: the first bytes are in the store's temporary file, none staged.
    wait_until(lambda: any(name.startswith('.%s.' % image['id'])
                           for name in os.listdir(glance.datadir)), 10,
               message="the store's temporary file")
    assert not [name for name in os.listdir(staging) if image['id'] in name]
    _Held.release.set()
    wait_until(lambda: tenant.image(image['id'])['status'] == 'active', 30)
    assert tenant.get('/v2/images/%s/file' % image['id']).content == DATA
    assert [name for name in os.listdir(glance.datadir) if image['id'] in name] == \
        [image['id']]


def test_an_import_whose_worker_died_is_taken_over(glance, tenant, held_server):
    _Held.release.clear()
    image = tenant.create_image(name='taken-over')
    (worker,) = api_workers(glance)
    assert web_download(tenant, image['id'], held_server).status_code == 202
    wait_until(lambda: (task_of(tenant, image['id']) or {}).get('status')
               == 'processing', 10)
    os.kill(worker, signal.SIGKILL)
    # As if it died just after committing the image's object, before recording it.
    with open(os.path.join(glance.datadir, image['id']), 'wb') as committed:
        committed.write(b'what the dead worker committed')
    wait_until(lambda: api_workers(glance) not in ([], [worker]), 30,
               message='gunicorn to start a new worker')
    _Held.release.set()
    time.sleep(LEASE + 0.5)
    # A read of the image on any worker takes the import over and runs it again:
    # the object nothing recorded is removed, not in the way.
    wait_until(lambda: tenant.image(image['id'])['status'] in ('active', 'queued'),
               30)
    assert tenant.image(image['id'])['status'] == 'active', task_of(tenant, image['id'])
    assert tenant.get('/v2/images/%s/file' % image['id']).content == DATA
    # The dead worker's partial file is gone with it.
    assert [name for name in os.listdir(glance.datadir) if image['id'] in name] == \
        [image['id']]
    task = task_of(tenant, image['id'])
    assert task['status'] == 'success'
    admin = glance.client()
    assert admin.get('/v2/tasks/%s' % task['id']).json()['status'] == 'success'


def test_a_stage_cut_short_by_a_killed_worker_is_taken_over(glance, tenant):
    image = tenant.create_image(name='stage-killed')
    staging = os.path.join(glance.workdir, 'staging')
    (worker,) = api_workers(glance)
    upload = RawUpload(glance.url, image['id'], target='stage')
    try:
        assert upload.send(DATA[:1024 * 1024])
        wait_until(lambda: any(image['id'] in name and name.endswith('.tmp')
                               for name in os.listdir(staging)), 10,
                   message='the staging temporary file')
        os.kill(worker, signal.SIGKILL)
    finally:
        upload.close()
    wait_until(lambda: api_workers(glance) not in ([], [worker]), 30,
               message='gunicorn to start a new worker')
    assert tenant.image(image['id'])['status'] == 'uploading'
    time.sleep(LEASE + 0.5)
    staged = tenant.put('/v2/images/%s/stage' % image['id'], data=DATA,
                        headers={'Content-Type': 'application/octet-stream'})
    assert staged.status_code == 204, staged.text
    # The dead stage's temporary file is gone; the new stage's data is staged.
    assert [name for name in os.listdir(staging) if image['id'] in name] == \
        [image['id']]
    tenant.post('/v2/images/%s/import' % image['id'],
                json={'method': {'name': 'glance-direct'}})
    wait_until(lambda: tenant.image(image['id'])['status'] == 'active', 30)
    assert tenant.get('/v2/images/%s/file' % image['id']).content == DATA


def test_an_image_deleted_during_its_web_download_keeps_no_byte(
        glance, tenant, held_server):
    _Held.release.clear()
    image = tenant.create_image(name='deleted-mid-import')
    assert web_download(tenant, image['id'], held_server).status_code == 202
    wait_until(lambda: any(name.startswith('.%s.' % image['id'])
                           for name in os.listdir(glance.datadir)), 10,
               message="the store's temporary file")
    task_id = task_of(tenant, image['id'])['id']
    assert tenant.delete('/v2/images/%s' % image['id']).status_code == 204
    _Held.release.set()
    admin = glance.client()
    wait_until(lambda: not [name for name in os.listdir(glance.datadir)
                            if image['id'] in name], 30,
               message='the deleted image\'s data to go')
    staging = os.path.join(glance.workdir, 'staging')
    assert not [name for name in os.listdir(staging) if image['id'] in name]
    wait_until(lambda: admin.get('/v2/tasks/%s' % task_id).json()['status']
               == 'failure', 30, message='the task to fail')
    assert admin.get('/v2/tasks/%s' % task_id).json()['message'] == \
        'Image %s was deleted during the import.' % image['id']


@pytest.mark.parametrize('piece', [65536, 1])
def test_deleting_an_image_stops_its_web_download(glance, tenant, trickling_server,
                                                  piece):
    # The import learns of the delete when it next renews its lease: it stops
    # reading the source then, rather than download (and store) the rest of an
    # image nobody can use, holding one of the runner's threads meanwhile. A
    # source that trickles a byte at a time is seen moving too, not waited on
    # until a whole chunk has come.
    _Trickling.dropped.clear()
    image = tenant.create_image(name='deleted-while-downloading')
    source = '%s/%d' % (trickling_server.url, piece)
    assert web_download(tenant, image['id'], source).status_code == 202
    wait_until(lambda: any(name.startswith('.%s.' % image['id'])
                           for name in os.listdir(glance.datadir)), 10,
               message="the store's temporary file")
    task_id = task_of(tenant, image['id'])['id']
    assert tenant.delete('/v2/images/%s' % image['id']).status_code == 204
    admin = glance.client()
    wait_until(lambda: admin.get('/v2/tasks/%s' % task_id).json()['status']
               == 'failure', 3 * LEASE, message='the import to stop')
    assert admin.get('/v2/tasks/%s' % task_id).json()['message'] == \
        'Image %s was deleted during the import.' % image['id']
    assert _Trickling.dropped.wait(10), 'the source is still being read'
    assert not [name for name in os.listdir(glance.datadir) if image['id'] in name]
    staging = os.path.join(glance.workdir, 'staging')
    assert not [name for name in os.listdir(staging) if image['id'] in name]


def test_an_image_deleted_after_its_import_worker_died_keeps_no_byte(
        glance, tenant, held_server):
    _Held.release.clear()
    image = tenant.create_image(name='dead-import-deleted')
    (worker,) = api_workers(glance)
    assert web_download(tenant, image['id'], held_server).status_code == 202
    wait_until(lambda: any(name.startswith('.%s.' % image['id'])
                           for name in os.listdir(glance.datadir)), 10,
               message="the store's temporary file")
    os.kill(worker, signal.SIGKILL)
    # As if it died just after committing the image's object, before recording it.
    with open(os.path.join(glance.datadir, image['id']), 'wb') as committed:
        committed.write(b'what the dead worker committed')
    wait_until(lambda: api_workers(glance) not in ([], [worker]), 30,
               message='gunicorn to start a new worker')
    _Held.release.set()
    # Deleted with nothing reading it first, so not taken over: the delete
    # removes what the dead worker left, as it does for a dead upload's image.
    assert tenant.delete('/v2/images/%s' % image['id']).status_code == 204
    assert [name for name in os.listdir(glance.datadir) if image['id'] in name] == []


def test_the_task_of_an_image_deleted_after_its_worker_died_fails(
        glance, tenant, held_server):
    # No worker renews it, and the image cannot be read to take it over: the
    # next read of the task ends it, rather than leave it processing for good
    # (a running task never expires).
    _Held.release.clear()
    image = tenant.create_image(name='dead-import-orphaned')
    (worker,) = api_workers(glance)
    assert web_download(tenant, image['id'], held_server).status_code == 202
    wait_until(lambda: (task_of(tenant, image['id']) or {}).get('status')
               == 'processing', 10)
    task_id = task_of(tenant, image['id'])['id']
    os.kill(worker, signal.SIGKILL)
    wait_until(lambda: api_workers(glance) not in ([], [worker]), 30,
               message='gunicorn to start a new worker')
    _Held.release.set()
    assert tenant.delete('/v2/images/%s' % image['id']).status_code == 204
    time.sleep(LEASE + 0.5)
    admin = glance.client()
    wait_until(lambda: admin.get('/v2/tasks/%s' % task_id).json()['status']
               == 'failure', 10, message='the task to fail')
    task = admin.get('/v2/tasks/%s' % task_id).json()
    assert task['message'] == ('Image %s was deleted while the worker running its '
                               'import was gone.' % image['id'])
    assert task['expires_at']


@pytest.fixture(scope='module')
def sweeping_glance(tmp_path_factory, held_server):
    """One API worker whose sweep of deleted images runs every second."""
    port = held_server.split(':')[2].split('/')[0]
    with deployment.running(tmp_path_factory.mktemp('import-sweep'), api_extra={
            'DEFAULT': {'workers': 1, 'task_lease_time': LEASE,
                        'deleted_data_sweep_interval': 1},
            'import_filtering_opts': {'allowed_ports': port,
                                      'allowed_hosts': '127.0.0.1'}}) as glance:
        yield glance


def test_the_unread_task_of_an_image_deleted_after_its_worker_died_fails(
        sweeping_glance, held_server):
    # Nobody reads the task (listing tasks takes none over): the sweep of
    # deleted images fails it, rather than leave it processing for good.
    glance = sweeping_glance
    _Held.release.clear()
    with glance.client(deployment.new_project()) as tenant:
        image = tenant.create_image(name='dead-import-unread')
        (worker,) = api_workers(glance)
        assert web_download(tenant, image['id'], held_server).status_code == 202
        wait_until(lambda: (task_of(tenant, image['id']) or {}).get('status')
                   == 'processing', 10)
        task_id = task_of(tenant, image['id'])['id']
        os.kill(worker, signal.SIGKILL)
        wait_until(lambda: api_workers(glance) not in ([], [worker]), 30,
                   message='gunicorn to start a new worker')
        _Held.release.set()
        assert tenant.delete('/v2/images/%s' % image['id']).status_code == 204
    admin = glance.client()
    listed = lambda: {task['id']: task['status']   # noqa: E731
                      for task in admin.get('/v2/tasks').json()['tasks']}
    assert listed()[task_id] == 'processing'
    wait_until(lambda: listed()[task_id] == 'failure', LEASE + 10,
               message='the sweep to fail the task')
    task = admin.get('/v2/tasks/%s' % task_id).json()
    assert task['message'] == ('Image %s was deleted while the worker running its '
                               'import was gone.' % image['id'])
    assert task['expires_at']
    assert [name for name in os.listdir(glance.datadir) if image['id'] in name] == []


@pytest.fixture(scope='module')
def queueing_glance(tmp_path_factory, held_server):
    """One API worker with one task thread and room for one task in its queue."""
    port = held_server.split(':')[2].split('/')[0]
    with deployment.running(tmp_path_factory.mktemp('import-queue'), api_extra={
            'DEFAULT': {'workers': 1, 'task_pool_threads': 1,
                        'task_pool_queue_size': 1},
            'import_filtering_opts': {'allowed_ports': port,
                                      'allowed_hosts': '127.0.0.1'}}) as glance:
        yield glance


def test_a_legacy_import_task_is_pending_until_the_runner_starts_it(
        queueing_glance, held_server):
    # As upstream: 201 with a pending task, processing once a worker runs it.
    _Held.release.clear()
    admin = queueing_glance.client()

    def legacy_task(name):
        response = admin.post('/v2/tasks', json={'type': 'import', 'input': {
            'import_from': held_server, 'import_from_format': 'raw',
            'image_properties': {'name': name, 'container_format': 'bare'}}})
        assert response.status_code == 201, response.text
        return response.json()

    def status(task):
        return admin.get('/v2/tasks/%s' % task['id']).json()['status']

    first = legacy_task('holds-the-thread')
    assert first['status'] == 'pending'
    wait_until(lambda: status(first) == 'processing', 10)
    queued = legacy_task('queued')
    assert queued['status'] == 'pending'
    time.sleep(1)
    assert status(queued) == 'pending'
    assert status(first) == 'processing'
    _Held.release.set()
    wait_until(lambda: (status(first), status(queued)) == ('success', 'success'),
               30)
    assert admin.image(queued['image_id'])['status'] == 'active'


#: Whole chunks of the API's reads (upload_chunk_size): the last is read before
#: the body ends.
WHOLE_CHUNKS = disk_images.raw(2 * 1024 * 1024)


class _HeldEnd(http.server.BaseHTTPRequestHandler):
    """Sends all of ``WHOLE_CHUNKS`` at once in one chunk, and the chunk that ends
    the body of the ``n``th request once ``ends[n]`` is set: a web server that
    stalls before its body ends."""

    protocol_version = 'HTTP/1.1'
    ends = []
    lock = threading.Lock()

    def do_GET(self):   # noqa: N802 -- http.server's name
        with self.lock:
            end = threading.Event()
            self.ends.append(end)
        self.send_response(200)
        self.send_header('Transfer-Encoding', 'chunked')
        self.end_headers()
        self.wfile.write(b'%x\r\n%s\r\n' % (len(WHOLE_CHUNKS), WHOLE_CHUNKS))
        self.wfile.flush()
        end.wait(60)
        try:
            self.wfile.write(b'0\r\n\r\n')
        except OSError:
            pass
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def stalling_server():
    with web_server.running(handler=_HeldEnd) as server:
        yield server.url + '/disk.raw'
        for end in _HeldEnd.ends:
            end.set()


def _two_threads(workdir, source, **options):
    """One API worker with two task threads (room to take an import over while
    the worker that lost it still runs) and a short task lease."""
    port = source.split(':')[2].split('/')[0]
    return deployment.running(workdir, api_extra={
        'DEFAULT': dict({'workers': 1, 'task_pool_threads': 2,
                         'task_lease_time': LEASE}, **options),
        'import_filtering_opts': {'allowed_ports': port,
                                  'allowed_hosts': '127.0.0.1'}})


#: ``task_stall_time`` of the worker that gets stuck on its source.
STALL = 1


@pytest.fixture(scope='module')
def two_thread_glance(tmp_path_factory, stalling_server):
    with _two_threads(tmp_path_factory.mktemp('import-stalled'), stalling_server,
                      task_stall_time=STALL) as glance:
        yield glance


@pytest.fixture(scope='module')
def patient_glance(tmp_path_factory, stalling_server):
    """As ``two_thread_glance``, waiting on a source as long as by default."""
    with _two_threads(tmp_path_factory.mktemp('import-paused'),
                      stalling_server) as glance:
        yield glance


def _held_download(tenant, source, name):
    """A new image named ``name`` whose web-download from ``source`` has begun (its
    body held at ``_HeldEnd.ends[first]``); ``(image, first)``."""
    image = tenant.create_image(name=name)
    first = len(_HeldEnd.ends)
    assert web_download(tenant, image['id'], source).status_code == 202
    wait_until(lambda: len(_HeldEnd.ends) == first + 1, 10, message='the download')
    return image, first


def test_a_source_that_pauses_longer_than_the_lease_keeps_its_import(
        patient_glance, stalling_server):
    glance = patient_glance
    with glance.client(deployment.new_project()) as tenant:
        image, first = _held_download(tenant, stalling_server, 'paused-source')
        # The worker is alive and waiting on its source (whose reads may wait
        # 120 s): it keeps its lease.
        tenant.polls_importing(image['id'], 2 * LEASE + 1)
        assert len(_HeldEnd.ends) == first + 1
        _HeldEnd.ends[first].set()
        wait_until(lambda: tenant.image(image['id'])['status'] != 'importing', 30)
        task = task_of(tenant, image['id'])
        assert task['status'] == 'success', task
        assert tenant.image(image['id'])['status'] == 'active'
        assert len(_HeldEnd.ends) == first + 1


def test_a_worker_stuck_on_its_source_past_the_stall_time_commits_nothing(
        two_thread_glance, stalling_server):
    glance = two_thread_glance
    with glance.client(deployment.new_project()) as tenant:
        image, first = _held_download(tenant, stalling_server, 'stalled-source')
        # The source stalls past task_stall_time, and then the task's lease runs
        # out: the next read of the image takes the import over, on the other
        # thread, while the first still waits.
        time.sleep(STALL + LEASE + 0.5)
        assert tenant.image(image['id'])['status'] == 'importing'
        wait_until(lambda: len(_HeldEnd.ends) == first + 2, 10,
                   message='the takeover')
        # The first download ends first: its worker no longer holds the task and
        # must not commit the image's object, which the other commits.
        _HeldEnd.ends[first].set()
        time.sleep(1)
        _HeldEnd.ends[first + 1].set()
        wait_until(lambda: tenant.image(image['id'])['status'] != 'importing', 30)
        assert tenant.image(image['id'])['status'] == 'active', \
            task_of(tenant, image['id'])
        assert tenant.get('/v2/images/%s/file' % image['id']).content == \
            WHOLE_CHUNKS
        wait_until(lambda: [name for name in os.listdir(glance.datadir)
                            if image['id'] in name] == [image['id']], 10,
                   message="the first worker's temporary file to go")
