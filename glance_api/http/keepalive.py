"""Keep-alive connections stay usable when a request body is left unread.

The API answers many uploads without reading their body: 409 image not queued, 413
too large, 415 wrong media type, 401/403/404. The client (python-glanceclient, any
``requests`` session) then sends its next request on the same connection. gunicorn
discards at most 64 KiB of an unread body after the answer, and closes the
connection if more is left, although its answer said ``Connection: keep-alive``: the
client's next request then meets a closed connection (``RemoteDisconnected``).

``KeepAliveGuard`` settles the connection before the answer goes out:

- it reads and discards what is left of the body, up to ``DRAIN_BYTES`` within
  ``DRAIN_SECONDS``; then the connection can honestly be kept alive;
- a longer or slower body (a refused 1 GiB upload) is not worth reading: the answer
  says ``Connection: close`` and the server closes the connection after it, so the
  client opens a new one. gunicorn ignores a ``Connection`` header set by an app,
  hence ``Response.force_close()`` on the server's response object.
"""

import logging
import time

LOG = logging.getLogger(__name__)

#: Most bytes of an unread body read (and thrown away) to keep its connection.
DRAIN_BYTES = 4 * 1024 * 1024
#: Longest time spent reading them.
DRAIN_SECONDS = 2.0
_READ_SIZE = 256 * 1024


class KeepAliveGuard:
    """WSGI middleware: reads the rest of an unread body, or closes the connection."""

    def __init__(self, app, drain_bytes=DRAIN_BYTES, drain_seconds=DRAIN_SECONDS):
        self.app = app
        self.drain_bytes = drain_bytes
        self.drain_seconds = drain_seconds

    def __call__(self, environ, start_response):
        result = self.app(environ, start_response)
        if _has_body(environ) and not self._drain(environ):
            # Before the first byte of the answer is written: gunicorn sends its
            # headers (and decides "Connection: keep-alive" or "close") then.
            _force_close(start_response)
        return result

    def _drain(self, environ):
        """Whether the body has been read to its end (now or by the app)."""
        body = environ.get('wsgi.input')
        if body is None:
            return True
        if getattr(body, 'failed', False) is True:
            # gunicorn's reader raised (client gone, malformed chunk): where the
            # next request would start is unknown.
            return False
        # gunicorn's reader of a Content-Length body knows how much is left: a
        # refused 1 GiB upload is answered at once instead of after DRAIN_SECONDS.
        left = getattr(getattr(body, 'reader', None), 'length', None)
        if isinstance(left, int) and left > self.drain_bytes:
            return False
        sock = environ.get('gunicorn.socket')
        prior_timeout = _timeout_of(sock)
        deadline = time.monotonic() + self.drain_seconds
        drained = 0
        try:
            while drained <= self.drain_bytes:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if prior_timeout is not _NO_SOCKET:
                    sock.settimeout(remaining)
                data = body.read(_READ_SIZE)
                if not data:
                    return True
                drained += len(data)
            return False
        except Exception as exc:
            # A timeout, a reset, a malformed chunk: the connection is done for.
            LOG.debug('unread request body not drained: %r', exc)
            return False
        finally:
            if prior_timeout is not _NO_SOCKET:
                try:
                    sock.settimeout(prior_timeout)
                except OSError:
                    pass


_NO_SOCKET = object()


def _timeout_of(sock):
    try:
        return sock.gettimeout()
    except (AttributeError, OSError):
        return _NO_SOCKET


def _has_body(environ):
    return _is_chunked(environ) or environ.get('CONTENT_LENGTH') not in (None, '', '0')


def _is_chunked(environ):
    return 'chunked' in environ.get('HTTP_TRANSFER_ENCODING', '').lower()


def _force_close(start_response):
    """Make the server close the connection after this answer, saying so."""
    response = getattr(start_response, '__self__', None)
    force_close = getattr(response, 'force_close', None)
    if force_close is not None:
        force_close()
