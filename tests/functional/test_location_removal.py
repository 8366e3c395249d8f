"""The data of a location removed from a live image is removed for certain:
``DELETE /v2/stores/{store_id}/{image_id}`` or a PATCH ``remove`` whose data the API
could not remove (a store that failed, a worker killed after the registry's commit)
leaves it recorded as still to remove, invisible to every reader, and the sweep
(``glance-scrubber``, and an API worker per node) removes it once nobody holds the
removal, while the image keeps its other location. The same URL given back to the
image is never swept. Real daemons, two file stores and a SQLite database."""

import contextlib
import os
import sqlite3
import threading
import time
import urllib.parse

import pytest

from glance_registry.client import Lease
from glance_registry.client import RegistryClient
from tests.fixtures import deployment as deployment_fixture
from tests.fixtures import disk_images
from tests.fixtures import scrubber
from tests.fixtures import syscalls
from tests.fixtures import tools
from tests.integration.swift_helpers import api_workers
from tests.unit.registry.conftest import ADMIN


@pytest.fixture(scope='module')
def pair(tmp_path_factory):
    """Two file stores, ``a`` (the default) and ``b``; locations and direct_url
    shown; two locations per image. The default grace period: an API worker holds
    each removal for an hour, and never sweeps during these tests (each test's
    sweeps are its scrubbers')."""
    with _two_stores(tmp_path_factory.mktemp('location-removal'),
                     show_image_direct_url=True, image_location_quota=2) as glance:
        yield glance


@contextlib.contextmanager
def _two_stores(workdir, **options):
    """A deployment with the file stores ``a`` (the default) and ``b`` (their
    directories in ``glance.dirs``), locations shown, and the API's ``options``."""
    with deployment_fixture.running(workdir, api_extra={
            'DEFAULT': dict({'enabled_backends': 'a:file, b:file',
                             'show_multiple_locations': True}, **options),
            'glance_store': {'default_backend': 'a'},
            'a': {'filesystem_store_datadir': str(workdir / 'a')},
            'b': {'filesystem_store_datadir': str(workdir / 'b')}}) as glance:
        glance.dirs = {'a': workdir / 'a', 'b': workdir / 'b'}
        yield glance


@pytest.fixture
def project():
    return deployment_fixture.new_project()


@pytest.fixture
def owner(pair, project):
    with pair.client(project) as client:
        yield client


@pytest.fixture
def admin(pair):
    with pair.client() as client:
        yield client


def _registry(glance):
    return RegistryClient(glance.registry.url,
                          glance.registry.config['DEFAULT']['registry_auth_secret'],
                          timeout=30)


def _in_both_stores(pair, client, data):
    """An image uploaded to ``a`` with a copy placed in ``b``; its id and the two
    copies' paths."""
    image = client.create_image()
    assert client.upload(image['id'], data,
                         **{'X-Image-Meta-Store': 'a'}).status_code == 204
    copy = _add_copy(pair, client, image['id'], data)
    return image['id'], str(pair.dirs['a'] / image['id']), copy


def _add_copy(pair, client, image_id, data, name='copy'):
    """A copy of ``data`` placed in ``b`` and added to the image; its path."""
    copy = pair.dirs['b'] / ('%s-%s' % (name, image_id))
    copy.write_bytes(data)
    response = client.patch_image(image_id, [
        {'op': 'add', 'path': '/locations/-',
         'value': {'url': 'file://%s' % copy, 'metadata': {}}}])
    assert response.status_code == 200, response.text
    assert response.json()['stores'] == 'a,b'
    return str(copy)


def _rows(glance, image_id):
    """The image's location rows: ``[(path, status)]``."""
    with sqlite3.connect(glance.database_url[len('sqlite:///'):]) as conn:
        return [(urllib.parse.urlparse(url).path, status) for url, status in
                conn.execute('SELECT url, status FROM image_locations WHERE '
                             'image_id = ? ORDER BY id', (image_id,))]


def _sweep(glance, **options):
    return scrubber.run(glance, deleted_data_grace_time=3600, **options)


def swept(output):
    """The paths whose data a sweep says it removed, once per line."""
    return [line.split('data at file://', 1)[1].split(',', 1)[0]
            for line in output.splitlines()
            if ', taken off the image, deleted, removal confirmed' in line]


def _only_in_a(pair, client, image_id, path_a, data, project):
    """Every reader sees the image with its copy in ``a`` only."""
    image = client.image(image_id)
    assert image['stores'] == 'a'
    assert [location['url'] for location in image['locations']] == ['file://' + path_a]
    assert image['direct_url'] == 'file://' + path_a
    listed = [listed for listed in client.get('/v2/images').json()['images']
              if listed['id'] == image_id]
    assert [item['stores'] for item in listed] == ['a']
    with pair.client() as admin:
        located = admin.get('/v2/images/%s/locations' % image_id)
        assert located.status_code == 200, located.text
        assert [location['url'] for location in located.json()] == ['file://' + path_a]
    assert client.get('/v2/images/%s/file' % image_id).content == data
    assert client.get('/v2/images/%s/file?prefer=b' % image_id).content == data
    registry = _registry(pair)
    try:
        # One copy's bytes count against the project's storage.
        assert registry.usage(ADMIN, project)['image_size_total'] == len(data)
    finally:
        registry.close()


def test_a_copy_a_failing_store_kept_is_swept_and_the_image_stays_whole(
        pair, owner, admin, project):
    data = disk_images.raw(4096)
    image_id, path_a, path_b = _in_both_stores(pair, owner, data)
    # Immutable, the file cannot be unlinked, even by root: the store fails.
    with tools.immutable(path_b):
        assert admin.delete('/v2/stores/b/%s' % image_id).status_code == 204
        assert os.path.exists(path_b)
        assert _rows(pair, image_id) == [(path_a, 'active'),
                                         (path_b, 'pending_delete')]
        _only_in_a(pair, owner, image_id, path_a, data, project)
        # The API gave the removal up: the next sweep takes it, and fails too.
        failing = _sweep(pair)
        assert failing.returncode == 1
        assert 'data left at file://%s' % path_b in failing.stderr
        assert swept(failing.stderr) == []
    # Nor does it count against the image's two locations.
    path_c = _add_copy(pair, owner, image_id, data, name='another')
    cleared = _sweep(pair)
    assert cleared.returncode == 0, cleared.stderr
    assert swept(cleared.stderr) == [path_b]
    assert not os.path.exists(path_b) and os.path.exists(path_c)
    assert _rows(pair, image_id) == [(path_a, 'active'), (path_c, 'active')]
    assert admin.delete('/v2/stores/b/%s' % image_id).status_code == 204
    assert not os.path.exists(path_c)
    _only_in_a(pair, owner, image_id, path_a, data, project)
    again = _sweep(pair)
    assert again.returncode == 0, again.stderr
    assert swept(again.stderr) == []


def test_a_removal_an_api_worker_never_confirmed_is_swept_once_its_lease_ran_out(
        pair, owner, project):
    data = disk_images.raw(4096)
    image_id, path_a, path_b = _in_both_stores(pair, owner, data)
    registry = _registry(pair)
    try:
        # As the API takes it off, then killed (or its registry answer lost)
        # before it removed the data.
        registry.remove_location(ADMIN, image_id, 'file://' + path_b,
                                 removal_lease=Lease('api-killed', 10))
    finally:
        registry.close()
    # Its data may be going: it cannot come back meanwhile.
    refused = owner.patch_image(image_id, [
        {'op': 'add', 'path': '/locations/-',
         'value': {'url': 'file://' + path_b, 'metadata': {}}}])
    assert refused.status_code == 409, refused.text
    assert 'is being removed from its store' in refused.json()['message']
    _only_in_a(pair, owner, image_id, path_a, data, project)
    held = _sweep(pair)
    assert held.returncode == 0, held.stderr
    assert swept(held.stderr) == [] and os.path.exists(path_b)
    deadline = time.monotonic() + 30
    runs = []
    while os.path.exists(path_b):   # swept once the worker's lease runs out
        assert time.monotonic() < deadline, 'never swept'
        time.sleep(0.5)
        result = _sweep(pair)
        assert result.returncode == 0, result.stderr
        runs.append(swept(result.stderr))
    assert runs[-1] == [path_b] and sum(runs, []) == [path_b]
    assert _rows(pair, image_id) == [(path_a, 'active')]
    assert owner.get('/v2/images/%s/file' % image_id).content == data


def test_a_patch_remove_that_fails_is_swept_too(pair, owner, admin, project):
    data = disk_images.raw(4096)
    image_id, path_a, path_b = _in_both_stores(pair, owner, data)
    with tools.immutable(path_b):
        response = admin.patch_image(image_id, [
            {'op': 'remove', 'path': '/locations/1'}])
        assert response.status_code == 200, response.text
        _only_in_a(pair, owner, image_id, path_a, data, project)
    assert swept(_sweep(pair).stderr) == [path_b]
    assert not os.path.exists(path_b)


def test_a_url_given_back_to_its_image_is_never_swept(pair, owner, admin):
    data = disk_images.raw(4096)
    image_id, path_a, path_b = _in_both_stores(pair, owner, data)
    with tools.immutable(path_b):
        assert admin.delete('/v2/stores/b/%s' % image_id).status_code == 204
    # Its removal failed and was given up: the image may have it back.
    response = owner.patch_image(image_id, [
        {'op': 'add', 'path': '/locations/-',
         'value': {'url': 'file://' + path_b, 'metadata': {}}}])
    assert response.status_code == 200, response.text
    assert response.json()['stores'] == 'a,b'
    assert _rows(pair, image_id) == [(path_a, 'active'), (path_b, 'active')]
    result = _sweep(pair)
    assert result.returncode == 0, result.stderr
    assert swept(result.stderr) == []
    with open(path_b, 'rb') as f:
        assert f.read() == data
    assert owner.get('/v2/images/%s/file?prefer=b' % image_id).content == data


def test_a_url_removed_and_added_back_in_one_patch_keeps_its_data(pair, owner,
                                                                    admin):
    data = disk_images.raw(4096)
    image_id, path_a, path_b = _in_both_stores(pair, owner, data)
    response = admin.patch_image(image_id, [
        {'op': 'remove', 'path': '/locations/0'},
        {'op': 'add', 'path': '/locations/-',
         'value': {'url': 'file://' + path_a, 'metadata': {}}}])
    assert response.status_code == 200, response.text
    assert [location['url'] for location in response.json()['locations']] == [
        'file://' + path_b, 'file://' + path_a]
    assert os.path.exists(path_a)
    assert sorted(_rows(pair, image_id)) == sorted([(path_a, 'active'),
                                                    (path_b, 'active')])
    assert swept(_sweep(pair).stderr) == []
    assert owner.get('/v2/images/%s/file?prefer=a' % image_id).content == data


def test_a_delete_from_a_store_confirms_at_once_and_leaves_nothing_to_sweep(
        pair, owner, admin):
    image_id, path_a, path_b = _in_both_stores(pair, owner, disk_images.raw(4096))
    assert admin.delete('/v2/stores/b/%s' % image_id).status_code == 204
    assert not os.path.exists(path_b)
    assert _rows(pair, image_id) == [(path_a, 'active')]


def test_deleting_the_image_removes_the_data_its_removed_copy_left(pair, owner,
                                                                    admin):
    image_id, path_a, path_b = _in_both_stores(pair, owner, disk_images.raw(4096))
    with tools.immutable(path_b):
        assert admin.delete('/v2/stores/b/%s' % image_id).status_code == 204
    assert owner.delete('/v2/images/%s' % image_id).status_code == 204
    assert not os.path.exists(path_a) and not os.path.exists(path_b)
    assert sorted(_rows(pair, image_id)) == sorted([(path_a, 'deleted'),
                                                    (path_b, 'deleted')])


def test_an_api_worker_sweeps_a_failed_removal_by_itself(tmp_path_factory):
    """With no scrubber at all: one API worker per node sweeps."""
    with _two_stores(tmp_path_factory.mktemp('location-removal-api'),
                     deleted_data_grace_time=3600,
                     deleted_data_sweep_interval=1) as glance:
        data = disk_images.raw(4096)
        with glance.client(deployment_fixture.new_project()) as owner, \
                glance.client() as admin:
            image_id, path_a, path_b = _in_both_stores(glance, owner, data)
            with tools.immutable(path_b):
                assert admin.delete('/v2/stores/b/%s' % image_id).status_code == 204
                time.sleep(1.5)   # a sweep or two fail meanwhile
                assert os.path.exists(path_b)
            deadline = time.monotonic() + 30
            # Confirmed once the data is gone.
            while _rows(glance, image_id) != [(path_a, 'active')]:
                assert time.monotonic() < deadline, 'the API never swept'
                time.sleep(0.2)
            assert not os.path.exists(path_b)
            assert owner.get('/v2/images/%s/file' % image_id).content == data
        with open(glance.api.log_path) as log:
            text = log.read()
        assert path_b in swept(text)
        assert 'swept by api-' in text


def test_a_url_cannot_come_back_while_its_remover_deletes_its_data(tmp_path_factory):
    """Even with no grace period at all: the API worker that takes a location off
    holds its removal until the data is gone, so the image cannot take the URL
    back meanwhile and then find its data deleted."""
    with _two_stores(tmp_path_factory.mktemp('location-removal-no-grace'),
                     show_image_direct_url=True, deleted_data_grace_time=0) as glance:
        data = disk_images.raw(4096)
        with glance.client(deployment_fixture.new_project()) as owner, \
                glance.client() as admin:
            image_id, path_a, path_b = _in_both_stores(glance, owner, data)
            deleted = []
            delete = threading.Thread(target=lambda: deleted.append(
                admin.delete('/v2/stores/b/%s' % image_id).status_code))
            # The worker's unlink of the copy waits 3 s: the removal is
            # committed and its data not yet gone.
            with syscalls.delayed(api_workers(glance), ['unlink', 'unlinkat'],
                                  path_b, 3):
                delete.start()
                deadline = time.monotonic() + 30
                while (path_b, 'pending_delete') not in _rows(glance, image_id):
                    assert time.monotonic() < deadline, 'never taken off'
                    time.sleep(0.05)
                given_back = owner.patch_image(image_id, [
                    {'op': 'add', 'path': '/locations/-',
                     'value': {'url': 'file://' + path_b, 'metadata': {}}}])
                delete.join(timeout=60)
            assert deleted == [204]
            assert given_back.status_code == 409, given_back.text
            assert 'is being removed from its store' in given_back.json()['message']
            assert not os.path.exists(path_b)
            _only_in_a(glance, owner, image_id, path_a, data, owner.project)
            assert _rows(glance, image_id) == [(path_a, 'active')]
