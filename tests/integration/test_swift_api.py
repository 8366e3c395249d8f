"""The Swift store through the public API: a 1 GiB image in segments, checksums, a
range across a segment boundary, delete, and a Swift that is down or dies mid-upload.

One registry + API deployment whose only store is the suite's Swift
(``default_store = swift``), with 64 MiB segments so that 1 GiB is sixteen of them.
What is in Swift is always checked with python-swiftclient directly, never through
the store under test.
"""

import hashlib
import uuid

import pytest

from tests.fixtures import deployment
from tests.fixtures import skips
from tests.fixtures.raw_http import RawUpload
from tests.integration.swift_helpers import (
    CLOSE, MiB, api_workers, digests_of_download, objects_of, pattern_bytes,
    pattern_chunk, pattern_chunks, peak_rss, reset_peak_rss, rss, swift_store_options,
    wait_until)

pytestmark = pytest.mark.swift

SEGMENT = 64 * MiB
GiB = 1024 * MiB
# What a streaming upload or download may add to an API worker's memory: a few 1 MiB
# chunks in queues, never a segment (64 MiB), let alone the image.
WORKER_RSS_GROWTH_LIMIT = 48 * MiB


class SwiftGlance:
    """The deployment, the Swift behind it and the container its store uses."""

    def __init__(self, glance, swift, container):
        self.glance = glance
        self.swift = swift
        self.container = container
        self.conn = swift.connection()

    def objects_of(self, image_id):
        return objects_of(self.conn, self.container, image_id)


@pytest.fixture(scope='module')
def swift_glance(swift_service, tmp_path_factory):
    workdir = tmp_path_factory.mktemp('swift-glance')
    container = 'glance-%s' % uuid.uuid4().hex[:8]
    options = swift_store_options(swift_service, workdir, container, SEGMENT)
    options['default_store'] = 'swift'
    with deployment.running(workdir, api_extra={'glance_store': options}) as glance:
        yield SwiftGlance(glance, swift_service, container)


@pytest.fixture
def admin(swift_glance):
    with swift_glance.glance.client() as client:
        yield client


@pytest.fixture
def swift_down(swift_service):
    """Stop the Swift proxy in the test; it is serving again afterwards whatever
    happened (the service is shared by the session)."""
    yield swift_service.stop_proxy
    swift_service.start_proxy()


def upload(client, image_id, data, **headers):
    headers.setdefault('Content-Type', 'application/octet-stream')
    return client.put('/v2/images/%s/file' % image_id, data=data, headers=headers,
                      timeout=300)


def assert_unavailable(swift_glance, status, headers, body):
    """A 503 in upstream's JSON shape that does not tell the client where the
    backend is."""
    assert status == 503, body
    assert headers.get('Content-Type', '').startswith('application/json')
    assert body['code'] == '503 Service Unavailable'
    for detail in (str(swift_glance.swift.ports['proxy']), swift_glance.container,
                   'AUTH_'):
        assert detail not in body['message']


# -- a 1 GiB image in segments -----------------------------------------------------------

@pytest.fixture(scope='module')
def gib_image(swift_glance):
    """A 1 GiB image uploaded with chunked transfer encoding from a generator (the
    client never holds more than a chunk), and the API workers' peak memory during
    the upload."""
    client = swift_glance.glance.client()
    image = client.create_image(name='one-gib')
    workers = api_workers(swift_glance.glance)
    before = [rss(pid) for pid in workers]
    measured = reset_peak_rss(workers)
    response = upload(client, image['id'], pattern_chunks(GiB))
    assert response.status_code == 204, response.text
    growth = ([peak_rss(pid) - start for pid, start in zip(workers, before)]
              if measured else None)
    return client.image(image['id']), growth


def test_gib_upload_is_sixteen_segments_and_a_manifest(swift_glance, gib_image):
    image, _ = gib_image
    assert (image['status'], image['size']) == ('active', GiB)
    names = swift_glance.objects_of(image['id'])
    assert names[0] == image['id']
    segments = names[1:]
    assert len(segments) == GiB // SEGMENT
    upload_id = segments[0].split('-')[-2]
    assert segments == ['%s-%s-%05d' % (image['id'], upload_id, n)
                        for n in range(1, GiB // SEGMENT + 1)]
    headers = swift_glance.conn.head_object(swift_glance.container, image['id'])
    assert headers['x-static-large-object'].lower() == 'true'
    assert int(headers['content-length']) == GiB


def test_gib_upload_streams_in_bounded_memory(gib_image):
    _, growth = gib_image
    if growth is None:
        skips.unavailable('/proc/<pid>/clear_refs', 'cannot reset the API workers\' '
                          'peak memory (VmHWM) to measure an upload')
    assert max(growth) < WORKER_RSS_GROWTH_LIMIT, growth


@pytest.fixture(scope='module')
def gib_download(swift_glance, gib_image):
    """The 1 GiB image downloaded once, streamed: the response, the digests of what
    came, and the API workers' peak memory growth meanwhile (None if unmeasurable)."""
    image, _ = gib_image
    workers = api_workers(swift_glance.glance)
    before = [rss(pid) for pid in workers]
    measured = reset_peak_rss(workers)
    with swift_glance.glance.client() as client:
        response = client.get('/v2/images/%s/file' % image['id'], stream=True,
                              timeout=300)
        digests = digests_of_download(response, GiB)
    growth = ([peak_rss(pid) - start for pid, start in zip(workers, before)]
              if measured else None)
    return response, digests, growth


def test_gib_download_matches_the_image_checksums(gib_image, gib_download):
    image, _ = gib_image
    response, (md5, sha512, same_bytes), _ = gib_download
    assert response.status_code == 200
    assert response.headers['Content-Length'] == str(GiB)
    assert response.headers['Content-MD5'] == image['checksum']
    assert image['os_hash_algo'] == 'sha512'
    assert (md5, sha512) == (image['checksum'], image['os_hash_value'])
    assert same_bytes   # and so the checksums are those of the bytes the client sent


def test_gib_download_streams_in_bounded_memory(gib_download):
    """The workers never hold a segment (64 MiB) of the image being sent."""
    _, _, growth = gib_download
    if growth is None:
        skips.unavailable('/proc/<pid>/clear_refs', 'cannot reset the API workers\' '
                          'peak memory (VmHWM) to measure a download')
    assert max(growth) < WORKER_RSS_GROWTH_LIMIT, growth


def test_range_across_a_segment_boundary(admin, gib_image):
    image, _ = gib_image
    for boundary in (SEGMENT, 15 * SEGMENT):
        first, last = boundary - 1000, boundary + 999
        response = admin.get('/v2/images/%s/file' % image['id'],
                             headers={'Range': 'bytes=%d-%d' % (first, last)})
        assert response.status_code == 206
        assert response.headers['Content-Range'] == 'bytes %d-%d/%d' % (
            first, last, GiB)
        assert response.content == pattern_bytes(first, 2000)


def test_delete_removes_the_manifest_and_every_segment(swift_glance, admin):
    image = admin.create_image()
    size = 2 * SEGMENT + 12345
    assert upload(admin, image['id'], pattern_chunks(size)).status_code == 204
    assert len(swift_glance.objects_of(image['id'])) == 1 + 3
    assert admin.delete('/v2/images/%s' % image['id']).status_code == 204
    assert swift_glance.objects_of(image['id']) == []


def test_small_image_of_declared_size_is_one_object(swift_glance, admin):
    image = admin.create_image()
    data = pattern_bytes(0, 200 * 1024)   # below the 0.25 MB large object size
    response = upload(admin, image['id'], data,
                      **{'x-openstack-image-size': str(len(data))})
    assert response.status_code == 204, response.text
    assert swift_glance.objects_of(image['id']) == [image['id']]
    headers = swift_glance.conn.head_object(swift_glance.container, image['id'])
    assert headers['etag'] == hashlib.md5(data).hexdigest()
    assert admin.get('/v2/images/%s/file' % image['id']).content == data


def test_small_image_of_known_content_length_is_one_object(swift_glance, admin):
    """As upstream, the Content-Length is the size the store is told: below
    swift_store_large_object_size the image is one object, not a manifest and a
    segment."""
    image = admin.create_image()
    data = pattern_bytes(0, 100 * 1024)
    response = upload(admin, image['id'], data)   # Content-Length, no size header
    assert response.status_code == 204, response.text
    assert swift_glance.objects_of(image['id']) == [image['id']]
    headers = swift_glance.conn.head_object(swift_glance.container, image['id'])
    assert 'x-static-large-object' not in headers
    assert headers['etag'] == admin.image(image['id'])['checksum'] == \
        hashlib.md5(data).hexdigest()
    assert admin.get('/v2/images/%s/file' % image['id']).content == data


def test_client_gone_mid_body_of_known_length_leaves_no_object(swift_glance, admin):
    """A client that closes its connection before sending its Content-Length leaves
    the image queued and nothing in Swift (the single PUT is aborted, not
    completed with fewer bytes)."""
    image = admin.create_image()
    raw = RawUpload(swift_glance.glance.url, image['id'], content_length=200 * 1024)
    try:
        assert raw.send(pattern_bytes(0, 150 * 1024))
        wait_until(lambda: admin.image(image['id'])['status'] == 'saving', 10,
                   message='the upload to claim the image')
    finally:
        raw.close()
    wait_until(lambda: admin.image(image['id'])['status'] == 'queued', 30,
               message='the image queued again')
    assert swift_glance.objects_of(image['id']) == []


# -- Swift down --------------------------------------------------------------------------

def test_upload_while_swift_is_down_is_503_and_keeps_the_image_queued(
        swift_glance, admin, swift_down):
    image = admin.create_image()
    swift_down()
    response = upload(admin, image['id'], pattern_bytes(0, 256 * 1024), **CLOSE)
    assert_unavailable(swift_glance, response.status_code, response.headers,
                       response.json())
    assert admin.image(image['id'])['status'] == 'queued'
    swift_glance.swift.start_proxy()
    assert swift_glance.objects_of(image['id']) == []
    response = upload(admin, image['id'], pattern_chunks(3 * MiB))
    assert response.status_code == 204, response.text
    assert admin.image(image['id'])['status'] == 'active'


def test_without_the_start_probe_the_api_starts_while_swift_is_down(
        swift_service, swift_down, tmp_path):
    # As upstream's: a Swift that is down is no bad configuration. The API
    # starts, answers 503 for its data until Swift is back, then serves it.
    # (With probe_stores_on_start, the default, the start fails at once.)
    container = 'glance-%s' % uuid.uuid4().hex[:8]
    options = swift_store_options(swift_service, tmp_path, container, SEGMENT)
    options['default_store'] = 'swift'
    swift_down()
    with deployment.running(tmp_path, api_extra={
            'glance_store': options,
            'DEFAULT': {'probe_stores_on_start': False}}) as glance, \
            glance.client() as admin:
        with open(glance.api.log_path) as log:
            assert 'cannot be prepared' in log.read()
        image = admin.create_image()
        response = upload(admin, image['id'], pattern_bytes(0, 1024), **CLOSE)
        assert response.status_code == 503, response.text
        assert admin.image(image['id'])['status'] == 'queued'
        swift_service.start_proxy()
        data = pattern_bytes(0, 3 * MiB)
        assert upload(admin, image['id'], data).status_code == 204
        assert admin.get('/v2/images/%s/file' % image['id']).content == data


def test_download_while_swift_is_down_is_503(swift_glance, admin, swift_down):
    image = admin.create_image()
    data = pattern_bytes(0, 3 * MiB)
    assert upload(admin, image['id'], data).status_code == 204
    swift_down()
    response = admin.get('/v2/images/%s/file' % image['id'])
    assert_unavailable(swift_glance, response.status_code, response.headers,
                       response.json())
    swift_glance.swift.start_proxy()
    assert admin.get('/v2/images/%s/file' % image['id']).content == data
    assert admin.image(image['id'])['status'] == 'active'


def test_swift_proxy_killed_mid_upload_leaves_nothing_and_can_be_retried(
        swift_glance, admin, swift_down):
    """503 with a JSON error, the image back to ``queued``, none of its segments left
    once Swift is back, and the upload can be tried again."""
    image = admin.create_image()
    raw = RawUpload(swift_glance.glance.url, image['id'])
    try:
        chunks = (pattern_chunk(n) for n in range(GiB // MiB))
        # Until the first segment is in Swift and the second is being written.
        while not (raw.sent > SEGMENT + 8 * MiB
                   and len(swift_glance.objects_of(image['id'])) >= 1):
            assert raw.send(next(chunks)), 'the API answered before Swift died'
        assert admin.image(image['id'])['status'] == 'saving'
        swift_down()
        for chunk in chunks:   # the API notices at its next write to Swift
            if not raw.send(chunk):
                break
        status, headers, body = raw.response()
    finally:
        raw.close()
    assert_unavailable(swift_glance, status, headers, body)
    assert raw.sent < GiB
    assert admin.image(image['id'])['status'] == 'queued'

    swift_glance.swift.start_proxy()
    wait_until(lambda: swift_glance.objects_of(image['id']) == [], timeout=60,
               message='segments of the failed upload removed')

    size = SEGMENT + 5 * MiB
    response = upload(admin, image['id'], pattern_chunks(size))
    assert response.status_code == 204, response.text
    image = admin.image(image['id'])
    assert (image['status'], image['size']) == ('active', size)
    response = admin.get('/v2/images/%s/file' % image['id'], stream=True)
    md5, sha512, same_bytes = digests_of_download(response, size)
    assert (md5, sha512, same_bytes) == (image['checksum'], image['os_hash_value'],
                                         True)
    assert len(swift_glance.objects_of(image['id'])) == 1 + 2


def test_swift_proxy_killed_mid_single_object_upload_leaves_nothing(
        swift_glance, admin, swift_down):
    """An upload of known size below the large object size is one PUT: Swift dying
    during it is a 503, the image queued again and no object in Swift, and the
    upload can be retried."""
    image = admin.create_image()
    size = 200 * 1024
    raw = RawUpload(swift_glance.glance.url, image['id'], content_length=size)
    try:
        assert raw.send(pattern_bytes(0, 100 * 1024))
        wait_until(lambda: admin.image(image['id'])['status'] == 'saving', 10,
                   message='the upload to claim the image')
        swift_down()
        raw.send(pattern_bytes(100 * 1024, size - 100 * 1024))
        status, headers, body = raw.response()
    finally:
        raw.close()
    assert_unavailable(swift_glance, status, headers, body)
    assert admin.image(image['id'])['status'] == 'queued'
    swift_glance.swift.start_proxy()
    assert swift_glance.objects_of(image['id']) == []
    data = pattern_bytes(0, size)
    assert upload(admin, image['id'], data).status_code == 204
    assert swift_glance.objects_of(image['id']) == [image['id']]
    assert admin.get('/v2/images/%s/file' % image['id']).content == data


# -- single-store discovery --------------------------------------------------------------

def test_single_store_has_no_store_discovery_and_ignores_the_store_header(
        admin, swift_glance):
    assert admin.get('/v2/info/stores').status_code == 404
    assert admin.get('/v2/info/stores/detail').status_code == 404
    versions = [v['id'] for v in admin.get('/versions').json()['versions']]
    assert 'v2.9' in versions
    assert not {'v2.8', 'v2.10', 'v2.11', 'v2.12', 'v2.13'} & set(versions)
    image = admin.create_image()
    assert 'OpenStack-image-store-ids' not in admin.post(
        '/v2/images', json={'name': 'x'}).headers
    assert upload(admin, image['id'], b'data',
                  **{'X-Image-Meta-Store': 'nowhere'}).status_code == 204
    assert 'stores' not in admin.image(image['id'])
