"""The node's cache index: one SQLite file in ``image_cache_dir``.

Every API worker of the node (and the ``glance-cache-*`` commands) share it: the
rows say which images are cached or being filled and how many bytes each holds or
has reserved. The cache's files live on this node only, so their index does too: a
local file answers in microseconds, needs no registry round trip on a download,
and cannot disagree with another node's disk (upstream's ``centralized_db`` keeps
it in the main database, keyed by node). What every node must share, the prefetch
queue, is in the registry.

The hard cap: a fill first *reserves* the image's size in a write transaction
(``BEGIN IMMEDIATE``, so reservations of every process on the node are serialised),
evicting least-recently-used entries until the sum of every row's size plus the new
one fits ``image_cache_max_size``. The sum counts files being written, so the
bytes on disk never exceed the cap, not even while 20 fills run at once.

A hit writes nothing at once: it reads its row, and its hit count and access time
are noted in memory and written, with every other hit of the process, at most
``TOUCH_DELAY`` seconds later (and before this process lists the cache, reserves or
prunes). A write transaction on every hit cost more than a millisecond, about 10%
of a 64 MiB download sent from the page cache; the price is that another process's
least-recently-used order may be up to ``TOUCH_DELAY`` seconds behind.
Each thread keeps its own connection (opened again after a fork), closed when the
thread ends: opening and closing one per call made SQLite checkpoint and remove its
WAL file every time.
"""

import contextlib
import logging
import os
import sqlite3
import threading
import time

LOG = logging.getLogger(__name__)

INDEX_NAME = 'cache.sqlite'

FILLING = 'filling'
CACHED = 'cached'

# Seconds after which a reservation without a live writer may be taken over: a
# writer creates and locks its file just after it reserved.
TAKE_OVER_AFTER = 10
# Seconds a hit's count and access time may wait in memory before being written.
TOUCH_DELAY = 1.0

_SCHEMA = (
    'CREATE TABLE IF NOT EXISTS entries ('
    ' image_id TEXT PRIMARY KEY,'
    ' state TEXT NOT NULL,'
    ' size INTEGER NOT NULL,'
    ' checksum TEXT,'
    ' hash_value TEXT,'
    ' hits INTEGER NOT NULL DEFAULT 0,'
    ' last_accessed REAL NOT NULL,'
    ' last_modified REAL NOT NULL)',
    'CREATE INDEX IF NOT EXISTS entries_lru ON entries (state, last_accessed)',
    # Queue entries (the registry's) this node has prefetched: each node fetches a
    # queued image once, and may evict it later without fetching it again.
    'CREATE TABLE IF NOT EXISTS prefetched ('
    ' image_id TEXT PRIMARY KEY,'
    ' queued_at TEXT NOT NULL)',
)
_SCHEMA_NAMES = {'entries', 'entries_lru', 'prefetched'}


class Index:
    """The rows of one cache directory's index."""

    def __init__(self, directory, touch_delay=TOUCH_DELAY):
        self.path = os.path.join(directory, INDEX_NAME)
        self.touch_delay = touch_delay
        self._local = threading.local()
        self._pending_lock = threading.Lock()
        self._pending = {}        # image_id: (hits, last accessed), not yet written
        self._pending_pid = os.getpid()
        self._flusher = None
        self._connection()

    def _connection(self):
        # One connection per thread: the index is used from request threads, fill
        # threads and the housekeeping thread. One per process and index file:
        # when the file was removed or replaced (an operator emptied the cache
        # directory by hand), a thread would go on with the removed index while
        # the threads that connect now got a new, empty one. Connections opened
        # before a fork, or to a file since removed, are kept (unused and open:
        # closing the last one of a file checkpoints it and removes its WAL by
        # name, which may be the current index's, or the parent's under it).
        connections = getattr(self._local, 'connections', None)
        if connections is None:
            connections = self._local.connections = _ThreadConnections(self.path)
        db = connections.get((os.getpid(), _identity(self.path)))
        if db is None:
            db = self._open()
            connections[(os.getpid(), _identity(self.path))] = db
        return db

    def _open(self):
        """A connection to the index file at ``path``, made (with its directory
        and tables) if it is missing."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute('PRAGMA journal_mode=WAL')
            db.execute('PRAGMA synchronous=NORMAL')
            made = {name for (name,) in db.execute('SELECT name FROM sqlite_master')}
            if not _SCHEMA_NAMES <= made:
                # Only then a write: a hit never waits for another writer.
                db.execute('BEGIN IMMEDIATE')
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute('COMMIT')
        except BaseException:
            db.close()
            raise
        return db

    @contextlib.contextmanager
    def _transaction(self):
        db = self._connection()
        db.execute('BEGIN IMMEDIATE')
        try:
            yield db
            db.execute('COMMIT')
        except BaseException:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute('ROLLBACK')
            raise

    def hit(self, image_id, size, checksum, hash_value):
        """Whether ``image_id``'s cached copy holds the data of this size, checksum
        and multihash (a hit, counted). A copy whose image data changed is removed
        from the index: its file must go. Returns ``(hit, stale)``."""
        rows = self._connection().execute(
            'SELECT size, checksum, hash_value FROM entries WHERE image_id = ? AND '
            'state = ?', (image_id, CACHED)).fetchall()
        if not rows:
            return False, False
        if tuple(rows[0]) != (size, checksum, hash_value):
            with self._transaction() as db:
                # Only the row read: a new fill may have replaced it meanwhile.
                db.execute('DELETE FROM entries WHERE image_id = ? AND state = ? AND '
                           'size IS ? AND checksum IS ? AND hash_value IS ?',
                           (image_id, CACHED) + tuple(rows[0]))
            return False, True
        self._touch(image_id)
        return True, False

    def _touch(self, image_id):
        now = time.time()
        with self._pending_lock:
            if self._pending_pid != os.getpid():
                # A forked child: the parent's notes and timer are the parent's.
                self._pending, self._flusher = {}, None
                self._pending_pid = os.getpid()
            hits, _ = self._pending.get(image_id, (0, now))
            self._pending[image_id] = (hits + 1, now)
            if self._flusher is None:
                self._flusher = threading.Timer(self.touch_delay, self._flush_later)
                self._flusher.daemon = True
                self._flusher.start()

    def _flush_later(self):
        try:
            self.flush()
        except Exception:   # noqa: BLE001 -- a busy index loses a second of hits
            LOG.exception('cache: cannot record the hits of the last second')

    def flush(self):
        """Write the hits and access times noted since the last flush."""
        with self._transaction() as db:
            self._write_pending(db)

    def _write_pending(self, db):
        with self._pending_lock:
            pending = self._pending if self._pending_pid == os.getpid() else {}
            self._pending, self._flusher = {}, None
            self._pending_pid = os.getpid()
        db.executemany('UPDATE entries SET hits = hits + ?, last_accessed = '
                       'MAX(last_accessed, ?) WHERE image_id = ? AND state = ?',
                       [(hits, accessed, image_id, CACHED)
                        for image_id, (hits, accessed) in pending.items()])

    def reserve(self, image_id, size, max_size, evict, filling=lambda image_id: True):
        """Reserve ``size`` bytes for filling ``image_id``: True if reserved.

        False when the image is cached or being filled already (two misses fill it
        once), or when it cannot fit: larger than ``max_size``, or too little can be
        evicted. ``evict(image_id)`` removes an entry's file and returns False when
        it cannot (a download is reading it); called inside the transaction, so no
        other process reserves the space it frees. A reservation older than
        ``TAKE_OVER_AFTER`` seconds whose writer is gone (``filling(image_id)`` is
        False: a worker killed mid-fill) is taken over.
        """
        if size > max_size:
            return False
        now = time.time()
        with self._transaction() as db:
            self._write_pending(db)
            row = db.execute('SELECT state, last_modified FROM entries WHERE '
                             'image_id = ?', (image_id,)).fetchone()
            if row is not None:
                state, modified = row
                if (state != FILLING or now - modified < TAKE_OVER_AFTER
                        or filling(image_id)):
                    return False
                db.execute('DELETE FROM entries WHERE image_id = ?', (image_id,))
            used = db.execute('SELECT COALESCE(SUM(size), 0) FROM entries').fetchone()[0]
            if used + size > max_size:
                candidates = db.execute(
                    'SELECT image_id, size FROM entries WHERE state = ? '
                    'ORDER BY last_accessed', (CACHED,)).fetchall()
                for victim, victim_size in candidates:
                    if used + size <= max_size:
                        break
                    if evict(victim):
                        db.execute('DELETE FROM entries WHERE image_id = ?', (victim,))
                        used -= victim_size
                if used + size > max_size:
                    return False
            db.execute('INSERT INTO entries (image_id, state, size, last_accessed, '
                       'last_modified) VALUES (?, ?, ?, ?, ?)',
                       (image_id, FILLING, size, now, now))
            return True

    def complete(self, image_id, checksum, hash_value):
        """The fill of ``image_id`` is done: its file is in place."""
        now = time.time()
        with self._transaction() as db:
            db.execute('UPDATE entries SET state = ?, checksum = ?, hash_value = ?, '
                       'last_accessed = ?, last_modified = ? WHERE image_id = ? '
                       'AND state = ?',
                       (CACHED, checksum, hash_value, now, now, image_id, FILLING))

    def release(self, image_id, state=None):
        """Forget ``image_id`` (only in ``state`` if given); True if it was there."""
        with self._transaction() as db:
            if state is None:
                cursor = db.execute('DELETE FROM entries WHERE image_id = ?',
                                    (image_id,))
            else:
                cursor = db.execute('DELETE FROM entries WHERE image_id = ? AND '
                                    'state = ?', (image_id, state))
            return cursor.rowcount > 0

    def prune(self, max_size, evict):
        """Evict least-recently-used entries until the cached bytes fit
        ``max_size``; ``[(image_id, size)]`` of those evicted."""
        evicted = []
        with self._transaction() as db:
            self._write_pending(db)
            used = db.execute('SELECT COALESCE(SUM(size), 0) FROM entries').fetchone()[0]
            for victim, size in db.execute(
                    'SELECT image_id, size FROM entries WHERE state = ? '
                    'ORDER BY last_accessed', (CACHED,)).fetchall():
                if used <= max_size:
                    break
                if evict(victim):
                    db.execute('DELETE FROM entries WHERE image_id = ?', (victim,))
                    used -= size
                    evicted.append((victim, size))
        return evicted

    def cached(self):
        """The cached entries, as upstream's ``GET /v2/cache`` lists them (with
        this process's hits; another's may be ``TOUCH_DELAY`` seconds behind)."""
        with self._transaction() as db:
            self._write_pending(db)
            rows = db.execute('SELECT image_id, hits, last_accessed, last_modified, '
                              'size FROM entries WHERE state = ? ORDER BY image_id',
                              (CACHED,)).fetchall()
        return [{'image_id': image_id, 'hits': hits, 'last_accessed': accessed,
                 'last_modified': modified, 'size': size}
                for image_id, hits, accessed, modified, size in rows]

    def entries(self, state):
        """``{image_id: last_modified}`` of the entries in ``state``."""
        with self._transaction() as db:
            return dict(db.execute('SELECT image_id, last_modified FROM entries '
                                   'WHERE state = ?', (state,)).fetchall())

    def used(self):
        """Bytes held or reserved by every entry."""
        with self._transaction() as db:
            return db.execute('SELECT COALESCE(SUM(size), 0) FROM entries').fetchone()[0]

    def prefetched(self):
        """``{image_id: queued_at}`` of the queue entries this node prefetched."""
        with self._transaction() as db:
            return dict(db.execute('SELECT image_id, queued_at FROM prefetched')
                        .fetchall())

    def mark_prefetched(self, image_id, queued_at):
        with self._transaction() as db:
            db.execute('INSERT OR REPLACE INTO prefetched (image_id, queued_at) '
                       'VALUES (?, ?)', (image_id, queued_at))

    def forget_prefetched(self, keep):
        """Drop the prefetch records of queue entries no longer queued (``keep``:
        the image ids still in the queue)."""
        with self._transaction() as db:
            for (image_id,) in db.execute('SELECT image_id FROM prefetched').fetchall():
                if image_id not in keep:
                    db.execute('DELETE FROM prefetched WHERE image_id = ?', (image_id,))


class _ThreadConnections(dict):
    """One thread's connections, by (pid, index file identity); the one this
    process opened to the current index file is closed when the thread ends (its
    thread-local storage goes). Fills and the hits' writes run on threads of their
    own, one per fill or second of hits: left to the garbage collector, a sqlite3
    connection, in a reference cycle with its statement cache, stays open (two
    descriptors) until a full collection, which a busy worker may not run for
    hours. The others stay open, as ``Index._connection`` says why."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def __del__(self):
        db = self.pop((os.getpid(), _identity(self.path)), None)
        if db is not None:
            # Never raise from a thread's end (or the interpreter's): an
            # unclosed connection is what the collector would have left.
            with contextlib.suppress(Exception):
                db.close()


def _identity(path):
    """Which file ``path`` names (None if none): a connection stays with the file
    it opened even once another takes its name."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino
