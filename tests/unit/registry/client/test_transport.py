"""The registry client's own HTTP/1.1 transport, against scripted servers.

The registry daemon (gunicorn) always answers with a Content-Length on a kept-alive
connection, which the other registry tests exercise; these cover what a proxy or a
stopping server may send instead, and connections that break.
"""

import socket
import threading

import orjson
import pytest

from glance_registry.client import RegistryClient
from glance_registry.client import errors
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
