"""The image cache in front of the Swift store: a miss fills it in the download's
own pass (one read of the object), once an image is cached the API node serves it
with the Swift proxy stopped, and never serves the copy of an image that was
deactivated meanwhile."""

import hashlib
import os
import uuid

import pytest

from tests.fixtures import deployment
from tests.fixtures import disk_images
from tests.integration.swift_helpers import MiB, swift_store_options, wait_until

pytestmark = pytest.mark.swift


@pytest.fixture(scope='module')
def cached_swift(swift_service, tmp_path_factory):
    workdir = tmp_path_factory.mktemp('swift-cache')
    container = 'glance-%s' % uuid.uuid4().hex[:8]
    options = swift_store_options(swift_service, workdir, container, MiB)
    options['default_store'] = 'swift'
    cache_dir = str(workdir / 'cache')
    with deployment.running(workdir, api_extra={
            'glance_store': options,
            'DEFAULT': {'image_cache_dir': cache_dir, 'log_level': 'DEBUG',
                        'image_cache_max_size': 256 * MiB}}) as glance:
        glance.cache_dir = cache_dir
        yield glance


@pytest.fixture
def swift_down(swift_service):
    """Stop the Swift proxy in the test; it serves again afterwards (the service is
    shared by the session)."""
    yield swift_service.stop_proxy
    swift_service.start_proxy()


def test_a_cached_image_is_served_while_swift_is_down(cached_swift, swift_down):
    data = disk_images.raw(3 * MiB + 17)   # a manifest and four segments
    with cached_swift.client() as admin:
        image = admin.create_image(name='swift-cached')
        assert admin.upload(image['id'], data).status_code == 204
        other = admin.create_image(name='swift-cached-deactivated')
        assert admin.upload(other['id'], data).status_code == 204
        for image_id in (image['id'], other['id']):
            assert admin.get('/v2/images/%s/file' % image_id).content == data
            wait_until(lambda: os.path.exists(os.path.join(cached_swift.cache_dir,
                                                           image_id)), 10)
        assert admin.post('/v2/images/%s/actions/deactivate'
                          % other['id']).status_code == 204

        swift_down()
        response = admin.get('/v2/images/%s/file' % image['id'])
        assert response.status_code == 200
        assert response.content == data
        assert response.headers['Content-MD5'] == hashlib.md5(data).hexdigest()
        response = admin.get('/v2/images/%s/file' % image['id'],
                             headers={'Range': 'bytes=%d-' % (2 * MiB)})
        assert response.status_code == 206
        assert response.content == data[2 * MiB:]
        # Deactivated: the copy is not served, and Swift cannot answer.
        assert admin.get('/v2/images/%s/file' % other['id']).status_code == 503


def _logged(glance, text):
    with open(glance.api.log_path) as log:
        return log.read().count(text)


def test_a_miss_fills_the_cache_with_one_read_of_the_object(cached_swift):
    # Larger than the 16 MiB a fill's writer may fall behind before it reads the
    # rest from Swift itself: the writer only writes, and the md5 is checked
    # afterwards from the file, so the download's read is the only one.
    data = disk_images.raw(40 * MiB + 5)
    with cached_swift.client() as admin:
        image = admin.create_image(name='swift-one-read')
        assert admin.upload(image['id'], data).status_code == 204
        response = admin.get('/v2/images/%s/file' % image['id'])
        assert response.status_code == 200
        assert response.content == data
        filled = 'cache fill: %s (%d bytes), 0 of them read from the store by ' \
                 'the fill itself' % (image['id'], len(data))
        wait_until(lambda: _logged(cached_swift, filled), 30, message='fill logged')
        assert _logged(cached_swift, 'reads the rest of %s from the store'
                       % image['id']) == 0
        assert _logged(cached_swift, 'cache hit: %s' % image['id']) == 0
        response = admin.get('/v2/images/%s/file' % image['id'])
        assert response.content == data
        assert _logged(cached_swift, 'cache hit: %s, %d bytes from offset 0'
                       % (image['id'], len(data))) == 1
