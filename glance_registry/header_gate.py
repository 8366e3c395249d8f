"""A gunicorn worker that reads request heads in its event loop, off the threads.

gunicorn's ``gthread`` worker hands a connection to a request thread as soon as its
first byte arrives; the thread then reads the head with a blocking socket and no
deadline. Forty clients that send a head a byte at a time held every thread of a
2 x 16 API for as long as they liked (``docs/performance.rst``).
``HeaderGateWorker`` is ``gthread`` with one change: a connection reaches a thread
only once its whole request head is in memory.

- The event loop (the worker's main thread, the one that already waits on idle
  keep-alive connections) reads what each connection sends, without blocking, until
  the head ends (an empty line), and only then queues it for a thread, its bytes
  handed to gunicorn's parser.
- A head must be complete within ``client_header_timeout`` seconds of its first
  byte (of the accept, for a new connection); after that the connection gets
  ``408`` and is closed. A waiting connection costs a socket and a few bytes,
  never a thread.
- A head longer than gunicorn's limits (``max_header_line``) goes to a thread at
  once, where the parser refuses it (``431``/``400``).
- Over TLS the handshake is driven in the event loop too, under the same deadline.

Once a thread has the request, its socket reads and writes time out after
``client_socket_timeout`` seconds (upstream's meaning of that option): a client
that stops sending its body or reading the answer frees the thread then.

After an answer on a kept-alive connection, the thread waits up to
``keepalive_linger`` seconds for the next head and serves it itself, sparing the
event loop's round trip; it hands the connection back at once when another
connection needs a thread (``HeaderGateWorker.handle``).

Part of the contract half (both daemons serve through it); it imports nothing of
the registry daemon.
"""

import errno
import functools
import os
import select
import selectors
import signal
import socket
import ssl
import threading
import time

from gunicorn import sock as gunicorn_sock
from gunicorn import http
from gunicorn import util as gunicorn_util
from gunicorn.workers import base as gunicorn_worker
from gunicorn.workers import gthread

from glance_registry import request_ids

#: What the worker answers a head that did not arrive in time (``%s``: its
#: request id).
_TIMED_OUT = ('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n'
              'x-openstack-request-id: %s\r\nContent-Length: 0\r\n\r\n')
_READ_SIZE = 65536
#: The signals a worker handles: blocked while the arbiter forks it
#: (``glance_registry.process._Arbiter``), unblocked once its handlers are in.
WORKER_SIGNALS = frozenset(gunicorn_worker.Worker.SIGNALS)
#: ``_read_head``: the head is not complete yet.
_MORE = object()


class HeaderGateWorker(gthread.ThreadWorker):
    """``gthread``, with request heads gathered in the event loop (see module)."""

    #: Set by ``glance_registry.process.serve`` from the daemon's options.
    header_timeout = 30.0
    socket_timeout = None
    #: Seconds a request thread waits on its kept-alive connection for the next
    #: request before handing it back to the event loop (see ``handle``).
    linger = 0.005
    #: ``(request_id)``: name a request on the lines logged from now on, and
    #: ``()``: no longer (``glance_registry.process``'s, which imports this
    #: module); None: lines name none.
    bind_request = None
    unbind_request = None

    def init_process(self):
        # Connections sending a head, oldest first (every head gets the same
        # timeout, so this is the order of their deadlines); a dict, for removal
        # in constant time.
        self.gated = {}
        # One context per worker (gunicorn builds one per connection).
        self.tls_context = None
        if self.cfg.is_ssl:
            self.tls_context = gunicorn_sock.ssl_context(self.cfg)
            self.tls_context.sslsocket_class = _DeadlineSSLSocket
        self.max_head = (self.cfg.limit_request_fields or 100) * (
            (self.cfg.limit_request_field_size or 8190) + 2) + \
            (self.cfg.limit_request_line or 8190) + 4
        # Lingering threads (``handle``): how many threads are in a request or
        # lingering, how many linger, and a pipe the event loop writes to when
        # it queues a connection no idle thread will take.
        self.counts_lock = threading.Lock()
        self.busy = self.lingering = 0
        self.threads = self.cfg.threads
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)
        super().init_process()

    def init_signals(self):
        super().init_signals()
        # A signal sent since the fork was held for these handlers.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, WORKER_SIGNALS)

    # -- connections arrive -----------------------------------------------------

    def accept(self, listener):
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED,
                                 errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        client_sock = _DeadlineSocket.adopt(client_sock, self.socket_timeout)
        conn = gthread.TConn(self.cfg, client_sock, client_addr,
                             listener.getsockname())   # now non-blocking
        if self.tls_context is not None:
            conn.sock = self.tls_context.wrap_socket(
                client_sock, server_side=True, do_handshake_on_connect=False,
                suppress_ragged_eofs=self.cfg.suppress_ragged_eofs)
            conn.sock.deadline = self.socket_timeout
            conn.handshaken = False
        else:
            conn.handshaken = True
        self._gate(conn)

    def on_client_socket_readable(self, conn, client):
        """A kept-alive connection sends its next request: gather its head."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._gate(conn)

    def enqueue_req(self, conn):
        """Give a connection to a thread: only with its head (``_dispatch``). A
        kept-alive connection whose client pipelined the start of its next
        request comes here straight from ``finish_request``: gather the rest."""
        if getattr(conn, 'head_ready', False):
            conn.head_ready = False
            super().enqueue_req(conn)
            if self.lingering and self._thread_wanted():
                self._wake_lingering()
            return None
        return self._gate(conn, conn.parser.unreader.take_buffered()
                          if conn.parser is not None else b'')

    # -- a thread keeps a connection while its next request comes promptly ------

    def handle_error(self, req, client, addr, exc):
        """gunicorn's answer to a request it refuses (or that failed outside the
        application), under a request id: the answer carries it
        (``_write_error``) and so do the lines logged about it."""
        _refusal.request_id = request_ids.new_request_id()
        if self.bind_request is not None:
            self.bind_request(_refusal.request_id)
        try:
            super().handle_error(req, client, addr, exc)
        finally:
            _refusal.request_id = None
            if self.unbind_request is not None:
                self.unbind_request()

    def handle(self, conn):
        """gthread's ``handle``, then, while the connection is kept alive and its
        next request head arrives within ``linger`` seconds, the next request on
        the same thread.

        gthread hands every kept-alive connection back to the event loop after
        each response: a wake-up through its pipe, the socket registered with the
        poller, woken again, unregistered, the head gathered, a future queued for
        a thread. For a client that sends its next request at once (the API's
        pooled registry connections, any sequential client) that round trip cost
        more CPU than the request line and headers. A lingering thread waits in
        ``poll`` (no CPU) and gives the connection back to the event loop when the
        time is up, when the worker stops, or at once when the event loop queues
        a connection and no other thread is idle: a lingering thread never makes
        another connection wait for a thread. The head is read without blocking;
        an incomplete one goes back to the event loop's gate, with its deadline,
        as before."""
        with self.counts_lock:
            self.busy += 1
        try:
            while True:
                keepalive = super().handle(conn)
                if keepalive is not True or not self._next_head_arrived(conn):
                    return keepalive
        finally:
            with self.counts_lock:
                self.busy -= 1

    def _next_head_arrived(self, conn):
        """Linger on ``conn`` (see ``handle``): True once a whole next request
        head is in its parser's buffer, False to hand the connection back."""
        if (self.linger <= 0 or not self.alive or isinstance(conn.sock, ssl.SSLSocket)
                or conn.parser is None or conn.parser.unreader.buf.getvalue()):
            # Over TLS decrypted bytes may wait inside the socket, invisible to
            # poll; bytes already buffered (pipelined) are the event loop's.
            return False
        with self.counts_lock:
            self.lingering += 1
        try:
            if self._thread_wanted():
                return False
            poller = select.poll()
            poller.register(conn.sock, select.POLLIN)
            poller.register(self.wake_read, select.POLLIN)
            deadline = time.monotonic() + self.linger
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                events = poller.poll(remaining * 1000)
                if any(fd == self.wake_read for fd, _ in events):
                    try:
                        os.read(self.wake_read, 1)
                    except OSError:
                        pass   # another lingering thread took the byte
                    if not self.alive or self._thread_wanted():
                        return False
                if any(fd != self.wake_read for fd, _ in events):
                    break
            data = conn.sock.recv(_READ_SIZE, socket.MSG_DONTWAIT)
        except (OSError, ValueError):
            return False   # the event loop sees the error or the close
        finally:
            with self.counts_lock:
                self.lingering -= 1
        if not data:
            return False
        # Whole or not, the bytes are the parser's: finish_request gives an
        # incomplete head to the gate (enqueue_req).
        conn.parser.unreader.unread(data)
        return _head_ends(data)

    def _thread_wanted(self):
        """Whether a queued connection may find no idle thread (True if unknown):
        the threads in a request or lingering and the connections queued for one
        outnumber the threads."""
        try:
            return self.busy + self.tpool._work_queue.qsize() > self.threads
        except AttributeError:
            return True

    def _wake_lingering(self):
        try:
            os.write(self.wake_write, b'\0')
        except OSError:
            pass   # the pipe is full: lingering threads will see it anyway

    def handle_exit(self, sig, frame):
        super().handle_exit(sig, frame)
        self._wake_lingering()

    def _gate(self, conn, start=b''):
        conn.head = bytearray(start)
        conn.head_deadline = time.monotonic() + self.header_timeout
        if _head_ends(conn.head) or len(conn.head) > self.max_head:
            return self._dispatch(conn, gated=False)
        conn.sock.setblocking(False)
        # Read now what has arrived (a kept-alive connection woke us with its next
        # request; clients send theirs right after connecting), and wait in the
        # poller only for a head still incomplete: a whole head, the common case,
        # goes to a thread without being registered and unregistered (two
        # epoll_ctl calls per request). This also takes the decrypted bytes a TLS
        # socket may hold, which never wake the poller.
        if self._read_head(conn) is _MORE:
            self.gated[conn] = None
            self.poller.register(conn.sock, selectors.EVENT_READ,
                                 functools.partial(self._on_head_bytes, conn))
        return None

    # -- heads are read ----------------------------------------------------------

    def _on_head_bytes(self, conn, _sock):
        self._read_head(conn)

    def _read_head(self, conn):
        """Read what ``conn`` sent; dispatch it once its head is in, drop it if it
        went away. ``_MORE`` if the head is still incomplete."""
        try:
            if not conn.handshaken:
                conn.sock.do_handshake()
                conn.handshaken = True
            while True:
                data = conn.sock.recv(_READ_SIZE)
                if not data:
                    return self._drop(conn)   # the client went away
                conn.head += data
                if _head_ends(conn.head, len(conn.head) - len(data)) or \
                        len(conn.head) > self.max_head:
                    return self._dispatch(conn)
                if not _tls_pending(conn.sock):
                    return _MORE
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError,
                InterruptedError):
            return _MORE
        except (OSError, ValueError):
            return self._drop(conn)

    def _dispatch(self, conn, gated=True):
        """The head is in: a thread takes the connection from here."""
        if gated:
            self._ungate(conn)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader.unread(bytes(conn.head))
        conn.head = None
        # handle() skips its wait for data and its set-up (both done here).
        conn.initialized = conn.data_ready = conn.head_ready = True
        self.enqueue_req(conn)

    def _drop(self, conn, answer=None):
        self._ungate(conn)
        if answer:
            try:
                conn.sock.send(answer)
            except (OSError, ValueError):
                pass
        self.nr_conns -= 1
        conn.close()

    def _ungate(self, conn):
        # Only a gated connection is in the poller (a whole head never is).
        if self.gated.pop(conn, _MORE) is _MORE:
            return
        try:
            self.poller.unregister(conn.sock)
        except (KeyError, ValueError, OSError):
            pass

    #: Seconds a stopping worker still waits for the heads it began to read.
    stop_head_grace = 2.0
    _stopped_at = None

    def murder_pending(self):
        """Also close the connections whose head is late (408), and, once the
        worker has been stopping for ``stop_head_grace`` seconds, every connection
        still sending one."""
        super().murder_pending()
        now = time.monotonic()
        if not self.alive and self._stopped_at is None:
            self._stopped_at = now
        # A stopping worker (SIGHUP, SIGTERM) has accepted connections whose
        # head is on its way: they are served, not refused with a 408, unless
        # it is late (the head_deadline) or the stop has waited long enough.
        stop_deadline = None if self._stopped_at is None else \
            self._stopped_at + self.stop_head_grace
        while self.gated:
            oldest = next(iter(self.gated))
            if oldest.head_deadline > now and (stop_deadline is None
                                               or stop_deadline > now):
                break
            self._drop(oldest,
                       (_TIMED_OUT % request_ids.new_request_id()).encode('ascii'))

    def run(self):
        try:
            super().run()
        finally:
            while self.gated:
                self._drop(next(iter(self.gated)))


def _tls_pending(sock):
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def _head_ends(head, since=0):
    """Whether ``head`` holds the empty line that ends a request head, looking
    only at what arrived from ``since`` on (and the 3 bytes before it): a client
    sending a byte at a time must not cost a scan of everything it sent."""
    start = max(0, since - 3)
    return head.find(b'\r\n\r\n', start) >= 0 or head.find(b'\n\n', start) >= 0


class _Deadline:
    """A socket whose blocking mode has a timeout: gthread switches a connection's
    socket to blocking (no timeout) before a thread reads the request, and a
    stalled client would then hold that thread for ever."""

    deadline = None

    def setblocking(self, flag):
        if flag and self.deadline:
            self.settimeout(self.deadline)
        else:
            super().setblocking(flag)


class _DeadlineSocket(_Deadline, socket.socket):

    @classmethod
    def adopt(cls, sock, timeout):
        adopted = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        adopted.deadline = timeout
        return adopted


class _DeadlineSSLSocket(_Deadline, ssl.SSLSocket):
    pass


# -- what gunicorn answers itself -------------------------------------------------------

#: ``(status, reason, message) -> (content type, body bytes)``: the answers gunicorn
#: gives itself in this process (``use_error_body``); None: gunicorn's own HTML page.
_error_body = None
#: gunicorn's writer of those answers.
_gunicorn_write_error = gunicorn_util.write_error


def use_error_body(make):
    """Answer the requests gunicorn refuses itself with what ``make(status, reason,
    message)`` returns, ``(content type, body bytes)``: the daemon's own error shape
    (one per process)."""
    global _error_body
    _error_body = make


def _write_error(sock, status, reason, message):
    """gunicorn's answer to a request that never reached the application (a
    malformed request line or header, both chunked and Content-Length, a head over
    the limits): the daemon's error shape, where gunicorn writes its own page. No
    Accept header was read."""
    if _error_body is None:
        return _gunicorn_write_error(sock, status, reason, message)
    content_type, body = _error_body(status, reason, message or reason)
    head = ('HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: %s'
            '\r\nContent-Length: %d\r\nx-openstack-request-id: %s\r\n\r\n'
            % (status, reason, content_type, len(body),
               getattr(_refusal, 'request_id', None) or request_ids.new_request_id()))
    gunicorn_util.write_nonblock(sock, head.encode('latin-1') + body)


#: The request id of the refusal this thread is answering (``handle_error``).
_refusal = threading.local()


# gunicorn's workers call util.write_error for every such answer; these daemons'
# answers are JSON, whatever refused the request.
gunicorn_util.write_error = _write_error


# -- the Date header ------------------------------------------------------------------

#: ``(second, its HTTP date)``: the last Date header made.
_last_date = (None, None)
_gunicorn_http_date = gunicorn_util.http_date


def _http_date(timestamp=None):
    """gunicorn's ``http_date``, made once a second: the Date header has a
    second's resolution, and formatting it for every answer cost a few percent
    of an API worker's CPU on a ``show``."""
    global _last_date
    if timestamp is not None:
        return _gunicorn_http_date(timestamp)
    second = int(time.time())
    last = _last_date   # one read: another thread may replace it
    if last[0] != second:
        last = _last_date = (second, _gunicorn_http_date(second))
    return last[1]


# gunicorn writes the Date header of every answer with util.http_date.
gunicorn_util.http_date = _http_date
