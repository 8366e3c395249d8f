"""The registry client's HTTP transport: pooled keep-alive connections to one
registry (``Transport``)."""

import re
import select
import socket
import ssl
import threading
import time
import urllib.parse

import requests


#: What a path segment keeps unquoted: RFC 3986's pchar characters beside the
#: unreserved ones. A client's path is never shorter than this encoding of what it
#: names, so a call's request line outgrows the client's by its fixed prefix and
#: query only: quoted with ``safe=''``, a name of colons tripled (``OS::...``), and
#: a name a client sent in 4 KB made a line the registry refused as too large
#: (8190 bytes, the API's limit too), a 400 that quoted neither's length.
PATH_SAFE = "!$&'()*+,;=:@"


def quote_segment(segment):
    """``segment`` (a name, an id) quoted as one segment of a registry path."""
    return urllib.parse.quote(segment, safe=PATH_SAFE)


class Unreachable(Exception):
    """The registry could not be reached, or the connection broke."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class NoAnswer(Exception):
    """The registry did not answer within the timeout."""


class _Malformed(Exception):
    """The answer is not one this transport reads (``Unreachable``, with its
    reason): the connection is closed, never reused."""


#: The longest answer head read (http.client's limit is 100 lines of 64 KiB).
MAX_HEAD = 256 * 1024
#: Seconds a pooled connection may sit idle and still be used: well under the
#: registry's ``keepalive_timeout`` (75 s by default). A server closes an idle
#: connection when that runs out, and a request sent on it at that very moment is
#: lost (a reset): 16 API threads taking 15 connections the registry was closing
#: failed a list with 503, retry included. Closed here first, they never race.
MAX_IDLE = 30.0
_READ_SIZE = 65536
_MAX_BODY_READ = 1024 * 1024

_TOKEN = re.compile(rb'[!#$%&\'*+.^_`|~0-9A-Za-z-]+')
_STATUS_LINE = re.compile(rb'HTTP/1\.([01]) ([0-9]{3})(?: [^\r\n]*)?')
# What http.client refuses in a request target and in header values.
_BAD_TARGET = re.compile('[\x00-\x20\x7f]')
_BAD_VALUE = re.compile(rb'[\r\n\x00]')
_DIGITS = re.compile(rb'[0-9]+')
_HEX = re.compile(rb'[0-9A-Fa-f]+')
# Methods whose request has a body, as http.client decides when to send
# "Content-Length: 0" for none.
_BODY_METHODS = frozenset(['PATCH', 'POST', 'PUT'])


class Transport:
    """Pooled keep-alive connections to one registry, thread-safe.

    ``request`` sends one request and returns ``(status, body bytes)``, or raises
    ``Unreachable`` (connecting, sending or reading failed, the connection closed
    early, or the answer was not well-formed HTTP/1.x) or ``NoAnswer`` (timeout
    while connecting or waiting for the answer). At most ``pool_size`` idle
    connections are kept (each for at most ``MAX_IDLE`` seconds); more are opened
    when needed. ``fresh`` asks for a new connection (a retry: another pooled one
    may be as stale as the one that failed).

    Its own HTTP/1.1 client rather than requests or ``http.client``: requests and
    urllib3 cost over a millisecond of CPU per call (1.4 ms against 0.28 ms for
    http.client), more than everything else the API worker does for a
    ``GET /v2/images/{id}``, and ``http.client`` parses every answer's headers with
    ``email.parser``. The registry's answers are simple (a status line, a few
    headers, a body of known length), so this reads them with a few byte
    operations, strictly: the answers HTTP/1.1 allows a server or a proxy in front
    of the registry to send (``Content-Length``, chunked, until the connection
    closes; ``100 Continue`` before the answer; HTTP/1.0) are read as
    ``http.client`` reads them, and anything else (a malformed status line, header
    or chunk, conflicting lengths, folded headers, a transfer coding other than
    chunked, a head over ``MAX_HEAD`` bytes) is ``Unreachable`` with the
    connection closed, never guessed at.
    """

    def __init__(self, base_url, pool_size, verify=True, client_cert=None):
        parts = urllib.parse.urlsplit(base_url)
        self._host = parts.hostname
        tls = parts.scheme == 'https'
        default_port = 443 if tls else 80
        self._port = parts.port or default_port
        self._tls = _tls_context(verify, client_cert) if tls else None
        # As http.client writes it: the port only when not the scheme's.
        host = '[%s]' % self._host if ':' in self._host else self._host
        if self._port != default_port:
            host = '%s:%d' % (host, self._port)
        self._fixed_headers = ('Host: %s\r\nAccept-Encoding: identity\r\n'
                               % host).encode('ascii')
        self._pool_size = pool_size
        self._idle = []   # (connection, when it was checked in), oldest first
        self._lock = threading.Lock()

    def request(self, method, path, headers, body, timeout, fresh=False):
        message = self._message(method, path, headers, body)
        connection = None
        try:
            connection = self._connect(timeout) if fresh else self._checkout(timeout)
            connection.sendall(message)
            status, content, reusable = _read_answer(connection, method)
        except TimeoutError:
            _close(connection)
            raise NoAnswer() from None
        except _Malformed as exc:
            _close(connection)
            raise Unreachable(str(exc)) from None
        except OSError as exc:
            _close(connection)
            raise Unreachable(type(exc).__name__) from None
        except BaseException:
            _close(connection)
            raise
        if reusable:
            self._checkin(connection)
        else:
            _close(connection)
        return status, content

    def close(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for connection, _ in idle:
            _close(connection)

    def _message(self, method, path, headers, body):
        """The request's bytes; ``ValueError`` (as http.client raises) for a method,
        target or header that would break the request's framing."""
        if not _TOKEN.fullmatch(method.encode('ascii')):
            raise ValueError('invalid HTTP method %r' % method)
        if _BAD_TARGET.search(path):
            raise ValueError('URL can\'t contain control characters: %r' % path)
        parts = [('%s %s HTTP/1.1\r\n' % (method, path)).encode('ascii'),
                 self._fixed_headers]
        for name, value in headers.items():
            name = name.encode('ascii')
            value = value.encode('latin-1') if isinstance(value, str) else value
            if not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
                raise ValueError('invalid header %r: %r' % (name, value))
            parts.append(b'%s: %s\r\n' % (name, value))
        if body is not None:
            parts.append(b'Content-Length: %d\r\n\r\n' % len(body))
            parts.append(body)
        elif method in _BODY_METHODS:
            parts.append(b'Content-Length: 0\r\n\r\n')
        else:
            parts.append(b'\r\n')
        return b''.join(parts)

    def _checkout(self, timeout):
        while True:
            with self._lock:
                connection, since = self._idle.pop() if self._idle else (None, None)
            if connection is None:
                return self._connect(timeout)
            if time.monotonic() - since <= MAX_IDLE and _still_open(connection):
                if connection.gettimeout() != timeout:
                    connection.settimeout(timeout)
                return connection
            _close(connection)

    def _connect(self, timeout):
        connection = socket.create_connection((self._host, self._port), timeout)
        try:
            # Each request is one write: nothing to gain from Nagle's delay.
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                connection = self._tls.wrap_socket(connection,
                                                   server_hostname=self._host)
        except BaseException:
            connection.close()
            raise
        return connection

    def _checkin(self, connection):
        with self._lock:
            if len(self._idle) < self._pool_size:
                self._idle.append((connection, time.monotonic()))
                return
        _close(connection)


def _read_answer(connection, method):
    """``(status, body, reusable)`` of the answer arriving on ``connection``."""
    buffer = b''
    while True:
        status, version, fields, buffer = _read_head(connection, buffer)
        if status != 100:
            break
        # "100 Continue" before the answer: skipped, as http.client does.
    if status < 200:
        raise _Malformed('unexpected interim answer %d' % status)
    connection_tokens = _tokens(fields.get(b'connection', b''))
    if version == 1:
        reusable = b'close' not in connection_tokens
    else:
        reusable = (b'keep-alive' in connection_tokens or b'keep-alive' in fields) \
            and b'close' not in connection_tokens
    coding = fields.get(b'transfer-encoding')
    length = fields.get(b'content-length')
    if status in (204, 304) or method == 'HEAD':
        body = b''
    elif coding is not None:
        if _tokens(coding) != [b'chunked']:
            raise _Malformed('unsupported transfer coding %r' % coding)
        body, buffer = _read_chunked(connection, buffer)
    elif length is not None:
        if not _DIGITS.fullmatch(length):
            raise _Malformed('invalid Content-Length %r' % length)
        body, buffer = _read_exactly(connection, buffer, int(length))
    else:
        # Delimited by the connection's end (HTTP/1.0 style).
        pieces = [buffer]
        while True:
            data = connection.recv(_READ_SIZE)
            if not data:
                break
            pieces.append(data)
        return status, b''.join(pieces), False
    # Bytes after the answer were never asked for: the connection is not reused.
    return status, body, reusable and not buffer


def _read_head(connection, buffer):
    """``(status, minor version, {lower-case name: value}, rest)``."""
    while True:
        end = _head_end(buffer)
        if end >= 0 and end <= MAX_HEAD:
            break
        if len(buffer) > MAX_HEAD:
            raise _Malformed('answer head over %d bytes' % MAX_HEAD)
        data = connection.recv(_READ_SIZE)
        if not data:
            raise _Malformed('RemoteDisconnected' if not buffer else 'IncompleteRead')
        buffer += data
    head = buffer[:end]
    rest = buffer[end + 3:] if buffer[end + 1:end + 3] == b'\r\n' else buffer[end + 2:]
    # Lines end with LF, optionally after CR (as http.client reads them).
    lines = head.split(b'\n')
    matched = _STATUS_LINE.fullmatch(lines[0].rstrip(b'\r'))
    if matched is None:
        raise _Malformed('BadStatusLine')
    fields = {}
    for line in lines[1:]:
        line = line.rstrip(b'\r')
        name, colon, value = line.partition(b':')
        if not colon or not _TOKEN.fullmatch(name):
            # Folded, nameless or otherwise malformed header lines.
            raise _Malformed('malformed header line %r' % line[:100])
        name = name.lower()
        value = value.strip(b' \t')
        if name in fields:
            if name == b'content-length':
                if fields[name] != value:
                    raise _Malformed('conflicting Content-Length')
            else:
                value = fields[name] + b', ' + value
        fields[name] = value
    return int(matched.group(2)), int(matched.group(1)), fields, rest


def _head_end(buffer):
    """Where the line end of a head's last line is (the blank line follows it),
    or -1. Line ends are CRLF or a bare LF, as http.client reads them.

    The buffer usually holds the body too: a bare LF's blank line is looked for
    only before the CRLF one (the only place it could come first), not through
    the whole body, which a CRLF head (every server's) never has one before."""
    crlf = buffer.find(b'\n\r\n')
    lf = buffer.find(b'\n\n', 0, crlf + 1 if crlf >= 0 else len(buffer))
    return crlf if lf < 0 else lf


def _read_exactly(connection, buffer, size):
    """``size`` bytes (and what arrived after them)."""
    if len(buffer) >= size:
        return buffer[:size], buffer[size:]
    pieces = [buffer]
    missing = size - len(buffer)
    while missing:
        data = connection.recv(min(missing, _MAX_BODY_READ))
        if not data:
            raise _Malformed('IncompleteRead')
        pieces.append(data)
        missing -= len(data)
    return b''.join(pieces), b''


def _read_line(connection, buffer):
    """One CRLF- (or LF-) terminated line, without its end, and the rest."""
    while True:
        end = buffer.find(b'\n')
        if end >= 0:
            return buffer[:end].rstrip(b'\r'), buffer[end + 1:]
        if len(buffer) > _READ_SIZE:
            raise _Malformed('chunk line over %d bytes' % _READ_SIZE)
        data = connection.recv(_READ_SIZE)
        if not data:
            raise _Malformed('IncompleteRead')
        buffer += data


def _read_chunked(connection, buffer):
    """A chunked body, its trailers skipped, and the rest."""
    pieces = []
    while True:
        line, buffer = _read_line(connection, buffer)
        size = line.split(b';', 1)[0].strip(b' \t')
        if not _HEX.fullmatch(size):
            raise _Malformed('invalid chunk size %r' % line[:100])
        size = int(size, 16)
        if size == 0:
            break
        chunk, buffer = _read_exactly(connection, buffer, size + 2)
        if not chunk.endswith(b'\r\n'):
            raise _Malformed('chunk not followed by CRLF')
        pieces.append(chunk[:size])
    while True:   # trailers, up to the blank line
        line, buffer = _read_line(connection, buffer)
        if not line:
            return b''.join(pieces), buffer


def _tokens(value):
    return [token.strip(b' \t').lower() for token in value.split(b',')
            if token.strip(b' \t')]


def _close(connection):
    if connection is not None:
        try:
            connection.close()
        except OSError:
            pass


def _still_open(sock):
    """False if the server closed an idle connection (or sent anything unasked):
    a request on it would fail, and a non-idempotent one could not be retried."""
    # poll, not select: a busy API worker has descriptors above FD_SETSIZE.
    poller = select.poll()
    try:
        poller.register(sock, select.POLLIN)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False


def _tls_context(verify, client_cert=None):
    """An SSL context for ``verify`` (True, False or a CA bundle path), as requests
    reads it: True trusts requests' own bundle (certifi); ``client_cert``, a
    ``(cert file, key file)`` pair, is presented to a registry that asks for one."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(
            cafile=verify if isinstance(verify, str) else requests.certs.where())
    if client_cert:
        context.load_cert_chain(*client_cert)
    return context
