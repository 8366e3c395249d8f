"""GET /v2/cache/nodes/{image_id}: which API nodes hold a cached copy of an image,
asked of any node, with two API nodes on one registry, each with its own cache.

node-a never runs its prefetcher cycle during these tests, so what it is listed
for comes from its reports of each commit and removal alone; node-b runs the cycle
every second, which prefetches the queue and replaces node-b's whole set in the
registry (healing lost reports)."""

import os
import subprocess
import sys
import uuid

import openstack
import pytest

from glance_registry.client import RegistryClient
from glance_registry.client.identity import Identity
from tests.fixtures import deployment as deployment_fixture
from tests.fixtures import disk_images
from tests.fixtures import processes
from tests.integration.swift_helpers import wait_until

BIN = os.path.dirname(sys.executable)
MIB = 1024 * 1024
NODE_A, NODE_B = 'http://node-a:9292', 'http://node-b:9292'
ADMIN = Identity(None, None, ('admin',), is_admin=True)


@pytest.fixture(scope='module')
def nodes(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('cache-nodes')

    def cache_options(name, interval, max_size):
        return {'DEFAULT': {'image_cache_dir': str(workdir / ('cache-' + name)),
                            'cache_prefetcher_interval': interval,
                            'image_cache_max_size': max_size,
                            'worker_self_reference_url': 'http://%s:9292' % name}}

    with deployment_fixture.running(
            workdir, api_extra=cache_options('node-a', 3600, 5 * MIB)) as glance:
        second_dir = workdir / 'second'
        second_dir.mkdir()
        second = processes.api_daemon(
            str(second_dir), glance.registry.port,
            glance.api.config['DEFAULT']['registry_auth_secret'], glance.datadir,
            extra=cache_options('node-b', 1, 100 * MIB)).start()
        try:
            glance.url_a, glance.url_b = glance.url, second.url
            glance.cache_a = str(workdir / 'cache-node-a')
            yield glance
        finally:
            second.stop()


def _image(glance, size=MIB, **attributes):
    with glance.client() as admin:
        image = admin.create_image(name='cached', **attributes)
        assert admin.upload(image['id'], disk_images.raw(size)).status_code == 204
    return image['id']


def _download(glance, url, image_id):
    with glance.client() as admin:
        response = admin.get(url + '/v2/images/%s/file' % image_id)
    assert response.status_code == 200


def _nodes(glance, url, image_id):
    with glance.client() as admin:
        response = admin.get(url + '/v2/cache/nodes/%s' % image_id)
    assert response.status_code == 200, response.text
    assert response.headers['Content-Type'] == 'application/json'
    return response.json()


def _listed(glance, image_id, expected):
    """Wait until both nodes answer ``expected`` for ``image_id``."""
    for url in (glance.url_a, glance.url_b):
        wait_until(lambda: _nodes(glance, url, image_id) == expected, 30,
                   message='%s lists %s for %s' % (url, expected, image_id))


def _registry(glance):
    return RegistryClient(glance.registry.url,
                          glance.registry.config['DEFAULT']['registry_auth_secret'],
                          timeout=30)


def test_an_image_no_node_holds_lists_no_node(nodes):
    image_id = _image(nodes)
    for url in (nodes.url_a, nodes.url_b):
        assert _nodes(nodes, url, image_id) == []


def test_downloads_list_each_node_that_cached_the_image_until_it_removes_it(nodes):
    image_id = _image(nodes)
    _download(nodes, nodes.url_a, image_id)
    _listed(nodes, image_id, [NODE_A])
    _download(nodes, nodes.url_b, image_id)
    _listed(nodes, image_id, [NODE_A, NODE_B])
    with nodes.client() as admin:
        assert admin.delete(nodes.url_b + '/v2/cache/%s' % image_id).status_code == 204
        # The call waited for its report: the next question sees it at once.
        assert _nodes(nodes, nodes.url_a, image_id) == [NODE_A]
        response = admin.delete(nodes.url_a + '/v2/cache',
                                headers={'x-image-cache-clear-target': 'cache'})
        assert response.status_code == 204
        assert _nodes(nodes, nodes.url_b, image_id) == []


def test_a_prefetched_image_lists_the_node_that_prefetched_it(nodes):
    image_id = _image(nodes)
    with nodes.client() as admin:
        assert admin.put(nodes.url_a + '/v2/cache/%s' % image_id).status_code == 202
        _listed(nodes, image_id, [NODE_B])   # node-a does not prefetch here
        admin.delete(nodes.url_b + '/v2/cache/%s' % image_id)   # and the queue entry
    assert _nodes(nodes, nodes.url_a, image_id) == []


def test_an_evicted_copy_is_no_longer_listed(nodes):
    first, second = _image(nodes, 3 * MIB), _image(nodes, 3 * MIB)
    _download(nodes, nodes.url_a, first)
    _listed(nodes, first, [NODE_A])
    _download(nodes, nodes.url_a, second)   # 6 MiB > node-a's 5: evicts the first
    _listed(nodes, second, [NODE_A])
    _listed(nodes, first, [])
    assert not os.path.exists(os.path.join(nodes.cache_a, first))
    with nodes.client() as admin:
        admin.delete(nodes.url_a + '/v2/cache/%s' % second)


def test_the_pruner_unlists_what_it_pruned(nodes, tmp_path):
    image_id = _image(nodes)
    _download(nodes, nodes.url_a, image_id)
    _listed(nodes, image_id, [NODE_A])
    lowered = tmp_path / 'lowered.conf'
    lowered.write_text('[DEFAULT]\nimage_cache_max_size = 1000\n')
    result = subprocess.run([os.path.join(BIN, 'glance-cache-pruner'),
                             '--config-file', nodes.api.config_path,
                             '--config-file', str(lowered)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'pruned 0 ' not in result.stdout and 'pruned ' in result.stdout
    assert _nodes(nodes, nodes.url_b, image_id) == []


def test_deleting_an_image_unlists_every_nodes_copy(nodes):
    image_id = _image(nodes)
    _download(nodes, nodes.url_a, image_id)
    _download(nodes, nodes.url_b, image_id)
    _listed(nodes, image_id, [NODE_A, NODE_B])
    with nodes.client() as admin:
        assert admin.delete(nodes.url_a + '/v2/images/%s' % image_id).status_code == 204
        response = admin.get(nodes.url_b + '/v2/cache/nodes/%s' % image_id)
    assert response.status_code == 404
    # node-b still has its file until its cleaner runs, but the registry lists it
    # for no node from the delete on.
    assert _registry(nodes).list_cache_nodes(ADMIN, image_id) == []


def test_the_prefetcher_cycle_heals_lost_reports(nodes):
    held, not_held = _image(nodes), _image(nodes)
    _download(nodes, nodes.url_b, held)
    _listed(nodes, held, [NODE_B])
    registry = _registry(nodes)
    # As if node-b's report of a removal, and of a commit, had been lost.
    registry.report_cache_copies(ADMIN, NODE_B, held=[not_held], dropped=[held])
    assert _nodes(nodes, nodes.url_a, held) == []
    _listed(nodes, held, [NODE_B])
    _listed(nodes, not_held, [])


@pytest.mark.parametrize('image_id', [str(uuid.uuid4()), 'not-a-uuid'],
                         ids=['unknown', 'not_a_uuid'])
def test_an_unknown_image_is_404(nodes, image_id):
    with nodes.client() as admin:
        response = admin.get('/v2/cache/nodes/%s' % image_id)
    assert response.status_code == 404, response.text
    assert 'No image found with ID %s' % image_id in response.json()['message']


def test_listing_cached_nodes_is_for_admins(nodes):
    image_id = _image(nodes, 1000, visibility='public')
    with nodes.client(deployment_fixture.new_project()) as member:
        response = member.get('/v2/cache/nodes/%s' % image_id)
    assert response.status_code == 403, response.text


def test_glance_cache_nodes_list_and_openstacksdk(nodes):
    image_id = _image(nodes)
    _download(nodes, nodes.url_b, image_id)
    _listed(nodes, image_id, [NODE_B])
    result = subprocess.run(
        [os.path.join(BIN, 'glance'), 'cache-nodes-list', image_id],
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, OS_IMAGE_URL=nodes.url_a, OS_AUTH_TOKEN='none'))
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Node Reference URL' in result.stdout
    assert NODE_B in result.stdout and NODE_A not in result.stdout
    conn = openstack.connect(auth_type='none', load_envvars=False,
                             image_endpoint_override=nodes.url_a)
    assert conn.image.cached_image_nodes(image_id) == [NODE_B]


def test_without_a_cache_listing_nodes_is_not_supported(glance):
    with glance.client() as admin:
        image = admin.create_image(name='uncached')
        response = admin.get('/v2/cache/nodes/%s' % image['id'])
    assert response.status_code == 404
    assert response.json()['message'] == ('Caching via API is not supported at this '
                                          'site.')


def test_a_restarted_node_reports_the_copies_the_registry_did_not_know(nodes):
    """Copies cached before an upgrade brought cache_copies (or whose reports were
    lost as the node stopped) are listed as soon as the node starts, not one
    whole cache_prefetcher_interval later (node-a's is an hour)."""
    image_id = _image(nodes)
    _download(nodes, nodes.url_a, image_id)
    _listed(nodes, image_id, [NODE_A])
    nodes.api.stop()
    # As a registry older than migration 18 left it: no row for node-a's copy.
    _registry(nodes).report_cache_copies(ADMIN, NODE_A, dropped=[image_id])
    assert _nodes(nodes, nodes.url_b, image_id) == []
    nodes.api.start()
    _listed(nodes, image_id, [NODE_A])
