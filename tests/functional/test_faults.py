"""Faults outside the API process: the registry going away and coming back."""

import hashlib
import re
import threading
import time

import pytest

from tests.fixtures import databases as databases_module
from tests.fixtures import deployment
from tests.fixtures import disk_images
from tests.fixtures.databases import databases  # noqa: F401 (a fixture)
from tests.fixtures.raw_http import RawUpload
from tests.integration.swift_helpers import wait_until


@pytest.fixture
def fragile(tmp_path):
    """A deployment of its own, since these tests stop its registry."""
    with deployment.running(tmp_path) as glance:
        yield glance


def test_registry_down_answers_503_json_and_recovers(fragile):
    with fragile.client(deployment.new_project()) as client:
        image = client.create_image(name='survivor')
        fragile.registry.stop()
        for response in (client.get('/v2/images'),
                         client.get('/v2/images/%s' % image['id']),
                         client.post('/v2/images', json={'name': 'x'}),
                         client.upload(image['id'], b'data')):
            assert response.status_code == 503, response.text
            body = response.json()
            assert body['code'] == '503 Service Unavailable'
            # The reason (connection refused, which address) is for the log.
            assert body['message'] == ('The image registry is not available; try '
                                       'again later.'), body
        fragile.registry.start()
        assert client.image(image['id'])['name'] == 'survivor'
        assert client.image(image['id'])['status'] == 'queued'
        assert client.upload(image['id'], b'data').status_code == 204


def test_an_upload_that_ends_while_the_registry_restarts_is_published(fragile):
    """Registries are restarted while the APIs serve (an upgrade: ``db sync``, the
    registries, then the APIs). An upload whose last byte arrives while no registry
    listens waits for it to come back and is published: a refused connection
    delivered nothing, so trying again is safe. It used to fail with 503 and hold
    its image in ``saving`` for ``upload_lease_time``."""
    data = disk_images.raw(1024 * 1024)
    with fragile.client(deployment.new_project()) as client:
        image = client.create_image()
        upload = RawUpload(fragile.url, image['id'], content_length=len(data))
        try:
            assert upload.send(data[:-1])
            wait_until(lambda: client.image(image['id'])['status'] == 'saving', 30,
                       message='the upload to claim the image')
            fragile.registry.stop()
            restart = threading.Timer(2, fragile.registry.start)
            restart.start()
            started = time.monotonic()
            assert upload.send(data[-1:])
            status, _, body = upload.response()
            restart.join()
        finally:
            upload.close()
        assert status == 204, body
        assert time.monotonic() - started > 2   # it waited for the registry
        published = client.image(image['id'])
        assert published['status'] == 'active'
        assert published['checksum'] == hashlib.md5(data).hexdigest()
        assert client.get('/v2/images/%s/file' % image['id']).content == data


def test_an_upload_that_ends_in_a_longer_registry_outage_answers_503_in_time(
        tmp_path):
    """An upload's end waits for the registry no longer than
    ``registry_client_timeout`` in all: then 503, its image held as a dead
    upload's (the registry cannot be told otherwise)."""
    data = disk_images.raw(64 * 1024)
    with deployment.running(tmp_path, api_extra={
            'DEFAULT': {'registry_client_timeout': 3}}) as glance, \
            glance.client(deployment.new_project()) as client:
        image = client.create_image()
        upload = RawUpload(glance.url, image['id'], content_length=len(data))
        try:
            assert upload.send(data[:-1])
            wait_until(lambda: client.image(image['id'])['status'] == 'saving', 30,
                       message='the upload to claim the image')
            glance.registry.stop()
            started = time.monotonic()
            assert upload.send(data[-1:])
            status, _, body = upload.response()
            waited = time.monotonic() - started
        finally:
            upload.close()
        assert status == 503, body
        assert body['message'] == ('The image registry is not available; try again '
                                   'later.')
        assert 3 <= waited < 5
        glance.registry.start()
        assert client.image(image['id'])['status'] == 'saving'


def _allow_connections(database_url, allowed):
    """Let the PostgreSQL database take connections, or refuse them and end those
    it has: what a failover or a restart of its server looks like."""
    name = database_url.rsplit('/', 1)[1]
    admin = databases_module.admin_connection('postgresql')
    with admin.cursor() as cursor:
        cursor.execute('ALTER DATABASE %s ALLOW_CONNECTIONS %s'
                       % (name, 'true' if allowed else 'false'))
        if not allowed:
            cursor.execute('SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
                           'WHERE datname = %s', (name,))
    admin.close()


@pytest.mark.postgresql
def test_an_upload_that_ends_while_the_database_is_down_is_published(databases,
                                                                      tmp_path):
    """A database failover of a few seconds as an upload ends: its publication
    (the registry answers 503, the database is unavailable) is tried again until
    the database is back. It used to fail with 503 and hold its image in
    ``saving`` for ``upload_lease_time``."""
    url = databases.create('postgresql')
    data = disk_images.raw(1024 * 1024)
    with deployment.running(tmp_path, database_url=url) as glance, \
            glance.client(deployment.new_project()) as client:
        image = client.create_image()
        upload = RawUpload(glance.url, image['id'], content_length=len(data))
        try:
            assert upload.send(data[:-1])
            wait_until(lambda: client.image(image['id'])['status'] == 'saving', 30,
                       message='the upload to claim the image')
            _allow_connections(url, False)
            back = threading.Timer(2, _allow_connections, (url, True))
            back.start()
            try:
                assert upload.send(data[-1:])
                status, _, body = upload.response()
            finally:
                back.join()
                _allow_connections(url, True)
        finally:
            upload.close()
        assert status == 204, body
        published = client.image(image['id'])
        assert published['status'] == 'active'
        assert published['checksum'] == hashlib.md5(data).hexdigest()


def test_background_work_says_in_one_line_that_the_registry_is_down(tmp_path):
    """The node's periodic work (the sweep of deleted images' data, the image
    cache's passes) finds the registry down at every restart: a WARNING line that
    says so and when it is tried again, not an ERROR with a traceback each time."""
    with deployment.running(tmp_path, api_extra={'DEFAULT': {
            'deleted_data_sweep_interval': 1, 'cache_prefetcher_interval': 1,
            'image_cache_dir': str(tmp_path / 'cache')}}) as glance:
        glance.registry.stop()
        time.sleep(3)
        log = glance.api.log_tail(400)
        glance.registry.start()
    assert 'Traceback' not in log, log
    for duty in ('deleted-data-sweeper', 'image cache prefetch',
                 'image cache report_copies'):
        assert re.search(r' WARNING \S+ \[-\] %s: the registry is not available, '
                         r'tried again at the next run: registry unreachable at '
                         % duty, log), log


def test_registry_refuses_an_api_with_the_wrong_secret(tmp_path):
    with deployment.running(tmp_path, api_extra={
            'DEFAULT': {'registry_auth_secret': 'not-the-registry-secret'}}) as glance:
        with glance.client() as client:
            response = client.get('/v2/images')
            assert response.status_code == 503
            assert 'registry' in response.json()['message']
