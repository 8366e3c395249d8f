"""The read-only http driver beyond the conformance suite, against a real local server."""

import http.server
import socket
import threading
import uuid

import pytest

from stores import errors, web
from tests.fixtures import web_server
from tests.unit.stores.conftest import HttpHarness, build_store, payload


@pytest.fixture
def harness(http_server):
    return HttpHarness(http_server)


def read_all(store, url, offset=0, length=None):
    with store.open_reader(url, offset=offset, length=length) as reader:
        return reader.size, b''.join(reader)


def test_store_is_read_only(harness):
    url = harness.seed(b'data')
    assert not harness.store.writable
    with pytest.raises(errors.ReadOnly):
        harness.store.open_writer(str(uuid.uuid4()))
    with pytest.raises(errors.ReadOnly):
        harness.store.delete(url)
    assert read_all(harness.store, url) == (4, b'data')


def test_server_that_ignores_range_is_read_from_the_start(harness, http_server):
    data = payload(300 * 1024)
    url = harness.seed(data)
    http_server.ignore_range = True
    assert read_all(harness.store, url, 100 * 1024 + 3, 70000) == (
        len(data), data[100 * 1024 + 3:100 * 1024 + 3 + 70000])


def test_stat_falls_back_to_get_when_head_is_refused(harness, http_server):
    url = harness.seed(payload(777))
    http_server.refuse_head = True
    assert harness.store.stat(url) == 777


def test_redirects_are_followed(harness, http_server):
    url = harness.seed(b'moved')
    redirect = url.replace(http_server.url, http_server.url + '/redirect')
    assert read_all(harness.store, redirect) == (5, b'moved')
    assert harness.store.stat(redirect) == 5


@pytest.mark.parametrize('status, error', [
    (404, errors.NotFound), (410, errors.NotFound), (403, errors.StoreUnavailable),
    (500, errors.StoreUnavailable), (503, errors.StoreUnavailable),
])
def test_error_statuses_map_to_store_errors(harness, http_server, status, error):
    url = '%s/status/%d' % (http_server.url, status)
    with pytest.raises(error):
        harness.store.open_reader(url)
    with pytest.raises(error):
        harness.store.stat(url)


def test_unreachable_server_is_unavailable(harness):
    with socket.socket() as sock:   # a port nothing listens on
        sock.bind(('127.0.0.1', 0))
        url = 'http://127.0.0.1:%d/image' % sock.getsockname()[1]
    with pytest.raises(errors.StoreUnavailable):
        harness.store.open_reader(url)
    with pytest.raises(errors.StoreUnavailable):
        harness.store.stat(url)


def test_download_cut_short_is_unavailable_not_short(harness, http_server):
    data = payload(512 * 1024)
    url = harness.seed(data)
    http_server.cut_after = 200 * 1024
    received = []
    with harness.store.open_reader(url) as reader:
        with pytest.raises(errors.StoreUnavailable):
            for chunk in reader:
                received.append(chunk)
    assert 0 < len(b''.join(received)) <= 200 * 1024


def test_other_schemes_are_bad_locations(harness):
    for url in ('file:///etc/passwd', 'swift+config://ref1/glance/x', 'ftp://host/x'):
        assert not harness.store.owns(url)
        with pytest.raises(errors.BadLocation):
            harness.store.open_reader(url)
        with pytest.raises(errors.BadLocation):
            harness.store.stat(url)


# -- what the store may read: stores.web under its url_policy -------------------------

def test_loopback_is_refused_under_the_default_policy(http_server):
    store = build_store('http', {})
    url = HttpHarness(http_server).seed(b'secret')
    for call in (store.open_reader, store.stat):
        with pytest.raises(errors.BadLocation) as caught:
            call(url)
        assert '127.0.0.1' not in str(caught.value)


def test_a_redirect_to_a_port_the_policy_refuses_is_a_bad_location():
    with web_server.running() as front, web_server.running() as inside:
        store = build_store('http', {})
        # Only the front server's port: the redirect below leads to another.
        store.url_policy = web.UrlPolicy(allowed_hosts=('127.0.0.1',),
                                         allowed_ports=(front.port,))
        redirect = front.redirect(inside.url + '/data/10')
        for call in (store.open_reader, store.stat):
            with pytest.raises(errors.BadLocation) as caught:
                call(redirect)
            assert str(inside.port) not in str(caught.value)
        assert inside.requests == {}
        # The front server's redirects to itself are still followed.
        assert read_all(store, front.redirect(front.url + '/data/10')) == (
            10, web_server.pattern(10))


@pytest.mark.parametrize('status', [403, 500])
def test_error_messages_tell_no_status_nor_address(harness, http_server, status):
    url = '%s/status/%d' % (http_server.url, status)
    with pytest.raises(errors.StoreUnavailable) as caught:
        harness.store.open_reader(url)
    assert str(status) not in str(caught.value)
    assert str(http_server.server_address[1]) not in str(caught.value)


class _HugeSizeHandler(http.server.BaseHTTPRequestHandler):
    """Answers every request with one byte and a size of thousands of digits."""

    def _answer(self):
        self.send_response(206)
        self.send_header('Content-Range', 'bytes 0-0/' + '9' * 5000)
        self.send_header('Content-Length', '1')
        self.end_headers()
        if self.command == 'GET':
            self.wfile.write(b'x')

    do_GET = do_HEAD = _answer

    def log_message(self, *args):
        pass


def test_a_size_of_thousands_of_digits_is_no_size(harness):
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _HugeSizeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = 'http://127.0.0.1:%d/image' % server.server_address[1]
    try:
        with pytest.raises(errors.StoreUnavailable, match='cannot be read now'):
            harness.store.stat(url)
        with pytest.raises(errors.StoreUnavailable, match='cannot be read now'):
            harness.store.open_reader(url)
    finally:
        server.shutdown()
        server.server_close()
