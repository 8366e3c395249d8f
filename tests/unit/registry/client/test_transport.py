"""The registry client's own HTTP/1.1 transport, against scripted servers.

The registry daemon (gunicorn) always answers with a Content-Length on a kept-alive
connection, which the other registry tests exercise; these cover what a proxy or a
stopping server may send instead, and connections that break.
"""

import socket
import threading
import time

import orjson
import pytest

from glance_registry.client import RegistryClient
from glance_registry.client import errors
from glance_registry.client import transport
from glance_registry.client.identity import Identity

CALLER = Identity('user', 'project')
RECORD = {'id': 'an-id', 'name': 'scripted'}


class ScriptedServer:
    """Accepts connections and answers each request with the next scripted
    answer: bytes to send, then whether to close the connection."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.connections = 0
        self.requests = []
        self._listener = socket.create_server(('127.0.0.1', 0))
        self.url = 'http://127.0.0.1:%d' % self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while self.answers:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                buffer = b''
                while self.answers:
                    while b'\r\n\r\n' not in buffer:
                        data = conn.recv(65536)
                        if not data:
                            break
                        buffer += data
                    if b'\r\n\r\n' not in buffer:
                        break
                    head, _, buffer = buffer.partition(b'\r\n\r\n')
                    self.requests.append(head.split(b'\r\n')[0].decode())
                    answer, close = self.answers.pop(0)
                    if answer:
                        conn.sendall(answer)
                    if close:
                        break

    def close(self):
        self._listener.close()


def _answer(body, extra=b'', length=True):
    head = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n' + extra
    if length:
        head += b'Content-Length: %d\r\n' % len(body)
    return head + b'\r\n' + body


def _chunked(body):
    middle = len(body) // 2
    chunks = b''.join(b'%x\r\n%s\r\n' % (len(piece), piece)
                      for piece in (body[:middle], body[middle:]))
    return (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' + chunks
            + b'0\r\n\r\n')


@pytest.fixture
def scripted():
    servers = []

    def make(answers):
        server = ScriptedServer(answers)
        servers.append(server)
        return server, RegistryClient(server.url, 'secret', timeout=2)
    yield make
    for server in servers:
        server.close()


def test_a_chunked_answer_is_read_whole_and_the_connection_kept(scripted):
    body = orjson.dumps(RECORD)
    server, client = scripted([(_chunked(body), False), (_answer(body), False)])
    assert client.get_image(CALLER, 'an-id') == RECORD
    assert client.get_image(CALLER, 'an-id') == RECORD
    assert server.connections == 1
    assert server.requests == ['GET /v1/images/an-id HTTP/1.1'] * 2


def test_connection_close_makes_the_next_call_open_a_new_connection(scripted):
    body = orjson.dumps(RECORD)
    server, client = scripted([(_answer(body, b'Connection: close\r\n'), True),
                               (_answer(body), False)])
    assert client.get_image(CALLER, 'an-id') == RECORD
    assert client.get_image(CALLER, 'an-id') == RECORD
    assert server.connections == 2


def test_an_answer_without_length_ends_with_the_connection(scripted):
    body = orjson.dumps(RECORD)
    server, client = scripted([(_answer(body, length=False), True)])
    assert client.get_image(CALLER, 'an-id') == RECORD


def test_a_connection_dropped_mid_call_is_retried_once_for_reads(scripted):
    body = orjson.dumps(RECORD)
    server, client = scripted([(b'', True), (_answer(body), False)])
    assert client.get_image(CALLER, 'an-id') == RECORD
    assert server.connections == 2


def test_a_connection_dropped_mid_create_is_not_retried(scripted):
    body = orjson.dumps(RECORD)
    server, client = scripted([(b'', True), (_answer(body), False)])
    with pytest.raises(errors.Unavailable, match='unreachable'):
        client.create_image(CALLER, {'name': 'once'})
    assert server.requests == ['POST /v1/images HTTP/1.1']


def test_a_connection_idle_for_longer_than_max_idle_is_not_used(scripted,
                                                                monkeypatch):
    """The registry closes an idle connection when its keepalive_timeout runs out:
    a request sent on it at that moment would be lost, so the client stops using
    it well before (transport.MAX_IDLE)."""
    body = orjson.dumps(RECORD)
    monkeypatch.setattr(transport, 'MAX_IDLE', 0.2)
    server, client = scripted([(_answer(body), False)] * 3)
    assert client.get_image(CALLER, 'an-id') == RECORD
    assert client.get_image(CALLER, 'an-id') == RECORD
    assert server.connections == 1
    time.sleep(0.3)
    assert client.get_image(CALLER, 'an-id') == RECORD
    assert server.connections == 2


class _DropsKeptConnections:
    """Answers the first request of each connection and keeps it open; a second
    request on a connection finds it closed unanswered (as when the server's sweep
    of idle keep-alive connections races the client's request)."""

    def __init__(self):
        self.connections = 0
        self._listener = socket.create_server(('127.0.0.1', 0))
        self.url = 'http://127.0.0.1:%d' % self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            if conn.recv(65536):
                conn.sendall(_answer(orjson.dumps(RECORD)))
                conn.recv(65536)   # the next request: dropped

    def close(self):
        self._listener.close()


def test_a_read_is_retried_on_a_new_connection_not_another_pooled_one():
    server = _DropsKeptConnections()
    client = RegistryClient(server.url, 'secret', timeout=2)
    try:
        # Two connections in the pool (two calls at once).
        barrier = threading.Barrier(2)

        def read():
            barrier.wait()
            assert client.get_image(CALLER, 'an-id') == RECORD
        threads = [threading.Thread(target=read) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        opened = server.connections
        # A pooled connection drops the read, and so would the other pooled one.
        assert client.get_image(CALLER, 'an-id') == RECORD
        assert server.connections == opened + 1
    finally:
        server.close()


def test_query_parameters_are_encoded_in_order(scripted):
    body = orjson.dumps({'images': [], 'next_marker': None})
    server, client = scripted([(_answer(body), False)])
    assert client.list_images(CALLER, [('name', 'a b'), ('tag', 'x'), ('tag', 'é')]) \
        == ([], None)
    assert server.requests == ['GET /v1/images?name=a+b&tag=x&tag=%C3%A9 HTTP/1.1']


def test_a_silent_registry_is_unavailable_after_the_timeout():
    listener = socket.create_server(('127.0.0.1', 0))
    try:
        client = RegistryClient('http://127.0.0.1:%d' % listener.getsockname()[1],
                                'secret', timeout=1)
        with pytest.raises(errors.Unavailable, match='did not answer within 1s'):
            client.get_image(CALLER, 'an-id')
    finally:
        listener.close()


def test_an_unreachable_registry_is_unavailable_and_unhealthy():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    client = RegistryClient('http://127.0.0.1:%d' % port, 'secret', timeout=1)
    with pytest.raises(errors.Unavailable, match='unreachable'):
        client.get_image(CALLER, 'an-id')
    assert not client.healthy()


GOOD = _answer(orjson.dumps(RECORD))


@pytest.mark.parametrize('malformed', [
    b'HTTX/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}',
    b'HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\n{}',
    b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}',
    b'HTTP/1.1 200 OK\r\nContent-Length: two\r\n\r\n{}',
    b'HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\n{}',
    b'HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 2\r\n\r\n{}',
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n',
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n',
    b'HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n{}',              # then closed
    b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n',
    b'HTTP/1.1 200 OK\r\nX-Big: ' + b'x' * (300 * 1024) + b'\r\n\r\n',
], ids=['protocol', 'status', 'lengths', 'length', 'folded', 'colon', 'coding',
        'chunk-size', 'chunk-end', 'short-body', 'interim', 'huge-head'])
def test_a_malformed_answer_closes_the_connection_and_a_read_is_retried(scripted,
                                                                        malformed):
    server, client = scripted([(malformed, True), (GOOD, False), (GOOD, False)])
    assert client.get_image(CALLER, 'an-id') == RECORD
    assert client.get_image(CALLER, 'an-id') == RECORD
    assert server.connections == 2


def test_a_malformed_answer_to_a_write_is_unavailable_and_not_retried(scripted):
    server, client = scripted([(b'HTTP/1.1 201\r\nContent-Length: 9\r\n\r\n{}', True),
                               (GOOD, False)])
    with pytest.raises(errors.Unavailable, match='unreachable.*IncompleteRead'):
        client.create_image(CALLER, {'name': 'once'})
    assert server.requests == ['POST /v1/images HTTP/1.1']


@pytest.mark.parametrize('answer, connections', [
    # 100 Continue before the answer is skipped.
    (b'HTTP/1.1 100 Continue\r\n\r\n' + GOOD, 1),
    # Bare line feeds, extra spaces, no reason phrase, repeated equal lengths.
    (b'HTTP/1.1 200\nContent-Type:  application/json \nContent-Length: 2\n'
     b'content-length: 2\n\n{}', 1),
    # HTTP/1.0: closed unless it says keep-alive.
    (b'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}', 2),
    (b'HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\n{}', 1),
    # Bytes after the body that nobody asked for: not reused.
    (b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}HTTP', 2),
    # Chunk extensions and trailers.
    (b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;x=y\r\n{\r\n'
     b'1\r\n}\r\n0\r\nX-Trailer: t\r\n\r\n', 1),
])
def test_answers_http_allows_are_read(scripted, answer, connections):
    close = connections == 2
    server, client = scripted([(answer, close), (GOOD, False)])
    assert client.get_image(CALLER, 'an-id') in (RECORD, {})
    assert client.get_image(CALLER, 'an-id') == RECORD
    assert server.connections == connections


def test_a_no_content_answer_keeps_the_connection(scripted):
    server, client = scripted([(b'HTTP/1.1 204 No Content\r\n\r\n', False),
                               (GOOD, False)])
    assert client.delete_image(CALLER, 'an-id') is None
    assert client.get_image(CALLER, 'an-id') == RECORD
    assert server.connections == 1


@pytest.mark.parametrize('path, headers', [
    ('/v1/images/a b', {}),
    ('/v1/images/a\r\nX: y', {}),
    ('/v1/images/a', {'X-Openstack-Request-Id': 'req\r\nX-Injected: 1'}),
    ('/v1/images/a', {'X-Bad Name': 'v'}),
])
def test_a_request_that_would_break_its_framing_is_refused(path, headers):
    from glance_registry.client import transport
    listener = socket.create_server(('127.0.0.1', 0))
    try:
        client = transport.Transport('http://127.0.0.1:%d' % listener.getsockname()[1],
                                     pool_size=1)
        with pytest.raises(ValueError):
            client.request('GET', path, headers, None, 1)
    finally:
        listener.close()


def test_a_call_that_outlasts_an_outage_takes_no_longer_than_the_timeout(scripted):
    # An upload's publication waits out a database failover for up to
    # registry_client_timeout: an attempt near its end that met a registry slow to
    # answer (a database that came back half) waited a whole timeout more.
    unavailable = orjson.dumps({'error': {'code': 503, 'reason':
                                          'database_unavailable', 'message': 'down'}})
    answer = (b'HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json'
              b'\r\nContent-Length: %d\r\n\r\n%s' % (len(unavailable), unavailable))
    # About 1.75 s of 503s (an attempt each 0.25 s), then silence.
    server, client = scripted([(answer, False)] * 7 + [(b'', False)] * 2)
    started = time.monotonic()
    with pytest.raises(errors.Unavailable):
        client.transition_status(CALLER, 'an-id', 'saving', 'active',
                                 outlast_outage=True)
    assert time.monotonic() - started < 2.5
    assert len(server.requests) == 8


@pytest.mark.parametrize('buffer, end', [
    (b'HTTP/1.1 200 OK\r\nA: b\r\n\r\n{}', 22),
    # A body's blank lines are no head's end.
    (b'HTTP/1.1 200 OK\r\nA: b\r\n\r\n{"x": "\n\n"}', 22),
    (b'HTTP/1.1 200\nA: b\n\n{"x": "\r\n\r\n"}', 17),
    # Mixed line ends: whichever blank line comes first.
    (b'HTTP/1.1 200\nA: b\n\n\r\n', 17),
    (b'HTTP/1.1 200 OK\r\nA: b\r\n', -1),
    (b'HTTP/1.1 200 OK\r\nA: b\r\n\r', -1),
])
def test_a_heads_end_is_its_first_blank_line(buffer, end):
    assert transport._head_end(buffer) == end
