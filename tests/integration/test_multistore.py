"""Multi-store through the public API: a file store and a Swift store side by side.

One deployment with ``enabled_backends = local:file, objects:swift``, ``local`` the
default backend and ``objects`` the heavier store, so that "the default" and "the
preferred for downloads" are different stores and a test can tell them apart. What
each store holds is checked on the backend itself (the data directory, Swift through
python-swiftclient).
"""

import hashlib
import os
import uuid

import pytest

from glance_registry.client import RegistryClient
from glance_registry.client.identity import Identity
from tests.fixtures import deployment
from tests.integration.swift_helpers import (
    CLOSE, MiB, objects_of, pattern_bytes, pattern_chunks, swift_store_options,
    wait_until)

pytestmark = pytest.mark.swift

SEGMENT = 4 * MiB
LOCAL = {'description': 'Local disk (the default)', 'weight': 10}
OBJECTS = {'description': 'Swift object storage', 'weight': 100}


class MultiStore:
    """The deployment, its file store's directory and its Swift container."""

    def __init__(self, glance, swift, container):
        self.glance = glance
        self.swift = swift
        self.container = container
        self.conn = swift.connection()

    def in_local(self, image_id):
        return image_id in self.glance.stored_files()

    def in_swift(self, image_id):
        return objects_of(self.conn, self.container, image_id)

    def registry(self):
        """A registry client with the API's credentials (for what no public call
        does yet: put one image's data in two stores)."""
        secret = self.glance.registry.config['DEFAULT']['registry_auth_secret']
        return RegistryClient(self.glance.registry.url, secret, timeout=30)


@pytest.fixture(scope='module')
def multi(swift_service, tmp_path_factory):
    workdir = tmp_path_factory.mktemp('multistore')
    container = 'multi-%s' % uuid.uuid4().hex[:8]
    objects = swift_store_options(swift_service, workdir, container, SEGMENT)
    objects.update(store_description=OBJECTS['description'], weight=OBJECTS['weight'])
    api_extra = {
        'DEFAULT': {'enabled_backends': 'local:file, objects:swift'},
        'glance_store': {'default_backend': 'local'},
        'local': {'filesystem_store_datadir': str(workdir / 'images'),
                  'store_description': LOCAL['description'],
                  'weight': LOCAL['weight']},
        'objects': objects,
    }
    with deployment.running(workdir, api_extra=api_extra) as glance:
        yield MultiStore(glance, swift_service, container)


@pytest.fixture
def admin(multi):
    with multi.glance.client() as client:
        yield client


@pytest.fixture
def tenant(multi):
    with multi.glance.client(deployment.new_project()) as client:
        yield client


@pytest.fixture
def swift_down(swift_service):
    """Stop the Swift proxy in the test; serving again afterwards in any case."""
    yield swift_service.stop_proxy
    swift_service.start_proxy()


def upload(client, image_id, data, store=None, **headers):
    headers.setdefault('Content-Type', 'application/octet-stream')
    if store is not None:
        headers['X-Image-Meta-Store'] = store
    return client.put('/v2/images/%s/file' % image_id, data=data, headers=headers)


def assert_error(response, status):
    assert response.status_code == status, response.text
    assert response.headers['Content-Type'].startswith('application/json')
    assert response.json()['code'].startswith(str(status))


# -- discovery ---------------------------------------------------------------------------

def test_info_stores_lists_every_store_for_any_caller(tenant):
    response = tenant.get('/v2/info/stores')
    assert response.status_code == 200
    assert sorted(response.json()['stores'], key=lambda s: s['id']) == [
        {'id': 'local', 'description': LOCAL['description'], 'default': 'true'},
        {'id': 'objects', 'description': OBJECTS['description']},
    ]


@pytest.mark.parametrize('project, roles, status', [
    (None, (), 200),                       # the no-auth caller: an admin
    ('p', ('admin', 'member'), 200),
    ('p', ('service',), 200),
    ('p', ('member', 'reader'), 403),
    ('p', ('reader',), 403),
])
def test_info_stores_detail_is_for_admins_and_services(multi, project, roles, status):
    with multi.glance.client(project and deployment.new_project(), roles=roles) as c:
        response = c.get('/v2/info/stores/detail')
    if status == 403:
        assert_error(response, 403)
        return
    assert response.status_code == 200
    stores = {store['id']: store for store in response.json()['stores']}
    assert set(stores) == {'local', 'objects'}
    local = stores['local']
    assert (local['type'], local['weight'], local['description'], local['default']) \
        == ('file', LOCAL['weight'], LOCAL['description'], 'true')
    assert stores['objects'] == {
        'id': 'objects', 'type': 'swift', 'weight': OBJECTS['weight'],
        'description': OBJECTS['description'],
        'properties': {'container': multi.container, 'multi_tenant': False,
                       'large_object_size': 256 * 1024,
                       'large_object_chunk_size': SEGMENT}}


def test_versions_advertise_the_multi_store_versions(admin):
    for path, status in (('/versions', 200), ('/', 300)):
        response = admin.get(path)
        assert response.status_code == status
        versions = {v['id']: v['status'] for v in response.json()['versions']}
        for minor in range(8, 14):
            assert versions['v2.%d' % minor] == 'SUPPORTED'
        assert versions['v2.17'] == 'CURRENT'


def test_create_image_answers_the_store_ids(tenant):
    response = tenant.post('/v2/images', json={'name': 'x', 'disk_format': 'raw',
                                               'container_format': 'bare'})
    assert response.status_code == 201
    ids = response.headers['OpenStack-image-store-ids']
    assert sorted(s.strip() for s in ids.split(',')) == ['local', 'objects']


# -- uploads -----------------------------------------------------------------------------

def test_upload_without_a_store_goes_to_the_default_backend(multi, tenant):
    image = tenant.create_image()
    data = pattern_bytes(0, 3 * MiB)
    assert upload(tenant, image['id'], data).status_code == 204
    image = tenant.image(image['id'])
    assert image['stores'] == 'local'
    assert multi.in_local(image['id']) and not multi.in_swift(image['id'])
    assert tenant.get('/v2/images/%s/file' % image['id']).content == data


def test_upload_to_a_chosen_store(multi, tenant):
    image = tenant.create_image()
    size = 2 * SEGMENT + 123
    response = upload(tenant, image['id'], pattern_chunks(size), store='objects')
    assert response.status_code == 204, response.text
    image = tenant.image(image['id'])
    assert image['stores'] == 'objects'
    assert image['size'] == size
    assert not multi.in_local(image['id'])
    assert len(multi.in_swift(image['id'])) == 1 + 3   # manifest and 3 segments
    data = tenant.get('/v2/images/%s/file' % image['id']).content
    assert data == pattern_bytes(0, size)
    assert hashlib.md5(data).hexdigest() == image['checksum']


@pytest.mark.parametrize('store', ['nowhere', '', 'LOCAL', '\u00e9'.encode()])
def test_upload_to_an_unknown_store_is_400_and_keeps_the_image_queued(multi, tenant,
                                                                      store):
    image = tenant.create_image()
    response = upload(tenant, image['id'], b'data', store=store)
    assert_error(response, 400)
    shown = store.decode() if isinstance(store, bytes) else store
    assert response.json()['message'] == 'Store for identifier %s not found' % shown
    image = tenant.image(image['id'])
    assert image['status'] == 'queued'
    assert 'stores' not in image
    assert not multi.in_local(image['id']) and not multi.in_swift(image['id'])
    assert upload(tenant, image['id'], b'data', store='objects').status_code == 204
    image = tenant.image(image['id'])
    assert (image['status'], image['stores'], image['size'], image['checksum']) == (
        'active', 'objects', 4, hashlib.md5(b'data').hexdigest())
    assert tenant.get('/v2/images/%s/file' % image['id']).content == b'data'


def test_stores_attribute_in_show_and_list(tenant):
    name = 'stores-%s' % uuid.uuid4().hex
    queued = tenant.create_image(name=name)
    in_swift = tenant.create_image(name=name)
    assert upload(tenant, in_swift['id'], b'bytes', store='objects').status_code == 204
    assert 'stores' not in tenant.image(queued['id'])
    assert tenant.image(in_swift['id'])['stores'] == 'objects'
    listed = {image['id']: image for image in
              tenant.get('/v2/images', params={'name': name}).json()['images']}
    assert listed[in_swift['id']]['stores'] == 'objects'
    assert 'stores' not in listed[queued['id']]


# -- downloads ---------------------------------------------------------------------------

@pytest.fixture
def image_in_both_stores(multi, admin):
    """An active image with a copy in each store, as copy-image would leave it.

    The copies differ (same size, different bytes) so that a download shows which
    store served it; no public call can make such an image yet, so the registry is
    told its locations directly.
    """
    image = admin.create_image(disk_format='raw')
    size = 3 * MiB
    copies = {'local': b'L' * size, 'objects': b'O' * size}
    datadir = os.path.realpath(multi.glance.datadir)
    with open(os.path.join(datadir, image['id']), 'wb') as f:
        f.write(copies['local'])
    multi.conn.put_object(multi.container, image['id'], copies['objects'])
    locations = [
        {'url': 'file://%s/%s' % (datadir, image['id']),
         'metadata': {'store': 'local'}},
        {'url': 'swift+config://ref1/%s/%s' % (multi.container, image['id']),
         'metadata': {'store': 'objects'}},
    ]
    registry = multi.registry()
    identity = Identity(user_id=None, project_id=None, roles=('admin',), is_admin=True)
    registry.transition_status(identity, image['id'], 'queued', 'saving')
    registry.transition_status(
        identity, image['id'], 'saving', 'active', locations=locations,
        values={'size': size, 'checksum': hashlib.md5(copies['local']).hexdigest(),
                'os_hash_algo': 'sha512',
                'os_hash_value': hashlib.sha512(copies['local']).hexdigest()})
    registry.close()
    return image['id'], copies


def test_image_in_both_stores_lists_both_heaviest_first(admin, image_in_both_stores):
    # As upstream: an image's locations (and so its stores) by weight.
    image_id, _ = image_in_both_stores
    assert admin.image(image_id)['stores'] == 'objects,local'


@pytest.mark.parametrize('prefer, served_by', [
    (None, 'objects'),            # the heavier store, though not the default
    ('objects', 'objects'),
    ('local', 'local'),
    ('local,objects', 'local'),
    ('objects,local', 'objects'),
])
def test_download_picks_the_store_by_weight_and_prefer(admin, image_in_both_stores,
                                                       prefer, served_by):
    image_id, copies = image_in_both_stores
    params = {'prefer': prefer} if prefer else None
    response = admin.get('/v2/images/%s/file' % image_id, params=params)
    assert response.status_code == 200
    assert response.content == copies[served_by]


def test_download_falls_back_to_the_other_store_when_swift_is_down(
        admin, image_in_both_stores, swift_down):
    image_id, copies = image_in_both_stores
    swift_down()
    response = admin.get('/v2/images/%s/file' % image_id)
    assert response.status_code == 200
    assert response.content == copies['local']


def test_prefer_a_store_the_image_is_not_in_falls_back_to_where_it_is(tenant):
    image = tenant.create_image()
    data = pattern_bytes(0, MiB + 7)
    assert upload(tenant, image['id'], data).status_code == 204   # local only
    response = tenant.get('/v2/images/%s/file' % image['id'],
                          params={'prefer': 'objects'})
    assert response.status_code == 200
    assert response.content == data


def test_prefer_an_unknown_store_is_400(tenant):
    image = tenant.create_image()
    assert upload(tenant, image['id'], b'data').status_code == 204
    assert_error(tenant.get('/v2/images/%s/file' % image['id'],
                            params={'prefer': 'nowhere'}), 400)
    assert_error(tenant.get('/v2/images/%s/file' % image['id'],
                            params={'prefer': 'local,nowhere'}), 400)


# -- Swift down, the file store up -------------------------------------------------------

def test_with_swift_down_the_file_store_keeps_working(multi, tenant, swift_down):
    stored_locally = tenant.create_image()
    assert upload(tenant, stored_locally['id'], b'before').status_code == 204
    failing, local = tenant.create_image(), tenant.create_image()
    swift_down()

    response = upload(tenant, failing['id'], pattern_bytes(0, 256 * 1024),
                      store='objects', **CLOSE)
    assert_error(response, 503)
    assert tenant.image(failing['id'])['status'] == 'queued'
    assert upload(tenant, local['id'], b'during').status_code == 204
    assert tenant.get('/v2/images/%s/file' % local['id']).content == b'during'
    assert tenant.get('/v2/images/%s/file'
                      % stored_locally['id']).content == b'before'
    assert tenant.get('/v2/info/stores').status_code == 200

    multi.swift.start_proxy()
    wait_until(lambda: multi.in_swift(failing['id']) == [], timeout=60,
               message='nothing left in Swift for the failed upload')
    assert upload(tenant, failing['id'], b'after', store='objects').status_code == 204
    assert tenant.image(failing['id'])['stores'] == 'objects'
