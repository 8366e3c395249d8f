"""The file driver beyond the conformance suite: containment, atomic writes, direct
I/O, and what a full or read-only file system turns into."""

import ctypes
import errno
import fcntl
import hashlib
import mmap
import os
import subprocess
import sys
import time
import uuid

import pytest

from stores import errors
from stores.file import DirectWriter
from tests.unit.stores.conftest import MiB, build_store, payload, write_image


def escapes(datadir, outside):
    """Locations that try to reach ``outside`` (a file next to the data directory)."""
    name = os.path.basename(outside)
    return [
        'file://' + outside,
        'file:///etc/passwd',
        'file://%s/../%s' % (datadir, name),
        'file://%s/sub/../../%s' % (datadir, name),
        'file://%s/%%2e%%2e/%s' % (datadir, name),
        'file://%s/./../%s' % (datadir, name),
        'file://localhost%s/../%s' % (datadir, name),
        'file://otherhost%s/image' % datadir,
    ]


@pytest.fixture
def outside(tmp_path):
    path = tmp_path / 'precious'
    path.write_bytes(b'not an image')
    return str(path)


def test_locations_outside_the_datadir_are_refused(file_harness, outside):
    store = file_harness.store
    for url in escapes(file_harness.datadir, outside):
        assert not store.owns(url), url
        for operation in (store.open_reader, store.stat, store.delete):
            with pytest.raises(errors.BadLocation):
                operation(url)
    assert open(outside, 'rb').read() == b'not an image'


def test_every_spelling_of_a_file_has_one_canonical_location(file_harness):
    stored = write_image(file_harness.store, b'x')
    path = stored.url[len('file://'):]
    directory, name = os.path.split(path)
    for url in ['file://%s/.' % path, 'file://%s?q' % path, 'file://%s#f' % path,
                'file://%s/%%%02x%s' % (directory, ord(name[0]), name[1:]),
                'file://%s//%s' % (directory, name), 'file://localhost%s' % path,
                'FILE://%s/sub/../%s' % (directory, name)]:
        assert file_harness.store.owns(url), url
        assert file_harness.store.canonical(url) == stored.url, url


def test_symlink_out_of_the_datadir_is_not_followed(file_harness, outside):
    link = os.path.join(file_harness.datadir, str(uuid.uuid4()))
    os.symlink(outside, link)
    url = 'file://' + link
    for operation in (file_harness.store.open_reader, file_harness.store.stat):
        with pytest.raises(errors.BadLocation):
            operation(url)
    # Deleting the name removes the link itself (it stayed, and failed every
    # later write of the name), never its target.
    file_harness.store.delete(url)
    assert not os.path.lexists(link)
    assert open(outside, 'rb').read() == b'not an image'


def test_deleting_a_symlink_to_another_image_removes_only_the_link(file_harness):
    victim = write_image(file_harness.store, b'another image')
    link = os.path.join(file_harness.datadir, str(uuid.uuid4()))
    os.symlink(victim.url[len('file://'):], link)
    file_harness.store.delete('file://' + link)
    assert not os.path.lexists(link)
    assert file_harness.store.stat(victim.url) == len(b'another image')
    # Nor does a dangling link stay.
    os.symlink(os.path.join(file_harness.datadir, 'gone'), link)
    file_harness.store.delete('file://' + link)
    assert not os.path.lexists(link)


def test_a_link_elsewhere_into_the_datadir_deletes_nothing(file_harness, tmp_path):
    victim = write_image(file_harness.store, b'another image')
    link = tmp_path / 'elsewhere'
    link.symlink_to(victim.url[len('file://'):])
    with pytest.raises(errors.BadLocation):
        file_harness.store.delete('file://%s' % link)
    assert file_harness.store.stat(victim.url) == len(b'another image')
    assert link.is_symlink()


def test_symlinked_datadir_itself_is_fine(tmp_path):
    real = tmp_path / 'real'
    real.mkdir()
    link = tmp_path / 'link'
    link.symlink_to(real)
    store = build_store('file', {'filesystem_store_datadir': str(link)})
    stored = write_image(store, b'ok')
    assert store.owns(stored.url)
    assert os.listdir(real) == [stored.url.rsplit('/', 1)[1]]


@pytest.mark.parametrize('image_id', ['../escape', 'a/b', '.hidden', '/abs'])
def test_image_ids_that_are_not_plain_names_are_refused(file_harness, image_id):
    with pytest.raises(errors.BadLocation):
        file_harness.store.open_writer(image_id)
    assert file_harness.backend_names() == []


def test_write_in_progress_is_only_a_hidden_temporary_file(file_harness):
    image_id = str(uuid.uuid4())
    writer = file_harness.store.open_writer(image_id)
    with writer:
        writer.write(payload(100000))
        names = file_harness.backend_names()
        assert len(names) == 1
        assert names[0].startswith('.%s.' % image_id) and names[0].endswith('.tmp')
        stored = writer.commit()
    assert file_harness.backend_names() == [image_id]
    assert stored.url == 'file://%s/%s' % (os.path.realpath(file_harness.datadir),
                                           image_id)


def _age(path, seconds=3600):
    when = os.stat(path).st_mtime - seconds
    os.utime(path, (when, when))


def test_a_killed_writers_temporary_file_is_removed_when_a_store_starts(
        file_harness):
    # A worker killed mid-upload: its temporary file stays, with no lock held.
    script = ('import sys, time; from tests.unit.stores.conftest import build_store; '
              'store = build_store("file", {"filesystem_store_datadir": sys.argv[1]}); '
              'writer = store.open_writer("victim"); writer.write(b"x" * 100000); '
              'print("written", flush=True); time.sleep(60)')
    process = subprocess.Popen([sys.executable, '-c', script, file_harness.datadir],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == 'written'
        temporary = file_harness.backend_names()
        assert len(temporary) == 1 and temporary[0].startswith('.victim.')
        _age(os.path.join(file_harness.datadir, temporary[0]))
        assert file_harness.make_store().remove_orphans() == []   # still writing
    finally:
        process.kill()
        process.wait()
    # Aged again: the writer's thread may have written (touching the file) after the
    # first _age.
    _age(os.path.join(file_harness.datadir, temporary[0]))
    file_harness.make_store()   # configure() sweeps
    assert file_harness.backend_names() == []


def test_a_live_writers_temporary_file_survives_the_sweep(file_harness):
    writer = file_harness.store.open_writer('alive')
    with writer:
        writer.write(payload(100000))
        (temporary,) = file_harness.backend_names()
        _age(os.path.join(file_harness.datadir, temporary))
        assert file_harness.make_store().remove_orphans() == []
        writer.commit()
    assert file_harness.backend_names() == ['alive']


def test_a_fresh_temporary_file_is_left_to_its_writer(file_harness):
    # A writer locks its file just after creating it: the sweep gives it a minute.
    path = os.path.join(file_harness.datadir, '.just-created.0123.tmp')
    open(path, 'wb').close()
    assert file_harness.store.remove_orphans() == []
    _age(path)
    assert file_harness.store.remove_orphans() == ['.just-created.0123.tmp']


def test_reader_offers_the_open_file_for_sendfile(file_harness):
    data = payload(10000)
    stored = write_image(file_harness.store, data)
    with file_harness.store.open_reader(stored.url, offset=1234) as reader:
        assert reader.fileobj.tell() == 1234
        assert reader.fileobj.read() == data[1234:]


def test_file_permissions_option_is_applied(file_harness):
    store = file_harness.make_store(filesystem_store_file_perm=0o640)
    stored = write_image(store, b'x')
    assert os.stat(stored.url[len('file://'):]).st_mode & 0o777 == 0o640


def test_full_file_system_is_store_full_and_leaves_nothing(mounts):
    datadir = mounts.tmpfs('small', '1m')
    store = build_store('file', {'filesystem_store_datadir': str(datadir)})
    with pytest.raises(errors.StoreFull):
        write_image(store, payload(2 * MiB))
    assert os.listdir(datadir) == []
    # The space is back: a small image still fits.
    assert write_image(store, b'fits').size == 4


def test_read_only_file_system_is_unavailable(mounts):
    datadir = mounts.tmpfs('images', '1m')
    store = build_store('file', {'filesystem_store_datadir': str(datadir)})
    stored = write_image(store, b'kept')
    mounts.make_readonly(datadir)
    with pytest.raises(errors.StoreUnavailable):
        store.open_writer(str(uuid.uuid4()))
    with pytest.raises(errors.StoreUnavailable):
        store.delete(stored.url)
    with store.open_reader(stored.url) as reader:
        assert b''.join(reader) == b'kept'
    with pytest.raises(errors.BadConfiguration):
        build_store('file', {'filesystem_store_datadir': str(datadir)})


# -- direct I/O

DIRECT_SIZES = [0, 1, 4095, 4096, 4097, 4 * MiB - 1, 4 * MiB, 4 * MiB + 1, 9 * MiB + 123]


def _stored_bytes(stored):
    with open(stored.url[len('file://'):], 'rb') as f:
        return f.read()


def _open_flags_of_temporary(datadir):
    """The open flags of this process's descriptor on the one temporary file."""
    for fd in os.listdir('/proc/self/fd'):
        try:
            target = os.readlink('/proc/self/fd/' + fd)
        except OSError:
            continue
        if os.path.dirname(target) == os.path.realpath(datadir) and \
                target.endswith('.tmp'):
            with open('/proc/self/fdinfo/' + fd) as info:
                for line in info:
                    if line.startswith('flags:'):
                        return int(line.split()[1], 8)
    raise AssertionError('no temporary file open in %s' % datadir)


@pytest.mark.parametrize('direct_io', [True, False], ids=['direct', 'buffered'])
@pytest.mark.parametrize('size', DIRECT_SIZES)
def test_every_byte_is_stored_whatever_the_size_and_chunking(file_harness, direct_io,
                                                             size):
    store = file_harness.make_store(filesystem_store_direct_io=direct_io)
    data = payload(size, seed=size)
    # Chunks that never line up with the 4 KiB blocks or the 4 MiB staging buffer.
    stored = write_image(store, data, chunk_size=64 * 1024 + 7)
    assert _stored_bytes(stored) == data
    assert (stored.size, stored.checksum) == (size, hashlib.md5(data).hexdigest())


@pytest.mark.parametrize('direct_io', [True, False], ids=['direct', 'buffered'])
def test_uploads_bypass_the_page_cache_only_when_turned_on(file_harness, direct_io):
    store = file_harness.make_store(filesystem_store_direct_io=direct_io)
    writer = store.open_writer(str(uuid.uuid4()))
    with writer:
        writer.write(payload(MiB))
        assert bool(_open_flags_of_temporary(file_harness.datadir) & os.O_DIRECT) \
            is direct_io
        writer.commit()


def _cached_fraction(path):
    """The fraction of ``path``'s pages in the page cache (mincore(2))."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    size = os.path.getsize(path)
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    with open(path, 'rb') as f:
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, f.fileno(), 0)
        assert address not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
        try:
            vector = ctypes.create_string_buffer(pages)
            assert libc.mincore(address, size, vector) == 0, ctypes.get_errno()
        finally:
            libc.munmap(address, size)
    return sum(byte & 1 for byte in vector.raw) / pages


@pytest.mark.parametrize('options, cached', [
    ({}, True),
    ({'filesystem_store_direct_io': True}, False),
], ids=['default', 'direct-io'])
def test_an_upload_stays_in_the_page_cache_unless_written_direct(file_harness, options,
                                                                 cached):
    """The first download right after an upload (a boot) reads memory, not the
    disk; the bytes are still on disk (fsync) before the store returns."""
    store = file_harness.make_store(**options)
    stored = write_image(store, payload(16 * MiB, seed=3))
    fraction = _cached_fraction(stored.url[len('file://'):])
    assert (fraction == 1.0) if cached else (fraction < 0.05), fraction


def test_a_file_system_without_direct_io_gets_buffered_writes(mounts):
    datadir = mounts.ramfs('plain')
    store = build_store('file', {'filesystem_store_datadir': str(datadir)})
    data = payload(5 * MiB + 3)
    writer = store.open_writer('on-ramfs')
    with writer:
        writer.write(data)
        assert not _open_flags_of_temporary(datadir) & os.O_DIRECT
        stored = writer.commit()
    assert _stored_bytes(stored) == data


def test_a_refused_direct_write_falls_back_to_the_page_cache(file_harness, monkeypatch):
    # Some file systems accept O_DIRECT at open and refuse the writes: not
    # reproducible with a local mount, so the first direct write is refused here.
    real_write, refused = os.write, []

    def write(fd, data):
        if not refused and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            refused.append(len(data))
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        return real_write(fd, data)

    monkeypatch.setattr(os, 'write', write)
    data = payload(11 * MiB + 5)
    stored = write_image(file_harness.make_store(filesystem_store_direct_io=True), data)
    assert refused == [4 * MiB]
    assert _stored_bytes(stored) == data


def _failing_direct_writes(monkeypatch, errno_=errno.ENOSPC):
    """Direct writes fail with ``errno_`` (a full disk), on whichever thread."""
    real_write = os.write

    def write(fd, data):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            raise OSError(errno_, os.strerror(errno_))
        return real_write(fd, data)
    monkeypatch.setattr(os, 'write', write)


def test_a_direct_writers_disk_error_is_raised_to_its_caller(tmp_path, monkeypatch):
    # The disk writes run on the writer's thread: their error reaches the caller
    # at a later write (once a buffer comes back) or at finish, never lost.
    _failing_direct_writes(monkeypatch)
    fd = os.open(tmp_path / 'f', os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        writer = DirectWriter.open(fd, buffer_size=4096)
        assert writer is not None
        with pytest.raises(OSError) as raised:
            for _ in range(16):
                writer.write(b'x' * 1000)
            writer.finish()
        assert raised.value.errno == errno.ENOSPC
        writer.release()
    finally:
        os.close(fd)


def test_a_direct_writer_waits_only_for_a_disk_slower_than_its_caller(tmp_path,
                                                                     monkeypatch):
    real_write = os.write

    def slow_write(fd, data):
        time.sleep(0.05)
        return real_write(fd, data)
    fd = os.open(tmp_path / 'f', os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        writer = DirectWriter.open(fd, buffer_size=4096)
        data = payload(5 * 4096 + 17)
        writer.write(data[:2 * 4096])   # both buffers: no wait
        assert writer.waited == 0
        monkeypatch.setattr(os, 'write', slow_write)
        writer.write(data[2 * 4096:])   # the disk has the first two to write
        assert writer.waited > 0.03
        writer.finish()
        writer.release()
        with open(tmp_path / 'f', 'rb') as f:
            assert f.read() == data
    finally:
        os.close(fd)


# -- taking a staged file in without copying it (glance-direct import)

def _two_stores(tmp_path, **options):
    staging = build_store('file', {'filesystem_store_datadir': str(tmp_path / 'staging')})
    store = build_store('file', dict(options, filesystem_store_datadir=str(
        tmp_path / 'images')))
    return staging, store


def test_a_committed_file_has_the_identity_it_is_pinned_with(tmp_path):
    staging, _ = _two_stores(tmp_path)
    stored = write_image(staging, b'staged bytes')
    with staging.pin(stored.url) as pinned:
        assert pinned.identity == stored.identity
        assert pinned.size == len(b'staged bytes')
        with pinned.reader() as reader:
            assert b''.join(reader) == b'staged bytes'


def test_a_write_or_a_new_file_changes_the_identity(tmp_path):
    staging, _ = _two_stores(tmp_path)
    stored = write_image(staging, b'staged bytes')
    path = stored.url[len('file://'):]
    # File times tick with the kernel's coarse clock (a few ms): a write in the
    # same tick as the commit keeps its mtime.
    time.sleep(0.05)
    with open(path, 'r+b') as f:
        f.write(b'S')
    with staging.pin(stored.url) as pinned:
        assert pinned.identity != stored.identity
    os.unlink(path)
    with open(path, 'wb') as f:
        f.write(b'staged bytes')
    with staging.pin(stored.url) as pinned:
        assert pinned.identity != stored.identity


def test_link_in_makes_the_pinned_file_the_image_data(tmp_path):
    staging, store = _two_stores(tmp_path, filesystem_store_file_perm=0o640)
    stored = write_image(staging, b'staged bytes')
    image_id = str(uuid.uuid4())
    with staging.pin(stored.url) as pinned:
        # The name is replaced after the pin: the pinned file is linked in.
        path = stored.url[len('file://'):]
        os.rename(path, path + '.old')
        with open(path, 'wb') as f:
            f.write(b'other bytes')
        url = store.link_in(pinned, image_id)
    assert url == 'file://' + str(tmp_path / 'images' / image_id)
    assert os.stat(url[len('file://'):]).st_ino == os.stat(path + '.old').st_ino
    assert os.stat(url[len('file://'):]).st_mode & 0o777 == 0o640
    with store.open_reader(url) as reader:
        assert b''.join(reader) == b'staged bytes'


def test_link_in_never_replaces_existing_data(tmp_path):
    staging, store = _two_stores(tmp_path)
    existing = write_image(store, b'active data')
    image_id = os.path.basename(existing.url)
    stored = write_image(staging, b'staged bytes')
    with staging.pin(stored.url) as pinned, pytest.raises(errors.StoreError):
        store.link_in(pinned, image_id)
    with store.open_reader(existing.url) as reader:
        assert b''.join(reader) == b'active data'


def test_link_in_across_file_systems_says_to_copy(tmp_path, mounts):
    staging = build_store('file', {'filesystem_store_datadir': str(tmp_path / 's')})
    other = build_store('file', {'filesystem_store_datadir': str(
        mounts.tmpfs('images', '1m'))})
    stored = write_image(staging, b'staged bytes')
    with staging.pin(stored.url) as pinned:
        assert other.link_in(pinned, str(uuid.uuid4())) is None
    assert os.listdir(other.datadir) == []


def test_a_missing_file_cannot_be_pinned(tmp_path):
    staging, _ = _two_stores(tmp_path)
    with pytest.raises(errors.NotFound):
        staging.pin('file://%s/%s' % (staging.datadir, uuid.uuid4()))


# -- upstream's filesystem_store_datadirs

def test_one_directory_of_upstreams_datadirs_is_the_data_directory(tmp_path):
    # As upstream's configs write it: filesystem_store_datadir emptied beside it.
    store = build_store('file', {'filesystem_store_datadir': '',
                                 'filesystem_store_datadirs': ['%s:200' % tmp_path]})
    assert store.datadir == str(tmp_path)
    assert write_image(store, b'x').url == 'file://%s/' % tmp_path + \
        os.listdir(tmp_path)[0]


@pytest.mark.parametrize('options, words', [
    ({'filesystem_store_datadir': ''}, 'filesystem_store_datadir is empty'),
    ({'filesystem_store_datadir': '', 'filesystem_store_datadirs': [
        '{tmp}/a:200', '{tmp}/b:100']},
     'filesystem_store_datadirs lists 2 directories ({tmp}/a, {tmp}/b): this '
     "service keeps a file store's images in one directory"),
    ({'filesystem_store_datadir': '{tmp}/c',
      'filesystem_store_datadirs': ['{tmp}/a']},
     'filesystem_store_datadir ({tmp}/c) and filesystem_store_datadirs ({tmp}/a) '
     'name two directories'),
])
def test_a_data_directory_that_is_not_one_is_refused(tmp_path, options, words):
    # Empty, it was the process's working directory; several, the images in all
    # but one were unreadable.
    options = {name: [entry.format(tmp=tmp_path) for entry in value]
               if isinstance(value, list) else value.format(tmp=tmp_path)
               for name, value in options.items()}
    with pytest.raises(errors.BadConfiguration) as refused:
        build_store('file', options)
    assert words.format(tmp=tmp_path) in str(refused.value)
    assert os.listdir(tmp_path) == []
