"""glance_api.http.upload_body against gunicorn's own request parser on a socket pair.

Each test sends raw HTTP/1.1 bytes, lets gunicorn parse the request line and headers,
reads the body with ``upload_body.blocks`` and then checks that gunicorn finds the
next request on the connection exactly where it starts.
"""

import io
import os
import socket
import threading

import pytest
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser

from glance_api.http import upload_body

NEXT = b'GET /next HTTP/1.1\r\nHost: x\r\n\r\n'
PEER = ('127.0.0.1', 40000)


def chunked(data, size, extension=b''):
    out = bytearray()
    for start in range(0, len(data), size):
        piece = data[start:start + size]
        out += b'%x%s\r\n%s\r\n' % (len(piece), extension, piece)
    return bytes(out) + b'0\r\n\r\n'


def request(body, chunked_body=True):
    framing = (b'Transfer-Encoding: chunked' if chunked_body
               else b'Content-Length: %d' % len(body))
    return b'PUT /v2/images/x/file HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n' % framing + body


class Connection:
    """The server end of a socket pair, parsed by gunicorn; the client end sends."""

    def __init__(self, raw, send_size=None, keep_open=False):
        """``keep_open``: the client sends ``raw`` and then waits, as a client
        waiting for the answer does, instead of closing its end."""
        self.server, self.client = socket.socketpair()
        self.server.settimeout(10)   # a reader that waits for more fails the test
        self.parser = RequestParser(Config(), self.server, PEER)
        self.sender = threading.Thread(target=self._send,
                                       args=(raw, send_size, keep_open))
        self.sender.start()

    def _send(self, raw, send_size, keep_open):
        step = send_size or len(raw)
        try:
            for start in range(0, len(raw), step):
                self.client.sendall(raw[start:start + step])
        except OSError:
            pass
        if not keep_open:
            self.client.shutdown(socket.SHUT_WR)

    def environ(self):
        req = next(self.parser)
        _, environ = wsgi.create(req, self.server, PEER, PEER, self.parser.cfg)
        return environ

    def next_request_path(self):
        """Where gunicorn finds the next request, once the body was read."""
        assert self.parser.finish_body()
        return next(self.parser).path

    def close(self):
        self.server.close()   # unblocks a sender stuck on an unread body
        self.sender.join()
        self.client.close()


def read_blocks(environ, block_size=1024 * 1024):
    return [bytes(b) for b in upload_body.blocks(environ, environ['wsgi.input'],
                                                  block_size)]


@pytest.mark.parametrize('chunk_size, send_size', [
    (65536, None), (65536, 7), (1024 * 1024, 65536 + 3), (1, None), (1000, 999)])
def test_a_chunked_body_is_decoded_whole_and_the_next_request_follows(
        chunk_size, send_size):
    data = os.urandom(3 * 1024 * 1024 + 5 if chunk_size > 1 else 3000)
    conn = Connection(request(chunked(data, chunk_size)) + NEXT, send_size)
    try:
        blocks = read_blocks(conn.environ())
        assert b''.join(blocks) == data
        assert all(len(b) == 1024 * 1024 for b in blocks[:-1])
        assert conn.next_request_path() == '/next'
    finally:
        conn.close()


@pytest.mark.parametrize('chunked_body', [True, False])
def test_a_block_is_reused_only_once_nobody_holds_it(chunked_body):
    data = os.urandom(40 * 65536 + 17)
    body = chunked(data, 4096) if chunked_body else data
    conn = Connection(request(body, chunked_body) + NEXT)
    try:
        environ = conn.environ()
        held, copies, ids = [], [], []
        for index, block in enumerate(upload_body.blocks(
                environ, environ['wsgi.input'], 65536)):
            copies.append(bytes(block))
            ids.append(id(block))
            if index % 2:
                held.append((index, block))   # as a queue to a slow writer holds it
            del block
        assert b''.join(copies) == data
        # What a consumer still holds was never handed out again and overwritten.
        assert all(bytes(block) == copies[index] for index, block in held)
        assert len(set(ids)) < len(ids)   # the others were reused
        assert conn.next_request_path() == '/next'
    finally:
        conn.close()


def test_chunk_extensions_and_trailers_are_skipped():
    data = os.urandom(200000)
    body = chunked(data, 65536, b' ; name="value";flag')[:-2] + b'X-Sum: 1\r\n\r\n'
    conn = Connection(request(body) + NEXT, send_size=11)
    try:
        assert b''.join(read_blocks(conn.environ(), 65536)) == data
        assert conn.next_request_path() == '/next'
    finally:
        conn.close()


@pytest.mark.parametrize('size', [0, 10, 3 * 1024 * 1024 + 1])
def test_a_content_length_body_is_read_exactly(size):
    data = os.urandom(size)
    conn = Connection(request(data, chunked_body=False) + NEXT, send_size=65536)
    try:
        assert b''.join(read_blocks(conn.environ())) == data
        assert conn.next_request_path() == '/next'
    finally:
        conn.close()


@pytest.mark.parametrize('body', [
    b'zz\r\nabc\r\n0\r\n\r\n',                  # not hex
    b'3\r\nabcXY0\r\n\r\n',                      # data not followed by CRLF
    b'3;a\rb\r\nabc\r\n0\r\n\r\n',              # bare CR in an extension
    b'f' * 9000 + b'\r\n',                       # endless chunk-size line
])
def test_malformed_framing_raises_and_marks_the_body_failed(body):
    conn = Connection(request(body) + NEXT)
    try:
        environ = conn.environ()
        with pytest.raises(upload_body.MalformedBody):
            read_blocks(environ)
        assert environ['wsgi.input'].failed
        assert not conn.parser.finish_body()
    finally:
        conn.close()


def test_bare_lf_framing_is_malformed_at_once():
    # Lines ended by LF alone: no CRLF would ever come, so none is waited for.
    conn = Connection(request(b'3\nabc\n0\n\n'), keep_open=True)
    try:
        environ = conn.environ()
        with pytest.raises(upload_body.MalformedBody):
            read_blocks(environ)
        assert environ['wsgi.input'].failed
    finally:
        conn.close()


@pytest.mark.parametrize('chunked_body', [True, False])
def test_a_body_cut_short_raises_and_marks_the_body_failed(chunked_body):
    raw = request(chunked(os.urandom(100000), 65536) if chunked_body
                  else os.urandom(100000), chunked_body)
    conn = Connection(raw[:-5000])
    try:
        environ = conn.environ()
        with pytest.raises(upload_body.IncompleteBody):
            read_blocks(environ)
        assert environ['wsgi.input'].failed
    finally:
        conn.close()


def test_a_body_abandoned_halfway_marks_the_body_failed():
    conn = Connection(request(chunked(os.urandom(3 * 1024 * 1024), 65536)) + NEXT)
    try:
        environ = conn.environ()
        blocks = upload_body.blocks(environ, environ['wsgi.input'], 1024 * 1024)
        next(blocks)
        blocks.close()
        assert environ['wsgi.input'].failed
    finally:
        conn.close()


def test_a_body_never_iterated_stays_gunicorns_to_drain():
    conn = Connection(request(chunked(os.urandom(100000), 65536)) + NEXT)
    try:
        environ = conn.environ()
        upload_body.blocks(environ, environ['wsgi.input'], 1024 * 1024).close()
        assert conn.next_request_path() == '/next'
    finally:
        conn.close()


def test_a_body_already_being_read_is_read_through_the_stream():
    data = os.urandom(100000)
    conn = Connection(request(chunked(data, 65536)) + NEXT)
    try:
        environ = conn.environ()
        first = environ['wsgi.input'].read(10)
        rest = read_blocks(environ, 65536)
        assert first + b''.join(rest) == data
        assert conn.next_request_path() == '/next'
    finally:
        conn.close()


def test_any_other_server_gets_the_stream_in_blocks():
    stream = io.BytesIO(b'x' * 2500)
    blocks = list(upload_body.blocks({'wsgi.input': stream}, stream, 1000))
    assert [len(b) for b in blocks] == [1000, 1000, 500]
