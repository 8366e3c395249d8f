"""The cache API (/v2/cache, 2.14 and 2.18) with two API nodes on one registry,
through python-glanceclient's ``glance cache-*`` commands and openstacksdk: an
image queued through one node is prefetched by both."""

import contextlib
import os
import subprocess
import sys
import time
import uuid

import openstack
import pytest

from tests.fixtures import deployment as deployment_fixture
from tests.fixtures import disk_images
from tests.fixtures import processes
from tests.integration.swift_helpers import wait_until

BIN = os.path.dirname(sys.executable)
MIB = 1024 * 1024


@pytest.fixture(scope='module')
def nodes(tmp_path_factory):
    """Two API nodes (own cache each, prefetching every second) on one registry."""
    workdir = tmp_path_factory.mktemp('nodes')

    def cache_options(name):
        return {'DEFAULT': {'image_cache_dir': str(workdir / ('cache-' + name)),
                            'cache_prefetcher_interval': 1,
                            'worker_self_reference_url': 'http://%s:9292' % name}}

    with deployment_fixture.running(workdir,
                                    api_extra=cache_options('node-a')) as glance:
        second_dir = workdir / 'second'
        second_dir.mkdir()
        second = processes.api_daemon(
            str(second_dir), glance.registry.port,
            glance.api.config['DEFAULT']['registry_auth_secret'], glance.datadir,
            extra=cache_options('node-b')).start()
        try:
            glance.nodes = {'node-a': (glance.url, str(workdir / 'cache-node-a')),
                            'node-b': (second.url, str(workdir / 'cache-node-b'))}
            yield glance
        finally:
            second.stop()


def glance_cli(url, *args, check=True):
    result = subprocess.run(
        [os.path.join(BIN, 'glance'), *args], capture_output=True, text=True,
        timeout=120, env=dict(os.environ, OS_IMAGE_URL=url, OS_AUTH_TOKEN='none'))
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def cache_rows(url):
    """``{image_id: state}`` of ``glance cache-list`` on the node at ``url``."""
    rows = {}
    for line in glance_cli(url, 'cache-list').stdout.splitlines():
        cells = [cell.strip() for cell in line.strip().strip('|').split('|')]
        if len(cells) == 6 and cells[1] in ('cached', 'queued'):
            rows[cells[0]] = cells[1]
    return rows


def sdk(url):
    return openstack.connect(auth_type='none', load_envvars=False,
                             image_endpoint_override=url)


def _image(glance, data, **attributes):
    with glance.client() as admin:
        image = admin.create_image(name='prefetched', **attributes)
        assert admin.upload(image['id'], data).status_code == 204
    return image['id']


def test_glance_cache_queue_reaches_every_nodes_prefetcher(nodes):
    data = disk_images.raw(2 * MIB)
    image_id = _image(nodes, data)
    (url_a, cache_a), (url_b, cache_b) = nodes.nodes['node-a'], nodes.nodes['node-b']
    glance_cli(url_a, 'cache-queue', image_id)
    for url, cache_dir in ((url_a, cache_a), (url_b, cache_b)):
        wait_until(lambda: cache_rows(url).get(image_id) == 'cached', 30,
                   message='prefetched on %s' % url)
        assert os.path.getsize(os.path.join(cache_dir, image_id)) == len(data)
    # Both nodes serve it without the store.
    os.unlink(os.path.join(nodes.datadir, image_id))
    with nodes.client() as admin:
        for url in (url_a, url_b):
            response = admin.get(url + '/v2/images/%s/file' % image_id)
            assert response.status_code == 200
            assert response.content == data

    glance_cli(url_b, 'cache-delete', image_id)
    assert image_id not in cache_rows(url_b)
    assert not os.path.exists(os.path.join(cache_b, image_id))
    assert cache_rows(url_a).get(image_id) == 'cached'   # that node's copy stays
    glance_cli(url_a, 'cache-clear', '--target', 'cache')
    assert cache_rows(url_a) == {}


def test_a_deleted_image_leaves_the_queue_and_every_nodes_cache(nodes):
    image_id = _image(nodes, disk_images.raw(MIB))
    (url_a, cache_a), (url_b, cache_b) = nodes.nodes['node-a'], nodes.nodes['node-b']
    glance_cli(url_a, 'cache-queue', image_id)
    for url in (url_a, url_b):
        wait_until(lambda: cache_rows(url).get(image_id) == 'cached', 30,
                   message='prefetched on %s' % url)
    with nodes.client() as admin:
        assert admin.delete(url_a + '/v2/images/%s' % image_id).status_code == 204
    # The node that handled the delete drops its copy at once ...
    assert not os.path.exists(os.path.join(cache_a, image_id))
    assert image_id not in cache_rows(url_a)
    # ... the other one at its cleaner's next pass (every second here), and
    # neither fetches it again: the registry removed the queue entry.
    wait_until(lambda: not os.path.exists(os.path.join(cache_b, image_id)), 30,
               message='cleaned on node-b')
    for url in (url_a, url_b):
        assert image_id not in cache_rows(url)
        with nodes.client() as admin:
            queued = admin.get(url + '/v2/cache').json()['queued_images']
        assert image_id not in queued


def test_glance_cache_list_says_which_node_answered(nodes):
    for name, (url, _cache_dir) in nodes.nodes.items():
        with nodes.client() as admin:
            response = admin.get(url + '/v2/cache')
        assert response.status_code == 200
        assert response.headers['X-Image-Cache-Node'] == 'http://%s:9292' % name
        assert set(response.json()) == {'cached_images', 'queued_images'}


def test_the_queue_is_listed_until_the_node_prefetched_it(nodes):
    url_a = nodes.nodes['node-a'][0]
    glance_cli(url_a, 'cache-clear', '--target', 'queue')
    with nodes.client() as admin:
        # A queued image whose store copy is gone stays queued on every node.
        image_id = _image(nodes, disk_images.raw(1000))
        os.unlink(os.path.join(nodes.datadir, image_id))
        response = admin.put(url_a + '/v2/cache/%s' % image_id)
        assert (response.status_code, response.content) == (202, b'')
        assert cache_rows(url_a) == {image_id: 'queued'}
        assert cache_rows(nodes.nodes['node-b'][0]) == {image_id: 'queued'}
        glance_cli(url_a, 'cache-clear', '--target', 'queue')
        assert cache_rows(url_a) == {}


def test_openstacksdk_cache_calls(nodes):
    data = disk_images.raw(MIB)
    image_id = _image(nodes, data)
    url_a, cache_a = nodes.nodes['node-a']
    conn = sdk(url_a)
    conn.image.queue_image(image_id)

    def cached_on_a():
        state = conn.image.get_image_cache()
        return image_id in [image.image_id for image in state.cached_images]

    wait_until(cached_on_a, 30, message='prefetched')
    (entry,) = [image for image in conn.image.get_image_cache().cached_images
                if image.image_id == image_id]
    assert entry.size == len(data)
    assert entry.hits == 0
    conn.image.cache_delete_image(image_id)
    assert not cached_on_a()
    conn.image.clear_cache('both')
    assert conn.image.prune_cache() == {'total_files_pruned': 0,
                                         'total_bytes_pruned': 0}
    conn.image.clean_cache()


def test_glance_cache_prune_and_clean(nodes):
    url_a = nodes.nodes['node-a'][0]
    out = glance_cli(url_a, 'cache-prune').stdout
    assert 'pruned' in out.lower(), out
    result = glance_cli(url_a, 'cache-clean')
    assert result.stderr == ''


def test_clean_removes_invalid_and_stalled_files_and_keeps_recent_ones(nodes):
    # Upstream's own test of POST /v2/cache/clean, and what it may find besides:
    # an entry it cannot remove, and a copy its index does not list.
    url_a, cache_a = nodes.nodes['node-a']
    invalid = os.path.join(cache_a, 'invalid', str(uuid.uuid4()))
    stalled = os.path.join(cache_a, 'incomplete', 'stalled-image-id')
    recent = os.path.join(cache_a, 'incomplete', 'recent-image-id')
    stuck = os.path.join(cache_a, 'incomplete', 'stuck-image-id')
    unindexed = os.path.join(cache_a, str(uuid.uuid4()))
    os.makedirs(os.path.dirname(invalid), exist_ok=True)
    os.mkdir(stuck)
    for path in (invalid, stalled, recent, unindexed):
        with open(path, 'wb') as f:
            f.write(b'cache data')
    two_days_ago = time.time() - 2 * 86400
    for path in (stalled, stuck, unindexed):
        os.utime(path, (two_days_ago, two_days_ago))
    try:
        with nodes.client() as admin:
            response = admin.post(url_a + '/v2/cache/clean')
        assert response.status_code == 200, response.text
        assert not any(os.path.exists(path) for path in (invalid, stalled, unindexed))
        assert os.path.exists(recent)
    finally:
        os.rmdir(stuck)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(recent)


@pytest.mark.parametrize('caller', ['admin', 'member'])
@pytest.mark.parametrize('method, path, status', [
    ('PUT', '/v2/cache/00000000-0000-0000-0000-000000000000', 404),
    ('DELETE', '/v2/cache/00000000-0000-0000-0000-000000000000', 404),
])
def test_unknown_images_are_404(nodes, caller, method, path, status):
    # As upstream, an image that does not exist is 404 before the policy is asked.
    project = deployment_fixture.new_project() if caller == 'member' else None
    with nodes.client(project) as client:
        response = client.request(method, path)
    assert response.status_code == status, response.text
    assert 'not found' in response.json()['message']


def test_only_active_images_can_be_queued(nodes):
    with nodes.client() as admin:
        image = admin.create_image(name='empty')
        response = admin.put('/v2/cache/%s' % image['id'])
    assert response.status_code == 400
    assert response.json()['message'] == ('Only images with status active can be '
                                          'targeted for queueing')


def test_a_bad_clear_target_is_400(nodes):
    with nodes.client() as admin:
        response = admin.delete('/v2/cache',
                                headers={'x-image-cache-clear-target': 'everything'})
    assert response.status_code == 400
    assert 'x-image-cache-clear-target' in response.json()['message']


@pytest.mark.parametrize('visibility', ['public', 'private'])
@pytest.mark.parametrize('method, path', [
    ('GET', '/v2/cache'), ('DELETE', '/v2/cache'),
    ('PUT', '/v2/cache/%s'), ('DELETE', '/v2/cache/%s'),
    ('POST', '/v2/cache/clean'), ('POST', '/v2/cache/prune'),
    ('GET', '/v2/cache/nodes/%s'),
])
def test_the_cache_api_is_for_admins(nodes, method, path, visibility):
    # Whether the member could see the image or not (another project's private
    # one): the policy answers, as upstream, which reads the image as the service.
    image_id = _image(nodes, b'x' * 100, visibility=visibility)
    with nodes.client(deployment_fixture.new_project()) as member:
        response = member.request(method, path.replace('%s', image_id))
    assert response.status_code == 403, response.text
    with nodes.client() as admin:
        assert image_id not in admin.get('/v2/cache').json()['queued_images']


def test_without_a_cache_the_api_is_not_supported(glance):
    with glance.client() as admin:
        response = admin.get('/v2/cache')
    assert response.status_code == 404
    assert response.json()['message'] == ('Caching via API is not supported at this '
                                          'site.')
