"""Images uploaded with one store, then served after the operator turns on multiple
stores (``enabled_backends``) over the same data directory: their locations were
recorded without a store, and each belongs to the store whose directory holds it
(upstream's mapping of legacy locations).

The daemons really restart with the new configuration, on the same database and
files.
"""

import hashlib
import os
import time

import pytest

from tests.fixtures import deployment, scrubber
from tests.fixtures import disk_images

DATA = disk_images.raw(64 * 1024 + 17)
OTHER = disk_images.raw(5000)


def wait_until(predicate, timeout=60, message='condition'):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError('timed out waiting for %s' % message)


def stores_of(client, image_id):
    return sorted((client.image(image_id).get('stores') or '').split(','))


@pytest.fixture(scope='module')
def switched(tmp_path_factory):
    """Three images uploaded under ``[glance_store] default_store = file``; then both
    daemons restarted with ``enabled_backends = local:file, second:file``,
    ``local`` over the directory the images are in (and delayed delete on)."""
    workdir = tmp_path_factory.mktemp('legacy')
    with deployment.running(workdir) as glance:
        with glance.client() as admin:
            images = {}
            for name, data in (('old', DATA), ('older', OTHER), ('oldest', OTHER)):
                image = admin.create_image(name=name)
                assert admin.upload(image['id'], data).status_code == 204
                assert 'stores' not in admin.image(image['id'])
                images[name] = image['id']
        glance.stop()
        second = str(workdir / 'second')
        multi = {'DEFAULT': {'enabled_backends': 'local:file, second:file',
                             'show_multiple_locations': True,
                             'delayed_delete': True},
                 'glance_store': {'default_backend': 'local'},
                 'local': {'filesystem_store_datadir': glance.datadir},
                 'second': {'filesystem_store_datadir': second}}
        for daemon in (glance.registry, glance.api):
            for section, values in multi.items():
                if daemon is glance.registry and section == 'DEFAULT':
                    values = {'enabled_backends': values['enabled_backends']}
                daemon.config.setdefault(section, {}).update(values)
            # Single-store options the operator would leave behind are ignored.
            assert daemon.config['glance_store']['filesystem_store_datadir']
        glance.registry.start()
        glance.api.start()
        glance.images, glance.second = images, second
        yield glance


@pytest.fixture
def admin(switched):
    with switched.client() as client:
        yield client


def test_a_legacy_image_shows_the_store_that_holds_it(switched, admin):
    image_id = switched.images['old']
    shown = admin.image(image_id)
    assert shown['stores'] == 'local'
    assert [location['metadata'] for location in shown['locations']] == [
        {'store': 'local'}]
    listed = {image['id']: image for image in admin.get('/v2/images').json()['images']}
    assert listed[image_id]['stores'] == 'local'


def test_a_legacy_image_downloads_from_its_store(switched, admin):
    image_id = switched.images['old']
    response = admin.get('/v2/images/%s/file' % image_id)
    assert response.status_code == 200
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(DATA).digest()
    preferred = admin.get('/v2/images/%s/file' % image_id, params={'prefer': 'local'})
    assert preferred.content == DATA


def test_copy_image_to_the_same_store_is_refused(switched, admin):
    image_id = switched.images['old']
    response = admin.post('/v2/images/%s/import' % image_id, json={
        'method': {'name': 'copy-image'}, 'stores': ['local']})
    assert response.status_code == 400, response.text
    assert 'already present' in response.json()['message']
    assert stores_of(admin, image_id) == ['local']


def test_copy_image_then_delete_the_legacy_copy_from_its_store(switched, admin):
    image_id = switched.images['old']
    response = admin.post('/v2/images/%s/import' % image_id, json={
        'method': {'name': 'copy-image'}, 'stores': ['second']})
    assert response.status_code == 202, response.text
    wait_until(lambda: stores_of(admin, image_id) == ['local', 'second'],
               message='the copy in store second')
    shown = admin.image(image_id)
    assert shown['os_glance_importing_to_stores'] == ''
    assert shown['os_glance_failed_import'] == ''
    [task] = admin.get('/v2/images/%s/tasks' % image_id).json()['tasks']
    assert task['status'] == 'success', task
    # The legacy location is shown in its store beside the copy's.
    assert sorted(location['metadata']['store']
                  for location in shown['locations']) == ['local', 'second']
    assert os.listdir(switched.second) == [image_id]

    removed = admin.delete('/v2/stores/local/%s' % image_id)
    assert removed.status_code == 204, removed.text
    assert stores_of(admin, image_id) == ['second']
    assert image_id not in os.listdir(switched.datadir)
    assert admin.get('/v2/images/%s/file' % image_id).content == DATA
    again = admin.delete('/v2/stores/local/%s' % image_id)
    assert again.status_code == 404


def test_copy_image_to_all_stores_copies_only_where_the_data_is_not(switched, admin):
    image_id = switched.images['older']
    response = admin.post('/v2/images/%s/import' % image_id, json={
        'method': {'name': 'copy-image'}, 'all_stores': True})
    assert response.status_code == 202, response.text
    assert admin.image(image_id)['os_glance_importing_to_stores'] in ('second', '')
    wait_until(lambda: stores_of(admin, image_id) == ['local', 'second'],
               message='the copy in store second')
    [task] = admin.get('/v2/images/%s/tasks' % image_id).json()['tasks']
    assert task['status'] == 'success', task
    assert task['input']['import_req']['stores'] == ['second']
    assert admin.image(image_id)['os_glance_failed_import'] == ''
    # Everywhere already: nothing to do, as upstream.
    response = admin.post('/v2/images/%s/import' % image_id, json={
        'method': {'name': 'copy-image'}, 'all_stores': True})
    assert response.status_code == 202, response.text
    assert len(admin.get('/v2/images/%s/tasks' % image_id).json()['tasks']) == 1


def test_new_uploads_go_to_the_default_backend(switched, admin):
    image = admin.create_image(name='new')
    assert admin.upload(image['id'], b'new data').status_code == 204
    assert stores_of(admin, image['id']) == ['local']
    assert image['id'] in os.listdir(switched.datadir)


def test_the_scrubber_deletes_a_legacy_images_data(switched, admin):
    image_id = switched.images['oldest']
    assert admin.delete('/v2/images/%s' % image_id).status_code == 204
    assert image_id in os.listdir(switched.datadir)   # delayed: pending_delete
    result = scrubber.run(switched)
    assert result.returncode == 0, result.stderr
    assert image_id in scrubber.scrubbed_ids(result.stderr)
    assert image_id not in os.listdir(switched.datadir)
