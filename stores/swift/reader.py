"""Reading an object: a GET of a byte range, resumed where a broken stream stopped."""

import contextlib
import logging

import swiftclient

from stores import base, errors
from stores.swift.accounts import close_connection
from stores.swift.failures import READ_ERRORS, store_error

LOG = logging.getLogger(__name__)

# What a download asks swiftclient for at a time.
READ_CHUNK_SIZE = 256 * 1024


class SwiftReader(base.Reader):
    """A GET of a byte range, resumed with a new Range request if the stream breaks."""

    def __init__(self, account, container, obj, offset, length, retries=0):
        self._account = account
        self._container = container
        self._obj = obj
        self._retries = retries
        self._body = None
        self._conn = None
        try:
            self._conn = account.connect()
            size = self._open(offset, length)
        except BaseException:
            self.close()
            raise
        super().__init__(size, offset, length)
        self._received = 0
        if self.length == 0:
            self._close_body()

    def _open(self, start, length):
        """Start the GET of ``length`` bytes (None: to the end) from ``start``.

        Returns the size of the whole object.
        """
        self._account.refresh(self._conn)
        headers = {}
        if length == 0:
            try:
                return int(self._conn.head_object(self._container,
                                                  self._obj)['content-length'])
            except Exception as exc:
                raise store_error(exc, 'reading %s' % self._obj)
        if start or length is not None:
            end = '' if length is None else start + length - 1
            headers['Range'] = 'bytes=%d-%s' % (start, end)
        try:
            response, self._body = self._conn.get_object(
                self._container, self._obj, resp_chunk_size=READ_CHUNK_SIZE,
                headers=headers)
        except swiftclient.ClientException as exc:
            if exc.http_status == 416:   # the range starts at or past the end
                headers = {key.lower(): value for key, value
                           in (exc.http_response_headers or {}).items()}
                return int(headers['content-range'].rpartition('/')[2])
            raise store_error(exc, 'reading %s' % self._obj)
        except Exception as exc:
            raise store_error(exc, 'reading %s' % self._obj)
        if 'content-range' in response:
            return int(response['content-range'].rpartition('/')[2])
        return int(response['content-length'])

    def __next__(self):
        while self._received < self.length:
            try:
                chunk = next(self._body, b'') if self._body is not None else b''
            except READ_ERRORS as exc:
                chunk, error = b'', exc
            else:
                error = None
            if chunk:
                chunk = chunk[:self.length - self._received]
                self._received += len(chunk)
                return chunk
            self._resume(error)
        self._close_body()
        raise StopIteration

    def _resume(self, error):
        """The stream ended early: ask again from the first missing byte, or fail."""
        self._close_body()
        while self._retries > 0:
            self._retries -= 1
            LOG.info('resuming download of %s at byte %d', self._obj,
                     self.offset + self._received)
            close_connection(self._conn)
            try:
                self._open(self.offset + self._received, self.length - self._received)
                return
            except errors.StoreUnavailable as exc:
                error = exc
        raise errors.StoreUnavailable(
            'download of %s broke off after %d of %d bytes: %s'
            % (self._obj, self._received, self.length, error or 'connection closed'))

    def _close_body(self):
        body, self._body = self._body, None
        if body is not None:
            with contextlib.suppress(Exception):
                body.close()

    def close(self):
        self._close_body()
        if self._conn is not None:
            conn, self._conn = self._conn, None
            self._account.release(conn)
        self._account.close()
