"""The cron-driven commands (glance-cache-prefetcher, -pruner, -cleaner) against a
running deployment's cache, and the API workers' own schedule: one worker per node
runs the passes, and another takes over when it dies."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.fixtures import deployment as deployment_fixture
from tests.fixtures import disk_images
from tests.fixtures import processes
from tests.integration.swift_helpers import api_workers, wait_until

BIN = os.path.dirname(sys.executable)
MIB = 1024 * 1024
HOLDER = 'this worker runs the image cache prefetcher'


@pytest.fixture(scope='module')
def node(tmp_path_factory):
    """A node whose workers prefetch rarely: the commands do the work here."""
    workdir = tmp_path_factory.mktemp('commands')
    cache_dir = str(workdir / 'cache')
    with deployment_fixture.running(workdir, api_extra={'DEFAULT': {
            'image_cache_dir': cache_dir,
            'image_cache_max_size': 3 * MIB}}) as glance:
        glance.cache_dir = cache_dir
        yield glance


def command(glance, name):
    result = subprocess.run([os.path.join(BIN, 'glance-cache-' + name),
                             '--config-file', glance.api.config_path],
                            capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout


def _image(client, data):
    image = client.create_image(name='cmd')
    assert client.upload(image['id'], data).status_code == 204
    return image['id']


def test_the_prefetcher_caches_the_queue_and_says_so(node):
    with node.client() as admin:
        ids = [_image(admin, disk_images.raw(MIB)) for _ in range(2)]
        for image_id in ids:
            assert admin.put('/v2/cache/%s' % image_id).status_code == 202
        status, out = command(node, 'prefetcher')
        assert status == 0, out
        for number, image_id in enumerate(ids, 1):
            assert '(%d/2) %s: cached (%d bytes)' % (number, image_id, MIB) in out
            assert os.path.exists(os.path.join(node.cache_dir, image_id))
        assert 'prefetched 2 image(s), 0 failed' in out
        # Done once per queueing: a second run has nothing to do.
        assert command(node, 'prefetcher') == (
            0, 'prefetching the queued images\nprefetched 0 image(s), 0 failed\n')
        admin.delete('/v2/cache')


def test_the_prefetcher_is_done_with_an_empty_image(node):
    with node.client() as admin:
        image_id = _image(admin, b'')
        assert admin.put('/v2/cache/%s' % image_id).status_code == 202
        status, out = command(node, 'prefetcher')
        assert (status, out) == (0, 'prefetching the queued images\n'
                                    '(1/1) %s: nothing to cache: the image is empty\n'
                                    'prefetched 0 image(s), 0 failed\n' % image_id)
        assert command(node, 'prefetcher') == (
            0, 'prefetching the queued images\nprefetched 0 image(s), 0 failed\n')
        assert admin.get('/v2/cache').json()['queued_images'] == []
        assert not os.path.exists(os.path.join(node.cache_dir, image_id))
        admin.delete('/v2/cache')


def test_the_cleaner_removes_copies_of_images_deleted_through_another_node(
        node, tmp_path):
    # The node that handles a delete drops its own copy; another node's copy is
    # its cleaner's to remove.
    other = processes.api_daemon(
        str(tmp_path), node.registry.port,
        node.api.config['DEFAULT']['registry_auth_secret'], node.datadir).start()
    try:
        with node.client() as admin:
            image_id = _image(admin, disk_images.raw(MIB))
            assert len(admin.get('/v2/images/%s/file' % image_id).content) == MIB
            wait_until(lambda: os.path.exists(os.path.join(node.cache_dir, image_id)),
                       10)
            assert admin.delete(other.url + '/v2/images/%s' % image_id) \
                .status_code == 204
    finally:
        other.stop()
    assert os.path.exists(os.path.join(node.cache_dir, image_id))
    status, out = command(node, 'cleaner')
    assert (status, out) == (0, 'cleaned 1 file(s) from the image cache\n')
    assert not os.path.exists(os.path.join(node.cache_dir, image_id))


def test_the_pruner_says_what_it_pruned(node):
    assert command(node, 'pruner') == (0, 'pruned 0 cached image(s), 0 bytes\n')


def manage(glance, *args):
    port = str(glance.api.port)
    result = subprocess.run([os.path.join(BIN, 'glance-cache-manage'), '--port', port,
                             '--force', *args], capture_output=True, text=True,
                            timeout=60)
    return result.returncode, result.stdout + result.stderr


def test_glance_cache_manage(node):
    with node.client() as admin:
        image_id = _image(admin, disk_images.raw(MIB))
    assert manage(node, 'queue-image', image_id) == (
        0, 'Queued image %s for caching\n' % image_id)
    assert manage(node, 'list-queued') == (0, 'Found 1 queued images\n%s\n' % image_id)
    assert command(node, 'prefetcher')[0] == 0
    status, out = manage(node, 'list-cached')
    assert status == 0
    assert out.startswith('Found 1 cached images on ')
    assert image_id in out and str(MIB) in out
    assert manage(node, 'list-queued') == (0, 'Found 0 queued images\n')
    assert manage(node, 'delete-all-cached-images') == (0, '')
    assert manage(node, 'list-cached')[1].startswith('Found 0 cached images')
    status, out = manage(node, 'queue-image', '00000000-0000-0000-0000-000000000000')
    assert status == 1 and out.startswith('404: ')
    assert manage(node, 'delete-all-queued-images') == (0, '')


def test_a_command_without_a_cache_is_refused(tmp_path):
    config = tmp_path / 'api.conf'
    config.write_text('[DEFAULT]\nregistry_auth_secret = x\n')
    result = subprocess.run([os.path.join(BIN, 'glance-cache-pruner'),
                             '--config-file', str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert 'image_cache_dir is not set' in result.stderr


def _refusal(tmp_path, command_name, cache_dir):
    """``glance-cache-<command_name>`` run with ``cache_dir``: its exit status and
    standard error."""
    config = tmp_path / 'api.conf'
    # The command makes its stores as the API does: a data directory of the
    # test's, not the default /var/lib/glance/images.
    config.write_text('[DEFAULT]\nregistry_auth_secret = x\nimage_cache_dir = %s\n'
                      '[glance_store]\nfilesystem_store_datadir = %s\n'
                      % (cache_dir, tmp_path / 'images'))
    result = subprocess.run([os.path.join(BIN, 'glance-cache-' + command_name),
                             '--config-file', str(config)],
                            capture_output=True, text=True, timeout=60)
    assert 'Traceback' not in result.stderr
    return result.returncode, result.stderr


@pytest.mark.parametrize('command_name', ['prefetcher', 'pruner', 'cleaner'])
def test_a_command_whose_cache_directory_cannot_be_made_is_refused(tmp_path,
                                                                   command_name):
    # A line, not a traceback, as the API says it when it refuses to start.
    not_a_directory = tmp_path / 'a-file'
    not_a_directory.write_text('')
    status, err = _refusal(tmp_path, command_name, not_a_directory)
    assert status == 2, err
    assert 'store configuration error: image_cache_dir: cannot create %s: Not a ' \
        'directory' % not_a_directory in err
    assert not_a_directory.read_text() == ''


@pytest.mark.parametrize('command_name', ['prefetcher', 'pruner', 'cleaner'])
def test_a_command_whose_cache_index_is_no_database_is_refused(tmp_path,
                                                               command_name):
    cache = tmp_path / 'cache'
    cache.mkdir()
    index = cache / 'cache.sqlite'
    index.write_bytes(b'not a database, ' * 512)
    status, err = _refusal(tmp_path, command_name, cache)
    assert status == 2, err
    assert 'store configuration error: image_cache_dir: cannot open the cache ' \
        'index %s: file is not a database' % index in err
    assert index.read_bytes() == b'not a database, ' * 512


def _holders(glance):
    with open(glance.api.log_path) as log:
        return [int(match.group(1)) for match in
                re.finditer(r' (\d+) INFO \S+ (?:\[[^]]*\] )?' + HOLDER, log.read())]


def test_a_command_whose_cache_is_a_stores_directory_is_refused(node, tmp_path):
    # The cleaner would take the store's files for copies its index does not list.
    with node.client() as admin:
        image_id = _image(admin, b'x' * 1000)
    before = node.stored_files()
    config = tmp_path / 'cache.conf'
    config.write_text('[DEFAULT]\nimage_cache_dir = %s\n' % node.datadir)
    result = subprocess.run([os.path.join(BIN, 'glance-cache-cleaner'),
                             '--config-file', node.api.config_path,
                             '--config-file', str(config)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert 'store configuration error: image_cache_dir %s is the data directory of ' \
        'store' % node.datadir in result.stderr
    assert 'Traceback' not in result.stderr
    assert node.stored_files() == before and image_id in before


def test_one_worker_per_node_runs_the_passes_and_another_takes_over(
        tmp_path_factory):
    workdir = tmp_path_factory.mktemp('schedule')
    with deployment_fixture.running(workdir, api_extra={'DEFAULT': {
            'image_cache_dir': str(workdir / 'cache'),
            'cache_prefetcher_interval': 1, 'workers': 3}}) as glance:
        (holder,) = wait_until(lambda: _holders(glance), 15, message='a holder')
        # The first worker up takes the lock at once: the others may still start.
        workers = wait_until(
            lambda: len(api_workers(glance)) == 3 and api_workers(glance), 15,
            message='three workers')
        assert holder in workers
        time.sleep(3)   # several intervals: every worker tried the lock again
        assert _holders(glance) == [holder]
        os.kill(holder, signal.SIGKILL)
        holders = wait_until(lambda: _holders(glance)[1:], 30, message='a new holder')
        assert holders[0] != holder
