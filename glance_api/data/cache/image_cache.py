"""The node's image cache: whole images as files in ``image_cache_dir``.

A copy is served only for an ``active`` image whose record (the one the download
already fetched) still names the data the copy was made from: its checksum and
multihash are compared on every hit, so a deleted, deactivated or re-uploaded image
is never served from cache, without a registry call of its own.

Files are written as the file store writes them: to a locked temporary file in
``incomplete/``, linked into place only once complete and verified, so a partial or
failed file is never served; the temporary files of a dead writer are unlocked and
the cleaner removes them. A file store's file on the cache's file system is not
written at all: it is hard-linked into place, complete (``Fill._link_store_file``).
A download reading a cached file holds a shared lock on it, and eviction skips files
it cannot lock exclusively, so an evicted file's space is free at once (an unlinked
file still being read would hold its blocks; a linked one's are the store's too).
"""

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import queue
import sqlite3
import stat as _stat
import sys
import threading
import time
import uuid

from oslo_config import cfg

from glance_api.data.cache import index as cache_index
from glance_api.data.cache.counters import Counters
from glance_registry.client import vocabulary
from stores import base
from stores import errors as store_errors
from stores.file import DirectWriter, FileReader, link_open_file, write_all

LOG = logging.getLogger(__name__)

INCOMPLETE = 'incomplete'
# Upstream's directory of failed fills; its cleaner empties it, and so does ours
# for a cache directory upstream Glance used (nothing here writes to it).
UPSTREAM_INVALID = 'invalid'
# A download hands its chunks to the fill's writer itself (a copy into an aligned
# buffer, written to disk by the writer's thread; see Fill); when that takes more
# than this share of the download's time, plus the grace, the disk is slower than
# the network and the fill detaches.
_SLOW_WRITES_SHARE = 0.5
_SLOW_WRITES_GRACE = 0.25
# Each of a fill's two direct-I/O buffers: a disk write of a few ms.
_DIRECT_BUFFER = 4 * 1024 * 1024
_CHUNK_SIZE = 1024 * 1024
_COMMIT = object()
_ABORT = object()
_DETACH = object()

cache_opts = [
    cfg.StrOpt('image_cache_dir',
               help='Directory of this node\'s image cache; the cache (and the '
                    '/v2/cache API, 2.14 and later) is on when it is set. Use a '
                    'directory of its own on a local disk.'),
    cfg.IntOpt('image_cache_max_size', default=10 * 1024 ** 3, min=0,
               help='Bytes the cache may hold. Unlike upstream, a hard cap: space '
                    'is reserved before an image is written, evicting the least '
                    'recently used images; an image larger than this is served '
                    'without being cached.'),
    cfg.IntOpt('image_cache_stall_time', default=86400, min=1,
               help='Seconds after which the cleaner removes a cache file left '
                    'incomplete by a writer that died.'),
    cfg.StrOpt('image_cache_driver', default='centralized_db',
               choices=['centralized_db', 'sqlite', 'xattr'],
               help='Accepted for upstream configurations; every value behaves '
                    'the same: the index of the cached files is a SQLite file in '
                    'image_cache_dir, and the prefetch queue and which node holds '
                    'which image (GET /v2/cache/nodes) are in the registry, shared '
                    'by every node.'),
    cfg.StrOpt('worker_self_reference_url', max_length=255,
               help='How this API node is named in GET /v2/cache and GET '
                    '/v2/cache/nodes/{image_id} answers (its URL, as upstream; at '
                    'most 255 characters, as the registry records it); default: '
                    'its host name. Give every node its own name: nodes '
                    'of one name are one node to the registry.'),
]


def register_opts(conf):
    conf.register_opts(cache_opts)


def prepare_directory(directory):
    """Create the cache ``directory`` and its ``incomplete`` one if missing; its real
    path. ``OSError`` when they cannot be made (the API's start checks it before
    its workers fork)."""
    directory = os.path.realpath(directory)
    os.makedirs(os.path.join(directory, INCOMPLETE), exist_ok=True)
    return directory


def check_apart(directory, directories_of_stores):
    """``stores.errors.BadConfiguration`` if the cache ``directory`` is the data
    directory of a store (``directories_of_stores``: ``{store id: directory}``,
    the file stores' and the staging store's): their files are named after their
    image too, and the cleaner removes such files that its index does not list,
    eviction the ones it does."""
    directory = os.path.realpath(directory)
    for store_id, datadir in directories_of_stores.items():
        if datadir is not None and os.path.realpath(datadir) == directory:
            raise store_errors.BadConfiguration(
                'image_cache_dir %s is the data directory of store %s: give the '
                'image cache a directory of its own' % (directory, store_id))


class ImageCache:
    """The cache directory of this node and its index."""

    def __init__(self, directory, max_size, stall_time, reports=None):
        self.directory = prepare_directory(directory)
        self.max_size = max_size
        self.stall_time = stall_time
        self.index = cache_index.Index(self.directory)
        self.counters = Counters()
        #: Told of each copy committed or removed (``copies.CopyReports``: it
        #: never blocks); None: nobody is.
        self.reports = reports

    @classmethod
    def from_config(cls, conf, reports=None):
        """The cache ``conf`` configures, None when ``image_cache_dir`` is unset.

        ``stores.errors.BadConfiguration`` when its directory cannot be made (a
        file's path, a read-only disk) or its index cannot be opened (a file that
        is no SQLite database): the API refuses to start, before its workers do
        (``glance_api.cmd``), and the ``glance-cache-*`` commands stop, in a line.
        """
        if not conf.image_cache_dir:
            return None
        try:
            return cls(conf.image_cache_dir, conf.image_cache_max_size,
                       conf.image_cache_stall_time, reports)
        except OSError as exc:
            raise store_errors.BadConfiguration(
                'image_cache_dir: cannot create %s: %s'
                % (conf.image_cache_dir, exc.strerror)) from None
        except sqlite3.DatabaseError as exc:
            raise store_errors.BadConfiguration(
                'image_cache_dir: cannot open the cache index %s: %s (a damaged '
                'index may be removed: the cache then starts empty)'
                % (os.path.join(conf.image_cache_dir, cache_index.INDEX_NAME),
                   exc)) from None

    def report_copy(self, image_id, held):
        """Tell ``reports`` that ``image_id``'s copy was committed (``held``) or
        removed."""
        if self.reports is not None:
            (self.reports.held if held else self.reports.dropped)(image_id)

    def path_for(self, image_id):
        return os.path.join(self.directory, image_id)

    # -- downloads

    def open_cached(self, record, offset, length):
        """A reader of ``record``'s cached copy (its ``fileobj`` lets the server
        use sendfile), or None on a miss."""
        image_id = record['id']
        if record['status'] != 'active':
            return None
        size = record['size']
        try:
            hit, stale = self.index.hit(image_id, size, record['checksum'],
                                        record['os_hash_value'])
        except sqlite3.Error as exc:
            # The cache's disk is full or cannot be written: the store still
            # serves the download, as on a node without a cache.
            LOG.warning('cache: cannot look %s up, serving it uncached: %s',
                        image_id, exc)
            return None
        if stale:
            LOG.debug('cache: %s changed since it was cached; removing the copy',
                      image_id)
            try:
                self._remove_file(image_id)
            except OSError as exc:
                # No longer indexed: never served, and the cleaner's to remove.
                LOG.warning('cache: cannot remove the stale copy of %s: %s',
                            image_id, exc)
            self.report_copy(image_id, False)
        if not hit:
            self.counters.add('misses')
            LOG.debug('cache miss: %s', image_id)
            return None
        fileobj = self._open_locked(image_id, size)
        if fileobj is None:
            if self.index.release(image_id, cache_index.CACHED):
                self.report_copy(image_id, False)
            self.counters.add('misses')
            LOG.debug('cache miss: %s (its file is gone)', image_id)
            return None
        reader = FileReader(fileobj, size, offset, length, _CHUNK_SIZE)
        self.counters.add('hits')
        self.counters.add('bytes_served', reader.length)
        LOG.debug('cache hit: %s, %d bytes from offset %d', image_id, reader.length,
                  offset)
        return reader

    def _open_locked(self, image_id, size):
        """The cached file, shared-locked against eviction; None if it is not the
        file the index names (evicted meanwhile, or of another size)."""
        path = self.path_for(image_id)
        try:
            fileobj = open(path, 'rb')
        except OSError:
            return None
        try:
            fcntl.flock(fileobj.fileno(), fcntl.LOCK_SH)
            opened = os.fstat(fileobj.fileno())
            current = os.stat(path)
        except OSError:
            fileobj.close()
            return None
        if (opened.st_ino, opened.st_dev) != (current.st_ino, current.st_dev) or \
                opened.st_size != size:
            fileobj.close()
            return None
        return fileobj

    def start_fill(self, record, resume=None):
        """A ``Fill`` of ``record``'s data if this process should cache it now: the
        image is active, not cached nor being filled, and fits under the cap.
        ``resume(offset, length)`` opens a store reader of the rest (see ``Fill``)."""
        size = record.get('size')
        if record['status'] != 'active' or not size:
            return None
        try:
            reserved = self.index.reserve(record['id'], size, self.max_size,
                                          self.evict, self._filling)
        except (sqlite3.Error, OSError) as exc:
            # A full or unwritable cache disk (its index cannot commit, its
            # incomplete/ directory cannot be listed) leaves the download uncached.
            LOG.warning('cache: cannot cache %s: %s', record['id'], exc)
            return None
        if not reserved:
            if size > self.max_size:
                self.counters.add('uncacheable')
                LOG.debug('cache: %s (%d bytes) is larger than the cache; not cached',
                          record['id'], size)
            return None
        try:
            return Fill(self, record, resume)
        except OSError as exc:
            self.index.release(record['id'], cache_index.FILLING)
            LOG.warning('cache: cannot start caching %s: %s', record['id'], exc)
            return None

    def _filling(self, image_id):
        """Whether a live writer (one holding its file's lock) fills ``image_id``;
        the files of dead ones are removed."""
        incomplete = os.path.join(self.directory, INCOMPLETE)
        alive = False
        for name in os.listdir(incomplete):
            if not name.startswith(image_id + '.'):
                continue
            path = os.path.join(incomplete, name)
            if _locked(path):
                alive = True
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        return alive

    # -- removal

    def evict(self, image_id):
        """Remove ``image_id``'s file unless a download is reading it; True if it
        is gone."""
        path = self.path_for(image_id)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            self.report_copy(image_id, False)   # its entry goes all the same
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            size = os.fstat(fd).st_size
            os.unlink(path)
        except BlockingIOError:
            return False
        except OSError as exc:
            # An immutable file, a read-only disk: the next least recently used
            # image goes instead, or every fill would fail on this one.
            LOG.warning('cache: cannot evict %s: %s', image_id, exc)
            return False
        finally:
            os.close(fd)
        self.counters.add('evictions')
        self.counters.add('bytes_evicted', size)
        self.report_copy(image_id, False)
        LOG.debug('cache eviction: %s (%d bytes)', image_id, size)
        return True

    def delete(self, image_id):
        """Remove ``image_id`` from the cache (reading downloads finish first, on
        the unlinked file); True if it was cached.

        The file goes before its entry: when it cannot be removed (``OSError``),
        the entry stays, so the cleaner finds the copy again and its bytes still
        count under the cap. (A hit on an entry whose file is gone is a miss.)
        """
        removed = self._remove_file(image_id)
        removed = self.index.release(image_id, cache_index.CACHED) or removed
        if removed:
            self.report_copy(image_id, False)
        return removed

    def discard(self, image_id):
        """``delete``, but a copy that cannot be removed (an immutable file, a
        read-only disk) is logged and stays listed, as ``delete`` leaves it; True
        if it was cached and removed."""
        try:
            return self.delete(image_id)
        except OSError as exc:
            LOG.warning('cache: cannot remove the cached copy of %s (it stays '
                        'cached): %s', image_id, exc)
            return False

    def clear(self):
        """Remove every cached image (those that cannot be removed are logged, the
        others go all the same); how many were removed."""
        removed = 0
        for image_id in self.index.entries(cache_index.CACHED):
            removed += bool(self.discard(image_id))
        return removed

    def _remove_file(self, image_id):
        try:
            os.unlink(self.path_for(image_id))
        except FileNotFoundError:
            return False
        return True

    def prune(self):
        """Evict least-recently-used images until the cache fits its cap (after
        ``image_cache_max_size`` was lowered); ``(files, bytes)`` pruned."""
        evicted = self.index.prune(self.max_size, self.evict)
        return len(evicted), sum(size for _, size in evicted)

    def clean(self, now=None):
        """Remove what dead fills left: unlocked temporary files and their
        reservations, incomplete files older than ``image_cache_stall_time``, and
        copies the index does not list (a process killed between linking its copy
        into place and indexing it); and the files of upstream's ``invalid/``
        directory, as upstream's cleaner does. The number of files removed.

        A file that cannot be removed is logged and left for the next pass: it
        does not stop the pass (nor fail ``POST /v2/cache/clean``).
        """
        now = time.time() if now is None else now
        # Made again if it was removed (by hand): fills write nowhere else.
        prepare_directory(self.directory)
        incomplete = os.path.join(self.directory, INCOMPLETE)
        removed = 0
        live = set()
        for name in os.listdir(incomplete):
            path = os.path.join(incomplete, name)
            try:
                age = now - os.stat(path).st_mtime
            except OSError:
                continue
            # An unlocked file this young may be a writer's that has not taken its
            # lock yet (it creates the file, then locks it).
            if age <= self.stall_time and (_locked(path) or
                                           age <= cache_index.TAKE_OVER_AFTER):
                live.add(name.split('.', 1)[0])
                continue
            removed += _remove_left_file(path)
        for image_id, modified in self.index.entries(cache_index.FILLING).items():
            # A reservation whose writer died (no locked file), once it is older
            # than a writer needs to create its file.
            if image_id not in live and now - modified > cache_index.TAKE_OVER_AFTER:
                self.index.release(image_id, cache_index.FILLING)
        invalid = os.path.join(self.directory, UPSTREAM_INVALID)
        for name in _names_in(invalid):
            removed += _remove_left_file(os.path.join(invalid, name))
        # Listed before the index is read: a fill reserves its image in the index
        # before it links its copy, so a copy listed here and not indexed after
        # is nobody's.
        copies = [name for name in _names_in(self.directory)
                  if vocabulary.is_image_id(name)]
        if copies:
            indexed = set(self.index.entries(cache_index.CACHED))
            indexed.update(self.index.entries(cache_index.FILLING))
            for image_id in copies:
                if image_id not in indexed:
                    removed += _remove_left_file(self.path_for(image_id))
        return removed


def _names_in(directory):
    """The names of the regular files in ``directory`` ([] if it does not exist)."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    return [entry.name for entry in entries if entry.is_file(follow_symlinks=False)]


def _remove_left_file(path):
    """Remove a file the cleaner found; 1 if removed, else 0 (logged when it could
    not be)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return 0
    except OSError as exc:
        LOG.warning('cache cleaner: cannot remove %s (left for the next pass): %s',
                    path, exc)
        return 0
    return 1


def _locked(path):
    """Whether a process holds ``path``'s lock (a writer's file); False if gone."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class Fill:
    """Writes one image's bytes into the cache as a download streams them.

    The download hands each chunk to the file's writer itself (``feed``) and goes
    on, so one pass of the download fills the cache. The writer is a
    ``stores.file.DirectWriter``: the download only copies the chunk into an
    aligned buffer, and the writer's thread writes full buffers with ``O_DIRECT``,
    waiting for the disk without the GIL. Writes through the page cache cost the
    download's thread 0.3-2 CPU seconds per GiB on the benchmark machine (new
    pages; the upper figure made a 1 GiB Swift fill detach); the copy costs
    0.1 s. Where the
    file system refuses ``O_DIRECT`` the download writes through the page cache
    itself. After the last byte the fill's thread reads the file back at nice 19
    and checks its md5 against the image's checksum, then fsyncs it and links it
    into place. (A writer thread that hashed and wrote, fed through a queue, fell
    16 MiB behind a Swift download on two busy cores, and the fill read the image
    from Swift a second time; docs/performance.rst.)

    If those writes take more than half of the download's time (a disk, or a
    page cache, slower than the network: the download waits for a free buffer),
    or the client goes away, the fill
    *detaches* from the download and its thread reads the rest from the store
    itself (``resume(offset, length)``, a store reader; after slow writes, only
    once the download ended, not beside it), so large images are cached then too;
    without ``resume`` it gives up. The prefetcher detaches at once. The file is
    linked into place only when every byte arrived and, unless the store's own
    file was linked or copied (below), its md5 is the image's checksum.

    A store that offers its own file (the file store) is read by neither: on the
    cache's file system the file is hard-linked into place (``_link_store_file``:
    no byte moves); elsewhere, or when it cannot be linked, the kernel copies it
    into the cache file (``copy_file_range``, or ``sendfile`` across file
    systems). Either way unhashed, as the cold download sends that file
    unhashed. Hashing it would cost a core for as long as the download itself, on
    a node whose cores serve downloads; the upload hashed the bytes as it wrote
    them. Bytes streamed from other stores (Swift, HTTP) can differ from the
    image's and are verified.
    """

    def __init__(self, cache, record, resume=None):
        self.cache = cache
        self.image_id = record['id']
        self.size = record['size']
        self.checksum = record['checksum']
        self.hash_value = record['os_hash_value']
        self._resume = resume
        self._tmp = os.path.join(cache.directory, INCOMPLETE, '%s.%s.tmp'
                                 % (self.image_id, uuid.uuid4().hex))
        self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                           os.O_CLOEXEC, 0o640)
        # Held until the file is linked or removed: the cleaner's sign of life.
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        # Only the end of the download goes through the queue (after the last
        # chunk the download wrote): the thread then owns the file.
        self._ends = queue.Queue()
        # The DirectWriter of the streamed bytes, opened by the first (None when
        # nothing is streamed, or the file system refuses O_DIRECT: _direct False).
        self._writer = None
        self._direct = True
        self._written = 0
        self._started = None
        self._write_time = 0.0
        self._ended = False
        # Set when the download has ended (or its client went away): a fill that
        # detached because its writes were slow reads the rest only then, so its
        # second read of the store does not slow the download down further.
        self._download_over = threading.Event()
        self._slow = False
        self.cached = None   # True/False once the writer thread is done
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='cache-fill-%s' % self.image_id)
        self._thread.start()

    def feed(self, chunk):
        """Write ``chunk``, the next bytes of the image (in the download's thread)."""
        if self._ended or not chunk:
            return
        started = time.monotonic()
        if self._started is None:
            self._started = started
        try:
            self._write(chunk)
        except OSError as exc:
            # Where in the chunk it failed is unknown: nothing to resume from.
            self._end(_ABORT, 'cannot write its file: %s' % exc)
            return
        now = time.monotonic()
        self._written += len(chunk)
        self._write_time += now - started
        if self._write_time > (_SLOW_WRITES_GRACE
                               + _SLOW_WRITES_SHARE * (now - self._started)):
            self._slow = True
            self._leave('writing its file took %.2f of the download\'s %.2f s'
                        % (self._write_time, now - self._started))

    def _write(self, chunk):
        """Write the next bytes of a stream (the download's, or after a detach the
        fill's own read of the store)."""
        if self._writer is None and self._direct:
            self._writer = DirectWriter.open(self._fd, _DIRECT_BUFFER)
            self._direct = self._writer is not None
        if self._writer is not None:
            self._writer.write(chunk)
        else:
            write_all(self._fd, chunk)

    def _finish_writes(self):
        """Write what the writer holds; raises a write's OSError."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.finish()
            finally:
                writer.release()

    def finish(self):
        """Every byte was fed: verify, then link the file into place."""
        self.download_ended()
        self._end(_COMMIT)

    def abort(self, why='the download stopped'):
        self.download_ended()
        self._end(_ABORT, why)

    def download_ended(self):
        self._download_over.set()

    def detach(self, why='prefetching', source=None):
        """Stop taking chunks: the writer reads the rest from the store (from
        ``source``, a store reader of the whole image, when given: nothing was fed)."""
        if source is not None:
            self._resume = lambda offset, length: source
        self._leave(why)

    def _leave(self, why):
        if self._resume is None:
            self._end(_ABORT, why)
        else:
            LOG.debug('cache: %s reads the rest of %s from the store: %s',
                      threading.current_thread().name, self.image_id, why)
            self._end(_DETACH)

    def wait(self, timeout=None):
        """Whether the image is now cached (after the writer thread ended)."""
        self._thread.join(timeout)
        return bool(self.cached)

    def _end(self, how, why=None):
        if self._ended:
            return
        self._ended = True
        if why:
            LOG.debug('cache: not caching %s: %s', self.image_id, why)
        self._ends.put((how, why))

    def _run(self):
        # Bytes this thread read from the store itself (after a detach): a second
        # read of what the download read too, unless it was a prefetch.
        fetched = 0
        # Streamed bytes are checked against the checksum once they are all in
        # the file; a store's file linked or copied in the kernel is not.
        verify = bool(self.checksum)

        def write(chunk):
            self._write(chunk)
            return len(chunk)

        try:
            how, _ = self._ends.get()
            written = self._written
            if how is _DETACH:
                how = _COMMIT
                if self._slow:
                    self._download_over.wait()
                with self._resume(written, self.size - written) as rest:
                    copied = None
                    # Nothing streamed, so no writer (and no O_DIRECT) yet.
                    if written == 0 and rest.fileobj is not None:
                        if self._link_store_file(rest.fileobj.fileno(), rest.offset,
                                                 rest.length):
                            return
                        _yield_to_downloads()
                        copied = _copy_file(rest.fileobj.fileno(), self._fd,
                                            rest.offset, rest.length)
                    if copied is None:
                        for chunk in rest:
                            fetched += write(chunk)
                        written += fetched
                    else:
                        # The store's own file, copied in the kernel: the bytes a
                        # download of it sends, which are not verified either.
                        written = fetched = copied
                        verify = False
            if how is _COMMIT:
                self._finish_writes()
                if written != self.size:
                    why = 'got %d of %d bytes' % (written, self.size)
                elif verify and self._md5_of_file() != self.checksum:
                    why = 'its data does not match the checksum'
                else:
                    self._commit()
                    self.cached = True
                    self.cache.counters.add('fills')
                    self.cache.counters.add('bytes_filled', written)
                    if fetched:
                        self.cache.counters.add('fills_detached')
                    LOG.debug('cache fill: %s (%d bytes), %d of them read from the '
                              'store by the fill itself', self.image_id, written,
                              fetched)
                    return
                LOG.warning('cache: not caching %s: %s', self.image_id, why)
        except Exception as exc:   # noqa: BLE001 -- an OSError, or the store's
            LOG.warning('cache: cannot cache %s: %s', self.image_id, exc)
        self.cached = False
        self.cache.counters.add('fills_abandoned')
        self._discard()

    def _md5_of_file(self):
        """The md5 of the written file, read back at the least CPU priority, after
        the download's last byte, so the download pays for writes only. Written
        with O_DIRECT, it is read from the disk, and so enters the page cache,
        where the first hits find it."""
        _yield_to_downloads()
        md5 = hashlib.md5(usedforsecurity=False)
        buffer = bytearray(_CHUNK_SIZE)
        view = memoryview(buffer)
        with open(self._tmp, 'rb', buffering=0) as f:
            while True:
                count = f.readinto(buffer)
                if not count:
                    return md5.hexdigest()
                md5.update(view[:count])

    def _commit(self):
        os.fdatasync(self._fd)
        final = self.cache.path_for(self.image_id)
        try:
            os.link(self._tmp, final)
        except FileExistsError:
            # Left by a process that died between link and index: ours is verified.
            os.unlink(final)
            os.link(self._tmp, final)
        self._committed()

    def _committed(self):
        """The copy is in place: drop the temporary file, index the copy and
        report it."""
        os.unlink(self._tmp)
        os.close(self._fd)
        self._fd = None
        self.cache.index.complete(self.image_id, self.checksum, self.hash_value)
        self.cache.report_copy(self.image_id, True)

    def _link_store_file(self, source, offset, length):
        """Make the store's file ``source`` (an open descriptor) the cached copy by
        a hard link, when it is on the cache's file system and holds the whole
        image: no byte is read or written. True if it is cached so; False if the
        caller must copy it (another file system, a file system or a file that
        cannot be linked, a file deleted since it was opened: nothing was done).

        A stored file is never written again once it is in place (the file store
        writes a temporary file, fsyncs it and links it in), so the link is the
        copy, made durable by an fsync of the cache directory. The store deleting
        the image unlinks its own name only: the copy stays until the hit check
        refuses it and the cleaner, or eviction, removes it, as a copied file."""
        if offset != 0 or length != self.size:
            return False
        stat = os.fstat(source)
        directory = self.cache.directory
        if (not _stat.S_ISREG(stat.st_mode) or stat.st_size != self.size
                or stat.st_dev != os.stat(directory).st_dev):
            return False
        final = self.cache.path_for(self.image_id)
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for attempt in range(2):
                try:
                    # To the open file, not its name: the file the download opened,
                    # whatever replaced the name since.
                    link_open_file(source, dir_fd, self.image_id)
                    break
                except FileExistsError:
                    if attempt:
                        raise
                    # Left by a process that died between link and index; this
                    # file is the image's data as the download sends it.
                    os.unlink(final)
                except OSError as exc:
                    if exc.errno not in _CANNOT_LINK:
                        raise
                    LOG.debug('cache: cannot link the store\'s file of %s (%s): '
                              'copying it', self.image_id, exc.strerror)
                    return False
            try:
                os.fsync(dir_fd)
            except OSError:
                _unlink_quietly(final)
                raise
        finally:
            os.close(dir_fd)
        self._committed()
        self.cached = True
        for name, amount in (('fills', 1), ('fills_linked', 1),
                             ('bytes_filled', self.size)):
            self.cache.counters.add(name, amount)
        LOG.debug('cache fill: %s (%d bytes) linked to the store\'s file',
                  self.image_id, self.size)
        return True

    def _discard(self):
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.cache.index.release(self.image_id, cache_index.FILLING)


def _unlink_quietly(path):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


# link() errors that mean "copy it instead": another file system (EXDEV), a file
# system without hard links or that refuses this one (EPERM: e.g.
# fs.protected_hardlinks for a file of another user; EOPNOTSUPP), too many links
# (EMLINK), the file deleted since it was opened or no /proc (ENOENT).
_CANNOT_LINK = (errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK,
                errno.ENOENT, errno.EACCES)


def _yield_to_downloads():
    """Lower this thread's CPU priority to the least (nice 19): a fill copying a
    store's file competes with the downloads for the node's cores. Linux's nice is
    per thread, and a fill's thread ends with its fill; elsewhere it would be the
    whole process's, so it is left alone."""
    if sys.platform.startswith('linux'):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def _copy_file(source, target, offset, length):
    """Copy ``length`` bytes of the file ``source`` from ``offset`` to the start of
    the empty file ``target`` without passing them through Python; the bytes copied
    (fewer if the source ends first), or None if the kernel cannot (nothing was
    written)."""
    copied = 0
    try:
        while copied < length:
            # copy_file_range: within one file system (and across some).
            step = os.copy_file_range(source, target, length - copied,
                                      offset + copied, copied)
            if not step:
                return copied
            copied += step
        return copied
    except OSError as exc:
        if copied or exc.errno not in _NO_KERNEL_COPY:
            raise
    try:
        while copied < length:
            # sendfile: any file to a file, across file systems.
            step = os.sendfile(target, source, offset + copied, length - copied)
            if not step:
                return copied
            copied += step
        return copied
    except OSError as exc:
        if copied or exc.errno not in _NO_KERNEL_COPY:
            raise
    return None


_NO_KERNEL_COPY = (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP,
                   errno.ENOTSUP)


class FillingReader(base.Reader):
    """A store reader of a whole image whose chunks also go into the cache."""

    def __init__(self, reader, fill):
        super().__init__(reader.size, reader.offset, reader.length)
        self._reader = reader
        self._fill = fill
        self._done = False
        if reader.fileobj is not None:
            # A local file (the file store) would have gone out with sendfile; read
            # it in large chunks, not the store's small ones, to cost less.
            self._chunks = FileReader(reader.fileobj, reader.size, reader.offset,
                                      reader.length, _CHUNK_SIZE)
        else:
            self._chunks = reader

    def __next__(self):
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._done = True
            self._fill.finish()
            raise
        except BaseException:
            self._fill.abort('the store failed')
            raise
        self._fill.feed(chunk)
        return chunk

    def close(self):
        try:
            self._reader.close()
        finally:
            self._fill.download_ended()
            if not self._done:
                self._fill.detach('the download stopped')
