"""Several file stores and a read-only http store, as a tenant and an operator see
them: the stores listed as ``enabled_backends`` lists them, an image's locations in
the order upstream reads them (by weight, ties as recorded), an import that names
its stores two ways or naming none refused, and the reserved stores no store at
all."""

import os
import time

import pytest

from tests.fixtures import deployment
from tests.fixtures import disk_images
from tests.functional.test_import import image_tasks

DATA = disk_images.raw(64 * 1024 + 3)
#: In enabled_backends order; cheap is the heaviest, fast and spare weigh alike.
WEIGHTS = {'fast': 0, 'spare': 0, 'cheap': 50}


@pytest.fixture(scope='module')
def multi(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('multistore')
    api_extra = {
        'DEFAULT': {'enabled_backends': 'fast:file, spare:file, cheap:file, web:http',
                    'show_multiple_locations': True, 'show_image_direct_url': True},
        'glance_store': {'default_backend': 'fast'},
        'web': {'store_description': 'Images on the web'},
    }
    for store_id, weight in WEIGHTS.items():
        api_extra[store_id] = {'filesystem_store_datadir': str(workdir / store_id),
                               'weight': weight}
    with deployment.running(workdir, api_extra=api_extra) as glance:
        glance.dirs = {store_id: workdir / store_id for store_id in WEIGHTS}
        yield glance


@pytest.fixture
def admin(multi):
    with multi.client() as client:
        yield client


@pytest.mark.parametrize('path', ['/v2/info/stores', '/v2/info/stores/detail'])
def test_stores_are_listed_as_enabled_backends_lists_them(admin, path):
    response = admin.get(path)
    assert response.status_code == 200, response.text
    assert [store['id'] for store in response.json()['stores']] == [
        'fast', 'spare', 'cheap', 'web']


def _active_in(admin, store_id):
    image = admin.create_image(name='in-%s' % store_id)
    response = admin.put('/v2/images/%s/file' % image['id'], data=DATA, headers={
        'Content-Type': 'application/octet-stream', 'X-Image-Meta-Store': store_id})
    assert response.status_code == 204, response.text
    return image['id']


def _copy_to(admin, image_id, store_id):
    seen = {task['id'] for task in image_tasks(admin, image_id)}
    response = admin.post('/v2/images/%s/import' % image_id, json={
        'method': {'name': 'copy-image'}, 'stores': [store_id]})
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 60
    while True:
        [task] = [task for task in image_tasks(admin, image_id)
                  if task['id'] not in seen]
        if task['status'] in ('success', 'failure'):
            break
        assert time.monotonic() < deadline, task
        time.sleep(0.2)
    assert task['status'] == 'success', task


def test_an_images_locations_are_shown_heaviest_store_first(multi, admin):
    image_id = _active_in(admin, 'fast')
    _copy_to(admin, image_id, 'cheap')
    shown = admin.image(image_id)
    urls = ['file://%s/%s' % (multi.dirs[store_id], image_id)
            for store_id in ('cheap', 'fast')]
    assert [loc['url'] for loc in shown['locations']] == urls
    assert [loc['metadata']['store'] for loc in shown['locations']] == [
        'cheap', 'fast']
    assert shown['stores'] == 'cheap,fast'
    assert shown['direct_url'] == urls[0]


def test_downloads_read_stores_of_equal_weight_in_the_recorded_order(multi, admin):
    # spare's copy was recorded first: read before fast's, though fast is listed
    # first in enabled_backends. fast's copy is made to differ, to tell them apart.
    image_id = _active_in(admin, 'spare')
    _copy_to(admin, image_id, 'fast')
    fast_copy = multi.dirs['fast'] / image_id
    os.unlink(fast_copy)
    fast_copy.write_bytes(b'F' * len(DATA))
    assert admin.image(image_id)['stores'] == 'spare,fast'
    assert admin.get('/v2/images/%s/file' % image_id).content == DATA
    assert admin.get('/v2/images/%s/file' % image_id,
                     params={'prefer': 'fast'}).content == b'F' * len(DATA)


def test_a_download_naming_prefer_twice_is_refused(multi, admin):
    # Which one was meant is a guess (Flask reads the first, webob the last): the
    # stores are named in one, comma-separated, as the clients send them.
    image_id = _active_in(admin, 'fast')
    response = admin.get('/v2/images/%s/file' % image_id,
                         params=[('prefer', 'spare'), ('prefer', 'fast')])
    assert response.status_code == 400, response.text[:200]
    assert response.json()['message'] == "Parameter 'prefer' may be given only once"
    assert admin.get('/v2/images/%s/file' % image_id,
                     params={'prefer': 'spare,fast'}).content == DATA


def test_a_copy_reads_the_next_location_when_the_first_is_gone(multi, admin):
    # cheap's copy is read first (the heaviest); it went behind the service's
    # back, so the copy to spare reads fast's, as a download would.
    image_id = _active_in(admin, 'fast')
    _copy_to(admin, image_id, 'cheap')
    os.unlink(multi.dirs['cheap'] / image_id)
    _copy_to(admin, image_id, 'spare')
    assert (multi.dirs['spare'] / image_id).read_bytes() == DATA
    assert admin.image(image_id)['stores'] == 'cheap,fast,spare'
    assert admin.get('/v2/images/%s/file' % image_id).content == DATA


@pytest.mark.parametrize('body, header, message', [
    ({'stores': ['cheap']}, 'spare',
     "Stores parameter and x-image-meta-store header can't be both specified"),
    ({'all_stores': True}, 'spare',
     "All_stores parameter can't be used with x-image-meta-store header or stores "
     "parameter"),
    ({'all_stores': True, 'stores': ['cheap']}, None,
     "All_stores parameter can't be used with x-image-meta-store header or stores "
     "parameter"),
])
def test_an_import_naming_its_stores_two_ways_is_refused(admin, body, header,
                                                         message):
    image_id = _active_in(admin, 'fast')
    headers = {'X-Image-Meta-Store': header} if header else {}
    response = admin.post('/v2/images/%s/import' % image_id, headers=headers,
                          json=dict(body, method={'name': 'copy-image'}))
    assert response.status_code == 400, response.text
    assert response.json()['message'] == message
    assert image_tasks(admin, image_id) == []
    assert admin.image(image_id)['stores'] == 'fast'


@pytest.mark.parametrize('method, status, message', [
    ({'name': 'copy-image'}, 'active',
     "'stores' names no store: copy-image needs at least one store to copy to (or "
     "'all_stores')."),
    ({'name': 'web-download', 'uri': 'http://example.com/disk'}, 'queued',
     "'stores' names no store: name at least one, or leave 'stores' out to import "
     "into the default store."),
])
def test_an_import_naming_no_store_is_refused(admin, method, status, message):
    # Upstream starts a task that imports into no store: copy-image reads the
    # whole image into staging and succeeds having copied nothing.
    if status == 'active':
        image_id = _active_in(admin, 'fast')
    else:
        image_id = admin.create_image(name='nowhere')['id']
    response = admin.post('/v2/images/%s/import' % image_id,
                          json={'method': method, 'stores': []})
    assert response.status_code == 400, response.text
    assert response.json()['message'] == message
    assert image_tasks(admin, image_id) == []
    image = admin.image(image_id)
    assert image['status'] == status
    assert image.get('stores') == ('fast' if status == 'active' else None)


@pytest.mark.parametrize('store_id', ['os_glance_staging_store',
                                      'os_glance_tasks_store'])
def test_the_reserved_stores_are_no_store_a_client_may_name(multi, admin, store_id):
    # Upstream writes an upload there; here they are unknown stores.
    image = admin.create_image(name='reserved')
    response = admin.put('/v2/images/%s/file' % image['id'], data=DATA, headers={
        'Content-Type': 'application/octet-stream', 'X-Image-Meta-Store': store_id})
    assert response.status_code == 400, response.text
    assert response.json()['message'] == 'Store for identifier %s not found' % store_id
    assert admin.image(image['id'])['status'] == 'queued'
    image_id = _active_in(admin, 'fast')
    response = admin.post('/v2/images/%s/import' % image_id, json={
        'method': {'name': 'copy-image'}, 'stores': [store_id]})
    assert response.status_code == 409, response.text
    assert response.json()['message'] == 'Store for identifier %s not found' % store_id
    assert image_tasks(admin, image_id) == []
    assert not os.listdir(os.path.join(multi.workdir, 'staging'))
