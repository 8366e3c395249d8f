"""Import between a file store and a real Swift store: glance-direct and
web-download into a chosen store or both at once, copy-image of an active image to another store (over the API and with
``openstack image import``), and the bookkeeping properties upstream shows."""

import hashlib
import json
import os
import subprocess
import sys
import uuid

import pytest

from tests.fixtures import deployment
from tests.fixtures import disk_images
from tests.fixtures import web_files
from tests.integration.swift_helpers import (
    MiB, objects_of, swift_store_options, wait_until)

pytestmark = pytest.mark.swift

BIN = os.path.dirname(sys.executable)
DATA = disk_images.raw(5 * MiB + 3)


@pytest.fixture(scope='module')
def web():
    with web_files.running() as server:
        yield server


@pytest.fixture(scope='module')
def multi(swift_service, tmp_path_factory, web):
    workdir = tmp_path_factory.mktemp('import-multistore')
    container = 'import-%s' % uuid.uuid4().hex[:8]
    objects = swift_store_options(swift_service, workdir, container, 4 * MiB)
    api_extra = {
        'DEFAULT': {'enabled_backends': 'local:file, objects:swift'},
        'glance_store': {'default_backend': 'local'},
        'local': {'filesystem_store_datadir': str(workdir / 'images')},
        'objects': objects,
        'import_filtering_opts': {'allowed_ports': web.port,
                                  'allowed_hosts': '127.0.0.1'},
    }
    with deployment.running(workdir, api_extra=api_extra) as glance:
        yield glance, swift_service.connection(), container


@pytest.fixture
def admin(multi):
    with multi[0].client() as client:
        yield client


def in_local(multi, image_id):
    return image_id in multi[0].stored_files()


def in_swift(multi, image_id):
    return objects_of(multi[1], multi[2], image_id)


def stores_of(admin, image_id):
    return sorted((admin.image(image_id).get('stores') or '').split(','))


def test_glance_direct_into_the_swift_store(multi, admin):
    image = admin.create_image(name='into-swift')
    admin.put('/v2/images/%s/stage' % image['id'], data=DATA,
              headers={'Content-Type': 'application/octet-stream'})
    response = admin.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'glance-direct'}, 'stores': ['objects']})
    assert response.status_code == 202, response.text
    wait_until(lambda: admin.image(image['id'])['status'] == 'active', 60)
    shown = admin.image(image['id'])
    assert shown['stores'] == 'objects'
    assert shown['os_glance_importing_to_stores'] == ''
    assert shown['os_glance_failed_import'] == ''
    assert in_swift(multi, image['id']) and not in_local(multi, image['id'])
    assert admin.get('/v2/images/%s/file' % image['id']).content == DATA


def staging_files(multi):
    return os.listdir(os.path.join(multi[0].workdir, 'staging'))


def assert_in_both_stores(multi, admin, image_id):
    wait_until(lambda: admin.image(image_id)['status'] in ('active', 'queued'), 60)
    shown = admin.image(image_id)
    assert shown['status'] == 'active', admin.get(
        '/v2/images/%s/tasks' % image_id).json()
    assert stores_of(admin, image_id) == ['local', 'objects']
    assert shown['os_hash_value'] == hashlib.sha512(DATA).hexdigest()
    assert shown['checksum'] == hashlib.md5(DATA).hexdigest()
    assert in_swift(multi, image_id) and in_local(multi, image_id)
    for store in ('objects', 'local'):
        got = admin.get('/v2/images/%s/file' % image_id, params={'prefer': store})
        assert got.content == DATA
    assert not [name for name in staging_files(multi) if image_id in name]


def test_web_download_into_both_stores_in_one_pass(multi, admin, web):
    image = admin.create_image(name='web-into-both')
    response = admin.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'web-download',
                   'uri': web.serve('/%s' % image['id'], DATA)},
        'stores': ['local', 'objects']})
    assert response.status_code == 202, response.text
    assert_in_both_stores(multi, admin, image['id'])


def test_glance_direct_into_both_stores_links_into_the_file_store(multi, admin):
    image = admin.create_image(name='staged-into-both')
    admin.put('/v2/images/%s/stage' % image['id'], data=DATA,
              headers={'Content-Type': 'application/octet-stream'})
    staged_inode = os.stat(os.path.join(multi[0].workdir, 'staging',
                                        image['id'])).st_ino
    response = admin.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'glance-direct'}, 'stores': ['local', 'objects']})
    assert response.status_code == 202, response.text
    assert_in_both_stores(multi, admin, image['id'])
    assert os.stat(os.path.join(multi[0].datadir, image['id'])).st_ino == \
        staged_inode


def test_copy_image_from_the_file_store_to_swift(multi, admin):
    image = admin.create_image(name='copied')
    assert admin.upload(image['id'], DATA).status_code == 204
    assert stores_of(admin, image['id']) == ['local']
    response = admin.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'copy-image'}, 'stores': ['objects']})
    assert response.status_code == 202, response.text
    wait_until(lambda: stores_of(admin, image['id']) == ['local', 'objects'], 60)
    assert in_swift(multi, image['id']) and in_local(multi, image['id'])
    shown = admin.image(image['id'])
    assert shown['status'] == 'active'
    assert 'os_glance_import_task' not in shown
    for store in ('objects', 'local'):
        got = admin.get('/v2/images/%s/file' % image['id'], params={'prefer': store})
        assert got.content == DATA


@pytest.fixture
def swift_down(swift_service):
    """Stop the Swift proxy in the test; serving again afterwards in any case."""
    yield swift_service.stop_proxy
    swift_service.start_proxy()


def test_copy_image_out_of_a_swift_that_is_down_names_no_target_store(
        multi, admin, swift_down):
    """The source failed, not the file store the copy was going to: the task
    says the data could not be read, the image stays active where it was and the
    file store is left empty."""
    image = admin.create_image(name='copied-out-of-swift')
    assert admin.upload(image['id'], DATA, **{'X-Image-Meta-Store': 'objects'}
                        ).status_code == 204
    swift_down()
    response = admin.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'copy-image'}, 'stores': ['local']})
    assert response.status_code == 202, response.text
    wait_until(lambda: admin.image(image['id'])['os_glance_importing_to_stores']
               == '', 60)
    [task] = admin.get('/v2/images/%s/tasks' % image['id']).json()['tasks']
    assert task['status'] == 'failure'
    assert task['message'] == ('The data of image %s could not be read from the '
                               'store that holds it.' % image['id'])
    shown = admin.image(image['id'])
    assert (shown['status'], shown['stores']) == ('active', 'objects')
    assert not in_local(multi, image['id'])


def test_copy_image_needs_stores_and_an_active_image(multi, admin):
    image = admin.create_image(name='queued')
    no_stores = admin.post('/v2/images/%s/import' % image['id'],
                           json={'method': {'name': 'copy-image'}})
    assert no_stores.status_code == 400
    queued = admin.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'copy-image'}, 'stores': ['objects']})
    assert queued.status_code == 409
    unknown = admin.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'copy-image'}, 'stores': ['nowhere']})
    assert unknown.status_code == 409


def test_copy_image_is_admin_only_by_default(multi):
    glance = multi[0]
    with glance.client(deployment.new_project()) as tenant:
        image = tenant.create_image(name='mine')
        assert tenant.upload(image['id'], DATA).status_code == 204
        refused = tenant.post('/v2/images/%s/import' % image['id'], json={
            'method': {'name': 'copy-image'}, 'stores': ['objects']})
        assert refused.status_code == 403
        assert stores_of(tenant, image['id']) == ['local']


def test_openstack_image_import_copies_to_swift(multi, admin):
    glance = multi[0]
    image = admin.create_image(name='osc-copied')
    assert admin.upload(image['id'], DATA).status_code == 204
    env = dict(os.environ, OS_AUTH_TYPE='none', OS_ENDPOINT=glance.url,
               OS_IMAGE_API_VERSION='2')
    result = subprocess.run(
        [os.path.join(BIN, 'openstack'), 'image', 'import', image['id'], '--method',
         'copy-image', '--store', 'objects', '-f', 'json'],
        env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    json.loads(result.stdout or '{}')
    wait_until(lambda: stores_of(admin, image['id']) == ['local', 'objects'], 60)
    assert in_swift(multi, image['id'])


def test_copy_image_to_all_stores_copies_where_the_data_is_not(multi, admin):
    image = admin.create_image(name='everywhere')
    assert admin.upload(image['id'], DATA).status_code == 204
    response = admin.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'copy-image'}, 'all_stores': True,
        'all_stores_must_succeed': False})
    assert response.status_code == 202, response.text
    wait_until(lambda: stores_of(admin, image['id']) == ['local', 'objects'], 60)
    [task] = admin.get('/v2/images/%s/tasks' % image['id']).json()['tasks']
    assert task['status'] == 'success'
    assert task['input']['import_req']['all_stores_must_succeed'] is False
    assert admin.image(image['id'])['os_glance_failed_import'] == ''


def test_all_stores_and_stores_together_are_refused(multi, admin):
    image = admin.create_image(name='both')
    response = admin.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'web-download', 'uri': 'http://example.com/x'},
        'stores': ['local'], 'all_stores': True})
    assert response.status_code == 400
