"""What an API worker holds does not grow with the requests it serves: after a round
of requests of one kind, its open files are back where they were (a real gunicorn
worker, one of it, measured through /proc)."""

import concurrent.futures
import os
import time

import pytest

from tests.fixtures import deployment as deployment_fixture
from tests.fixtures import disk_images
from tests.integration.swift_helpers import api_workers, wait_until

THREADS = 4


@pytest.fixture(scope='module')
def cached(tmp_path_factory):
    """One API worker with an image cache."""
    workdir = tmp_path_factory.mktemp('worker-resources')
    cache_dir = str(workdir / 'cache')
    with deployment_fixture.running(workdir, api_extra={'DEFAULT': {
            'workers': 1, 'threads': THREADS, 'image_cache_dir': cache_dir}}) as glance:
        glance.cache_dir = cache_dir
        yield glance


def _open_files(pid, name):
    """How many of ``pid``'s descriptors are open on a file called ``name``."""
    fd_dir = '/proc/%d/fd' % pid
    count = 0
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue   # closed meanwhile
        count += os.path.basename(target) == name
    return count


def _cached_images(client, count):
    ids = []
    for _ in range(count):
        image_id = client.create_image(name='leak')['id']
        assert client.upload(image_id, disk_images.raw(4096)).status_code == 204
        ids.append(image_id)
    return ids


def test_cache_fills_leave_no_index_connection_open(cached):
    """Each cache fill and each write of the hits noted runs on a thread of its own,
    which opens its own connection to the cache index: the connection must close
    when the thread ends. (Left to the garbage collector, a sqlite3 connection is
    in a reference cycle with its statement cache and stays open, two descriptors
    each, until a full collection, which a busy worker may not run for hours.)"""
    with cached.client() as client:
        warm = _cached_images(client, THREADS)
        # Every request thread holds its connection for good: open them all
        # (misses, then hits) before the baseline is taken.
        for _ in range(2):
            with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
                list(pool.map(lambda image_id: client.get(
                    '/v2/images/%s/file' % image_id).status_code, warm * 2))
            wait_until(lambda: all(os.path.exists(os.path.join(cached.cache_dir, i))
                                   for i in warm), 10, message='warm-up images cached')
        time.sleep(2)   # the hits' write (TOUCH_DELAY) is done
        [worker] = api_workers(cached)
        baseline = _open_files(worker, 'cache.sqlite')

        fresh = _cached_images(client, 12)
        for image_id in fresh:
            assert client.get('/v2/images/%s/file' % image_id).status_code == 200
            wait_until(lambda: os.path.exists(os.path.join(cached.cache_dir, image_id)),
                       10, message='image cached')
            # A hit, and the second after it when its write runs on a timer thread.
            assert client.get('/v2/images/%s/file' % image_id).status_code == 200
        time.sleep(2)

        assert _open_files(worker, 'cache.sqlite') <= baseline
