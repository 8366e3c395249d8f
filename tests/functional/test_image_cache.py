"""The image cache of an API node (image_cache_dir), with real registry and API
processes on a file store: downloads fill it as they stream, later downloads are
served from it with sendfile, stale copies are never served, and its cap holds."""

import concurrent.futures
import contextlib
import hashlib
import os
import shutil
import signal
import sqlite3
import tempfile
import threading
import time

import pytest

from tests.fixtures import deployment as deployment_fixture
from tests.fixtures import disk_images
from tests.fixtures import skips, syscalls, tools
from tests.integration.swift_helpers import api_workers, wait_until
from tests.fixtures.mounts import Mounts

MIB = 1024 * 1024


@pytest.fixture(scope='module')
def cached(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('cached')
    cache_dir = str(workdir / 'cache')
    with deployment_fixture.running(workdir, api_extra={'DEFAULT': {
            'image_cache_dir': cache_dir, 'log_level': 'DEBUG',
            'image_cache_max_size': 64 * MIB}}) as glance:
        glance.cache_dir = cache_dir
        yield glance


@pytest.fixture
def admin(cached):
    with cached.client() as client:
        yield client


def _image(client, data):
    image = client.create_image(name='cached')
    response = client.upload(image['id'], data)
    assert response.status_code == 204, response.text
    return image['id']


def _is_cached(glance, image_id):
    return os.path.exists(os.path.join(glance.cache_dir, image_id))


def _remove_store_file(glance, image_id):
    os.unlink(os.path.join(glance.datadir, image_id))


def test_a_cold_download_fills_the_cache_and_the_next_is_served_from_it(cached, admin):
    data = disk_images.raw(8 * MIB + 123)
    image_id = _image(admin, data)
    assert not _is_cached(cached, image_id)
    response = admin.get('/v2/images/%s/file' % image_id)
    assert response.status_code == 200
    assert response.content == data
    # The copy was made from the bytes the client got, in the same pass: the
    # store's file can go as soon as the download ended.
    _remove_store_file(cached, image_id)
    wait_until(lambda: _is_cached(cached, image_id), 10, message='image cached')
    assert os.listdir(os.path.join(cached.cache_dir, 'incomplete')) == []

    # Only the cache can answer now.
    with syscalls.traced(api_workers(cached), ['sendfile']) as trace:
        response = admin.get('/v2/images/%s/file' % image_id)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers['Content-MD5'] == hashlib.md5(data).hexdigest()
    sent = [call for call in trace.named('sendfile') if image_id in call.args]
    assert sent and all(call.ok for call in sent)

    response = admin.get('/v2/images/%s/file' % image_id,
                         headers={'Range': 'bytes=1000-1999'})
    assert response.status_code == 206
    assert response.content == data[1000:2000]
    assert response.headers['Content-Range'] == 'bytes 1000-1999/%d' % len(data)


def _logged(glance, text):
    with open(glance.api.log_path) as log:
        return log.read().count(text)


def test_concurrent_misses_of_one_image_fill_it_once_and_the_log_says_so(cached,
                                                                         admin):
    data = disk_images.raw(16 * MIB)
    image_id = _image(admin, data)
    # The eight downloads ask at once: started one by one, on a loaded machine
    # the first one's fill (16 MiB) could end before the second asked.
    start = threading.Barrier(8)

    def download(at_once=False):
        with cached.client() as client:
            if at_once:
                start.wait(timeout=30)
            return client.get('/v2/images/%s/file' % image_id).content

    # Immutable, the store's file cannot be linked (EPERM): the fill copies it and
    # lasts long enough for the downloads to overlap it (a link is done in a few
    # milliseconds, and the later downloads would be hits, not misses).
    with tools.immutable(os.path.join(cached.datadir, image_id)):
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            assert list(pool.map(download, [True] * 8)) == [data] * 8
        wait_until(lambda: _is_cached(cached, image_id), 10, message='image cached')
    wait_until(lambda: _logged(cached, 'cache fill: %s (%d bytes)'
                               % (image_id, len(data))), 10, message='fill logged')
    assert _logged(cached, 'cache fill: %s (%d bytes)' % (image_id, len(data))) == 1
    misses = _logged(cached, 'cache miss: %s' % image_id)
    assert misses >= 2   # they overlapped: all but one streamed without filling
    assert download() == data
    assert _logged(cached, 'cache hit: %s, %d bytes from offset 0'
                   % (image_id, len(data))) == 8 - misses + 1


def test_a_full_cache_disk_leaves_downloads_uncached_not_failed(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('cache-disk-full')
    with Mounts(workdir) as mounts:
        cache_dir = mounts.tmpfs('cache', '8m')
        with deployment_fixture.running(workdir, api_extra={'DEFAULT': {
                'image_cache_dir': str(cache_dir)}}) as glance, \
                glance.client() as admin:
            glance.cache_dir = str(cache_dir)
            data = disk_images.raw(MIB + 7)
            image_id = _image(admin, data)
            filler = cache_dir / 'filler'
            with open(filler, 'wb') as out:   # every block the tmpfs has
                with contextlib.suppress(OSError):
                    while True:
                        out.write(b'\0' * 65536)
                        out.flush()
            # The index cannot commit ("database or disk is full"): the store
            # serves the download, as on a node without a cache.
            for _ in range(2):
                response = admin.get('/v2/images/%s/file' % image_id)
                assert response.status_code == 200, response.text
                assert response.content == data
            assert not _is_cached(glance, image_id)
            assert os.listdir(cache_dir / 'incomplete') == []
            assert _logged(glance, 'cache: cannot cache %s' % image_id) >= 1
            # Once there is room again, the next download fills the cache.
            filler.unlink()
            assert admin.get('/v2/images/%s/file' % image_id).content == data
            wait_until(lambda: _is_cached(glance, image_id), 10, message='cached')
            assert admin.get('/v2/images/%s/file' % image_id).content == data


def test_a_range_download_does_not_fill_the_cache(cached, admin):
    data = disk_images.raw(MIB)
    image_id = _image(admin, data)
    response = admin.get('/v2/images/%s/file' % image_id,
                         headers={'Range': 'bytes=0-99'})
    assert response.status_code == 206
    assert not _is_cached(cached, image_id)


def test_a_deactivated_image_is_never_served_from_cache(cached, admin):
    data = disk_images.raw(MIB)
    image_id = _image(admin, data)
    assert admin.get('/v2/images/%s/file' % image_id).content == data
    wait_until(lambda: _is_cached(cached, image_id), 10, message='image cached')
    _remove_store_file(cached, image_id)
    assert admin.post('/v2/images/%s/actions/deactivate' % image_id).status_code == 204
    # An admin may download a deactivated image, but not from the cache: the store
    # has no copy left (204, as upstream for data no store holds).
    response = admin.get('/v2/images/%s/file' % image_id)
    assert response.status_code == 204 and response.content == b''

    assert admin.post('/v2/images/%s/actions/reactivate' % image_id).status_code == 204
    assert admin.get('/v2/images/%s/file' % image_id).content == data


def test_a_deleted_image_is_never_served_from_cache(cached, admin):
    data = disk_images.raw(MIB)
    image_id = _image(admin, data)
    assert admin.get('/v2/images/%s/file' % image_id).content == data
    wait_until(lambda: _is_cached(cached, image_id), 10, message='image cached')
    assert admin.delete('/v2/images/%s' % image_id).status_code == 204
    assert admin.get('/v2/images/%s/file' % image_id).status_code == 404


def _inode(path):
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino


def test_on_the_stores_file_system_a_fill_links_the_store_file(cached, admin):
    data = disk_images.raw(4 * MIB + 5)
    image_id = _image(admin, data)
    stored = os.path.join(cached.datadir, image_id)
    assert admin.get('/v2/images/%s/file' % image_id).content == data
    wait_until(lambda: _is_cached(cached, image_id), 10, message='image cached')
    copy = os.path.join(cached.cache_dir, image_id)
    # One file, two names: no byte was copied.
    assert _inode(copy) == _inode(stored)
    assert os.stat(copy).st_nlink == 2
    linked = "cache fill: %s (%d bytes) linked to the store's file" % (image_id,
                                                                        len(data))
    # The file is in place a moment before the line is logged.
    wait_until(lambda: _logged(cached, linked), 10, message='fill logged')
    assert _logged(cached, linked) == 1
    assert os.listdir(os.path.join(cached.cache_dir, 'incomplete')) == []
    assert admin.get('/v2/images/%s/file' % image_id).content == data
    assert _logged(cached, 'cache hit: %s, %d bytes from offset 0'
                   % (image_id, len(data))) == 1
    listed = admin.get('/v2/cache').json()['cached_images']
    assert [entry['size'] for entry in listed if entry['image_id'] == image_id] == \
        [len(data)]

    # Deleting the image unlinks the store's name and, on the node that handled
    # the delete, the cache's: the blocks are free at once.
    with open(copy, 'rb') as still_open:
        assert admin.delete('/v2/images/%s' % image_id).status_code == 204
        assert os.fstat(still_open.fileno()).st_nlink == 0
    assert not os.path.exists(stored)
    assert not _is_cached(cached, image_id)
    assert admin.get('/v2/images/%s/file' % image_id).status_code == 404
    assert _logged(cached, 'cache hit: %s' % image_id) == 1
    assert image_id not in [entry['image_id'] for entry in
                            admin.get('/v2/cache').json()['cached_images']]


def test_on_another_file_system_a_fill_copies_the_store_file(tmp_path_factory):
    shm = '/dev/shm'
    workdir = tmp_path_factory.mktemp('other-fs')
    if not os.path.isdir(shm) or os.stat(shm).st_dev == os.stat(workdir).st_dev:
        skips.unavailable('/dev/shm', 'no tmpfs at /dev/shm beside the test\'s file '
                                      'system')
    cache_dir = tempfile.mkdtemp(dir=shm, prefix='glance-cache-functional-')
    try:
        with deployment_fixture.running(workdir, api_extra={'DEFAULT': {
                'image_cache_dir': cache_dir, 'log_level': 'DEBUG'}}) as glance, \
                glance.client() as admin:
            glance.cache_dir = cache_dir
            data = disk_images.raw(4 * MIB + 5)
            image_id = _image(admin, data)
            stored = os.path.join(glance.datadir, image_id)
            assert admin.get('/v2/images/%s/file' % image_id).content == data
            wait_until(lambda: _is_cached(glance, image_id), 10, message='cached')
            copy = os.path.join(cache_dir, image_id)
            assert _inode(copy)[0] != _inode(stored)[0]
            assert os.stat(stored).st_nlink == 1
            filled = 'cache fill: %s (%d bytes)' % (image_id, len(data))
            # The file is in place a moment before the line is logged.
            wait_until(lambda: _logged(glance, filled), 10, message='fill logged')
            assert _logged(glance, filled) == 1
            assert _logged(glance, "linked to the store's file") == 0
            # The copy alone answers.
            _remove_store_file(glance, image_id)
            assert admin.get('/v2/images/%s/file' % image_id).content == data
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)


def _cache_bytes(directory):
    """Bytes of the image files in ``directory`` (by inode: a fill's file has two
    names for a moment, in incomplete/ and in place). Counted under the index's
    write lock, so that no eviction or reservation happens while the walk lasts,
    and the sum is what the disk held at one moment."""
    index = sqlite3.connect(os.path.join(directory, 'cache.sqlite'), timeout=30,
                            isolation_level=None)
    try:
        index.execute('BEGIN IMMEDIATE')
        return _walk_bytes(directory)
    finally:
        index.close()


def _walk_bytes(directory):
    sizes = {}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            if name.startswith('cache.sqlite'):
                continue
            try:
                stat = os.stat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            sizes[stat.st_dev, stat.st_ino] = stat.st_size
    return sum(sizes.values())


def test_the_cap_holds_during_20_concurrent_downloads_of_different_images(
        tmp_path_factory):
    workdir = tmp_path_factory.mktemp('capped')
    cache_dir = str(workdir / 'cache')
    cap = 5 * MIB
    with deployment_fixture.running(workdir, api_extra={'DEFAULT': {
            'image_cache_dir': cache_dir, 'image_cache_max_size': cap,
            'threads': 16}}) as glance, glance.client() as admin:
        images = {}
        for _ in range(20):
            data = disk_images.raw(MIB)
            images[_image(admin, data)] = data
        _cache_bytes(cache_dir)   # the index exists once the API started
        largest = []
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                largest.append(_cache_bytes(cache_dir))

        watcher = threading.Thread(target=watch)
        watcher.start()

        def download(image_id):
            with glance.client() as client:
                return client.get('/v2/images/%s/file' % image_id).content

        try:
            with concurrent.futures.ThreadPoolExecutor(20) as pool:
                for _round in range(2):
                    results = dict(zip(images, pool.map(download, images)))
                    assert results == images
        finally:
            stop.set()
            watcher.join()
        assert len(largest) > 10
        assert max(largest) <= cap
        cached_now = [name for name in os.listdir(cache_dir) if name in images]
        assert 1 <= len(cached_now) <= 5


def test_the_versions_document_advertises_the_cache_api(cached, admin):
    ids = [version['id'] for version in admin.get('/versions').json()['versions']]
    assert ids[:6] == ['v2.18', 'v2.17', 'v2.16', 'v2.15', 'v2.14', 'v2.9']
    assert admin.get('/versions').json()['versions'][0]['status'] == 'CURRENT'


def test_a_fill_whose_worker_was_killed_is_never_served_nor_left_behind(
        tmp_path_factory):
    workdir = tmp_path_factory.mktemp('killed')
    cache_dir = str(workdir / 'cache')
    with deployment_fixture.running(workdir, api_extra={'DEFAULT': {
            'image_cache_dir': cache_dir}}) as glance, glance.client() as admin:
        glance.cache_dir = cache_dir
        data = disk_images.raw(64 * MIB)
        image_id = _image(admin, data)
        incomplete = os.path.join(cache_dir, 'incomplete')
        # An immutable file cannot be linked (EPERM): the fill copies it, as on
        # another file system, and lasts long enough to be killed.
        with tools.immutable(os.path.join(glance.datadir, image_id)):
            with admin.get('/v2/images/%s/file' % image_id, stream=True) as response:
                assert len(next(response.iter_content(MIB))) == MIB
                wait_until(lambda: os.listdir(incomplete), 10, message='a fill')
                for worker in api_workers(glance):
                    os.kill(worker, signal.SIGKILL)
            wait_until(lambda: len(api_workers(glance)) == 2, 30,
                       message='new workers')
            (dead,) = os.listdir(incomplete)
            # Until the reservation may be taken over, downloads stream from the
            # store.
            assert admin.get('/v2/images/%s/file' % image_id).content == data
            assert not _is_cached(glance, image_id)
            time.sleep(11)
            assert admin.get('/v2/images/%s/file' % image_id).content == data
            wait_until(lambda: _is_cached(glance, image_id), 20, message='cached')
            assert dead not in os.listdir(incomplete)
        assert os.stat(os.path.join(cache_dir, image_id)).st_nlink == 1   # a copy
        _remove_store_file(glance, image_id)
        assert admin.get('/v2/images/%s/file' % image_id).content == data


def test_a_copy_that_cannot_be_removed_fails_no_cache_call_nor_stops_the_others(
        cached, admin):
    stuck, other = (_image(admin, disk_images.raw(MIB)) for _ in range(2))
    for image_id in (stuck, other):
        assert len(admin.get('/v2/images/%s/file' % image_id).content) == MIB
        wait_until(lambda: _is_cached(cached, image_id), 10, message='image cached')
    with tools.immutable(os.path.join(cached.cache_dir, stuck)):
        assert admin.delete('/v2/cache/%s' % stuck).status_code == 204
        response = admin.delete('/v2/cache',
                                headers={'x-image-cache-clear-target': 'cache'})
        assert response.status_code == 204, response.text
        assert not _is_cached(cached, other)
        # Still there, so still listed (and served: it is the image's data).
        listed = admin.get('/v2/cache').json()['cached_images']
        assert [entry['image_id'] for entry in listed] == [stuck]
    assert _logged(cached, 'cache: cannot remove the cached copy of %s' % stuck) == 2
    assert 'Traceback' not in open(cached.api.log_path).read()
    assert admin.delete('/v2/cache/%s' % stuck).status_code == 204
    assert not _is_cached(cached, stuck)


@pytest.fixture(scope='module', params=[False, True],
                ids=['deleted_at_once', 'delayed_delete'])
def deleting(request, tmp_path_factory):
    """A node with a cache, deleting at once or (``delayed_delete``) to
    ``pending_delete``. Its prefetcher and cleaner do not run during the tests, so
    GET /v2/cache's ``queued_images`` is the registry's queue less what is cached,
    and only the delete itself can remove a copy."""
    workdir = tmp_path_factory.mktemp('deleting')
    cache_dir = str(workdir / 'cache')
    with deployment_fixture.running(workdir, api_extra={'DEFAULT': {
            'image_cache_dir': cache_dir, 'cache_prefetcher_interval': 3600,
            'delayed_delete': request.param}}) as glance:
        glance.cache_dir = cache_dir
        glance.delayed = request.param
        yield glance


def _cached_and_queued(glance, client, data):
    """A new image, downloaded (so cached) and queued for prefetching."""
    image_id = _image(client, data)
    assert client.get('/v2/images/%s/file' % image_id).content == data
    wait_until(lambda: _is_cached(glance, image_id), 10, message='image cached')
    assert client.put('/v2/cache/%s' % image_id).status_code == 202
    return image_id


def _cache_state(client):
    state = client.get('/v2/cache').json()
    return ({entry['image_id'] for entry in state['cached_images']},
            set(state['queued_images']))


def test_deleting_an_image_removes_its_cached_copy_and_queue_entry(deleting):
    data = disk_images.raw(MIB)
    with deleting.client() as admin:
        image_id = _cached_and_queued(deleting, admin, data)
        assert image_id in _cache_state(admin)[0]
        assert admin.delete('/v2/images/%s' % image_id).status_code == 204
        assert not _is_cached(deleting, image_id)
        cached_ids, queued_ids = _cache_state(admin)
        assert image_id not in cached_ids
        # Still queued, it would be listed (no longer cached) and prefetched again.
        assert image_id not in queued_ids
        # Delayed, the data stays in the store for the scrubber; the copy goes all
        # the same, since a pending_delete image cannot be downloaded.
        assert os.path.exists(os.path.join(deleting.datadir, image_id)) \
            is deleting.delayed


def test_a_cached_copy_that_cannot_be_removed_does_not_fail_the_delete(deleting):
    data = disk_images.raw(MIB)
    with deleting.client() as admin:
        image_id = _cached_and_queued(deleting, admin, data)
        copy = os.path.join(deleting.cache_dir, image_id)
        with tools.immutable(copy):   # unlink: EPERM, even as root
            assert admin.delete('/v2/images/%s' % image_id).status_code == 204
        assert _logged(deleting, 'image %s deleted, but not its cached copy'
                       % image_id) == 1
        assert admin.get('/v2/images/%s' % image_id).status_code == 404
        cached_ids, queued_ids = _cache_state(admin)
        assert image_id not in queued_ids
        # The copy is still indexed, so the cleaner finds it and removes it.
        assert image_id in cached_ids
        response = admin.post('/v2/cache/clean')
        assert response.status_code == 200
        assert response.json()['total_files_cleaned'] >= 1
        assert not _is_cached(deleting, image_id)
        assert image_id not in _cache_state(admin)[0]


def test_a_copy_the_cleaner_cannot_remove_does_not_stop_it_at_the_others(deleting):
    with deleting.client() as admin:
        stuck, other = (_cached_and_queued(deleting, admin, disk_images.raw(MIB))
                        for _ in range(2))
        stuck_copy = os.path.join(deleting.cache_dir, stuck)
        with tools.immutable(stuck_copy), \
                tools.immutable(os.path.join(deleting.cache_dir, other)):
            for image_id in (stuck, other):
                assert admin.delete('/v2/images/%s' % image_id).status_code == 204
        with tools.immutable(stuck_copy):
            response = admin.post('/v2/cache/clean')
            assert response.status_code == 200, response.text
            assert not _is_cached(deleting, other)
            assert stuck in _cache_state(admin)[0]   # for the next pass
        assert _logged(deleting, 'the cached copy of image %s could not be removed'
                       % stuck) >= 1
        assert admin.post('/v2/cache/clean').status_code == 200
        assert not _is_cached(deleting, stuck)
