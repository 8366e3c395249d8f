"""Image locations over HTTP: the 2.17 locations API with its background hashing,
PATCH on /locations, DELETE /v2/stores, and the URLs a client may name.

Deployments of their own: ``web`` (a file store and a read-only http store, the
locations shown, hashing with a short lease so a crash is recovered quickly),
``plain`` (one file store, no hashing), ``pair`` (two file stores) and the shared
default one (locations hidden). Web data comes from a small http.server in this
process (``WebServer``). Every refused request is checked to have changed nothing:
the image's status and locations, the bytes in the stores.
"""

import hashlib
import http.server
import os
import pathlib
import sqlite3
import threading
import time
import urllib.parse
import uuid

import glanceclient.v2.client
import openstack
import pytest
from oslo_config import cfg

from glance_api.data import import_filtering
from glance_registry.client import Lease, RegistryClient
from glance_registry.client.identity import Identity
from tests.fixtures import deployment
from tests.fixtures import disk_images
from tests.fixtures.processes import free_port
from tests.unit.registry import races

SERVICE = ('service',)
LEASE = 2
#: ``task_stall_time`` of the ``web`` deployment: longer than its sources pause
#: (``PAUSE``), shorter than they stall.
STALL = 6
PAUSE = 2 * LEASE + 1
STORAGE_QUOTA = 20000


def assert_error(response, status):
    assert response.status_code == status, response.text
    assert response.json()['code'].startswith(str(status))
    return response.json()['message']


def wait_for(condition, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError('timed out waiting')


def file_url(path):
    return 'file://' + str(path)


def digests(data):
    return {'size': len(data), 'checksum': hashlib.md5(data).hexdigest(),
            'os_hash_algo': 'sha512', 'os_hash_value': hashlib.sha512(data).hexdigest()}


def data_of(image):
    return {key: image[key] for key in ('size', 'checksum', 'os_hash_algo',
                                        'os_hash_value')}


NO_DATA = dict.fromkeys(['size', 'checksum', 'os_hash_algo', 'os_hash_value'])


def registry_client(glance):
    secret = glance.registry.config['DEFAULT']['registry_auth_secret']
    return RegistryClient(glance.registry.url, secret, timeout=30)


ADMIN_IDENTITY = Identity(None, None, ('admin',), is_admin=True)


# -- a web server to add locations from ------------------------------------------------

class WebServer:
    """Serves ``files`` (name -> bytes) under ``/files/``, ranges included, and
    misbehaves on request: ``/flaky/<name>`` breaks off the first ``breaks[name]``
    downloads half-way; ``/stall/<name>`` sends half, then waits for
    ``release[name]`` (its first download only, or every one if ``forever``)."""

    def __init__(self):
        self.files = {}
        self.breaks = {}
        self.release = {}
        self.forever = set()
        self.gets = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                server._serve(self, body=False)

            def do_GET(self):
                server._serve(self, body=True)

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', free_port()),
                                                     Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, kind, name):
        return 'http://127.0.0.1:%d/%s/%s' % (self.port, kind, name)

    def add(self, kind='files', size=300 * 1024):
        name = uuid.uuid4().hex
        self.files[name] = disk_images.raw(size)
        return self.url(kind, name), self.files[name]

    def _serve(self, handler, body):
        _, kind, name = urllib.parse.urlparse(handler.path).path.split('/')
        data = self.files.get(name)
        if data is None:
            handler.send_error(404)
            return
        if body:
            self.gets[name] = self.gets.get(name, 0) + 1
        start = 0
        header = handler.headers.get('Range', '')
        if header.startswith('bytes=') and header.endswith('-'):
            start = int(header[len('bytes='):-1])
            handler.send_response(206)
            handler.send_header('Content-Range', 'bytes %d-%d/%d'
                                % (start, len(data) - 1, len(data)))
        else:
            handler.send_response(200)
        handler.send_header('Content-Length', str(len(data) - start))
        handler.end_headers()
        if not body:
            return
        rest = data[start:]
        half = len(rest) // 2
        try:
            if kind == 'flaky' and self.breaks.get(name, 0) > 0:
                self.breaks[name] -= 1
                handler.wfile.write(rest[:half])
                handler.wfile.flush()
                handler.close_connection = True
                return
            if kind == 'stall' and (self.gets[name] == 1 or name in self.forever):
                handler.wfile.write(rest[:half])
                handler.wfile.flush()
                self.release.setdefault(name, threading.Event()).wait(120)
                handler.wfile.write(rest[half:])
                return
            handler.wfile.write(rest)
        except OSError:
            pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        for event in self.release.values():
            event.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope='module')
def web_server():
    with WebServer() as server:
        yield server


@pytest.fixture(scope='module')
def web(tmp_path_factory, web_server):
    """A file store ``fast`` (the default) and a read-only http store ``web``."""
    workdir = tmp_path_factory.mktemp('web')
    with deployment.running(workdir, api_extra={
            'DEFAULT': {'enabled_backends': 'fast:file, web:http',
                        'show_multiple_locations': True, 'http_retries': 2,
                        'secure_hash_lease_time': LEASE, 'task_stall_time': STALL,
                        'image_location_quota': 3},
            'glance_store': {'default_backend': 'fast'},
            'fast': {'filesystem_store_datadir': str(workdir / 'fast')},
            'import_filtering_opts': {
                'allowed_schemes': 'http',
                'allowed_ports': '443,%d' % web_server.port,
                # Loopback is read only where allowed_hosts names it.
                'allowed_hosts': '127.0.0.1'}}) as glance:
        glance.fast = workdir / 'fast'
        yield glance


@pytest.fixture(scope='module')
def plain(tmp_path_factory):
    """One file store; locations and direct_url shown; no background hashing;
    2 locations per image, 20000 bytes per project."""
    with deployment.running(tmp_path_factory.mktemp('plain'), api_extra={
            'DEFAULT': {'show_multiple_locations': True, 'do_secure_hash': False,
                        'show_image_direct_url': True, 'image_location_quota': 2,
                        'user_storage_quota': STORAGE_QUOTA}}) as glance:
        yield glance


@pytest.fixture(scope='module')
def pair(tmp_path_factory):
    """Two file stores, ``a`` (the default) and ``b``; locations shown."""
    workdir = tmp_path_factory.mktemp('pair')
    with deployment.running(workdir, api_extra={
            'DEFAULT': {'enabled_backends': 'a:file, b:file',
                        'show_multiple_locations': True},
            'glance_store': {'default_backend': 'a'},
            'a': {'filesystem_store_datadir': str(workdir / 'a')},
            'b': {'filesystem_store_datadir': str(workdir / 'b')}}) as glance:
        glance.dirs = {'a': workdir / 'a', 'b': workdir / 'b'}
        yield glance


def place(directory, data):
    """A file with ``data`` put into a store's directory by hand; its URL."""
    path = directory / ('placed-%s' % uuid.uuid4().hex)
    path.write_bytes(data)
    return file_url(path)


# -- GET /v2/info/stores ----------------------------------------------------------------

def test_stores_without_a_description_are_listed_without_one(web):
    # As upstream: no "description": "" for a store whose operator gave none; the
    # http store is read-only.
    with web.client() as admin:
        response = admin.get('/v2/info/stores')
    assert response.status_code == 200, response.text
    assert response.json() == {'stores': [{'id': 'fast', 'default': 'true'},
                                          {'id': 'web', 'read-only': 'true'}]}


def test_stores_detail_gives_upstreams_properties(web):
    with web.client() as admin:
        response = admin.get('/v2/info/stores/detail')
    assert response.status_code == 200, response.text
    stores = {store['id']: store for store in response.json()['stores']}
    assert stores['fast'] == {
        'id': 'fast', 'default': 'true', 'type': 'file', 'weight': 0,
        'properties': {'data_dir': str(web.fast), 'chunk_size': 65536,
                       'thin_provisioning': False}}
    assert stores['web'] == {'id': 'web', 'read-only': 'true', 'type': 'http',
                             'weight': 0, 'properties': {}}


# -- POST /v2/images/{id}/locations (API 2.17) -------------------------------------------

def test_added_location_is_hashed_in_the_background_then_the_image_is_active(
        web, web_server):
    url, data = web_server.add()
    with web.client(deployment.new_project()) as owner, web.client() as admin:
        image = owner.create_image()
        response = owner.post('/v2/images/%s/locations' % image['id'],
                              json={'url': url})
        assert response.status_code == 202, response.text
        assert response.content == b''
        image = owner.settled(image['id'])
        assert image['status'] == 'active'
        assert data_of(image) == digests(data)
        assert image['locations'] == [{'url': url, 'metadata': {'store': 'web'}}]
        assert image['stores'] == 'web'
        listed = admin.get('/v2/images/%s/locations' % image['id'])
        assert listed.json() == [{'url': url, 'metadata': {'store': 'web'}}]
        assert owner.get('/v2/images/%s/file' % image['id']).content == data


@pytest.mark.parametrize('client', ['glanceclient', 'openstacksdk'])
def test_the_clients_add_a_location_without_validation_data(web, web_server, client):
    """python-glanceclient (``glance add-location --url``) and openstacksdk's
    ``add_image_location`` send ``"validation_data": {}`` when given none: the same
    as leaving it out, the data hashed in the background."""
    url, data = web_server.add()
    project = deployment.new_project()
    identity = {'X-Project-Id': project, 'X-User-Id': 'user-of-%s' % project,
                'X-Roles': 'member,reader'}
    with web.client(project) as owner:
        image = owner.create_image()
        if client == 'glanceclient':
            glance = glanceclient.v2.client.Client(web.url, token='none',
                                                   identity_headers=identity)
            glance.images.add_image_location(image['id'], url)
        else:
            conn = openstack.connect(auth_type='none', load_envvars=False,
                                     image_endpoint_override=web.url)
            conn.session.additional_headers.update(identity)
            conn.image.add_image_location(image['id'], url)
        image = owner.settled(image['id'])
        assert image['status'] == 'active'
        assert data_of(image) == digests(data)


def test_matching_validation_data_activates_the_image(web, web_server):
    url, data = web_server.add()
    expected = digests(data)
    with web.client(deployment.new_project()) as owner:
        image = owner.create_image()
        response = owner.post('/v2/images/%s/locations' % image['id'], json={
            'url': url, 'validation_data': {
                'os_hash_algo': 'sha512', 'os_hash_value': expected['os_hash_value']}})
        assert response.status_code == 202, response.text
        assert data_of(owner.settled(image['id'])) == expected


def test_mismatching_data_is_refused_and_the_image_is_queued_again(web, web_server):
    url, data = web_server.add()
    with web.client(deployment.new_project()) as owner:
        image = owner.create_image()
        response = owner.post('/v2/images/%s/locations' % image['id'], json={
            'url': url, 'validation_data': {
                'os_hash_algo': 'sha512',
                'os_hash_value': hashlib.sha512(b'other').hexdigest()}})
        assert response.status_code == 202, response.text
        image = owner.settled(image['id'])
        assert image['status'] == 'queued'
        assert image['locations'] == [] and data_of(image) == NO_DATA
        # The data is not ours: it stays where it is.
        assert web_server.files[url.rsplit('/', 1)[1]] == data
        # The image can take another location, or an upload.
        assert owner.upload(image['id'], b'uploaded').status_code == 204


def test_missing_data_is_refused_and_the_image_is_queued_again(web, web_server):
    with web.client(deployment.new_project()) as owner:
        image = owner.create_image()
        response = owner.post('/v2/images/%s/locations' % image['id'],
                              json={'url': web_server.url('files', 'nothing-here')})
        assert response.status_code == 202, response.text
        image = owner.settled(image['id'])
        assert (image['status'], image['locations']) == ('queued', [])


def test_a_broken_download_is_resumed_up_to_http_retries(web, web_server):
    url, data = web_server.add('flaky')
    name = url.rsplit('/', 1)[1]
    web_server.breaks[name] = 2
    with web.client(deployment.new_project()) as owner:
        image = owner.create_image()
        owner.post('/v2/images/%s/locations' % image['id'], json={'url': url})
        image = owner.settled(image['id'])
        assert image['status'] == 'active'
        assert data_of(image) == digests(data)
        assert web_server.gets[name] == 3


def test_a_download_broken_more_than_http_retries_is_refused(web, web_server):
    url, _ = web_server.add('flaky')
    name = url.rsplit('/', 1)[1]
    web_server.breaks[name] = 3
    with web.client(deployment.new_project()) as owner:
        image = owner.create_image()
        owner.post('/v2/images/%s/locations' % image['id'], json={'url': url})
        image = owner.settled(image['id'])
        assert (image['status'], image['locations']) == ('queued', [])
        assert web_server.gets[name] == 3


def test_an_importing_image_takes_no_second_location_nor_upload(web, web_server):
    url, data = web_server.add('stall')
    name = url.rsplit('/', 1)[1]
    with web.client(deployment.new_project()) as owner:
        image = owner.create_image()
        owner.post('/v2/images/%s/locations' % image['id'], json={'url': url})
        assert owner.image(image['id'])['status'] == 'importing'
        other, _ = web_server.add()
        assert_error(owner.post('/v2/images/%s/locations' % image['id'],
                                json={'url': other}), 409)
        assert_error(owner.upload(image['id'], b'x'), 409)
        assert_error(owner.patch_image(image['id'], [
            {'op': 'add', 'path': '/locations/-',
             'value': {'url': other, 'metadata': {}}}]), 409)
        web_server.release.setdefault(name, threading.Event()).set()
        image = owner.settled(image['id'])
        assert image['status'] == 'active' and data_of(image) == digests(data)
        assert [loc['url'] for loc in image['locations']] == [url]


def _verifying_stalled(owner, web_server):
    """A new image whose location, at ``web_server``, stalls half-way through its
    first read, once that read has begun; ``(image, data, name)``."""
    url, data = web_server.add('stall')
    name = url.rsplit('/', 1)[1]
    image = owner.create_image()
    owner.post('/v2/images/%s/locations' % image['id'], json={'url': url})
    wait_for(lambda: web_server.gets.get(name) == 1)
    return image, data, name


def test_a_source_that_pauses_longer_than_the_lease_keeps_its_verification(
        web, web_server):
    with web.client(deployment.new_project()) as owner:
        image, data, name = _verifying_stalled(owner, web_server)
        # The worker is alive, waiting on the source.
        owner.polls_importing(image['id'], PAUSE)
        web_server.release.setdefault(name, threading.Event()).set()
        image = owner.settled(image['id'])
        assert image['status'] == 'active' and data_of(image) == digests(data)
        assert web_server.gets[name] == 1


def test_a_crashed_verification_is_taken_over_by_the_next_request(web, web_server):
    """The API is killed while it hashes; after the lease runs out, the next read of
    the image (by a restarted worker) starts the verification again."""
    with web.client(deployment.new_project()) as owner:
        image, data, name = _verifying_stalled(owner, web_server)
        web.api.kill()
        web.api.start()
        time.sleep(LEASE + 1)
        # The first read claims the location and resumes; the stall is over.
        assert owner.image(image['id'])['status'] == 'importing'
        image = owner.settled(image['id'])
        assert image['status'] == 'active' and data_of(image) == digests(data)
        assert web_server.gets[name] == 2
    web_server.release.setdefault(name, threading.Event()).set()


def test_a_verification_interrupted_too_often_is_refused(web, web_server):
    url, _ = web_server.add('stall')
    name = url.rsplit('/', 1)[1]
    web_server.forever.add(name)
    registry = registry_client(web)
    with web.client(deployment.new_project()) as owner:
        image = owner.create_image()
        owner.post('/v2/images/%s/locations' % image['id'], json={'url': url})
        # The verifier is stuck past task_stall_time: its lease runs out. Two
        # more workers "die".
        time.sleep(STALL + LEASE + 1)
        for n in range(2):
            registry.claim_location(ADMIN_IDENTITY, image['id'], url,
                                    Lease('dead-%d' % n, 0))
        record = registry.get_image(ADMIN_IDENTITY, image['id'])
        assert record['locations'][0]['attempts'] == 3
        # The fourth claim gives up.
        owner.image(image['id'])
        image = owner.settled(image['id'])
        assert (image['status'], image['locations']) == ('queued', [])
    web_server.release.setdefault(name, threading.Event()).set()
    registry.close()


def test_file_data_placed_in_the_store_directory_can_be_added(glance):
    data = disk_images.raw(100 * 1024)
    url = place(pathlib.Path(glance.datadir), data)
    with glance.client(deployment.new_project()) as owner:
        image = owner.create_image()
        response = owner.post('/v2/images/%s/locations' % image['id'],
                              json={'url': url})
        assert response.status_code == 202, response.text
        image = owner.settled(image['id'])
        assert data_of(image) == digests(data)
        assert 'locations' not in image   # show_multiple_locations is off
        assert owner.get('/v2/images/%s/file' % image['id']).content == data


# (what the URL is, how to build it from the server and the file store directory)
REFUSED_URLS = [
    ('no store reads it', lambda server, fast: 'swift://account/container/object'),
    ('no store reads it', lambda server, fast: 'ftp://127.0.0.1/disk'),
    ('file outside the data directory', lambda server, fast: 'file:///etc/passwd'),
    ('file next to the data directory',
     lambda server, fast: file_url(fast.parent / 'glance.sqlite')),
    ('file with a host', lambda server, fast: 'file://evil.example' + str(fast / 'x')),
    ('scheme not allowed', lambda server, fast: server.url('files', 'x').replace(
        'http:', 'https:')),
    ('port not allowed', lambda server, fast: 'http://127.0.0.1:8/files/x'),
    ('default port not allowed', lambda server, fast: 'http://127.0.0.1/files/x'),
    ('host not allowed',
     lambda server, fast: 'http://forbidden.example:%d/files/x' % server.port),
    ('internal address not named in allowed_hosts',
     lambda server, fast: 'http://127.0.0.2:%d/files/x' % server.port),
    ('not a url', lambda server, fast: 'disk.qcow2'),
    ('too long', lambda server, fast: server.url('files', 'x' * 300)),
    ('unclosed IPv6 bracket', lambda server, fast: 'http://[::1/x'),
    ('file url with an unclosed bracket', lambda server, fast: 'file://[::1/x'),
    ('port not a number', lambda server, fast: 'http://127.0.0.1:port/x'),
    ('file url with an escaped NUL', lambda server, fast: file_url(fast / 'x') + '%00'),
    ('file url with a NUL', lambda server, fast: file_url(fast / 'x') + '\x00y'),
]


@pytest.mark.parametrize('what,make', REFUSED_URLS,
                         ids=['%d-%s' % (i, w) for i, (w, _) in
                              enumerate(REFUSED_URLS)])
def test_refused_urls_are_400_and_change_nothing(web, web_server, what, make):
    url = make(web_server, web.fast)
    with web.client(deployment.new_project()) as owner:
        image = owner.create_image()
        assert_error(owner.post('/v2/images/%s/locations' % image['id'],
                                json={'url': url}), 400)
        assert_error(owner.patch_image(image['id'], [
            {'op': 'add', 'path': '/locations/-',
             'value': {'url': url, 'metadata': {}}}]), 400)
        assert owner.image(image['id']) == image
    # Refused before any request is made.
    assert 'x' not in web_server.gets and 'x' * 300 not in web_server.gets


@pytest.mark.parametrize('body', [
    {},
    {'url': 5},
    {'url': ''},
    {'url': 'http://x', 'extra': 1},
    {'url': 'http://x', 'validation_data': {'os_hash_algo': 'sha512'}},
    {'url': 'http://x', 'validation_data': {'os_hash_algo': 'md5',
                                            'os_hash_value': 'a' * 32}},
    {'url': 'http://x', 'validation_data': {'os_hash_algo': 'sha512',
                                            'os_hash_value': 'a' * 127}},
    {'url': 'http://x', 'validation_data': {'os_hash_algo': 'sha512',
                                            'os_hash_value': 'z' * 128}},
    {'url': 'http://x', 'validation_data': {'os_hash_algo': 'sha512',
                                            'os_hash_value': 'a' * 128,
                                            'checksum': 'a' * 32}},
    ['http://x'],
])
def test_invalid_add_bodies_are_400_and_change_nothing(web, body):
    with web.client(deployment.new_project()) as owner:
        image = owner.create_image()
        assert_error(owner.post('/v2/images/%s/locations' % image['id'], json=body),
                     400)
        assert owner.image(image['id']) == image


@pytest.mark.parametrize('status', ['active', 'deactivated'])
def test_adding_to_an_image_that_is_not_queued_conflicts(web, web_server, status):
    url, _ = web_server.add()
    with web.client(deployment.new_project()) as owner:
        image = owner.create_image()
        owner.upload(image['id'], b'data')
        if status == 'deactivated':
            owner.post('/v2/images/%s/actions/deactivate' % image['id'])
        before = owner.image(image['id'])
        assert_error(owner.post('/v2/images/%s/locations' % image['id'],
                                json={'url': url}), 409)
        assert owner.image(image['id']) == before
        assert url.rsplit('/', 1)[1] not in web_server.gets


def test_adding_needs_the_formats(web, web_server):
    url, _ = web_server.add()
    with web.client(deployment.new_project()) as owner:
        image = owner.create_image(disk_format=None, container_format=None)
        assert_error(owner.post('/v2/images/%s/locations' % image['id'],
                                json={'url': url}), 400)
        assert owner.image(image['id']) == image


# (caller, status): who may add a location to a project's private image
ADDERS = [
    ('owner member', 202),
    ('owner reader', 403),
    ('other project member', 404),
    ('service of the owner project', 202),
    ('admin', 202),
]


def caller(glance, who, owner_project):
    if who == 'admin':
        return glance.client()
    if who == 'owner reader':
        return glance.client(owner_project, roles=('reader',))
    if who == 'other project member':
        return glance.client(deployment.new_project())
    if who == 'service of the owner project':
        return glance.client(owner_project, roles=SERVICE)
    return glance.client(owner_project)


@pytest.mark.parametrize('who,status', ADDERS, ids=[w for w, _ in ADDERS])
def test_who_may_add_a_location(web, web_server, who, status):
    url, _ = web_server.add()
    project = deployment.new_project()
    with web.client(project) as owner, caller(web, who, project) as client:
        image = owner.create_image(visibility='private')
        response = client.post('/v2/images/%s/locations' % image['id'],
                               json={'url': url})
        assert response.status_code == status, response.text
        image_after = owner.settled(image['id'])
        if status == 202:
            assert image_after['status'] == 'active'
        else:
            assert image_after == image


# (caller, status): who may list an image's locations (policy fetch_image_location)
LISTERS = [('owner member', 403), ('owner reader', 403),
           ('service of the owner project', 200), ('admin', 200),
           ('other project member', 404)]


@pytest.mark.parametrize('who,status', LISTERS, ids=[w for w, _ in LISTERS])
def test_who_may_list_locations(glance, who, status):
    project = deployment.new_project()
    with glance.client(project) as owner, caller(glance, who, project) as client:
        image = owner.create_image(visibility='private')
        owner.upload(image['id'], b'data')
        response = client.get('/v2/images/%s/locations' % image['id'])
        assert response.status_code == status, response.text
        if status == 200:
            (location,) = response.json()
            assert location['url'].endswith(image['id'])
            assert location['metadata'] == {}


def test_locations_of_an_unknown_image_are_404(glance):
    with glance.client() as admin:
        assert_error(admin.get('/v2/images/%s/locations' % uuid.uuid4()), 404)
        assert_error(admin.post('/v2/images/%s/locations' % uuid.uuid4(),
                                json={'url': 'http://x'}), 404)


def test_without_hashing_the_image_is_active_at_once_with_the_given_hash(plain):
    data = disk_images.raw(5000)
    url = place(pathlib.Path(plain.datadir), data)
    given = hashlib.sha512(b'unverified').hexdigest()
    with plain.client(deployment.new_project()) as owner:
        image = owner.create_image()
        response = owner.post('/v2/images/%s/locations' % image['id'], json={
            'url': url, 'validation_data': {'os_hash_algo': 'sha512',
                                            'os_hash_value': given}})
        assert response.status_code == 202, response.text
        image = owner.image(image['id'])
        assert image['status'] == 'active'
        assert (image['size'], image['checksum'], image['os_hash_value']) == (
            len(data), None, given)
        assert image['locations'] == [{'url': url, 'metadata': {}}]
        missing = owner.create_image()
        assert_error(owner.post('/v2/images/%s/locations' % missing['id'], json={
            'url': file_url(pathlib.Path(plain.datadir) / 'placed-none')}), 400)
        assert owner.image(missing['id']) == missing


def test_locations_count_against_the_storage_quota(plain):
    datadir = pathlib.Path(plain.datadir)
    with plain.client(deployment.new_project()) as owner:
        big = owner.create_image()
        assert owner.upload(big['id'], disk_images.raw(12000)).status_code == 204
        placed = place(datadir, disk_images.raw(9000))
        for request in (
                lambda image: owner.post('/v2/images/%s/locations' % image['id'],
                                         json={'url': placed}),
                lambda image: owner.patch_image(image['id'], [add_op(placed)])):
            image = owner.create_image()
            assert_error(request(image), 413)
            assert owner.image(image['id']) == image
        # A second copy of the big image would count twice too.
        copy = place(datadir, owner.get('/v2/images/%s/file' % big['id']).content)
        assert_error(owner.patch_image(big['id'], [add_op(copy)]), 413)
        assert len(owner.image(big['id'])['locations']) == 1


def test_another_images_data_cannot_be_taken_over(plain):
    datadir = pathlib.Path(plain.datadir)
    with plain.client(deployment.new_project()) as victim, \
            plain.client(deployment.new_project()) as thief:
        victims = victim.create_image()
        victim.upload(victims['id'], b'precious')
        shared = place(datadir, b'placed')
        first = thief.create_image()
        assert thief.post('/v2/images/%s/locations' % first['id'],
                          json={'url': shared}).status_code == 202
        for url in (file_url(datadir / victims['id']), shared,
                    # Not uploaded yet, but an upload would fill it.
                    file_url(datadir / victim.create_image()['id'])):
            image = thief.create_image()
            assert_error(thief.post('/v2/images/%s/locations' % image['id'],
                                    json={'url': url}), 409)
            assert thief.image(image['id']) == image
        # Deleting the thief's image deletes the placed data, not the victim's.
        assert thief.delete('/v2/images/%s' % first['id']).status_code == 204
        assert (datadir / victims['id']).read_bytes() == b'precious'
        assert not os.path.exists(urllib.parse.urlparse(shared).path)


def _spellings(path):
    """Other URLs of the file at ``path``, each of which the file store resolves to
    it."""
    directory, name = path.parent, path.name
    return ['file://%s/.' % path, 'file://%s?x' % path, 'file://%s#x' % path,
            'file://%s/%%%02x%s' % (directory, ord(name[0]), name[1:]),
            'file://%s//%s' % (directory, name), 'file://%s/./%s' % (directory, name),
            'file://localhost%s' % path,
            'file://%s/sub/../%s' % (directory, name),
            'FILE://%s' % path]


def test_another_images_data_cannot_be_taken_over_in_another_spelling(plain):
    datadir = pathlib.Path(plain.datadir)
    with plain.client(deployment.new_project()) as victim, \
            plain.client(deployment.new_project()) as thief:
        victims = victim.create_image()
        victim.upload(victims['id'], b'precious')
        placed = place(datadir, b'placed')
        taker = thief.create_image()
        assert thief.post('/v2/images/%s/locations' % taker['id'],
                          json={'url': placed}).status_code == 202
        for path in (datadir / victims['id'], pathlib.Path(placed[len('file://'):])):
            for url in _spellings(path):
                image = thief.create_image()
                response = thief.post('/v2/images/%s/locations' % image['id'],
                                      json={'url': url})
                # 409 whatever the spelling, as the README says: each is the
                # same file, recorded as the store resolves it.
                assert response.status_code == 409, (url, response.text)
                assert thief.image(image['id']) == image
        assert victim.get('/v2/images/%s/file' % victims['id']).content == b'precious'


def test_data_two_images_share_is_deleted_only_with_the_last_of_them(plain):
    """Upstream lets images share a location (and data migrated from it may): the
    public API and the registry refuse to make such a pair, so the database gets it
    as a migration would, and the public API deletes."""
    datadir = pathlib.Path(plain.datadir)
    data = disk_images.raw(5000)
    url = place(datadir, data)
    path = pathlib.Path(url[len('file://'):])
    project = deployment.new_project()
    owner_identity = Identity('user-of-%s' % project, project, ('member', 'reader'))
    registry = registry_client(plain)
    try:
        images = []
        for location in (url, place(datadir, data)):
            image = registry.create_image(owner_identity, {
                'disk_format': 'raw', 'container_format': 'bare'})
            registry.transition_status(owner_identity, image['id'], 'queued', 'saving')
            images.append(registry.transition_status(
                owner_identity, image['id'], 'saving', 'active',
                values={'size': len(data)}, locations=[{'url': location}]))
    finally:
        registry.close()
    first, second = images
    with sqlite3.connect(plain.database_url[len('sqlite:///'):]) as conn:
        conn.execute('UPDATE image_locations SET url = ? WHERE image_id = ?',
                     (url, second['id']))
    with plain.client(project) as owner:
        for image in images:
            assert owner.get('/v2/images/%s/file' % image['id']).content == data
        assert owner.delete('/v2/images/%s' % first['id']).status_code == 204
        assert_error(owner.get('/v2/images/%s' % first['id']), 404)
        assert path.read_bytes() == data
        assert owner.get('/v2/images/%s/file' % second['id']).content == data
        assert owner.delete('/v2/images/%s' % second['id']).status_code == 204
    assert not path.exists()


def test_refusing_a_location_tells_nothing_of_images_the_caller_cannot_see(plain):
    datadir = pathlib.Path(plain.datadir)
    with plain.client(deployment.new_project()) as other, \
            plain.client(deployment.new_project()) as prober:
        hidden = other.create_image()   # queued, private: no data yet
        answers = []
        for name in (hidden['id'], str(uuid.uuid4())):
            image = prober.create_image()
            response = prober.post('/v2/images/%s/locations' % image['id'],
                                   json={'url': file_url(datadir / name)})
            answers.append((response.status_code, response.json()['message']
                            .replace(name, '<id>')))
        assert answers[0] == answers[1] and answers[0][0] == 409, answers


def test_a_patch_whose_locations_changed_meanwhile_conflicts(plain):
    # The patch waits at the database's write lock, having read the image; another
    # writer adds a location meanwhile. The 409 quoted the registry's words after
    # its own, which were the same.
    datadir = pathlib.Path(plain.datadir)
    with plain.client(deployment.new_project()) as owner:
        image = owner.create_image()
        url, other = place(datadir, b'data'), place(datadir, b'data')
        outcome = []
        patching = threading.Thread(target=lambda: outcome.append(
            owner.patch_image(image['id'], [add_op(url)])))
        gate = races.GATES['sqlite'](plain.database_url)
        try:
            patching.start()
            gate.wait_for(1)
            with sqlite3.connect(plain.database_url[len('sqlite:///'):],
                                 timeout=30) as conn:
                conn.execute('INSERT INTO image_locations (image_id, position, url, '
                             "metadata, status, attempts) VALUES (?, 0, ?, '{}', "
                             "'active', 0)", (image['id'], other))
            conn.close()
        finally:
            gate.open()
        patching.join()
        [response] = outcome
        assert response.status_code == 409, response.text
        assert response.json()['message'] == (
            'The locations of image %s changed meanwhile; read it again.'
            % image['id'])
        assert [location['url'] for location in owner.image(image['id'])[
            'locations']] == [other]


def test_a_location_is_recorded_as_its_store_spells_it(plain):
    datadir = pathlib.Path(plain.datadir)
    url = place(datadir, b'data')
    path = pathlib.Path(url[len('file://'):])
    with plain.client(deployment.new_project()) as owner:
        image = owner.create_image()
        assert owner.patch_image(image['id'], [
            add_op('file://%s/./%s?x' % (path.parent, path.name))]).status_code == 200
        assert [location['url'] for location in owner.image(image['id'])['locations']] \
            == [url]
        # The same file in another spelling is the same location.
        for other in _spellings(path):
            assert_error(owner.patch_image(image['id'], [add_op(other)]), 400)
        assert len(owner.image(image['id'])['locations']) == 1


# -- PATCH /locations --------------------------------------------------------------

def add_op(url, index='-', metadata=None, **extra):
    return {'op': 'add', 'path': '/locations/%s' % index,
            'value': dict({'url': url, 'metadata': metadata or {}}, **extra)}


def test_locations_are_hidden_and_unchangeable_by_default(glance):
    url = place(pathlib.Path(glance.datadir), b'data')
    with glance.client(deployment.new_project()) as owner, glance.client() as admin:
        image = owner.create_image()
        for client in (owner, admin):
            assert_error(client.patch_image(image['id'], [add_op(url)]), 403)
            assert_error(client.patch_image(image['id'], [
                {'op': 'replace', 'path': '/locations', 'value': []}]), 403)
        assert owner.image(image['id']) == image
        owner.upload(image['id'], b'abc')
        assert 'locations' not in owner.image(image['id'])
        assert all('locations' not in listed
                   for listed in admin.get('/v2/images').json()['images'])
        assert_error(admin.patch_image(image['id'], [
            {'op': 'remove', 'path': '/locations/0'}]), 403)
    assert os.path.exists(urllib.parse.urlparse(url).path)


def test_patch_add_activates_a_queued_image_with_size_and_validation_data(plain):
    data = disk_images.raw(4096)
    url = place(pathlib.Path(plain.datadir), data)
    expected = digests(data)
    with plain.client(deployment.new_project()) as owner:
        image = owner.create_image(name='before')
        response = owner.patch_image(image['id'], [
            {'op': 'replace', 'path': '/name', 'value': 'after'},
            add_op(url, validation_data={
                key: expected[key] for key in ('checksum', 'os_hash_algo',
                                               'os_hash_value')})])
        assert response.status_code == 200, response.text
        image = response.json()
        assert image['status'] == 'active' and image['name'] == 'after'
        assert data_of(image) == expected
        assert image['locations'] == [{'url': url, 'metadata': {}}]
        assert owner.image(image['id']) == image
        assert owner.get('/v2/images/%s/file' % image['id']).content == data


def test_patch_add_a_second_location_at_an_index(plain):
    datadir = pathlib.Path(plain.datadir)
    with plain.client(deployment.new_project()) as owner:
        image = owner.create_image()
        owner.upload(image['id'], b'twelve bytes')
        copy = place(datadir, b'twelve bytes')
        response = owner.patch_image(image['id'], [add_op(copy, index=0,
                                                          metadata={'k': 'v'})])
        assert response.status_code == 200, response.text
        assert [loc['url'] for loc in response.json()['locations']] == [
            copy, file_url(datadir / image['id'])]
        assert response.json()['locations'][0]['metadata'] == {'k': 'v'}


@pytest.mark.parametrize('problem,status', [
    ('different size', 400), ('duplicate', 400), ('over the quota', 413),
    ('bad index', 400), ('superscript index', 400), ('huge index', 400),
    ('no index', 400),
    ('not an object', 400),
    ('no metadata', 400), ('new hash on an active image', 409),
    ('missing data', 400), ('reader', 403)])
def test_refused_patch_adds_change_nothing(plain, problem, status):
    datadir = pathlib.Path(plain.datadir)
    project = deployment.new_project()
    with plain.client(project) as owner, \
            plain.client(project, roles=('reader',)) as reader:
        image = owner.create_image()
        owner.upload(image['id'], b'five!')
        own = file_url(datadir / image['id'])
        if problem == 'over the quota':
            owner.patch_image(image['id'], [add_op(place(datadir, b'five!'))])
        url = place(datadir, b'five!' if problem != 'different size' else b'six!!!')
        operation = {
            'duplicate': add_op(own),
            'bad index': add_op(url, index='first'),
            # A digit to str.isdigit(), not to int().
            'superscript index': add_op(url, index='\u00b2'),
            # Past Python's int-string limit (a 500 before).
            'huge index': add_op(url, index='9' * 5000),
            'no index': {'op': 'add', 'path': '/locations',
                         'value': {'url': url, 'metadata': {}}},
            'not an object': {'op': 'add', 'path': '/locations/-', 'value': url},
            'no metadata': {'op': 'add', 'path': '/locations/-', 'value': {'url': url}},
            'new hash on an active image': add_op(url, validation_data={
                'os_hash_algo': 'sha512', 'os_hash_value': 'a' * 128}),
            'missing data': add_op(file_url(datadir / 'placed-missing')),
        }.get(problem, add_op(url))
        before = owner.image(image['id'])
        client = reader if problem == 'reader' else owner
        assert_error(client.patch_image(image['id'], [operation]), status)
        assert owner.image(image['id']) == before


def test_a_patch_of_attributes_and_locations_is_applied_whole_or_not_at_all(plain):
    datadir = pathlib.Path(plain.datadir)
    with plain.client(deployment.new_project()) as owner:
        image = owner.create_image()
        data = disk_images.raw(STORAGE_QUOTA * 3 // 5)
        owner.upload(image['id'], data)
        before = owner.image(image['id'])
        # A second copy counts the size again: over the storage quota, which the
        # registry checks as it writes the locations.
        response = owner.patch_image(image['id'], [
            {'op': 'replace', 'path': '/name', 'value': 'changed'},
            {'op': 'replace', 'path': '/tags', 'value': ['t']},
            add_op(place(datadir, data))])
        assert_error(response, 413)
        assert owner.image(image['id']) == before


@pytest.mark.parametrize('validation_data', [
    {'os_hash_algo': 'sha512', 'os_hash_value': 'a' * 128, 'checksum': 'z' * 32},
    {'os_hash_algo': 'sha256', 'os_hash_value': 'a' * 64},
    {'os_hash_algo': 'sha512', 'os_hash_value': 'a' * 64},
])
def test_invalid_validation_data_on_a_queued_image_conflicts(plain, validation_data):
    url = place(pathlib.Path(plain.datadir), b'data')
    with plain.client(deployment.new_project()) as owner:
        image = owner.create_image()
        assert_error(owner.patch_image(image['id'], [
            add_op(url, validation_data=validation_data)]), 409)
        assert owner.image(image['id']) == image


def test_patch_replace_sets_a_queued_images_locations_or_their_metadata(plain):
    datadir = pathlib.Path(plain.datadir)
    first, second = place(datadir, b'same'), place(datadir, b'same')
    with plain.client(deployment.new_project()) as owner:
        image = owner.create_image()
        twice = [{'url': first, 'metadata': {}}, {'url': first, 'metadata': {}}]
        assert_error(owner.patch_image(image['id'], [
            {'op': 'replace', 'path': '/locations', 'value': twice}]), 400)
        assert owner.image(image['id']) == image
        value = [{'url': first, 'metadata': {}}, {'url': second, 'metadata': {}}]
        response = owner.patch_image(image['id'], [
            {'op': 'replace', 'path': '/locations', 'value': value}])
        assert response.status_code == 200, response.text
        image = response.json()
        assert image['status'] == 'active' and image['size'] == 4
        assert image['locations'] == value
        value = [{'url': second, 'metadata': {'n': '2'}},
                 {'url': first, 'metadata': {'n': '1'}}]
        response = owner.patch_image(image['id'], [
            {'op': 'replace', 'path': '/locations', 'value': value}])
        assert response.json()['locations'] == value
        for replacement, status in (
                ([], 403),
                ([{'url': place(datadir, b'same'), 'metadata': {}}], 400),
                ('not a list', 400),
                ([{'url': first, 'metadata': {}}, {'url': first, 'metadata': {}}],
                 400)):
            assert_error(owner.patch_image(image['id'], [
                {'op': 'replace', 'path': '/locations', 'value': replacement}]),
                status)
            assert owner.image(image['id'])['locations'] == value


def test_patch_remove_unlinks_a_location_and_deletes_its_data(plain):
    datadir = pathlib.Path(plain.datadir)
    with plain.client(deployment.new_project()) as owner, plain.client() as admin:
        image = owner.create_image()
        owner.upload(image['id'], b'payload')
        copy = place(datadir, b'payload')
        owner.patch_image(image['id'], [add_op(copy)])
        # delete_image_location is for admins.
        assert_error(owner.patch_image(image['id'], [
            {'op': 'remove', 'path': '/locations/1'}]), 403)
        for index in ('2', 'x', '9' * 5000):
            assert_error(admin.patch_image(image['id'], [
                {'op': 'remove', 'path': '/locations/%s' % index}]), 400)
        assert len(owner.image(image['id'])['locations']) == 2
        response = admin.patch_image(image['id'], [
            {'op': 'remove', 'path': '/locations/1'}])
        assert response.status_code == 200, response.text
        assert response.json()['locations'] == [
            {'url': file_url(datadir / image['id']), 'metadata': {}}]
        assert not os.path.exists(urllib.parse.urlparse(copy).path)
        # The last one stays, with its data.
        assert_error(admin.patch_image(image['id'], [
            {'op': 'remove', 'path': '/locations/0'}]), 403)
        assert owner.get('/v2/images/%s/file' % image['id']).content == b'payload'


def test_patch_locations_of_an_image_that_is_not_queued_or_active_conflicts(plain):
    datadir = pathlib.Path(plain.datadir)
    with plain.client(deployment.new_project()) as owner, plain.client() as admin:
        image = owner.create_image()
        owner.upload(image['id'], b'data')
        owner.post('/v2/images/%s/actions/deactivate' % image['id'])
        before = owner.image(image['id'])
        assert_error(owner.patch_image(image['id'], [
            add_op(place(datadir, b'data'))]), 409)
        assert_error(admin.patch_image(image['id'], [
            {'op': 'remove', 'path': '/locations/0'}]), 409)
        queued = owner.create_image()
        assert_error(admin.patch_image(queued['id'], [
            {'op': 'remove', 'path': '/locations/0'}]), 409)
        assert owner.image(image['id']) == before


def test_locations_are_shown_only_to_callers_policy_lets_see_them(plain):
    with plain.client(deployment.new_project()) as owner, \
            plain.client(deployment.new_project()) as stranger:
        image = owner.create_image(visibility='community')
        owner.upload(image['id'], b'data')
        seen = owner.image(image['id'])
        assert len(seen['locations']) == 1
        assert seen['direct_url'] == seen['locations'][0]['url']
        unseen = stranger.image(image['id'])
        assert unseen['locations'] == [] and 'direct_url' not in unseen


# -- DELETE /v2/stores/{store_id}/{image_id} -------------------------------------------

def in_both_stores(pair, client, data):
    """An image uploaded to ``a`` with a copy in ``b``; its document."""
    image = client.create_image()
    assert client.upload(image['id'], data,
                         **{'X-Image-Meta-Store': 'a'}).status_code == 204
    copy = place(pair.dirs['b'], data)
    response = client.patch_image(image['id'], [add_op(copy)])
    assert response.status_code == 200, response.text
    assert response.json()['stores'] == 'a,b'
    return response.json()


def test_delete_from_store_removes_that_copy_only(pair):
    with pair.client(deployment.new_project()) as owner, pair.client() as admin:
        image = in_both_stores(pair, owner, b'two copies')
        copy = urllib.parse.urlparse(image['locations'][1]['url']).path
        assert_error(owner.delete('/v2/stores/b/%s' % image['id']), 403)
        assert os.path.exists(copy)
        assert admin.delete('/v2/stores/b/%s' % image['id']).status_code == 204
        image = owner.image(image['id'])
        assert image['stores'] == 'a'
        assert [loc['metadata']['store'] for loc in image['locations']] == ['a']
        assert not os.path.exists(copy)
        assert_error(admin.delete('/v2/stores/b/%s' % image['id']), 404)
        # The last copy stays.
        assert_error(admin.delete('/v2/stores/a/%s' % image['id']), 409)
        assert owner.get('/v2/images/%s/file' % image['id']).content == b'two copies'
        assert (pair.dirs['a'] / image['id']).exists()


def test_delete_from_store_needs_an_active_image_and_a_known_store(pair):
    with pair.client(deployment.new_project()) as owner, pair.client() as admin:
        image = in_both_stores(pair, owner, b'data')
        assert_error(admin.delete('/v2/stores/nowhere/%s' % image['id']), 409)
        assert_error(admin.delete('/v2/stores/a/%s' % uuid.uuid4()), 404)
        owner.post('/v2/images/%s/actions/deactivate' % image['id'])
        assert_error(admin.delete('/v2/stores/b/%s' % image['id']), 409)
        assert len(owner.image(image['id'])['locations']) == 2
        queued = owner.create_image()
        assert_error(admin.delete('/v2/stores/a/%s' % queued['id']), 409)


def test_racing_deletes_from_two_stores_keep_one_copy(pair):
    with pair.client(deployment.new_project()) as owner:
        image = in_both_stores(pair, owner, b'race')
        paths = [urllib.parse.urlparse(loc['url']).path for loc in image['locations']]
        statuses = []

        def delete_from(store):
            with pair.client() as racer:
                statuses.append(racer.delete('/v2/stores/%s/%s'
                                             % (store, image['id'])).status_code)

        threads = [threading.Thread(target=delete_from, args=(store,))
                   for store in ('a', 'b')]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [204, 409]
        assert len(owner.image(image['id'])['locations']) == 1
        assert sum(os.path.exists(path) for path in paths) == 1
        assert owner.get('/v2/images/%s/file' % image['id']).content == b'race'


def test_delete_from_store_without_multiple_stores_is_404(glance):
    with glance.client(deployment.new_project()) as owner, glance.client() as admin:
        image = owner.create_image()
        owner.upload(image['id'], b'data')
        assert_error(admin.delete('/v2/stores/file/%s' % image['id']), 404)
        assert owner.get('/v2/images/%s/file' % image['id']).content == b'data'


# -- [import_filtering_opts] -----------------------------------------------------------

# (options, url, allowed)
FILTERS = [
    ({}, 'http://example.com/disk', True),
    ({}, 'https://example.com/disk', True),
    ({}, 'http://example.com:8080/disk', False),
    ({}, 'ftp://example.com/disk', False),
    ({'allowed_ports': [8080]}, 'http://example.com/disk', False),
    ({'allowed_ports': [8080]}, 'http://example.com:8080/disk', True),
    ({'allowed_ports': [], 'disallowed_ports': [80]}, 'http://example.com/disk',
     False),
    ({'allowed_ports': [], 'disallowed_ports': [80]}, 'http://example.com:81/d', True),
    ({'allowed_ports': [81], 'disallowed_ports': [81]}, 'http://e.com:81/d', True),
    ({'disallowed_hosts': ['Bad.Example']}, 'http://bad.example/disk', False),
    ({'disallowed_hosts': ['bad.example']}, 'http://good.example/disk', True),
    ({'allowed_hosts': ['good.example'], 'disallowed_hosts': ['good.example']},
     'http://good.example/disk', True),
    ({'allowed_hosts': ['good.example']}, 'http://other.example/disk', False),
    ({'allowed_schemes': [], 'disallowed_schemes': ['https']},
     'https://example.com/disk', False),
    ({'allowed_schemes': ['https'], 'disallowed_schemes': ['https']},
     'https://example.com/disk', True),
    ({}, 'http:///disk', False),
    ({}, 'http://example.com:99999/disk', False),
    ({}, 'http://example.com:port/disk', False),
]


@pytest.mark.parametrize('options,url,allowed', FILTERS)
def test_import_filters_allow_lists_beat_deny_lists(options, url, allowed):
    conf = cfg.ConfigOpts()
    import_filtering.register_opts(conf)
    conf([])
    for name, value in options.items():
        conf.set_override(name, value, group=import_filtering.GROUP)
    assert import_filtering.allows(conf, url) is allowed


# -- a read-only store (http) takes no data ----------------------------------------------

def test_uploading_to_a_read_only_store_is_410_and_keeps_the_image_queued(web):
    with web.client(deployment.new_project()) as owner:
        image = owner.create_image()
        response = owner.upload(image['id'], b'data', **{'X-Image-Meta-Store': 'web'})
        assert response.status_code == 410, response.text
        assert 'Store web is read-only' in response.json()['message']
        assert owner.image(image['id'])['status'] == 'queued'
        assert image['id'] not in os.listdir(web.fast)
        unknown = owner.upload(image['id'], b'data', **{'X-Image-Meta-Store': 'nope'})
        assert unknown.status_code == 400
        assert 'nope not found' in unknown.json()['message']
        assert owner.upload(image['id'], b'data',
                            **{'X-Image-Meta-Store': 'fast'}).status_code == 204


def test_importing_into_a_read_only_store_is_409_naming_it(web):
    with web.client(deployment.new_project()) as owner:
        image = owner.create_image()
        response = owner.post('/v2/images/%s/import' % image['id'], json={
            'method': {'name': 'web-download', 'uri': 'http://127.0.0.1/x'},
            'stores': ['web']})
        assert response.status_code == 409, response.text
        assert 'Store web is read-only' in response.json()['message']
        assert owner.image(image['id'])['status'] == 'queued'
