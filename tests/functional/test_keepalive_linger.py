"""Request threads linger on kept-alive connections (``glance_registry.header_gate``,
``keepalive_linger``): a prompt next request is served on the same thread, and a
lingering thread never makes another connection wait for it. One worker with one
thread per daemon and a linger of seconds, so waiting would show."""

import http.client
import socket
import time

import pytest

from tests.fixtures import deployment as deployment_fixture
from tests.fixtures import raw_http

LINGER = 5
HEADER_TIMEOUT = 3
ONE_THREAD = {'DEFAULT': {'workers': 1, 'threads': 1, 'keepalive_linger': LINGER,
                          'client_header_timeout': HEADER_TIMEOUT}}


@pytest.fixture(scope='module')
def lingering(tmp_path_factory):
    with deployment_fixture.running(tmp_path_factory.mktemp('linger'),
                                    api_extra=ONE_THREAD,
                                    registry_extra=ONE_THREAD) as deployment:
        yield deployment


def _address(url):
    host, port = url.rsplit('/', 1)[-1].split(':')
    return host, int(port)


def _get(connection, path='/versions'):
    started = time.monotonic()
    connection.request('GET', path)
    response = connection.getresponse()
    response.read()
    return response.status, time.monotonic() - started


def test_another_connection_is_served_while_a_thread_lingers(lingering):
    for url in (lingering.url, lingering.registry.url):
        first = http.client.HTTPConnection(*_address(url), timeout=30)
        second = http.client.HTTPConnection(*_address(url), timeout=30)
        try:
            # (The registry answers 401 to an unsigned request: an answer.)
            expected = _get(first)[0]
            assert expected in (200, 300, 401)
            # The only thread now lingers on `first` for LINGER seconds.
            status, took = _get(second)
            assert status == expected
            assert took < LINGER / 2, took
            # And `first`, handed back to the event loop, still serves.
            status, took = _get(first)
            assert status == expected
            assert took < LINGER / 2, took
        finally:
            first.close()
            second.close()


def test_prompt_requests_on_one_connection_are_all_answered(lingering):
    connection = http.client.HTTPConnection(*_address(lingering.url), timeout=30)
    with lingering.client(deployment_fixture.new_project()) as client:
        image = client.post('/v2/images', json={'name': 'linger'}).json()
    try:
        for pause in (0, 0.01, 0.2, 0, 0.05):
            time.sleep(pause)
            assert _get(connection)[0] in (200, 300)
        # A request that reaches the registry, twice in a row on the API's
        # pooled connection (the registry's thread lingers on it).
        for _ in range(3):
            connection.request('GET', '/v2/images/%s' % image['id'],
                               headers={'X-Project-Id': image['owner'],
                                        'X-Roles': 'member,reader'})
            response = connection.getresponse()
            assert response.status == 200, response.read()
            response.read()
    finally:
        connection.close()


def test_a_head_split_while_the_thread_lingers_is_answered(lingering):
    with socket.create_connection(_address(lingering.url), timeout=30) as sock:
        sock.sendall(b'GET /versions HTTP/1.1\r\nHost: x\r\n\r\n')
        assert _read_answer(sock).startswith(b'HTTP/1.1 ')
        # The lingering thread reads this first part, not a whole head: it
        # goes to the event loop's gate, which waits for the rest.
        sock.sendall(b'GET /versions HTTP/1.1\r\n')
        time.sleep(0.3)
        sock.sendall(b'Host: x\r\n\r\n')
        assert _read_answer(sock).startswith(b'HTTP/1.1 ')


def test_a_head_left_unfinished_while_the_thread_lingers_gets_408(lingering):
    with socket.create_connection(_address(lingering.url), timeout=30) as sock:
        sock.sendall(b'GET /versions HTTP/1.1\r\nHost: x\r\n\r\n')
        assert _read_answer(sock).startswith(b'HTTP/1.1 ')
        started = time.monotonic()
        sock.sendall(b'GET /versions HTTP/1.1\r\nX-Slow: ')
        answer = raw_http.read_to_close(sock)
        elapsed = time.monotonic() - started
    assert answer.startswith(b'HTTP/1.1 408 '), answer
    assert elapsed < HEADER_TIMEOUT + 3


def _read_answer(sock):
    """One answer with a Content-Length, read whole."""
    data = b''
    while b'\r\n\r\n' not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b'\r\n\r\n')
    length = next(int(line.split(b':', 1)[1]) for line in head.split(b'\r\n')
                  if line.lower().startswith(b'content-length:'))
    while len(body) < length:
        body += sock.recv(65536)
    return head
