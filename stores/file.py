"""The file system driver: one file per image under a data directory, written to a
locked temporary file and linked into place once durable (docs/stores.rst)."""

import errno
import fcntl
import functools
import logging
import mmap
import os
import queue
import threading
import time
import urllib.parse
import uuid

from oslo_config import cfg

from stores import base, errors
from stores.queue_thread import QueueThread

LOG = logging.getLogger(__name__)

# Bytes written between two background flushes of an image file being uploaded.
_FLUSH_EVERY = 32 * 1024 * 1024
# The staging buffer of a direct-I/O writer: one disk write each (a few ms).
_DIRECT_BUFFER = 4 * 1024 * 1024
# Direct writes are made in multiples of this (the largest logical block size).
_DIRECT_ALIGNMENT = 4096
# Chunks queued for the file-writer thread (1 MiB each during an API upload).
_QUEUE_CHUNKS = 8
# Temporary files younger than this are left alone by the start-up sweep: a writer
# takes its lock just after creating its file.
_ORPHAN_MIN_AGE = 60

_DEFAULT_DATADIR = '/var/lib/glance/images'

_opts = [
    cfg.StrOpt('filesystem_store_datadir', default=_DEFAULT_DATADIR,
               help='Directory where the file store keeps image data.'),
    cfg.MultiStrOpt('filesystem_store_datadirs', default=[],
                    help='Upstream\'s directories of the file store, each '
                         '"<path>:<priority>": one is taken as '
                         'filesystem_store_datadir; several are refused (this '
                         'store keeps its images in one directory: make each a '
                         'file store of its own in enabled_backends).'),
    cfg.IntOpt('filesystem_store_file_perm', default=0,
               help='If non-zero, the octal mode given to image files, e.g. 0640.'),
    cfg.BoolOpt('filesystem_store_direct_io', default=False,
                help='Write image data with O_DIRECT, past the page cache: it saves '
                     'the kernel about a CPU second per GiB uploaded, and an upload '
                     'does not evict the cached images being downloaded, but the '
                     'first download after the upload (a boot right after it) then '
                     'reads the disk. Off by default: uploads go through the page '
                     'cache and are flushed with fdatasync before the image is '
                     'active, so they stay cached. Where the file system refuses '
                     'O_DIRECT, the page cache is used anyway.'),
    cfg.IntOpt('filesystem_store_chunk_size', default=base.CHUNK_SIZE, min=4096,
               help='Bytes read from a file per chunk when it cannot go out with '
                    'sendfile.'),
]


def _data_directory(options):
    """The directory of a file store's images, as configured (not resolved):
    ``filesystem_store_datadir``, or the one directory upstream's
    ``filesystem_store_datadirs`` lists. An empty one
    (upstream's configs empty ``filesystem_store_datadir`` beside its list) would
    be the process's working directory, and images spread over several would be
    partly unreadable: ``errors.BadConfiguration``."""
    datadir = options.filesystem_store_datadir
    listed = list(dict.fromkeys(_without_priority(entry)
                                for entry in options.filesystem_store_datadirs))
    if len(listed) > 1:
        raise errors.BadConfiguration(
            'filesystem_store_datadirs lists %d directories (%s): this service keeps '
            "a file store's images in one directory. Set filesystem_store_datadir to "
            'one and move the images into it, or make each directory a file store '
            'of its own in enabled_backends (the images already in it stay '
            'readable there).' % (len(listed), ', '.join(listed)))
    if listed:
        if datadir and datadir != _DEFAULT_DATADIR and \
                os.path.realpath(datadir) != os.path.realpath(listed[0]):
            raise errors.BadConfiguration(
                'filesystem_store_datadir (%s) and filesystem_store_datadirs (%s) '
                'name two directories: set one of them.' % (datadir, listed[0]))
        datadir = listed[0]
    if not datadir:
        raise errors.BadConfiguration(
            "filesystem_store_datadir is empty: set it to the directory of the "
            "store's images.")
    return datadir


def _without_priority(entry):
    """The path of a ``filesystem_store_datadirs`` entry, ``<path>[:<priority>]``."""
    path, colon, priority = entry.strip().rpartition(':')
    return path.strip() if colon and priority.strip().isdigit() else entry.strip()


class FileStore(base.Store):
    """Image data as files in ``filesystem_store_datadir``."""

    driver = 'file'
    schemes = ('file',)

    @classmethod
    def option_list(cls):
        return _opts

    @functools.cached_property
    def _configured_datadir(self):
        # Read once: the options do not change while the process runs, and the
        # directory is resolved at every location check.
        return _data_directory(self.options)

    @property
    def datadir(self):
        return os.path.realpath(self._configured_datadir)

    def load(self):
        self._configured_datadir

    def configure(self):
        self.load()
        try:
            os.makedirs(self.datadir, exist_ok=True)
        except OSError as exc:
            raise errors.BadConfiguration('cannot create data directory %s: %s'
                                          % (self.datadir, exc.strerror))
        if not os.access(self.datadir, os.W_OK | os.X_OK):
            raise errors.BadConfiguration('data directory %s is not writable'
                                          % self.datadir)
        self.remove_orphans()

    def discard_abandoned(self, image_id, credentials=None):
        self.remove_orphans(prefix='.%s.' % image_id, min_age=0)

    def discard_object(self, image_id, credentials=None):
        try:
            self.delete(self.location(image_id))
        except errors.NotFound:
            pass

    def sweep(self):
        self.remove_orphans()

    def remove_orphans(self, prefix='.', min_age=_ORPHAN_MIN_AGE):
        """Delete the temporary files (those starting with ``prefix``) of uploads
        whose writer is gone (no process holds their lock) and that are at least
        ``min_age`` seconds old; the names of those removed."""
        removed = []
        now = time.time()
        for name in os.listdir(self.datadir):
            if not (name.startswith(prefix) and name.endswith('.tmp')):
                continue
            path = os.path.join(self.datadir, name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                continue   # gone meanwhile (committed or cancelled), or not a file
            try:
                if now - os.fstat(fd).st_mtime < min_age:
                    continue
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue   # a live writer's
            except OSError:
                continue
            else:
                try:
                    os.unlink(path)
                    removed.append(name)
                except FileNotFoundError:
                    pass
            finally:
                os.close(fd)
        if removed:
            LOG.warning('removed %d temporary file(s) of interrupted uploads from %s',
                        len(removed), self.datadir)
        return removed

    def _path_for(self, url):
        path = os.path.realpath(self._url_path(url))
        if os.path.dirname(path) != self.datadir:
            # A location in the database must never make us read or delete
            # an arbitrary file on the host.
            raise errors.BadLocation('location %s is outside the data directory' % url)
        return path

    def _name_for(self, url):
        """The directory entry ``url`` names in the data directory, its last
        component not resolved: a symbolic link there is the link itself.
        ``BadLocation`` if the URL names no entry of the data directory, or (for
        an entry that is not a link) spells it through a link elsewhere."""
        parent, name = os.path.split(os.path.normpath(self._url_path(url)))
        if name in ('', '.', '..') or os.path.realpath(parent) != self.datadir:
            raise errors.BadLocation('location %s is outside the data directory' % url)
        path = os.path.join(self.datadir, name)
        if not os.path.islink(path) and self._path_for(url) != path:
            raise errors.BadLocation('location %s is outside the data directory' % url)
        return path

    def _url_path(self, url):
        """The path ``url`` spells, unresolved; ``BadLocation`` if it is not a
        local file URL."""
        try:
            parsed = urllib.parse.urlparse(url)
        except ValueError as exc:   # e.g. an unclosed IPv6 bracket
            raise errors.BadLocation('not a file store location: %s (%s)' % (url, exc))
        if parsed.scheme != 'file' or parsed.netloc not in ('', 'localhost'):
            raise errors.BadLocation('not a file store location: %s' % url)
        path = urllib.parse.unquote(parsed.path)
        if '\x00' in path:
            # No file name holds NUL (the OS refuses it: a ValueError, not a 400).
            raise errors.BadLocation('location %s names no file: it contains a NUL '
                                     'character' % url)
        return path

    def check_location(self, url):
        self._path_for(url)

    def canonical(self, url):
        # The file a URL names is its resolved path: '/.', '%66', '?x', '#x', '//',
        # '..' and 'localhost' spell the same file in other ways.
        return 'file://' + self._path_for(url)

    def open_writer(self, image_id, hashing_algorithm='sha512', size=None,
                    credentials=None):
        if '/' in image_id or '\x00' in image_id or image_id.startswith('.'):
            raise errors.BadLocation('invalid object name %r' % image_id)
        return _FileWriter(self, image_id, hashing_algorithm)

    def open_reader(self, url, offset=0, length=None, credentials=None):
        path = self._path_for(url)
        try:
            fileobj = open(path, 'rb')
        except FileNotFoundError:
            raise errors.NotFound('no image data at %s' % url)
        except OSError as exc:
            raise errors.StoreUnavailable('cannot read %s: %s' % (url, exc.strerror))
        size = os.fstat(fileobj.fileno()).st_size
        return _FileReader(fileobj, size, offset, length,
                           self.options.filesystem_store_chunk_size)

    def pin(self, url):
        """The file at ``url``, held open: a ``PinnedFile`` whose ``identity`` is
        that of the file opened, whatever replaces the name afterwards."""
        path = self._path_for(url)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise errors.NotFound('no image data at %s' % url)
        except OSError as exc:
            raise errors.StoreUnavailable('cannot read %s: %s' % (url, exc.strerror))
        return PinnedFile(fd, self.options.filesystem_store_chunk_size)

    def link_in(self, pinned, image_id):
        """Link the pinned file into the data directory as ``image_id``'s data
        (``Store.link_in``): no byte is read or written, so an import of staged
        data on the same file system costs a link and two fsyncs, whatever its size.

        The link is made to the open file itself (``/proc/self/fd``), not to its
        name, so it is the file whose identity the caller checked. Its data and
        the directory entry are made durable before the location is returned, as a
        writer's commit does. None when the file system cannot (the file is on
        another one, or it has no hard links): the caller streams the bytes."""
        if '/' in image_id or '\x00' in image_id or image_id.startswith('.'):
            raise errors.BadLocation('invalid object name %r' % image_id)
        final = os.path.join(self.datadir, image_id)
        try:
            os.fdatasync(pinned.fd)
            dir_fd = os.open(self.datadir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise _os_error(exc)
        try:
            try:
                link_open_file(pinned.fd, dir_fd, image_id)
            except FileExistsError:
                raise errors.Duplicate('image data for %s already exists' % image_id)
            except OSError as exc:
                if exc.errno in _CANNOT_LINK:
                    LOG.debug('file store %s: cannot link %s in (%s): copying it',
                              self.store_id, image_id, exc.strerror)
                    return None
                raise _os_error(exc)
            try:
                if self.options.filesystem_store_file_perm:
                    os.chmod(final, self.options.filesystem_store_file_perm)
                os.fsync(dir_fd)
            except OSError as exc:
                _unlink_quietly(final)
                raise _os_error(exc)
        finally:
            os.close(dir_fd)
        return 'file://' + final

    def delete(self, url, credentials=None):
        # A symbolic link at the name (planted, or an operator's) is removed
        # itself, never the file it points to: resolved, it could name another
        # image's data in this directory; and, refused for pointing outside, it
        # stayed for ever, failing every later write of the name.
        path = self._name_for(url)
        try:
            os.unlink(path)
        except FileNotFoundError:
            raise errors.NotFound('no image data at %s' % url)
        except OSError as exc:
            raise errors.StoreUnavailable('cannot delete %s: %s' % (url, exc.strerror))

    def stat(self, url, credentials=None):
        try:
            return os.stat(self._path_for(url)).st_size
        except FileNotFoundError:
            raise errors.NotFound('no image data at %s' % url)

    def location(self, image_id):
        """The URL at which this store writes the data of ``image_id``."""
        return 'file://' + os.path.join(self.datadir, image_id)

    def describe(self):
        # Upstream's names for a file store's properties; it never thin-provisions.
        return {'data_dir': self.datadir,
                'chunk_size': self.options.filesystem_store_chunk_size,
                'thin_provisioning': False}


class _FileWriter(base.Writer):

    def __init__(self, store, image_id, hashing_algorithm):
        super().__init__(hashing_algorithm)
        self._final = os.path.join(store.datadir, image_id)
        self._perm = store.options.filesystem_store_file_perm
        if os.path.exists(self._final):
            raise errors.Duplicate('image data for %s already exists' % image_id)
        self._tmp = os.path.join(store.datadir,
                                 '.%s.%s.tmp' % (image_id, uuid.uuid4().hex))
        try:
            self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                               os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise _os_error(exc)
        try:
            # Held until the file is linked into place or removed, so that a sweep
            # tells a dead upload's file from a live one (docs/stores.rst).
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            sink = None
            if store.options.filesystem_store_direct_io:
                sink = DirectWriter.open(self._fd)
            if sink is None:
                sink = _BufferedSink(self._fd)
        except OSError as exc:
            self._remove_temporary()
            raise _os_error(exc)
        self._spooler = _Spooler(sink)

    def _write(self, chunk):
        try:
            self._spooler.write(chunk)
        except OSError as exc:
            raise _os_error(exc)

    def _commit(self):
        try:
            self._spooler.close()
            os.fsync(self._fd)
            if self._perm:
                os.chmod(self._tmp, self._perm)
            # link() fails if the name exists, unlike rename(): two writers for
            # one image can never overwrite each other's bytes.
            os.link(self._tmp, self._final)
            os.unlink(self._tmp)
            # After the unlink: both change the file's ctime.
            self.identity = identity_of(os.fstat(self._fd))
            os.close(self._fd)   # and with it the lock
            self._fd = None
            dir_fd = os.open(os.path.dirname(self._final), os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except FileExistsError:
            self._cancel()
            raise errors.Duplicate('image data for %s already exists'
                                    % os.path.basename(self._final))
        except OSError as exc:
            self._cancel()
            raise _os_error(exc)
        return 'file://' + self._final, {}

    def _cancel(self):
        self._spooler.abort()
        if self._fd is not None:
            self._remove_temporary()

    def _remove_temporary(self):
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None


# link() errors that mean "not on this file system": stream the bytes instead.
_CANNOT_LINK = (errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOENT)


def identity_of(stat):
    """A file's ``StoredImage.identity``: its inode, size, modification and change
    times. Any write changes the mtime, and putting other bytes under the name (a
    new file, a rename) changes the inode; the device is left out, as it differs
    between the hosts that mount one shared file system."""
    return '%d-%d-%d-%d' % (stat.st_ino, stat.st_size, stat.st_mtime_ns,
                            stat.st_ctime_ns)


class PinnedFile:
    """A stored file held open by ``FileStore.pin``: its ``identity`` and ``size``
    as opened, a ``reader()`` over it from the start, ``close()`` (or use it as a
    context manager)."""

    def __init__(self, fd, chunk_size):
        self.fd = fd
        self._chunk_size = chunk_size
        stat = os.fstat(fd)
        self.size = stat.st_size
        self.identity = identity_of(stat)

    def reader(self):
        """A ``Reader`` of the whole file, on a duplicate of the descriptor (closed
        apart from this one; it shares the file offset, so one reader at a time)."""
        fileobj = os.fdopen(os.dup(self.fd), 'rb')
        return _FileReader(fileobj, os.fstat(fileobj.fileno()).st_size, 0, None,
                           self._chunk_size)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


class _Spooler:
    """Writes an upload's chunks to its file, through a sink, on a thread of its own.

    A write() can block for milliseconds (the disk, dirty page throttling, a journal
    commit); done by the request thread, that time was added to the time spent
    receiving the body. On a thread fed by a small bounded queue it overlaps with
    receiving and hashing, and memory stays at a few chunks. The chunks must not
    change after ``write`` (``stores.base.Writer.write``): the queue holds a
    reference to each until it is written, and a caller that reuses its buffers
    (the API's upload body) takes one back only once nothing holds it.
    """

    def __init__(self, sink):
        self._sink = sink
        self._writes = QueueThread('file-writer', sink.write, maxsize=_QUEUE_CHUNKS)

    def write(self, chunk):
        """Queue ``chunk``; raises the ``OSError`` of an earlier write, if any."""
        if self._writes.error is not None:
            raise self._writes.error
        self._writes.put(chunk)

    def close(self):
        """Write everything queued and what the sink holds back; raises a write's
        ``OSError``."""
        self._writes.stop()
        error = self._writes.error
        if error is None:
            try:
                self._sink.finish()
            except OSError as exc:
                error = exc
        self._sink.release()
        if error is not None:
            raise error

    def abort(self):
        """Stop without writing what is still queued."""
        self._writes.discard()
        self._writes.stop()
        self._sink.release()


class _BufferedSink:
    """Writes through the page cache, pushing dirty pages to disk as it goes.

    The commit must fsync before the link; without background flushing, a large
    image's whole body would be written to disk then, after the last byte arrived
    (seconds for a GiB). A thread calling fdatasync every ``_FLUSH_EVERY`` bytes
    overlaps that with the upload, so the final fsync has only the tail left.
    """

    def __init__(self, fd):
        self._fd = fd
        self._unflushed = 0
        self._flusher = _Flusher(fd)

    def write(self, chunk):
        write_all(self._fd, chunk)
        self._unflushed += len(chunk)
        if self._unflushed >= _FLUSH_EVERY:
            self._unflushed = 0
            self._flusher.request()

    def finish(self):
        self._flusher.close()

    def release(self):
        self._flusher.close()


class DirectWriter:
    """Writes a file from start to end with ``O_DIRECT``, double-buffered: the disk
    reads the bytes from aligned buffers, not from the page cache.

    Through the page cache, the kernel copies every byte into a freshly allocated
    page, then writes the dirty pages back: 1-2 CPU seconds per GiB on the 2-core
    benchmark machine, during an upload whose hashing needs both cores, or in the
    thread of a download that fills the image cache. Here ``write`` copies the
    chunks into one of two aligned buffers (a memcpy, a tenth of that), in the
    caller's thread; a full buffer goes to a thread of this writer, which writes it
    to the disk (blocking for the disk, without the GIL) while the caller fills the
    other one. The caller waits only when both buffers are full, that is when the
    disk is slower than the caller's bytes come in (``waited`` adds up those
    seconds). Memory stays at the two buffers. The image written also does not
    evict the page cache of the images being downloaded.

    ``finish`` writes what the buffers hold (the tail that does not fill an aligned
    block through the page cache), ``release`` frees the buffers and stops the thread
    (after ``finish``, or instead of it to give up). A write error raises from the
    next ``write`` or from ``finish``. If the file system turns down an aligned write
    (``EINVAL``), the rest of the file is written through the page cache.

    ``DirectWriter.open(fd)`` is None where the file system refuses ``O_DIRECT``.
    One caller thread at a time (``write``, ``finish``, ``release``).
    """

    def __init__(self, fd, buffer_size=_DIRECT_BUFFER):
        if buffer_size % _DIRECT_ALIGNMENT:
            raise ValueError('buffer_size must be a multiple of %d' % _DIRECT_ALIGNMENT)
        self._fd = fd
        self._size = buffer_size
        self.waited = 0.0
        # Anonymous mappings are page-aligned, which satisfies every block size.
        self._free = queue.Queue()
        for _ in range(2):
            self._free.put(mmap.mmap(-1, buffer_size))
        # Full buffers go to the disk on this thread, then back to the free queue.
        self._writes = QueueThread('direct-writer', self._write_full,
                                   skip=self._give_back)
        self._buffer = None   # the one being filled, and how much of it is
        self._filled = 0
        self._buffered = None   # a _BufferedSink once O_DIRECT was given up

    @classmethod
    def open(cls, fd, buffer_size=_DIRECT_BUFFER):
        """A writer of ``fd`` (opened for writing, empty), with ``O_DIRECT`` turned
        on; None, and ``fd`` untouched, if its file system refuses it."""
        if not _set_direct(fd, True):
            return None
        return cls(fd, buffer_size)

    def write(self, chunk):
        """Copy ``chunk`` in (it may change afterwards); raises the ``OSError`` of
        an earlier block's write."""
        chunk = memoryview(chunk).cast('B')
        while chunk:
            if self._buffer is None:
                self._buffer = self._take_free()
            count = min(len(chunk), self._size - self._filled)
            self._buffer[self._filled:self._filled + count] = chunk[:count]
            self._filled += count
            chunk = chunk[count:]
            if self._filled == self._size:
                self._hand_over()

    def finish(self):
        """Write every byte written so far to the file: once this returns, the
        file holds them (an fsync makes them durable)."""
        if self._buffer is not None:
            # The aligned part by the thread as any block, the tail after it.
            aligned = self._filled - self._filled % _DIRECT_ALIGNMENT
            tail = bytes(self._buffer[aligned:self._filled])
            self._filled = aligned
            self._hand_over()
        else:
            tail = b''
        self._writes.stop()
        if self._writes.error is not None:
            raise self._writes.error
        if self._buffered is None:
            _set_direct(self._fd, False)
            write_all(self._fd, tail)
        else:
            self._buffered.write(tail)
            self._buffered.finish()

    def release(self):
        """Stop the thread, without writing what it still holds, and free the
        buffers."""
        self._writes.discard()
        self._writes.stop()
        if self._buffered is not None:
            self._buffered.release()
        # Dropped, not closed: a write error's traceback may still hold a slice.
        self._buffer = self._free = None

    def _take_free(self):
        if self._writes.error is not None:
            raise self._writes.error
        try:
            buffer = self._free.get_nowait()
        except queue.Empty:
            started = time.monotonic()
            buffer = self._free.get()
            self.waited += time.monotonic() - started
        if self._writes.error is not None:
            self._free.put(buffer)
            raise self._writes.error
        self._filled = 0
        return buffer

    def _hand_over(self):
        self._writes.put((self._buffer, self._filled))
        self._buffer = None
        self._filled = 0

    def _write_full(self, block):
        buffer, length = block
        if length:
            self._write_block(memoryview(buffer)[:length])
        self._free.put(buffer)

    def _give_back(self, block):
        # A block not written (given up, or after an error) still frees its
        # buffer, so that a waiting write() wakes up and raises the error.
        self._free.put(block[0])

    def _write_block(self, view):
        if self._buffered is not None:
            self._buffered.write(view)
            return
        try:
            written = os.write(self._fd, view)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            written = 0
        if written < len(view):
            # Refused, or a short write that left the rest unaligned.
            LOG.info('writing the rest of %s through the page cache', _name_of(self._fd))
            _set_direct(self._fd, False)
            self._buffered = _BufferedSink(self._fd)
            self._buffered.write(view[written:])


def _set_direct(fd, direct):
    """Turn ``O_DIRECT`` on or off for ``fd``; False where the file system refuses it."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    flags = flags | os.O_DIRECT if direct else flags & ~os.O_DIRECT
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        return False
    return True


def write_all(fd, view):
    """Write every byte of ``view`` (a bytes-like object) to ``fd``."""
    view = memoryview(view)
    while view:
        view = view[os.write(fd, view):]


def link_open_file(fd, dir_fd, name):
    """Hard-link the open file ``fd`` as ``name`` in the directory ``dir_fd``: the
    file itself, whatever replaced its name since it was opened. ``dst_dir_fd``
    makes Python call ``linkat()`` with ``AT_SYMLINK_FOLLOW`` on
    ``/proc/self/fd/N``; ``link()`` would link that symbolic link itself. Raises
    what ``linkat()`` raises: the callers decide which errors mean "copy it"."""
    os.link('/proc/self/fd/%d' % fd, name, dst_dir_fd=dir_fd, follow_symlinks=True)


def _name_of(fd):
    try:
        return os.readlink('/proc/self/fd/%d' % fd)
    except OSError:
        return 'fd %d' % fd


class _Flusher:
    """Calls fdatasync on a file, in the background, whenever ``request`` asks."""

    def __init__(self, fileno):
        self._fileno = fileno
        self._wanted = threading.Event()
        self._closing = False
        self._thread = None

    def request(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name='file-flusher',
                                            daemon=True)
            self._thread.start()
        self._wanted.set()

    def _run(self):
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._closing:
                return
            try:
                os.fdatasync(self._fileno)
            except OSError:
                # The commit's own fsync reports the error where it matters.
                return

    def close(self):
        if self._thread is not None:
            self._closing = True
            self._wanted.set()
            self._thread.join()
            self._thread = None


class _FileReader(base.Reader):

    def __init__(self, fileobj, size, offset, length, chunk_size):
        super().__init__(size, offset, length)
        fileobj.seek(offset)
        self.fileobj = fileobj
        self._remaining = self.length
        self._chunk_size = chunk_size

    def __next__(self):
        if self._remaining <= 0:
            raise StopIteration
        chunk = self.fileobj.read(min(self._chunk_size, self._remaining))
        if not chunk:
            raise StopIteration
        self._remaining -= len(chunk)
        return chunk

    def close(self):
        self.fileobj.close()


#: Public for other readers of whole files (the API's image cache serves its files
#: with it).
FileReader = _FileReader


def _os_error(exc):
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return errors.StoreFull('no space left in the file store')
    return errors.StoreUnavailable('file store error: %s' % exc.strerror)
