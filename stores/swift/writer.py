"""Writing an image: a single PUT or segments and a Static Large Object manifest,
streamed from the caller's thread; and removing the segments of uploads that did not
finish."""

import contextlib
import json
import logging
import queue
import re
import threading
import time
import uuid

import swiftclient

from stores import base, errors
from stores.swift.failures import status_of, store_error

LOG = logging.getLogger(__name__)

# Chunks a writer may queue ahead of the PUT that consumes them.
_QUEUE_DEPTH = 8
# Segments of a cancelled upload that Swift was not there to delete: how long to keep
# trying, and the longest pause between tries, in seconds.
_CLEANUP_PERIOD = 3600
_CLEANUP_MAX_PAUSE = 15
# Swift's etag of a single object, which becomes the image's checksum.
_MD5_HEX = re.compile('[0-9a-fA-F]{32}')


def segments_of(image_id):
    """What the names of every segment of every upload of ``image_id`` start with:
    ours (``<image id>-<upload id>-00001``) and upstream's (``<image id>-00001``)."""
    return image_id + '-'


def is_segmented(size, large_object_size):
    """Whether an upload of ``size`` bytes (None: unknown) is written as segments."""
    return size is None or size >= large_object_size


class SwiftWriter(base.Writer):
    """One upload: a single PUT, or segment PUTs one after another and a manifest."""

    def __init__(self, account, conn, container, image_id, size, hashing_algorithm, *,
                 large_object_size, segment_size, max_segments):
        segmented = is_segmented(size, large_object_size)
        # A single object's md5 is its etag, computed by Swift (docs/stores.rst).
        super().__init__(hashing_algorithm, md5=segmented)
        self._account = account
        self._conn = conn
        self._container = container
        self._image_id = image_id
        self._expected = size
        self._segment_size = segment_size
        self._max_segments = max_segments
        self._segmented = segmented
        self._upload_id = uuid.uuid4().hex[:16]
        self._put = None            # the PUT in flight
        self._segment_limit = None  # bytes that go into the segment being written
        self._segments = []         # finished segments: manifest entries
        self._object_written = False
        self._held_back = b''
        self._released = False

    def _write(self, chunk):
        if not chunk:   # nothing to send, and no PUT to start before commit()
            return
        if self._expected is not None and self.size > self._expected:
            raise errors.StoreError('received more than the %d bytes declared'
                                    % self._expected)
        if not self._segmented:
            if self._put is None:
                self._put = self._start_put(self._image_id, self._expected,
                                            {'If-None-Match': '*'})
            if self.size == self._expected:
                # Swift stores the object the moment it has every declared byte; hold
                # the last one back so that only commit() can publish it.
                chunk, self._held_back = chunk[:-1], chunk[-1:]
            self._put.feed(chunk)
            return
        while chunk:
            if self._put is None:
                self._start_segment()
            room = self._segment_limit - self._put.fed
            if len(chunk) > room:   # a segment boundary inside the chunk
                chunk, rest = chunk[:room], chunk[room:]
            else:
                rest = b''
            self._put.feed(chunk)
            if self._put.fed == self._segment_limit:
                self._finish_segment()
            chunk = rest

    def _start_segment(self):
        number = len(self._segments) + 1
        if number > self._max_segments:
            raise errors.StoreFull(
                'image is larger than %d segments of %d bytes (raise '
                'swift_store_large_object_chunk_size)'
                % (self._max_segments, self._segment_size))
        self._segment_limit = self._segment_size
        content_length = None   # unknown total: the last segment's size is unknown too
        if self._expected is not None:
            written = sum(segment['size_bytes'] for segment in self._segments)
            content_length = self._segment_limit = min(self._segment_size,
                                                       self._expected - written)
        name = '%s%s-%05d' % (segments_of(self._image_id), self._upload_id, number)
        self._put = self._start_put(name, content_length)

    def _start_put(self, name, content_length, headers=None):
        self._account.refresh(self._conn)
        return _StreamingPut(self._conn, self._container, name, content_length, headers)

    def _finish_segment(self):
        put, self._put = self._put, None
        etag = self._finish(put)
        self._segments.append({'path': '/%s/%s' % (self._container, put.name),
                               'etag': etag, 'size_bytes': put.fed})

    def _finish(self, put):
        """Wait for ``put``'s response; its etag, or the mapped error."""
        put.finish()
        if put.error is not None:
            if status_of(put.error) == 412:
                raise errors.Duplicate('image data for %s already exists'
                                        % self._image_id)
            raise store_error(put.error, 'writing %s' % put.name, writing=True)
        if put.name != self._image_id:
            # A segment: its etag goes into the manifest, which pins its content; SLO
            # checks its size when the manifest is written (docs/stores.rst).
            return put.etag
        # The single object: Swift's md5 of what it stored is the image's checksum.
        if not _MD5_HEX.fullmatch(put.etag or ''):
            self._object_written = True
            raise errors.StoreUnavailable('Swift stored %s with etag %r, which is not '
                                          'an md5' % (put.name, put.etag))
        self.stored_md5 = put.etag.lower()
        return put.etag

    def _commit(self):
        try:
            url = self._publish()
        except BaseException:
            self._cancel()
            raise
        self._release()
        return url, {}

    def _publish(self):
        if self._expected is not None and self.size != self._expected:
            raise errors.StoreError('received %d bytes, %d were declared'
                                    % (self.size, self._expected))
        if self._segmented:
            if self._put is not None:
                self._finish_segment()
            self._put_manifest()
        else:
            # Swift checks If-None-Match when a PUT starts, so a writer that started
            # while no object existed would overwrite one committed since: look again.
            self._check_absent()
            if self._put is None:   # an empty image: no write() was ever called
                self._put = self._start_put(self._image_id, 0, {'If-None-Match': '*'})
            self._put.feed(self._held_back)
            put, self._put = self._put, None
            self._finish(put)
        return self._account.location(self._container, self._image_id)

    def _check_absent(self):
        try:
            self._account.refresh(self._conn)
            self._conn.head_object(self._container, self._image_id)
        except swiftclient.ClientException as exc:
            if exc.http_status == 404:
                return
            raise store_error(exc, 'checking for %s' % self._image_id)
        except Exception as exc:
            raise store_error(exc, 'checking for %s' % self._image_id)
        raise errors.Duplicate('image data for %s already exists' % self._image_id)

    def _put_manifest(self):
        try:
            self._account.refresh(self._conn)
            if self._segments:
                self._conn.put_object(self._container, self._image_id,
                                      json.dumps(self._segments),
                                      query_string='multipart-manifest=put',
                                      headers={'If-None-Match': '*'})
            else:   # no bytes at all: an SLO needs a segment, so a plain empty object
                self._conn.put_object(self._container, self._image_id, b'',
                                      headers={'If-None-Match': '*'})
        except Exception as exc:
            if status_of(exc) == 412:
                # Another writer for this image committed first; its object stays.
                raise errors.Duplicate('image data for %s already exists'
                                        % self._image_id)
            raise store_error(exc, 'writing the manifest of %s' % self._image_id,
                              writing=True)

    def _cancel(self):
        if self._released:
            return
        put, self._put = self._put, None
        if put is not None:
            put.abort()
            if put.thread.is_alive():
                # A PUT stuck in a send: leave its connection to it and clean up
                # over a fresh one.
                self._conn = self._account.connect()
        names = [segment['path'].rsplit('/', 1)[1] for segment in self._segments]
        prefix = '%s%s-' % (segments_of(self._image_id), self._upload_id)
        later = False
        try:
            self._account.refresh(self._conn)
            _remove_segments(self._conn, self._container, names, prefix)
            if self._object_written:   # ours, but it failed its checks
                self._conn.delete_object(self._container, self._image_id)
            if self._account.container_per_image:   # the image's own container
                delete_container(self._conn, self._container)
        except Exception as exc:
            if self._segmented and (names or put is not None):
                # Usually Swift is unreachable, which is why the upload failed.
                # The segments carry this writer's upload id, so nothing else can
                # own them: remove them whenever Swift answers again.
                LOG.warning('could not remove the segments of a cancelled upload of '
                            '%s (%s); retrying in the background', self._image_id,
                            exc)
                _remove_segments_later(self._account, self._container, names,
                                       prefix)
                later = True
            else:
                LOG.warning('could not remove the object of a cancelled upload of %s',
                            self._image_id, exc_info=True)
        self._segments = []
        self._release(close_account=not later)

    def _release(self, close_account=True):
        if not self._released:
            self._released = True
            self._account.release(self._conn)
            if close_account:   # else the background removal closes it when done
                self._account.close()


class _Aborted(Exception):
    """Raised inside a PUT's body to make the request fail (the writer cancelled)."""


_END = object()
_ABORT = object()


class _StreamingPut:
    """A PUT whose body is fed chunk by chunk from another thread.

    swiftclient reads the body through ``read`` (a file-like object) in the PUT's own
    thread; ``feed`` blocks while the queue is full, so memory stays bounded by
    ``_QUEUE_DEPTH`` chunks. ``content_length`` None means chunked transfer encoding.
    """

    def __init__(self, conn, container, name, content_length, headers=None):
        self.name = name
        self.content_length = content_length
        self.fed = 0
        self.etag = None
        self.error = None
        self._queue = queue.Queue(_QUEUE_DEPTH)
        self._ended = False
        self.thread = threading.Thread(
            target=self._run, args=(conn, container, headers), daemon=True,
            name='swift-put-%s' % name)
        self.thread.start()

    def _run(self, conn, container, headers):
        try:
            self.etag = conn.put_object(container, self.name, self,
                                        content_length=self.content_length,
                                        headers=headers,
                                        chunk_size=base.CHUNK_SIZE)
        except BaseException as exc:
            self.error = exc

    # -- the API thread's side --

    def feed(self, chunk):
        """Queue ``chunk`` for the request body; raises if the PUT has already ended.

        Not copied: writers are handed chunks that nobody changes afterwards.
        """
        if not chunk:
            return
        self._enqueue(chunk)
        self.fed += len(chunk)

    def finish(self):
        """End the body and wait for the response (``etag`` or ``error``)."""
        self._enqueue(_END, raise_on_failure=False)
        self.thread.join()

    def abort(self, timeout=10):
        """Make the request fail without completing, and wait for it to end."""
        with contextlib.suppress(queue.Empty):
            while True:   # make room for the abort signal; the PUT may be stalled
                self._queue.get_nowait()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_ABORT)
        self.thread.join(timeout)

    def _enqueue(self, item, raise_on_failure=True):
        while True:
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                if self.thread.is_alive():
                    continue
            # The request ended (Swift answered early or the connection broke)
            # before taking the whole body.
            if raise_on_failure:
                if self.error is not None:
                    raise store_error(self.error, 'writing %s' % self.name,
                                      writing=True)
                raise errors.StoreUnavailable('Swift ended the PUT of %s early'
                                              % self.name)
            return

    # -- the PUT thread's side: what swiftclient reads the body from --

    def read(self, size=-1):
        """The next queued chunk, whole, whatever ``size`` asks for.

        The two readers of this body, swiftclient's LengthWrapper (Content-Length) or
        ReadableToIterable (chunked) and then urllib3, send whatever ``read`` returns.
        Handing the chunks over as they came saves a copy and several calls per chunk
        (urllib3 asks for 16 KiB at a time).
        """
        if self._ended:
            return b''
        item = self._queue.get()
        if item is _END or item is _ABORT:
            self._ended = True
            if item is _ABORT:
                raise _Aborted('upload of %s cancelled' % self.name)
            return b''
        return item


def delete_container(conn, container):
    """Remove an image's own (multi-tenant) container; gone or not empty is fine."""
    try:
        conn.delete_container(container)
    except swiftclient.ClientException as exc:
        if exc.http_status not in (404, 409):
            raise


def _remove_segments(conn, container, names, prefix):
    """Delete the segments ``names`` (gone already is fine), then whatever else
    starts with ``prefix``: a segment whose PUT completed on the server after its
    writer gave up on it, which no listing of ours names."""
    for name in names:
        _delete_object(conn, container, name)
    delete_prefix(conn, container, prefix)


def _remove_segments_later(account, container, names, prefix):
    """Retry ``_remove_segments`` in a thread until Swift answers.

    Tries again after 0.5 s, 1 s, 2 s, ... (at most ``_CLEANUP_MAX_PAUSE`` apart)
    for ``_CLEANUP_PERIOD``; the thread dies with the process. What it could not
    remove, deleting the image does (``delete`` removes ``<image id>-*``).
    """
    thread = threading.Thread(target=_retry_removal,
                              args=(account, container, names, prefix),
                              daemon=True,
                              name='swift-cleanup-%s' % prefix.rstrip('-'))
    thread.start()
    return thread


def _retry_removal(account, container, names, prefix):
    try:
        _remove_until_done(account, container, names, prefix)
    finally:
        account.close()


def _remove_until_done(account, container, names, prefix):
    pause, deadline = 0.5, time.monotonic() + _CLEANUP_PERIOD
    while True:
        time.sleep(pause)
        try:
            with account.connection() as conn:
                _remove_segments(conn, container, names, prefix)
                if account.container_per_image:
                    delete_container(conn, container)
        except Exception as exc:
            if time.monotonic() + pause > deadline:
                LOG.error('gave up removing %s/%s* (segments of a cancelled '
                          'upload): %s; deleting the image removes them',
                          container, prefix, exc)
                return
            pause = min(pause * 2, _CLEANUP_MAX_PAUSE)
            continue
        LOG.info('removed %s/%s* (segments of a cancelled upload)', container,
                 prefix)
        return


def delete_prefix(conn, container, prefix, best_effort=False):
    """Delete every object of ``container`` whose name starts with ``prefix``;
    ``best_effort``: log a failure instead of raising it."""
    try:
        _, listing = conn.get_container(container, prefix=prefix, full_listing=True)
        for entry in listing:
            _delete_object(conn, container, entry['name'])
    except Exception:
        if not best_effort:
            raise
        LOG.warning('could not remove objects %s/%s*', container, prefix,
                    exc_info=True)


def _delete_object(conn, container, name):
    """Delete an object; one gone already is fine."""
    try:
        conn.delete_object(container, name)
    except swiftclient.ClientException as exc:
        if exc.http_status != 404:
            raise
