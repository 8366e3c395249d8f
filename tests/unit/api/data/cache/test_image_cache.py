"""The cache's files and index (glance_api.data.cache.image_cache) on a real
directory: fills, hits, the hard cap and what is never served."""

import errno
import fcntl
import hashlib
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
import uuid

import pytest

from glance_api.data.cache import image_cache, index
from stores.file import FileReader
from tests.fixtures import skips


def _record(image_id, data, status='active', **changes):
    record = {'id': image_id, 'status': status, 'size': len(data),
              'checksum': hashlib.md5(data).hexdigest(), 'os_hash_value': 'h-' + image_id}
    record.update(changes)
    return record


class _Reader:
    """A store reader over bytes, in chunks."""

    fileobj = None

    def __init__(self, data, chunk=1000):
        self.size = self.length = len(data)
        self.offset = 0
        self._chunks = iter([data[i:i + chunk] for i in range(0, len(data), chunk)])
        self.closed = False

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._chunks)

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


@pytest.fixture
def cache(tmp_path):
    return image_cache.ImageCache(str(tmp_path / 'cache'), max_size=10_000,
                                  stall_time=3600)


def _fill(cache, record, data):
    fill = cache.start_fill(record)
    assert fill is not None
    reader = image_cache.FillingReader(_Reader(data), fill)
    assert b''.join(reader) == data
    reader.close()
    return fill.wait(10)


def _read(cache, record, offset=0, length=None):
    reader = cache.open_cached(record, offset, record['size'] if length is None
                               else length)
    if reader is None:
        return None
    with reader:
        return b''.join(reader)


def test_a_streamed_image_is_cached_and_then_served_from_its_file(cache):
    data = os.urandom(5000)
    record = _record('a', data)
    assert _read(cache, record) is None
    assert _fill(cache, record, data)
    assert _read(cache, record) == data
    assert _read(cache, record, 100, 50) == data[100:150]
    assert os.listdir(os.path.join(cache.directory, 'incomplete')) == []
    counts = cache.counters.snapshot()
    assert (counts['hits'], counts['misses'], counts['fills']) == (2, 1, 1)
    assert counts['bytes_served'] == 5050
    assert cache.index.cached()[0]['hits'] == 2


def test_a_cached_copy_of_changed_deleted_or_deactivated_data_is_not_served(cache):
    data = os.urandom(3000)
    record = _record('a', data)
    assert _fill(cache, record, data)
    assert _read(cache, dict(record, status='deactivated')) is None
    assert _read(cache, dict(record, status='deleted')) is None
    assert _read(cache, record) == data
    # Data changed: the copy is removed, not just skipped.
    assert _read(cache, dict(record, checksum='0' * 32)) is None
    assert not os.path.exists(cache.path_for('a'))
    assert _read(cache, record) is None


def test_two_fills_of_one_image_are_one(cache):
    data = os.urandom(1000)
    record = _record('a', data)
    first = cache.start_fill(record)
    assert first is not None
    assert cache.start_fill(record) is None
    first.abort()
    assert not first.wait(10)
    assert cache.start_fill(record) is not None


def test_an_incomplete_or_corrupt_stream_is_never_cached(cache):
    data = os.urandom(4000)
    record = _record('a', data)
    fill = cache.start_fill(record)
    reader = image_cache.FillingReader(_Reader(data), fill)
    next(reader)
    reader.close()   # the client went away
    assert not fill.wait(10)
    assert not _fill(cache, dict(record, checksum='0' * 32), data)
    assert _read(cache, record) is None
    assert os.listdir(os.path.join(cache.directory, 'incomplete')) == []
    assert not os.path.exists(cache.path_for('a'))
    assert cache.index.used() == 0


def test_the_cap_evicts_least_recently_used_images_before_writing(cache):
    images = {name: os.urandom(4000) for name in 'abc'}
    assert _fill(cache, _record('a', images['a']), images['a'])
    assert _fill(cache, _record('b', images['b']), images['b'])
    _read(cache, _record('a', images['a']))   # b is now the least recently used
    fill = cache.start_fill(_record('c', images['c']))
    # Reserved before a byte is written: b is gone already.
    assert not os.path.exists(cache.path_for('b'))
    assert cache.index.used() == 8000
    fill.abort()
    assert cache.counters.snapshot()['evictions'] == 1


def _unremovable(cache, image_id):
    """Make ``image_id``'s copy one that unlink() refuses, as it refuses an
    immutable file or one on a read-only disk (a directory: EISDIR)."""
    os.unlink(cache.path_for(image_id))
    os.mkdir(cache.path_for(image_id))


def test_a_copy_that_cannot_be_evicted_gives_way_to_the_next(cache, caplog):
    images = {name: os.urandom(4000) for name in 'abc'}
    for name in 'ab':
        assert _fill(cache, _record(name, images[name]), images[name])
    _unremovable(cache, 'a')   # the least recently used
    assert _fill(cache, _record('c', images['c']), images['c'])
    assert not os.path.exists(cache.path_for('b'))
    assert sorted(entry['image_id'] for entry in cache.index.cached()) == ['a', 'c']
    assert 'cache: cannot evict a: ' in caplog.text


def test_clearing_removes_every_copy_it_can(cache, caplog):
    for name in 'ab':
        data = os.urandom(1000)
        assert _fill(cache, _record(name, data), data)
    _unremovable(cache, 'a')
    assert cache.clear() == 1
    assert not os.path.exists(cache.path_for('b'))
    assert [entry['image_id'] for entry in cache.index.cached()] == ['a']
    assert 'cache: cannot remove the cached copy of a (it stays cached)' in caplog.text


def test_a_stale_copy_that_cannot_be_removed_is_a_miss(cache, caplog):
    data = os.urandom(1000)
    record = _record('a', data)
    assert _fill(cache, record, data)
    _unremovable(cache, 'a')
    assert _read(cache, dict(record, checksum='0' * 32)) is None
    assert cache.index.cached() == []
    assert 'cache: cannot remove the stale copy of a: ' in caplog.text


def test_an_image_larger_than_the_cap_is_not_cached(cache):
    data = os.urandom(10_001)
    assert cache.start_fill(_record('big', data)) is None
    assert cache.counters.snapshot()['uncacheable'] == 1


def test_a_file_being_read_is_not_evicted(cache):
    images = {name: os.urandom(6000) for name in 'ab'}
    assert _fill(cache, _record('a', images['a']), images['a'])
    reader = cache.open_cached(_record('a', images['a']), 0, 6000)
    assert cache.start_fill(_record('b', images['b'])) is None
    reader.close()
    assert cache.start_fill(_record('b', images['b'])) is not None


def test_the_cleaner_removes_what_dead_fills_left(cache):
    data = os.urandom(1000)
    fill = cache.start_fill(_record('a', data))
    # A dead writer: its lock is gone, its file and reservation remain.
    os.close(fill._fd)
    fill._fd = None
    assert cache.clean(now=os.path.getmtime(cache.directory) + 120) == 1
    assert cache.index.used() == 0
    assert os.listdir(os.path.join(cache.directory, 'incomplete')) == []


def test_the_cleaner_keeps_a_young_unlocked_file_a_writer_has_yet_to_lock(cache):
    # A fill creates its file, then locks it: in between, the file is unlocked.
    path = os.path.join(cache.directory, 'incomplete', 'a.0.tmp')
    open(path, 'wb').close()
    created = os.path.getmtime(path)
    assert cache.clean(now=created + 1) == 0
    assert os.path.exists(path)
    assert cache.clean(now=created + index.TAKE_OVER_AFTER + 1) == 1
    assert not os.path.exists(path)


def test_the_cleaner_removes_copies_the_index_does_not_list(cache):
    # A process killed between linking its copy into place and indexing it.
    indexed, orphan = str(uuid.uuid4()), str(uuid.uuid4())
    data = os.urandom(1000)
    assert _fill(cache, _record(indexed, data), data)
    with open(cache.path_for(orphan), 'wb') as f:
        f.write(os.urandom(2000))
    not_an_image = os.path.join(cache.directory, 'README')
    open(not_an_image, 'w').close()
    assert cache.clean() == 1
    assert not os.path.exists(cache.path_for(orphan))
    assert _read(cache, _record(indexed, data)) == data
    assert os.path.exists(not_an_image)


def test_the_cleaner_empties_upstreams_invalid_directory(cache):
    # A cache directory upstream Glance used: its failed fills are in invalid/.
    invalid = os.path.join(cache.directory, 'invalid')
    os.mkdir(invalid)
    with open(os.path.join(invalid, str(uuid.uuid4())), 'wb') as f:
        f.write(b'half an image')
    assert cache.clean() == 1
    assert os.listdir(invalid) == []


def test_a_file_the_cleaner_cannot_remove_does_not_stop_it(cache, caplog):
    incomplete = os.path.join(cache.directory, 'incomplete')
    stuck, dead = os.path.join(incomplete, 'a.0.tmp'), os.path.join(incomplete,
                                                                    'b.0.tmp')
    os.mkdir(stuck)   # unlink() refuses it, as it refuses a file on a read-only disk
    open(dead, 'wb').close()
    later = os.path.getmtime(dead) + cache.stall_time + 1
    assert cache.clean(now=later) == 1
    assert os.listdir(incomplete) == ['a.0.tmp']
    assert 'cannot remove %s' % stuck in caplog.text


def test_the_cleaner_makes_incomplete_again_so_that_fills_resume(cache):
    shutil.rmtree(os.path.join(cache.directory, 'incomplete'))
    data = os.urandom(1000)
    assert cache.start_fill(_record('a', data)) is None   # nowhere to write
    assert cache.clean() == 0
    assert _fill(cache, _record('a', data), data)


def test_a_cache_directory_emptied_by_hand_is_one_new_index_for_every_thread(cache):
    data = os.urandom(1000)
    record = _record('a', data)
    assert _fill(cache, record, data)
    assert _read(cache, record) == data
    # An operator empties the directory while the API runs (rm -rf cache/*): this
    # thread's connection is to the removed index, another thread has none yet.
    for name in os.listdir(cache.directory):
        path = os.path.join(cache.directory, name)
        shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
    assert _read(cache, record) is None
    assert cache.clean() == 0   # its next pass makes incomplete/ again
    assert _fill(cache, record, data)
    in_other_thread = []
    other = threading.Thread(target=lambda: in_other_thread.append(
        (_read(cache, record), cache.index.cached())))
    other.start()
    other.join(10)
    ((served, listed),) = in_other_thread
    assert served == data
    assert [entry['image_id'] for entry in listed] == ['a']
    assert os.path.exists(os.path.join(cache.directory, index.INDEX_NAME))


def test_prune_fits_a_lowered_cap(cache):
    for name in 'ab':
        data = os.urandom(3000)
        assert _fill(cache, _record(name, data), data)
    cache.max_size = 4000
    assert cache.prune() == (1, 3000)
    assert [entry['image_id'] for entry in cache.index.cached()] == ['b']


def test_a_copy_of_another_size_is_not_served(cache):
    data = os.urandom(3000)
    record = _record('a', data, checksum=None, os_hash_value=None)
    assert _fill(cache, record, data)
    assert _read(cache, dict(record, size=2999)) is None
    assert not os.path.exists(cache.path_for('a'))


def test_the_reservation_of_a_dead_writer_is_taken_over(cache, monkeypatch):
    data = os.urandom(1000)
    record = _record('a', data)
    fill = cache.start_fill(record)
    assert cache.start_fill(record) is None   # alive
    later = time.time() + index.TAKE_OVER_AFTER + 1
    monkeypatch.setattr(time, 'time', lambda: later)
    assert cache.start_fill(record) is None   # old, but its writer holds its lock
    os.close(fill._fd)   # the writer dies: its lock goes
    fill._fd = None
    assert cache.start_fill(record) is not None


def _resume(data, opened):
    def resume(offset, length):
        opened.append((offset, length))
        return _Reader(data[offset:offset + length])
    return resume


def test_a_client_that_leaves_does_not_stop_the_fill(cache):
    data = os.urandom(5000)
    record, opened = _record('a', data), []
    fill = cache.start_fill(record, _resume(data, opened))
    reader = image_cache.FillingReader(_Reader(data), fill)
    next(reader)
    next(reader)
    reader.close()   # the client went away after 2000 bytes
    assert fill.wait(10)
    assert opened == [(2000, 3000)]
    assert _read(cache, record) == data


def _refuse_direct_io(monkeypatch):
    """A cache on a file system that refuses O_DIRECT (tmpfs before Linux 6.6,
    ramfs): the download writes through the page cache itself."""
    monkeypatch.setattr(image_cache.DirectWriter, 'open',
                        classmethod(lambda cls, fd, buffer_size=None: None))


@pytest.mark.parametrize('direct_io', [True, False], ids=['direct', 'buffered'])
def test_a_fill_whose_writes_are_slower_than_the_download_reads_the_rest_itself(
        cache, monkeypatch, direct_io):
    # A disk slower than the network: each write of the download's chunks takes
    # longer than the download allows (its share of the time, after the grace).
    # Direct, the download waits for the writer's thread to free a buffer.
    monkeypatch.setattr(image_cache, '_SLOW_WRITES_GRACE', 0.05)
    monkeypatch.setattr(image_cache, '_DIRECT_BUFFER', 4096)
    if not direct_io:
        _refuse_direct_io(monkeypatch)
    data = os.urandom(100_000)
    cache.max_size = len(data)
    record, opened = _record('a', data), []
    fill = cache.start_fill(record, _resume(data, opened))
    real_write = os.write
    writer_threads = set()

    def write(fd, view):
        if fd == fill._fd:
            writer_threads.add(threading.current_thread().name)
            # The fill's own writes after the detach go at the disk's speed.
            if not threading.current_thread().name.startswith('cache-fill-'):
                time.sleep(0.03)
        return real_write(fd, view)
    monkeypatch.setattr(image_cache.os, 'write', write)
    reader = image_cache.FillingReader(_Reader(data), fill)
    received, opened_meanwhile = [], []
    for chunk in reader:
        received.append(chunk)
        if fill._ended:   # detached: the store is read once the download ended
            time.sleep(0.02)
            opened_meanwhile.append(len(opened))
    assert b''.join(received) == data
    assert opened_meanwhile and set(opened_meanwhile) == {0}
    reader.close()
    assert fill.wait(30)
    assert len(opened) == 1 and 0 < opened[0][0] < len(data)
    assert sum(opened[0]) == len(data)
    assert _read(cache, record) == data
    assert cache.counters.snapshot()['fills_detached'] == 1
    # Direct, the disk writes are the writer's, never the download's.
    assert (threading.main_thread().name not in writer_threads) is direct_io


@pytest.mark.parametrize('size', [1, 4095, 4096, 4097, 3 * 4096, 3 * 4096 + 5])
def test_a_download_copies_its_chunks_and_the_disk_gets_them_with_direct_io(
        cache, monkeypatch, size):
    # Not through the page cache: the download's thread only copies each chunk
    # into an aligned buffer; whole blocks go to the disk with O_DIRECT, from the
    # writer's thread, the unaligned tail through the page cache at the end.
    monkeypatch.setattr(image_cache, '_DIRECT_BUFFER', 4096)
    data = os.urandom(size)
    cache.max_size = size
    record = _record('a', data)
    fill = cache.start_fill(record)
    real_write, writes = os.write, []

    def write(fd, view):
        if fd == fill._fd:
            direct = bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)
            writes.append((threading.current_thread().name, direct, len(view)))
        return real_write(fd, view)
    monkeypatch.setattr(image_cache.os, 'write', write)
    reader = image_cache.FillingReader(_Reader(data, chunk=1000), fill)
    assert b''.join(reader) == data
    reader.close()
    assert fill.wait(10)
    assert _read(cache, record) == data
    blocks = size // 4096
    assert [w for w in writes if w[1]] == [('direct-writer', True, 4096)] * blocks
    assert threading.main_thread().name not in {name for name, _, _ in writes}
    assert sum(length for _, _, length in writes) == size
    assert os.listdir(os.path.join(cache.directory, 'incomplete')) == []


class _PacedReader(_Reader):
    """A store reader that delivers a chunk every ``pause`` seconds, as a network
    would."""

    def __init__(self, data, chunk, pause):
        super().__init__(data, chunk)
        self._pause = pause

    def __next__(self):
        time.sleep(self._pause)
        return super().__next__()


def test_md5_slower_than_the_download_does_not_make_the_fill_read_the_store_again(
        cache, monkeypatch):
    # md5 that cannot go on until the download has ended: a fill that hashed as it
    # wrote would fall behind and read the rest from the store a second time. The
    # download only writes; the file is hashed afterwards, at nice 19.
    MiB = 1024 * 1024
    data = os.urandom(24 * MiB)
    cache.max_size = len(data)
    record, opened = _record('a', data), []
    downloaded, priorities = threading.Event(), []
    real_md5 = hashlib.md5

    class SlowMd5:
        def __init__(self, *args, **kwargs):
            self._md5 = real_md5(*args, **kwargs)

        def update(self, chunk):
            assert downloaded.wait(10)
            if sys.platform.startswith('linux'):
                priorities.append(os.getpriority(os.PRIO_PROCESS,
                                                 threading.get_native_id()))
            self._md5.update(chunk)

        def hexdigest(self):
            return self._md5.hexdigest()
    monkeypatch.setattr(image_cache.hashlib, 'md5', SlowMd5)
    fill = cache.start_fill(record, _resume(data, opened))
    reader = image_cache.FillingReader(_PacedReader(data, MiB, 0.005), fill)
    assert b''.join(reader) == data
    downloaded.set()
    reader.close()
    assert fill.wait(30)
    assert opened == []   # one read of the store: the download's
    assert _read(cache, record) == data
    assert set(priorities) <= {19}
    assert cache.counters.snapshot()['fills_detached'] == 0


def test_a_stream_that_differs_from_the_checksum_is_not_cached(cache):
    data = os.urandom(5000)
    record = _record('a', data)
    corrupt = data[:2500] + bytes([data[2500] ^ 1]) + data[2501:]
    assert not _fill(cache, record, corrupt)
    assert _read(cache, record) is None
    assert os.listdir(os.path.join(cache.directory, 'incomplete')) == []
    assert cache.index.used() == 0
    assert cache.counters.snapshot()['fills_abandoned'] == 1


def test_a_fill_whose_disk_writes_fail_leaves_nothing(cache, monkeypatch):
    # A full disk under the direct writer's thread: the download goes on, the fill
    # is abandoned, its file and reservation are gone.
    monkeypatch.setattr(image_cache, '_DIRECT_BUFFER', 4096)
    real_write = os.write

    def write(fd, view):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, view)
    monkeypatch.setattr(image_cache.os, 'write', write)
    data = os.urandom(9000)
    record = _record('a', data)
    assert not _fill(cache, record, data)
    assert _read(cache, record) is None
    assert os.listdir(os.path.join(cache.directory, 'incomplete')) == []
    assert cache.index.used() == 0
    assert cache.counters.snapshot()['fills_abandoned'] == 1


def test_a_prefetch_reads_the_whole_image_from_the_store(cache):
    data = os.urandom(5000)
    record, opened = _record('a', data), []
    fill = cache.start_fill(record, _resume(data, opened))
    fill.detach()
    assert fill.wait(10)
    assert opened == [(0, 5000)]
    assert _read(cache, record) == data


def test_a_hit_takes_no_write_lock_on_the_index(cache):
    data = os.urandom(2000)
    record = _record('a', data)
    assert _fill(cache, record, data)
    # Another worker (or a glance-cache command) in the middle of a write.
    other = sqlite3.connect(os.path.join(cache.directory, index.INDEX_NAME),
                            isolation_level=None)
    other.execute('BEGIN IMMEDIATE')
    try:
        served = []
        reader = threading.Thread(target=lambda: served.append(_read(cache, record)),
                                  daemon=True)
        reader.start()
        reader.join(5)
        assert served == [data]
    finally:
        other.execute('ROLLBACK')
        other.close()


def test_hits_reach_the_index_shared_by_the_other_workers_within_a_delay(cache):
    cache.index.touch_delay = 0.2
    data = os.urandom(2000)
    record = _record('a', data)
    assert _fill(cache, record, data)
    filled_at = cache.index.cached()[0]['last_accessed']
    time.sleep(0.01)
    assert _read(cache, record) == data
    assert _read(cache, record) == data
    other_worker = index.Index(cache.directory)

    def recorded():
        entry = other_worker.cached()[0]
        return entry['hits'] == 2 and entry['last_accessed'] > filled_at
    deadline = time.monotonic() + 5
    while not recorded():
        assert time.monotonic() < deadline, other_worker.cached()
        time.sleep(0.05)


def _store_file(directory, data):
    """A store's file holding ``data``, and a ``resume`` opening file readers of it
    as the file store does (a reader whose ``fileobj`` is the real file)."""
    path = os.path.join(directory, 'image-in-store')
    with open(path, 'wb') as f:
        f.write(data)

    def resume(offset, length):
        return FileReader(open(path, 'rb'), len(data), offset, length, 1000)
    return resume


def _other_file_system(cache):
    """A directory on another file system than the cache's: /dev/shm (tmpfs)."""
    shm = '/dev/shm'
    if not os.path.isdir(shm) or os.stat(shm).st_dev == os.stat(cache.directory).st_dev:
        skips.unavailable('/dev/shm', 'no tmpfs at /dev/shm beside the cache\'s file '
                                      'system')
    return tempfile.mkdtemp(dir=shm, prefix='glance-cache-test-')


@pytest.mark.parametrize('where', ['same file system', 'another file system'])
def test_a_store_file_is_linked_on_the_caches_file_system_and_copied_elsewhere(
        cache, tmp_path, where):
    directory = str(tmp_path) if where == 'same file system' else \
        _other_file_system(cache)
    try:
        data = os.urandom(300_000 // 4 * 4)
        cache.max_size = len(data)
        record = _record('a', data)
        fill = cache.start_fill(record, _store_file(directory, data))
        fill.detach()
        assert fill.wait(10)
        assert _read(cache, record) == data
        assert os.listdir(os.path.join(cache.directory, 'incomplete')) == []
        stored = os.stat(os.path.join(directory, 'image-in-store'))
        cached = os.stat(cache.path_for('a'))
        linked = (stored.st_dev, stored.st_ino) == (cached.st_dev, cached.st_ino)
        assert linked == (where == 'same file system')
        assert cache.counters.snapshot()['fills_linked'] == int(linked)
        # Counted at its full size either way (conservative for a link: the
        # store holds the same blocks), so the cap's arithmetic is one.
        assert cache.index.used() == len(data)
    finally:
        if where != 'same file system':
            shutil.rmtree(directory)


def _refuse_links(monkeypatch, errno_):
    real_link = os.link

    def link(src, dst, *args, **kwargs):
        if src.startswith('/proc/self/fd/'):
            raise OSError(errno_, os.strerror(errno_))
        return real_link(src, dst, *args, **kwargs)
    monkeypatch.setattr(image_cache.os, 'link', link)


@pytest.mark.parametrize('errno_', [errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP,
                                    errno.EMLINK])
def test_a_store_file_that_cannot_be_linked_is_copied(cache, tmp_path, monkeypatch,
                                                       errno_):
    # The file systems that refuse a link on one device: a bind mount seen twice
    # (EXDEV), fs.protected_hardlinks for another user's file (EPERM), a file
    # system without hard links (EOPNOTSUPP), a file at its link limit (EMLINK).
    _refuse_links(monkeypatch, errno_)
    data = os.urandom(5000)
    record = _record('a', data)
    fill = cache.start_fill(record, _store_file(str(tmp_path), data))
    fill.detach()
    assert fill.wait(10)
    assert _read(cache, record) == data
    assert os.stat(cache.path_for('a')).st_ino != \
        os.stat(tmp_path / 'image-in-store').st_ino
    assert os.listdir(os.path.join(cache.directory, 'incomplete')) == []
    assert cache.counters.snapshot()['fills_linked'] == 0


def test_a_store_file_deleted_before_the_fill_links_it_is_copied_whole(cache,
                                                                      tmp_path):
    # A file with no name left cannot be linked (ENOENT): the fill copies the
    # open file, as it did before links, and the hit check (not the fill) keeps
    # a deleted image's copy from being served.
    data = os.urandom(5000)
    record = _record('a', data)
    resume = _store_file(str(tmp_path), data)
    reader = resume(0, len(data))
    os.unlink(tmp_path / 'image-in-store')
    fill = cache.start_fill(record, lambda offset, length: reader)
    fill.detach()
    assert fill.wait(10)
    assert _read(cache, record) == data
    assert os.stat(cache.path_for('a')).st_nlink == 1
    assert cache.counters.snapshot()['fills_linked'] == 0


def test_a_linked_copy_outlives_the_stores_file_and_goes_with_its_image(cache,
                                                                       tmp_path):
    data = os.urandom(5000)
    record = _record('a', data)
    fill = cache.start_fill(record, _store_file(str(tmp_path), data))
    fill.detach()
    assert fill.wait(10)
    os.unlink(tmp_path / 'image-in-store')   # the store deleted the image
    assert _read(cache, dict(record, status='deleted')) is None
    assert _read(cache, dict(record, status='deactivated')) is None
    assert cache.delete('a')
    assert not os.path.exists(cache.path_for('a'))
    assert cache.index.used() == 0


def test_a_file_left_in_place_by_a_dead_fill_is_replaced_by_the_link(cache,
                                                                      tmp_path):
    data = os.urandom(5000)
    record = _record('a', data)
    with open(cache.path_for('a'), 'wb') as f:
        f.write(b'left by a process killed between its link and its index')
    fill = cache.start_fill(record, _store_file(str(tmp_path), data))
    fill.detach()
    assert fill.wait(10)
    assert _read(cache, record) == data
    assert os.stat(cache.path_for('a')).st_ino == \
        os.stat(tmp_path / 'image-in-store').st_ino


def test_a_store_file_shorter_than_the_image_is_never_cached(cache, tmp_path):
    data = os.urandom(5000)
    record = _record('a', data)
    fill = cache.start_fill(record, _store_file(str(tmp_path), data[:4000]))
    fill.detach()
    assert not fill.wait(10)
    assert _read(cache, record) is None
    assert os.listdir(os.path.join(cache.directory, 'incomplete')) == []
    assert cache.index.used() == 0


def test_the_store_file_is_copied_as_the_download_sends_it_without_hashing(
        cache, tmp_path):
    # The fill copies the file store's own file in the kernel: the bytes a download
    # of it sends unverified, and the upload hashed when it wrote them. Hashing
    # them again would cost a core as long as the cold download (docs/
    # performance.rst). Bytes streamed from other stores are verified (above).
    data = os.urandom(5000)
    record = _record('a', data, checksum='0' * 32)
    fill = cache.start_fill(record, _store_file(str(tmp_path), data))
    fill.detach()
    assert fill.wait(10)
    assert _read(cache, record) == data


class _WatchedFile:
    """A real file that notes the CPU priority of the threads that use it."""

    def __init__(self, path, seen):
        self._file = open(path, 'rb')
        self._seen = seen

    def fileno(self):
        self._seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return self._file.fileno()

    def __getattr__(self, name):
        return getattr(self._file, name)


def test_a_store_file_is_copied_at_the_lowest_cpu_priority_of_its_own_thread(
        cache, tmp_path):
    # On another file system (a link costs nothing and needs no yielding).
    directory = _other_file_system(cache)
    try:
        data = os.urandom(5000)
        record, seen = _record('a', data), []
        path = os.path.join(directory, 'image-in-store')
        with open(path, 'wb') as f:
            f.write(data)
        before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        fill = cache.start_fill(record, lambda offset, length: FileReader(
            _WatchedFile(path, seen), len(data), offset, length, 1000))
        fill.detach()
        assert fill.wait(10)
        # The link attempt, then the copy at nice 19.
        assert seen == [before, 19]
        # Only the fill's thread: the request threads keep theirs.
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
        assert _read(cache, record) == data
    finally:
        shutil.rmtree(directory)
