"""copy-image to several stores when one of them fails: with
``all_stores_must_succeed = false`` the image keeps the copies that were made and
names the failed store in ``os_glance_failed_import``; with ``true`` (the default)
the import fails and leaves no copy behind, as upstream."""

import os
import shutil
import signal
import time

import pytest

from tests.fixtures import deployment
from tests.fixtures import disk_images
from tests.functional.test_import import image_tasks

DATA = disk_images.raw(300 * 1024 + 5)


@pytest.fixture(scope='module')
def three(tmp_path_factory):
    """File stores ``home`` (the default), ``spare`` and ``broken``; ``broken``'s
    directory becomes a plain file once the API has started, so that every write
    to it fails (ENOTDIR), as a lost mount would. Writes to the other stores
    keep working: the registry judges locations from the stores' settings and
    never reaches a store itself."""
    workdir = tmp_path_factory.mktemp('partial')
    dirs = {name: workdir / name for name in ('home', 'spare', 'broken')}
    with deployment.running(workdir, api_extra=dict({
            'DEFAULT': {'enabled_backends': 'home:file, spare:file, broken:file'},
            'glance_store': {'default_backend': 'home'}}, **{
            name: {'filesystem_store_datadir': str(path)}
            for name, path in dirs.items()})) as glance:
        shutil.rmtree(dirs['broken'])
        dirs['broken'].write_bytes(b'not a directory')
        glance.dirs = dirs
        yield glance


@pytest.fixture
def admin(three):
    with three.client() as client:
        yield client


def _active_image(admin):
    image = admin.create_image(name='copied', disk_format='raw',
                               container_format='bare')
    uploaded = admin.upload(image['id'], DATA)
    assert uploaded.status_code == 204, uploaded.text
    return image


def _copy(admin, image_id, must_succeed, stores=('spare', 'broken')):
    return _import(admin, image_id, {
        'method': {'name': 'copy-image'}, 'stores': list(stores),
        'all_stores_must_succeed': must_succeed})


def _import(admin, image_id, body):
    response = admin.post('/v2/images/%s/import' % image_id, json=body)
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 60
    while True:
        [task] = image_tasks(admin, image_id)
        if task['status'] in ('success', 'failure') or time.monotonic() > deadline:
            return task
        time.sleep(0.2)


def test_a_failed_store_is_named_and_the_other_copies_kept(three, admin):
    image = _active_image(admin)
    task = _copy(admin, image['id'], must_succeed=False)
    assert task['status'] == 'success', task
    shown = admin.image(image['id'])
    assert shown['status'] == 'active'
    assert sorted(shown['stores'].split(',')) == ['home', 'spare']
    assert shown['os_glance_failed_import'] == 'broken'
    assert shown['os_glance_importing_to_stores'] == ''
    assert os.listdir(three.dirs['spare']).count(image['id']) == 1
    assert admin.get('/v2/images/%s/file' % image['id']).content == DATA


def test_with_every_store_required_the_import_fails_and_leaves_no_copy(three, admin):
    image = _active_image(admin)
    task = _copy(admin, image['id'], must_succeed=True)
    assert task['status'] == 'failure', task
    assert 'broken' in task['message']
    shown = admin.image(image['id'])
    assert shown['status'] == 'active'
    assert shown['stores'] == 'home'
    assert shown['os_glance_importing_to_stores'] == ''
    # As upstream: the store that failed, not spare, whose copy was reverted.
    assert shown['os_glance_failed_import'] == 'broken'
    assert image['id'] not in os.listdir(three.dirs['spare'])
    assert not [name for name in os.listdir(three.dirs['spare'])
                if name.startswith('.')]   # no temporary file either
    assert admin.get('/v2/images/%s/file' % image['id']).content == DATA


def test_a_required_store_failing_names_it_alone_and_leaves_the_image_queued(
        three, admin):
    # glance-direct into spare (done, then reverted), broken (fails) and home
    # (never reached): only broken failed.
    image = admin.create_image(name='staged', disk_format='raw',
                               container_format='bare')
    staged = admin.put('/v2/images/%s/stage' % image['id'], data=DATA,
                       headers={'Content-Type': 'application/octet-stream'})
    assert staged.status_code == 204, staged.text
    task = _import(admin, image['id'], {
        'method': {'name': 'glance-direct'}, 'stores': ['spare', 'broken', 'home'],
        'all_stores_must_succeed': True})
    assert task['status'] == 'failure', task
    shown = admin.image(image['id'])
    assert (shown['status'], shown['os_glance_failed_import'],
            shown['os_glance_importing_to_stores']) == ('queued', 'broken', '')
    assert 'stores' not in shown
    for store in ('spare', 'home'):
        assert image['id'] not in os.listdir(three.dirs[store])


def test_a_copy_whose_source_is_gone_names_no_failed_store(three, admin):
    # The data went from home behind the service's back: no target store failed.
    image = _active_image(admin)
    os.unlink(three.dirs['home'] / image['id'])
    task = _copy(admin, image['id'], must_succeed=True, stores=['spare'])
    assert task['status'] == 'failure', task
    assert task['message'] == ('The data of image %s could not be read from the '
                               'store that holds it.' % image['id'])
    shown = admin.image(image['id'])
    assert (shown['status'], shown['stores'], shown['os_glance_failed_import'],
            shown['os_glance_importing_to_stores']) == ('active', 'home', '', '')
    assert image['id'] not in os.listdir(three.dirs['spare'])


def _workers_of(pid):
    with open('/proc/%d/task/%d/children' % (pid, pid)) as children:
        return [int(child) for child in children.read().split()]


def test_workers_started_after_a_store_failed_keep_serving_the_others(three, admin):
    master = three.api.process.pid
    before = _workers_of(master)
    for worker in before:
        os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        now = _workers_of(master)
        if len(now) == len(before) and not set(now) & set(before):
            break
        assert three.api.process.poll() is None, three.api.log_tail()
        assert time.monotonic() < deadline, 'the workers were not replaced'
        time.sleep(0.2)
    image = _active_image(admin)   # through the new workers, to store home
    assert admin.get('/v2/images/%s/file' % image['id']).content == DATA
    assert three.api.process.poll() is None
    assert 'store broken cannot be prepared' in three.api.log_tail()


def test_a_copy_over_the_owners_storage_quota_fails_whichever_stores_may_fail(
        tmp_path_factory):
    # Each store's copy counts against the owner's quota, as each active location
    # does: a copy that does not fit is no store's failure, so the import fails
    # even with all_stores_must_succeed false, and the image keeps its one copy.
    workdir = tmp_path_factory.mktemp('partial-quota')
    with deployment.running(workdir, api_extra=dict({
            'DEFAULT': {'enabled_backends': 'home:file, spare:file',
                        'user_storage_quota': str(len(DATA) * 3 // 2)},
            'glance_store': {'default_backend': 'home'}}, **{
            name: {'filesystem_store_datadir': str(workdir / name)}
            for name in ('home', 'spare')})) as glance, \
            glance.client(deployment.new_project()) as owner, glance.client() as admin:
        image = owner.create_image(name='owned', disk_format='raw',
                                   container_format='bare')
        assert owner.upload(image['id'], DATA).status_code == 204
        response = admin.post('/v2/images/%s/import' % image['id'], json={
            'method': {'name': 'copy-image'}, 'stores': ['spare'],
            'all_stores_must_succeed': False})
        assert response.status_code == 202, response.text
        deadline = time.monotonic() + 60
        while image_tasks(admin, image['id'])[0]['status'] not in ('success',
                                                                   'failure'):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        [task] = image_tasks(admin, image['id'])
        assert (task['status'], task['message']) == (
            'failure', "The image does not fit in the %d bytes the project's storage "
            "quota has left." % (len(DATA) * 3 // 2 - len(DATA)))
        shown = admin.image(image['id'])
        assert (shown['status'], shown['stores']) == ('active', 'home')
        assert os.listdir(workdir / 'spare') == []
        assert owner.get('/v2/images/%s/file' % image['id']).content == DATA
