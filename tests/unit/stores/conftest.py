"""Fixtures for the store tests: one harness per driver, over a real backend.

A harness builds configured stores of its driver and looks at the backend directly
(files in the data directory, objects in the Swift container, the memory stores'
objects and open writers), so tests can check what a store left behind without
trusting the store's reads. ``writable_harness`` runs a test once per driver that can
write; ``readable_harness`` also runs it for read-only drivers; ``configurable_harness``
for every driver that operators may name in a config file (all but memory).
"""

import http.server
import os
import random
import re
import sys
import threading
import uuid

from oslo_config import cfg
import pytest

import stores
from stores import memory, web
from tests.fixtures.mounts import Mounts

MiB = 1024 * 1024
CONFIGURABLE_WRITABLE = ['file', pytest.param('swift', marks=pytest.mark.swift)]
CONFIGURABLE = CONFIGURABLE_WRITABLE + ['http']
WRITABLE = ['memory'] + CONFIGURABLE_WRITABLE
READABLE = WRITABLE + ['http']


def payload(size, seed=0):
    """``size`` reproducible pseudo-random bytes."""
    return random.Random(seed).randbytes(size)


def build_store(driver, options, group='glance_store', store_id=None):
    """A configured store of type ``driver`` with ``options`` set in ``group``."""
    store_class = stores.driver_class(driver)
    conf = cfg.ConfigOpts()
    conf.register_opts(store_class.option_list(), group=group)
    conf(args=[], default_config_files=[], default_config_dirs=[])
    for name, value in options.items():
        conf.set_override(name, value, group)
    store = store_class(conf, group, store_id or driver)
    store.configure()
    return store


def write_image(store, data, image_id=None, size=None, chunk_size=64 * 1024):
    """Write ``data`` through ``store``'s writer in chunks; the ``StoredImage``."""
    writer = store.open_writer(image_id or str(uuid.uuid4()), size=size)
    with writer:
        for start in range(0, len(data), chunk_size):
            writer.write(data[start:start + chunk_size])
        return writer.commit()


class _WritableHarness:
    """What harnesses of drivers that can write share: they seed through the store."""

    writable = True
    #: For the large-image test: options that keep its pieces small.
    large_options = {}

    def seed(self, data, declared=False):
        """Store ``data``; its url. ``declared``: tell the writer the size."""
        return write_image(self.store, data, size=len(data) if declared else None).url

    def cleanup(self):
        pass


class MemoryHarness(_WritableHarness):
    driver = 'memory'
    #: Where reads change pieces (the reader's chunk size).
    boundary = 4096

    def __init__(self):
        self._made = []
        self.store = self.make_store()

    def make_store(self, **options):
        # Each store is a backend of its own: backend_names looks at all of them.
        store = memory.MemoryStore(chunk_size=self.boundary, **options)
        self._made.append(store)
        return store

    def backend_names(self):
        """Every object of the stores made, and every writer still open on them."""
        return sorted([name for store in self._made for name in store.names()] +
                      ['%s (writing)' % image_id for store in self._made
                       for image_id in store.writing()])

    def missing_url(self):
        return self.store.location(str(uuid.uuid4()))


class FileHarness(_WritableHarness):
    driver = 'file'
    #: Where reads and writes change pieces (the read chunk size).
    boundary = 4096

    def __init__(self, tmp_path):
        self.datadir = str(tmp_path / 'images')
        self.store = self.make_store()

    def make_store(self, **options):
        options = {'filesystem_store_datadir': self.datadir,
                   'filesystem_store_chunk_size': self.boundary, **options}
        return build_store('file', options)

    def backend_names(self):
        return sorted(os.listdir(self.datadir))

    def missing_url(self):
        return 'file://%s/%s' % (self.datadir, uuid.uuid4())


class SwiftHarness(_WritableHarness):
    driver = 'swift'
    #: Segment size: small, so that most test images have several segments.
    boundary = 256 * 1024
    #: For the large-image test: 1 MiB segments (each segment costs Swift requests).
    large_options = {'swift_store_large_object_chunk_size': 1.0}

    def __init__(self, service, tmp_path):
        self.service = service
        self.container = 'test-%s' % uuid.uuid4().hex[:12]
        self.config_file = service.write_reference_file(str(tmp_path / 'swift.conf'))
        self.admin = service.connection()
        self.admin.put_container(self.container)
        self.store = self.make_store()

    def make_store(self, **options):
        options = {'swift_store_config_file': self.config_file,
                   'swift_store_container': self.container,
                   'swift_store_large_object_size': 1.0,
                   'swift_store_large_object_chunk_size': self.boundary / MiB,
                   **options}
        return build_store('swift', options)

    def backend_names(self, container=None):
        _, listing = self.admin.get_container(container or self.container,
                                              full_listing=True)
        return sorted(entry['name'] for entry in listing)

    def missing_url(self):
        return 'swift+config://ref1/%s/%s' % (self.container, uuid.uuid4())

    def cleanup(self):
        for name in self.backend_names():
            self.admin.delete_object(self.container, name)
        self.admin.delete_container(self.container)
        self.admin.close()


#: What the http driver's tests may read: any port on 127.0.0.1 (internal addresses
#: need allowed_hosts to name them).
LOOPBACK = web.UrlPolicy(allowed_hosts=('127.0.0.1',), allowed_ports=())


class HttpHarness:
    driver = 'http'
    writable = False
    boundary = 64 * 1024

    def __init__(self, server):
        self.server = server
        self.store = self.make_store()

    def make_store(self, **options):
        store = build_store('http', options)
        store.url_policy = LOOPBACK
        return store

    def missing_url(self):
        return self.server.url + '/missing-%s' % uuid.uuid4()

    def seed(self, data, declared=False):
        name = 'image-%s' % uuid.uuid4()
        with open(os.path.join(self.server.docroot, name), 'wb') as f:
            f.write(data)
        return '%s/%s' % (self.server.url, name)

    def cleanup(self):
        pass


def _harness(request, driver, tmp_path):
    if driver == 'memory':
        harness = MemoryHarness()
    elif driver == 'file':
        harness = FileHarness(tmp_path)
    elif driver == 'swift':
        harness = SwiftHarness(request.getfixturevalue('swift_service'), tmp_path)
    else:
        harness = HttpHarness(request.getfixturevalue('http_server'))
    request.addfinalizer(harness.cleanup)
    return harness


@pytest.fixture(params=WRITABLE)
def writable_harness(request, tmp_path):
    """A harness for each driver that can write."""
    return _harness(request, request.param, tmp_path)


@pytest.fixture(params=READABLE)
def readable_harness(request, tmp_path):
    """A harness for each driver, read-only ones included."""
    return _harness(request, request.param, tmp_path)


@pytest.fixture(params=CONFIGURABLE)
def configurable_harness(request, tmp_path):
    """A harness for each driver that a config file may name."""
    return _harness(request, request.param, tmp_path)


@pytest.fixture
def swift_harness(request, tmp_path):
    return _harness(request, 'swift', tmp_path)


@pytest.fixture
def file_harness(request, tmp_path):
    return _harness(request, 'file', tmp_path)


# -- a tiny web server with Range support, for the http driver -------------------------

class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with single byte ranges (http.server has none), and test faults."""

    protocol_version = 'HTTP/1.1'

    def __init__(self, request, client_address, server):
        super().__init__(request, client_address, server, directory=server.docroot)

    def log_message(self, *args):
        pass

    def do_GET(self):
        self._serve(send_body=True)

    def do_HEAD(self):
        if self.server.refuse_head:
            self.send_error(405)
            return
        self._serve(send_body=False)

    def _serve(self, send_body):
        if self.path.startswith('/redirect/'):
            self.send_response(302)
            self.send_header('Location', '/' + self.path[len('/redirect/'):])
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        if self.path.startswith('/status/'):
            self.send_error(int(self.path.split('/')[2]))
            return
        path = self.translate_path(self.path)
        try:
            with open(path, 'rb') as f:
                data = f.read()
        except OSError:
            self.send_error(404)
            return
        start, end, status = 0, len(data), 200
        match = re.fullmatch(r'bytes=(\d+)-(\d*)', self.headers.get('Range', ''))
        if match and not self.server.ignore_range:
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header('Content-Range', 'bytes */%d' % len(data))
                self.send_header('Content-Length', '0')
                self.end_headers()
                return
            if match.group(2):
                end = min(int(match.group(2)) + 1, len(data))
            status = 206
        self.send_response(status)
        if status == 206:
            self.send_header('Content-Range',
                             'bytes %d-%d/%d' % (start, end - 1, len(data)))
        self.send_header('Content-Length', str(end - start))
        self.end_headers()
        if not send_body:
            return
        body = data[start:end]
        if self.server.cut_after is not None:
            # A server that dies mid-response: part of the body, then a closed socket.
            self.wfile.write(body[:self.server.cut_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


class _TestHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, docroot):
        super().__init__(('127.0.0.1', 0), _RangeHandler)
        self.docroot = docroot
        self.url = 'http://127.0.0.1:%d' % self.server_address[1]
        self.reset()

    def handle_error(self, request, client_address):
        # Readers that stop early close their connection: not worth a traceback.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def reset(self):
        self.ignore_range = False
        self.refuse_head = False
        self.cut_after = None


@pytest.fixture(scope='session')
def _http_server_process(tmp_path_factory):
    server = _TestHTTPServer(str(tmp_path_factory.mktemp('www')))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def http_server(_http_server_process):
    """A web server on 127.0.0.1 serving ``.docroot``; its fault switches reset."""
    _http_server_process.reset()
    yield _http_server_process
    _http_server_process.reset()


# -- mounts, for the file driver's full and read-only cases ----------------------------

@pytest.fixture
def mounts(tmp_path):
    """Make tmpfs mounts (for full and read-only file systems); unmounted afterwards."""
    with Mounts(tmp_path) as made:
        yield made
