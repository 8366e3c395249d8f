"""copy-image whose API worker is killed: the next read of the image, once the
task's lease has run out, takes the copy over and runs it again; what the dead
worker left in the target store (its temporary file, the object it may have
committed without recording it) is removed, not in the way. And copies that other
requests race: the image stays active while it is copied, and a location added
or removed meanwhile stays as that request left it."""

import http.server
import os
import signal
import threading
import time

import pytest

from tests.fixtures import deployment
from tests.fixtures import disk_images
from tests.fixtures import web_server
from tests.integration.swift_helpers import api_workers, wait_until

LEASE = 3
#: ``task_stall_time`` of the workers stuck on their web source.
STALL = 1
# Large enough that the copy is still running when the test sees it start.
DATA = disk_images.raw(32 * 1024 * 1024 + 3)


@pytest.fixture(scope='module')
def glance(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('copy-takeover')
    dirs = {name: str(workdir / name) for name in ('home', 'spare')}
    with deployment.running(workdir, api_extra=dict({
            'DEFAULT': {'enabled_backends': 'home:file, spare:file', 'workers': 1,
                        'task_lease_time': LEASE},
            'glance_store': {'default_backend': 'home'}}, **{
            name: {'filesystem_store_datadir': path}
            for name, path in dirs.items()})) as glance:
        glance.dirs = dirs
        yield glance


def test_a_copy_whose_worker_died_is_taken_over_past_what_it_left(glance):
    admin = glance.client()
    image = admin.create_image(name='copy-killed')
    assert admin.upload(image['id'], DATA).status_code == 204
    spare = glance.dirs['spare']
    (worker,) = api_workers(glance)
    assert admin.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'copy-image'}, 'stores': ['spare']}).status_code == 202
    wait_until(lambda: any(name.startswith('.%s.' % image['id'])
                           for name in os.listdir(spare)), 10, interval=0.001,
               message='the copy to start')
    os.kill(worker, signal.SIGKILL)
    # As if it died just after committing the copy, before recording it.
    with open(os.path.join(spare, image['id']), 'wb') as committed:
        committed.write(b'what the dead worker committed')
    wait_until(lambda: api_workers(glance) not in ([], [worker]), 30,
               message='gunicorn to start a new worker')
    time.sleep(LEASE + 0.5)
    wait_until(lambda: admin.image(image['id'])['stores'] == 'home,spare' or
               admin.get('/v2/images/%s/tasks' % image['id']).json()['tasks'][0][
                   'status'] == 'failure', 30, message='the copy to end')
    [task] = admin.get('/v2/images/%s/tasks' % image['id']).json()['tasks']
    assert task['status'] == 'success', task
    assert admin.image(image['id'])['stores'] == 'home,spare'
    assert os.listdir(spare) == [image['id']]
    with open(os.path.join(spare, image['id']), 'rb') as copied:
        assert copied.read() == DATA


#: What _Source sends before it stalls: whole chunks of the API's reads
#: (upload_chunk_size), so that a read breaking off there yields nothing more.
_FIRST_PART = 16 * 1024 * 1024


class _Source(http.server.BaseHTTPRequestHandler):
    """Serves ``DATA``; the ``n``th GET sends its first part, then waits for
    ``gates[n]`` (when there is one) before the rest, or before it breaks the
    connection off if ``n`` is in ``breaks``: a web server that stalls."""

    protocol_version = 'HTTP/1.1'
    gates = {}
    breaks = set()
    served = []

    def do_GET(self):   # noqa: N802 -- http.server's name
        index = len(self.served)
        gate = self.gates.get(index)
        self.served.append(self.path)
        self.send_response(200)
        self.send_header('Content-Length', str(len(DATA)))
        self.end_headers()
        self.wfile.write(DATA[:_FIRST_PART])
        self.wfile.flush()
        if gate is not None:
            gate.wait(60)
        if index in self.breaks:
            self.close_connection = True
            return
        try:
            self.wfile.write(DATA[_FIRST_PART:])
        except OSError:
            pass

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def source():
    with web_server.running(handler=_Source) as server:
        yield server.url + '/disk.raw'
        for gate in _Source.gates.values():
            gate.set()


@pytest.fixture(scope='module')
def web_glance(tmp_path_factory, source):
    """Two file stores and an http store, whose web locations copy-image reads;
    the locations shown (and patched)."""
    workdir = tmp_path_factory.mktemp('copy-from-web')
    dirs = {name: str(workdir / name) for name in ('home', 'spare')}
    port = source.split(':')[2].split('/')[0]
    with deployment.running(workdir, api_extra=dict({
            'DEFAULT': {'enabled_backends': 'home:file, spare:file, web:http',
                        'workers': 1, 'task_lease_time': LEASE,
                        'task_stall_time': STALL, 'show_multiple_locations': True},
            'glance_store': {'default_backend': 'home'},
            'import_filtering_opts': {'allowed_ports': port,
                                      'allowed_hosts': '127.0.0.1'}}, **{
            name: {'filesystem_store_datadir': path}
            for name, path in dirs.items()})) as glance:
        glance.dirs = dirs
        yield glance


def active_at(admin, url, name):
    """A new image named ``name`` whose data is at the web location ``url``, once
    that location is verified and the image active."""
    image = admin.create_image(name=name)
    assert admin.post('/v2/images/%s/locations' % image['id'],
                      json={'url': url}).status_code == 202
    wait_until(lambda: admin.image(image['id'])['status'] == 'active', 30)
    return image


@pytest.mark.parametrize('source_breaks_off', [False, True])
def test_a_copy_that_lost_its_task_leaves_the_new_workers_copies_alone(
        web_glance, source, source_breaks_off):
    glance = web_glance
    admin = glance.client()
    image = active_at(admin, source, 'copied-from-web')
    # The copy reads the web location once per store, home first; its read for
    # spare stalls past task_stall_time and the lease, after its copy to home is
    # committed.
    first = len(_Source.served)
    stall = _Source.gates[first + 1] = threading.Event()
    if source_breaks_off:
        _Source.breaks.add(first + 1)
    assert admin.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'copy-image'}, 'stores': ['home', 'spare']}).status_code \
        == 202
    wait_until(lambda: len(_Source.served) == first + 2, 10,
               message='the copy to spare to start')
    time.sleep(STALL + LEASE + 0.5)
    # A read takes the copy over; the new worker copies to both stores and
    # records them.
    admin.image(image['id'])
    tasks = '/v2/images/%s/tasks' % image['id']
    wait_until(lambda: admin.get(tasks).json()['tasks'][0]['status'] == 'success',
               30, message='the copy taken over to end')
    assert admin.image(image['id'])['stores'] == 'web,home,spare'
    # The first worker's source goes on (it finds the task no longer its own), or
    # breaks off (its copy fails): either way it must not remove the objects it
    # wrote, whose names the new worker's copies have (the home copy, recorded).
    stall.set()
    wait_until(lambda: not [name for name in os.listdir(glance.dirs['spare'])
                            if name.startswith('.%s.' % image['id'])], 10,
               message="the first worker's temporary file to go")
    time.sleep(0.5)
    for store in ('home', 'spare'):
        assert [name for name in os.listdir(glance.dirs[store])
                if image['id'] in name] == [image['id']]
        response = admin.get('/v2/images/%s/file?prefer=%s' % (image['id'], store))
        assert response.status_code == 200
        assert response.content == DATA


def test_a_copy_given_up_leaves_nothing_its_last_worker_committed(web_glance, source):
    glance = web_glance
    admin = glance.client()
    image = active_at(admin, source, 'copy-given-up')
    # Each worker copies to home, commits, then stalls on its read for spare past
    # task_stall_time and the lease; the next read of the image takes the copy over, three times, and
    # then gives it up.
    first = len(_Source.served)
    stalls = [threading.Event() for _ in range(3)]
    for n, stall in enumerate(stalls):
        _Source.gates[first + 2 * n + 1] = stall
    try:
        assert admin.post('/v2/images/%s/import' % image['id'], json={
            'method': {'name': 'copy-image'},
            'stores': ['home', 'spare']}).status_code == 202
        tasks = '/v2/images/%s/tasks' % image['id']
        for n in range(3):
            wait_until(lambda: len(_Source.served) == first + 2 * n + 2, 10,
                       message='copy %d to stall' % (n + 1))
            time.sleep(STALL + LEASE + 0.5)
            admin.image(image['id'])
        wait_until(lambda: admin.get(tasks).json()['tasks'][0]['status'] ==
                   'failure', 10, message='the copy to be given up')
        assert admin.image(image['id'])['stores'] == 'web'
        # What the last worker committed to home, never recorded, is gone.
        assert [name for name in os.listdir(glance.dirs['home'])
                if image['id'] in name] == []
    finally:
        for stall in stalls:
            stall.set()
    wait_until(lambda: not [name for name in os.listdir(glance.dirs['spare'])
                            if image['id'] in name], 10,
               message="the stalled workers' temporary files to go")
    # Nothing in the way of the next copy.
    assert admin.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'copy-image'}, 'stores': ['home']}).status_code == 202
    wait_until(lambda: admin.image(image['id'])['stores'] == 'web,home', 30,
               message='the next copy')


def _copy_held_at_its_source(admin, image_id, store_id):
    """Start copying ``image_id`` (active at the web location only) to
    ``store_id``; once the copy is reading its source, which then stalls: the
    event that lets the source go on."""
    first = len(_Source.served)
    stall = _Source.gates[first] = threading.Event()
    assert admin.post('/v2/images/%s/import' % image_id, json={
        'method': {'name': 'copy-image'}, 'stores': [store_id]}).status_code == 202
    wait_until(lambda: len(_Source.served) == first + 1, 10,
               message='the copy to start reading')
    return stall


def _copied(admin, image_id):
    tasks = '/v2/images/%s/tasks' % image_id
    wait_until(lambda: admin.get(tasks).json()['tasks'][0]['status'] != 'processing',
               30, message='the copy to end')
    assert admin.get(tasks).json()['tasks'][0]['status'] == 'success'
    return admin.image(image_id)


def test_a_location_added_during_a_copy_stays(web_glance, source):
    # The copy's end used to write the locations it read when it started, plus
    # its own: the location added meanwhile (200) was dropped, its data left
    # to the deleted-data sweep.
    glance = web_glance
    admin = glance.client()
    image = active_at(admin, source, 'added-during-copy')
    placed = os.path.join(glance.dirs['spare'], 'placed')
    with open(placed, 'wb') as f:
        f.write(DATA)
    stall = _copy_held_at_its_source(admin, image['id'], 'home')
    try:
        added = admin.patch_image(image['id'], [{
            'op': 'add', 'path': '/locations/-',
            'value': {'url': 'file://' + placed, 'metadata': {}}}])
        assert added.status_code == 200, added.text
    finally:
        stall.set()
    copied = _copied(admin, image['id'])
    home = 'file://' + os.path.join(glance.dirs['home'], image['id'])
    assert [location['url'] for location in copied['locations']] == [
        source, 'file://' + placed, home]
    assert copied['stores'] == 'web,spare,home'
    with open(placed, 'rb') as f:
        assert f.read() == DATA
    assert admin.delete('/v2/images/%s' % image['id']).status_code == 204


def test_a_location_removed_during_a_copy_stays_removed(web_glance, source):
    # The copy's end used to write back the locations it read when it started:
    # the copy removed meanwhile (204, its file gone) was the image's again, a
    # location without data.
    glance = web_glance
    admin = glance.client()
    image = active_at(admin, source, 'removed-during-copy')
    assert admin.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'copy-image'}, 'stores': ['spare']}).status_code == 202
    wait_until(lambda: admin.image(image['id'])['stores'] == 'web,spare', 30,
               message='the first copy')
    stall = _copy_held_at_its_source(admin, image['id'], 'home')
    try:
        removed = admin.delete('/v2/stores/spare/%s' % image['id'])
        assert removed.status_code == 204, removed.text
        assert not os.path.exists(os.path.join(glance.dirs['spare'], image['id']))
    finally:
        stall.set()
    copied = _copied(admin, image['id'])
    assert copied['stores'] == 'web,home'
    assert [location['url'] for location in copied['locations']] == [
        source, 'file://' + os.path.join(glance.dirs['home'], image['id'])]
    assert not os.path.exists(os.path.join(glance.dirs['spare'], image['id']))
    assert admin.delete('/v2/images/%s' % image['id']).status_code == 204
