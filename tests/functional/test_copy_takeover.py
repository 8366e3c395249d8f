"""copy-image whose API worker is killed: the next read of the image, once the
task's lease has run out, takes the copy over and runs it again; what the dead
worker left in the target store (its temporary file, the object it may have
committed without recording it) is removed, not in the way."""

import os
import signal
import time

import pytest

from tests.fixtures import deployment
from tests.fixtures import disk_images
from tests.integration.swift_helpers import api_workers, wait_until

LEASE = 3
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
