"""The Swift driver beyond the conformance suite: names, containers, large objects,
failures and their mapping to ``stores.errors``, against a real Swift."""

import hashlib
import math
import threading
import time
import tracemalloc
import uuid

import pytest
import swiftclient

from stores import Credentials, errors
from stores import swift as swift_driver
from tests.unit.stores.conftest import MiB, build_store, payload, write_image
from tests.unit.stores.faults import FaultyProxy

pytestmark = pytest.mark.swift

SEGMENT = 256 * 1024


def swift_put_threads():
    return [t for t in threading.enumerate() if t.name.startswith('swift-put-')]


# -- names and locations ---------------------------------------------------------------

def test_small_image_is_one_object_named_after_the_image(swift_harness):
    image_id = str(uuid.uuid4())
    data = payload(1000)
    stored = write_image(swift_harness.store, data, image_id=image_id, size=len(data))
    assert stored.url == 'swift+config://ref1/%s/%s' % (swift_harness.container, image_id)
    assert swift_harness.backend_names() == [image_id]
    headers, stored_bytes = swift_harness.admin.get_object(swift_harness.container,
                                                            image_id)
    assert 'x-static-large-object' not in headers
    assert stored_bytes == data
    # The checksum is Swift's etag (not computed again), and is the data's md5.
    assert stored.checksum == headers['etag'] == hashlib.md5(data).hexdigest()
    assert stored.multihash == hashlib.sha512(data).hexdigest()


@pytest.mark.parametrize('declared', [True, False], ids=['size-given', 'size-unknown'])
def test_large_image_is_segments_and_a_manifest(swift_harness, declared):
    image_id = str(uuid.uuid4())
    data = payload(4 * SEGMENT + 100)   # above the harness's 1 MB large_object_size
    write_image(swift_harness.store, data, image_id=image_id,
                size=len(data) if declared else None)
    names = swift_harness.backend_names()
    assert names[0] == image_id
    segments = names[1:]
    assert len(segments) == math.ceil(len(data) / SEGMENT)
    upload_id = segments[0].split('-')[-2]
    assert segments == ['%s-%s-%05d' % (image_id, upload_id, n)
                        for n in range(1, len(segments) + 1)]
    container = swift_harness.container
    headers = swift_harness.admin.head_object(container, image_id)
    assert headers['x-static-large-object'] == 'True'
    sizes = [int(swift_harness.admin.head_object(container, name)['content-length'])
             for name in segments]
    assert sizes == [SEGMENT] * 4 + [100]


def test_size_below_large_object_size_is_one_put_even_if_big_for_a_segment(swift_harness):
    image_id = str(uuid.uuid4())
    data = payload(3 * SEGMENT)   # several segments' worth, below 1 MB
    write_image(swift_harness.store, data, image_id=image_id, size=len(data))
    assert swift_harness.backend_names() == [image_id]


def test_container_seed_spreads_images_over_containers(swift_harness):
    store = swift_harness.make_store(swift_store_multiple_containers_seed=3,
                                     swift_store_create_container_on_put=True)
    prefix = swift_harness.container
    image_id = 'AbCdef12-3456-7890-abcd-ef1234567890'
    assert store.container_for(image_id) == prefix + '_abc'
    assert swift_harness.make_store(
        swift_store_multiple_containers_seed=9).container_for(image_id) \
        == prefix + '_abcdef12-3'   # upstream counts the dash in
    stored = write_image(store, b'seeded', image_id=image_id, size=6)
    assert stored.url == 'swift+config://ref1/%s_abc/%s' % (prefix, image_id)
    try:
        assert swift_harness.backend_names(prefix + '_abc') == [image_id]
        assert store.open_reader(stored.url).size == 6
    finally:
        store.delete(stored.url)
        swift_harness.admin.delete_container(prefix + '_abc')


def test_a_store_writes_only_at_its_own_reference_and_container(swift_harness):
    """Legacy locations (recorded without a store) belong to the Swift store that
    writes there, not to another on the same account that can only read them."""
    ours = swift_harness.store
    neighbour = swift_harness.make_store(
        swift_store_container='other-%s' % uuid.uuid4().hex[:8],
        swift_store_create_container_on_put=True)
    image_id = str(uuid.uuid4())
    url = 'swift+config://ref1/%s/%s' % (swift_harness.container, image_id)
    assert ours.owns(url) and neighbour.owns(url)
    assert ours.writes_at(url) and not neighbour.writes_at(url)
    assert ours.writes_at(write_image(ours, b'written', image_id=image_id).url)
    seeded = swift_harness.make_store(swift_store_multiple_containers_seed=3,
                                      swift_store_create_container_on_put=True)
    assert seeded.writes_at('swift+config://ref1/%s_%s/%s' % (
        swift_harness.container, image_id[:3], image_id))
    assert not seeded.writes_at(url)
    assert not ours.writes_at('swift+config://ref2/%s/%s'
                              % (swift_harness.container, image_id))
    assert not ours.writes_at('file:///var/lib/glance/images/%s' % image_id)


def test_missing_container_is_a_configuration_error(swift_harness):
    with pytest.raises(errors.BadConfiguration, match='does not exist'):
        swift_harness.make_store(swift_store_container='absent-%s' % uuid.uuid4().hex)


def test_missing_container_is_created_when_asked(swift_harness):
    container = 'created-%s' % uuid.uuid4().hex
    store = swift_harness.make_store(swift_store_container=container,
                                     swift_store_create_container_on_put=True)
    stored = write_image(store, b'x', size=1)
    try:
        assert swift_harness.backend_names(container) == [stored.url.rsplit('/', 1)[1]]
    finally:
        store.delete(stored.url)
        swift_harness.admin.delete_container(container)


def test_upload_to_a_vanished_container_is_unavailable_and_leaves_nothing(swift_harness):
    store = swift_harness.make_store(swift_store_multiple_containers_seed=2)
    with pytest.raises(errors.StoreUnavailable, match='container does not exist'):
        write_image(store, payload(3 * SEGMENT))
    assert swift_harness.backend_names() == []
    assert swift_put_threads() == []


def test_location_with_another_reference_reads_that_account(swift_harness, tmp_path):
    service = swift_harness.service
    other = swiftclient.Connection(service.auth_url, 'test2:tester2', 'testing2',
                                   retries=0)
    other.put_container('theirs')
    other.put_object('theirs', 'image', b'from the other account')
    config = tmp_path / 'two.conf'
    config.write_text(open(swift_harness.config_file).read() + (
        '[ref2]\nauth_version = 1\nauth_address = %s\nuser = test2:tester2\n'
        'key = testing2\n' % service.auth_url))
    store = swift_harness.make_store(swift_store_config_file=str(config))
    try:
        url = 'swift+config://ref2/theirs/image'
        assert store.owns(url)
        assert store.canonical('SWIFT+CONFIG://ref2/theirs/image') == url
        assert b''.join(store.open_reader(url)) == b'from the other account'
        assert not store.owns('swift+config://ref3/theirs/image')
        with pytest.raises(errors.BadLocation):
            store.open_reader('swift+config://ref3/theirs/image')
    finally:
        other.delete_object('theirs', 'image')
        other.delete_container('theirs')


@pytest.mark.parametrize('url', [
    'swift+config://ref1/glance',
    'swift+config://ref1/glance/a/b',
    'swift+config://ref1//image',
    'swift://user:key@auth.example.com/glance/image',
    'swift+config://ref1/glance/image?multipart-manifest=get',
])
def test_malformed_locations_are_refused(swift_harness, url):
    assert not swift_harness.store.owns(url)
    with pytest.raises(errors.BadLocation):
        swift_harness.store.stat(url)


# -- compatibility with upstream's large objects ---------------------------------------

def test_reads_and_deletes_upstream_dynamic_large_objects(swift_harness):
    admin, container = swift_harness.admin, swift_harness.container
    image_id = str(uuid.uuid4())
    pieces = [payload(SEGMENT, seed=n) for n in range(3)] + [b'tail']
    for number, piece in enumerate(pieces, 1):
        admin.put_object(container, '%s-%05d' % (image_id, number), piece)
    admin.put_object(container, image_id, b'',
                     headers={'X-Object-Manifest': '%s/%s-' % (container, image_id)})
    url = 'swift+config://ref1/%s/%s' % (container, image_id)
    store, data = swift_harness.store, b''.join(pieces)
    assert store.stat(url) == len(data)
    assert b''.join(store.open_reader(url)) == data
    across = store.open_reader(url, SEGMENT - 2, 5)
    assert b''.join(across) == data[SEGMENT - 2:SEGMENT + 3]
    store.delete(url)
    assert swift_harness.backend_names() == []


def test_delete_also_removes_segments_of_crashed_uploads(swift_harness):
    image_id = str(uuid.uuid4())
    # What a process killed mid-upload leaves: segments that no manifest names.
    for number in (1, 2):
        swift_harness.admin.put_object(swift_harness.container,
                                       '%s-deadbeef-%05d' % (image_id, number), b'old')
    stored = write_image(swift_harness.store, payload(2 * SEGMENT), image_id=image_id)
    swift_harness.store.delete(stored.url)
    assert swift_harness.backend_names() == []


def test_a_new_upload_discards_what_a_dead_upload_of_the_image_left(swift_harness):
    image_id = str(uuid.uuid4())
    for number in (1, 2):
        swift_harness.admin.put_object(swift_harness.container,
                                       '%s-deadbeef-%05d' % (image_id, number), b'old')
    other = '%s-cafe-00001' % uuid.uuid4()   # another image's: untouched
    swift_harness.admin.put_object(swift_harness.container, other, b'keep')
    swift_harness.store.discard_abandoned(image_id)
    assert swift_harness.backend_names() == [other]
    swift_harness.admin.delete_object(swift_harness.container, other)


def test_discard_object_removes_an_upstream_dynamic_large_object(swift_harness):
    admin, container = swift_harness.admin, swift_harness.container
    image_id = str(uuid.uuid4())
    for number in (1, 2):
        admin.put_object(container, '%s-%05d' % (image_id, number), b'piece')
    admin.put_object(container, image_id, b'',
                     headers={'X-Object-Manifest': '%s/%s-' % (container, image_id)})
    swift_harness.store.discard_object(image_id)
    assert swift_harness.backend_names() == []


def test_discard_object_in_a_container_that_does_not_exist_is_no_error(swift_harness):
    # With a seed, an image's container exists only once something was written there.
    store = swift_harness.make_store(swift_store_multiple_containers_seed=2)
    store.discard_object(str(uuid.uuid4()))


def test_multi_tenant_discard_object_removes_the_object_and_the_images_container(
        swift_harness):
    """With the caller's token, in the caller's account: a tempauth token stands in
    for a Keystone one (Swift takes either)."""
    storage_url, token = swift_harness.admin.get_auth()
    caller = Credentials(auth_token=token, project_id='test', service_catalog=(
        {'type': 'object-store',
         'endpoints': [{'interface': 'public', 'url': storage_url}]},))
    prefix = 'mt-%s' % uuid.uuid4().hex[:8]
    store = swift_harness.make_store(swift_store_multi_tenant=True,
                                     swift_store_container=prefix)
    committed, created_only = str(uuid.uuid4()), str(uuid.uuid4())
    writer = store.open_writer(committed, size=4, credentials=caller)
    with writer:
        writer.write(b'left')
        writer.commit()
    # A dead upload that created the image's container and committed nothing.
    swift_harness.admin.put_container('%s_%s' % (prefix, created_only))
    for image_id in (committed, created_only, str(uuid.uuid4())):
        store.discard_object(image_id, credentials=caller)
        with pytest.raises(swiftclient.ClientException) as gone:
            swift_harness.admin.head_container('%s_%s' % (prefix, image_id))
        assert gone.value.http_status == 404


# -- uploads that go wrong -------------------------------------------------------------

def test_fewer_bytes_than_declared_fail_the_commit_and_leave_nothing(swift_harness):
    for size in (1000, 3 * SEGMENT + 1):   # one PUT; segments
        writer = swift_harness.store.open_writer(str(uuid.uuid4()), size=size)
        with writer:
            writer.write(payload(size - 1))
            with pytest.raises(errors.StoreError, match='declared'):
                writer.commit()
        assert swift_harness.backend_names() == []
    assert swift_put_threads() == []


def test_more_bytes_than_declared_fail_the_write_and_leave_nothing(swift_harness):
    for size in (1000, 3 * SEGMENT + 1):
        with pytest.raises(errors.StoreError, match='declared'):
            with swift_harness.store.open_writer(str(uuid.uuid4()), size=size) as writer:
                writer.write(payload(size))
                writer.write(b'!')
        assert swift_harness.backend_names() == []
    assert swift_put_threads() == []


def test_cancel_stops_the_upload_thread(swift_harness):
    writer = swift_harness.store.open_writer(str(uuid.uuid4()))
    writer.write(payload(SEGMENT + 10))   # one finished segment, one in flight
    assert len(swift_put_threads()) == 1
    writer.cancel()
    assert swift_put_threads() == []
    assert swift_harness.backend_names() == []


def test_over_quota_is_store_full_and_leaves_nothing(swift_harness):
    swift_harness.admin.post_container(swift_harness.container,
                                       {'X-Container-Meta-Quota-Bytes': str(100 * 1024)})
    store = swift_harness.store
    # One PUT of a declared size, and segments (of a declared size: the quota
    # middleware can only refuse a PUT whose Content-Length it knows).
    for size in (200 * 1024, 4 * SEGMENT + 1):
        with pytest.raises(errors.StoreFull):
            write_image(store, payload(size), size=size)
        assert swift_harness.backend_names() == []
    assert swift_put_threads() == []


def test_writer_holds_only_a_few_chunks_in_memory(swift_harness):
    # A whole 16 MiB segment must never be buffered: the body streams from a small queue.
    store = swift_harness.make_store(swift_store_large_object_chunk_size=16.0)
    data = payload(16 * MiB)
    chunks = [data[start:start + 65536] for start in range(0, len(data), 65536)]
    writer = store.open_writer(str(uuid.uuid4()))
    tracemalloc.start()
    try:
        with writer:
            for chunk in chunks:
                writer.write(chunk)
            stored = writer.commit()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.size == len(data)
    assert peak < 4 * MiB


# -- failures of the service -----------------------------------------------------------

@pytest.fixture
def proxied(swift_harness, tmp_path):
    """A store that reaches Swift through a FaultyProxy: ``(store, proxy)``."""
    proxy = FaultyProxy(swift_harness.service.ports['proxy'])
    config = swift_harness.service.write_reference_file(
        str(tmp_path / 'proxied.conf'), auth_url=proxy.url + '/auth/v1.0')
    store = swift_harness.make_store(swift_store_config_file=config)
    yield store, proxy
    proxy.close()


def test_broken_download_resumes_with_a_range_request(swift_harness, proxied):
    store, proxy = proxied
    data = payload(3 * SEGMENT + 5)
    image_id = str(uuid.uuid4())
    write_image(store, data, image_id=image_id)
    url = 'swift+config://ref1/%s/%s' % (swift_harness.container, image_id)
    resuming = swift_harness.make_store(
        swift_store_config_file=store.options.swift_store_config_file,
        swift_store_retry_get_count=2)
    proxy.cut_response(image_id, after=SEGMENT + 1000)
    del proxy.request_heads[:]
    with resuming.open_reader(url, offset=7) as reader:
        assert b''.join(reader) == data[7:]
    gets = [head for head in proxy.request_heads if head.startswith('GET ')]
    assert len(gets) == 2
    first_range, second_range = [
        [line.lower() for line in head.split('\r\n') if line.lower().startswith('range:')]
        for head in gets]
    assert first_range == ['range: bytes=7-']
    resumed_at = int(second_range[0].split('=')[1].split('-')[0])
    assert SEGMENT < resumed_at < SEGMENT + 1000


def test_broken_download_without_retries_is_unavailable(swift_harness, proxied):
    store, proxy = proxied
    stored = write_image(store, payload(3 * SEGMENT))
    proxy.cut_response(stored.url.rsplit('/', 1)[1], after=SEGMENT)
    reader = store.open_reader(stored.url)
    with reader, pytest.raises(errors.StoreUnavailable, match='broke off'):
        for _ in reader:
            pass


def test_unreachable_swift_is_unavailable(swift_harness, proxied):
    store, proxy = proxied
    stored = write_image(store, b'data', size=4)
    proxy.close()
    with pytest.raises(errors.StoreUnavailable):
        store.open_reader(stored.url)
    with pytest.raises(errors.StoreUnavailable):
        store.stat(stored.url)
    with pytest.raises(errors.StoreUnavailable):
        store.delete(stored.url)
    with pytest.raises(errors.StoreUnavailable):
        store.open_writer(str(uuid.uuid4()))
    assert swift_harness.backend_names() == [stored.url.rsplit('/', 1)[1]]


def test_swift_answering_503_is_unavailable(swift_harness, proxied):
    store, proxy = proxied
    stored = write_image(store, b'data', size=4)
    proxy.answer_503 = True
    with pytest.raises(errors.StoreUnavailable):
        store.open_reader(stored.url)
    with pytest.raises(errors.StoreUnavailable):
        store.delete(stored.url)
    with pytest.raises(errors.StoreUnavailable):
        store.open_writer(str(uuid.uuid4()))


def test_swift_failing_mid_upload_is_unavailable_and_cleans_up(swift_harness, proxied):
    store, proxy = proxied
    writer = store.open_writer(str(uuid.uuid4()))
    with writer:
        writer.write(payload(2 * SEGMENT))   # two segments stored
        proxy.answer_503 = True
        with pytest.raises(errors.StoreUnavailable):
            for _ in range(8):
                writer.write(payload(SEGMENT))
        proxy.answer_503 = False
    assert swift_harness.backend_names() == []
    assert swift_put_threads() == []


def test_segments_swift_could_not_delete_at_cancel_are_removed_when_it_answers(
        swift_harness, proxied):
    store, proxy = proxied
    writer = store.open_writer(str(uuid.uuid4()))
    with writer:
        writer.write(payload(2 * SEGMENT))   # two segments stored
        proxy.answer_503 = True
        with pytest.raises(errors.StoreUnavailable):
            for _ in range(8):
                writer.write(payload(SEGMENT))
    # cancelled while Swift answers 503: the segments are still there
    assert len(swift_harness.backend_names()) >= 2
    assert swift_put_threads() == []
    proxy.answer_503 = False
    deadline = time.monotonic() + 30
    while swift_harness.backend_names() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert swift_harness.backend_names() == []


def test_wrong_credentials_fail_at_start_up(swift_harness, tmp_path):
    config = tmp_path / 'wrong.conf'
    config.write_text('[ref1]\nauth_version = 1\nauth_address = %s\nuser = test:tester\n'
                      'key = wrong\n' % swift_harness.service.auth_url)
    with pytest.raises(errors.StoreUnavailable):
        swift_harness.make_store(swift_store_config_file=str(config))


def test_unreachable_swift_fails_at_start_up(swift_harness, tmp_path):
    proxy = FaultyProxy(swift_harness.service.ports['proxy'])
    proxy.close()
    config = swift_harness.service.write_reference_file(
        str(tmp_path / 'dead.conf'), auth_url=proxy.url + '/auth/v1.0')
    with pytest.raises(errors.StoreUnavailable):
        swift_harness.make_store(swift_store_config_file=config)


# -- configuration ---------------------------------------------------------------------

def test_describe_reports_container_and_sizes_in_bytes(swift_harness):
    assert swift_harness.store.describe() == {
        'container': swift_harness.container,
        'multi_tenant': False,
        'large_object_size': MiB,
        'large_object_chunk_size': SEGMENT,
    }


def test_size_options_default_to_upstream_megabytes(swift_harness):
    store = swift_harness.make_store(swift_store_large_object_size=5120,
                                     swift_store_large_object_chunk_size=200)
    assert (store.large_object_size, store.large_object_chunk_size) == (
        5120 * MiB, 200 * MiB)
    defaults = {opt.dest: opt.default for opt in swift_driver.SwiftStore.option_list()}
    assert (defaults['swift_store_large_object_size'],
            defaults['swift_store_large_object_chunk_size'],
            defaults['swift_store_container'], defaults['default_swift_reference'],
            defaults['swift_store_retry_get_count'],
            defaults['swift_store_multiple_containers_seed']) == (
        5120, 200, 'glance', 'ref1', 0, 0)


@pytest.mark.parametrize('options, message', [
    ({'swift_store_large_object_chunk_size': 0.0}, 'positive'),
    ({'default_swift_reference': 'nope'}, 'not a section'),
    ({'swift_store_config_file': '/nonexistent/glance-swift.conf'}, 'cannot read'),
])
def test_bad_options_are_refused_at_start_up(swift_harness, options, message):
    with pytest.raises(errors.BadConfiguration, match=message):
        swift_harness.make_store(**options)


# -- upstream's credentials in the main config -----------------------------------------

def test_credentials_in_the_main_config_reach_the_account(swift_service):
    # Upstream's deprecated swift_store_user/key/auth_address, still read when no
    # swift_store_config_file is set: such a config's store refused the start
    # ('swift_store_config_file is required').
    container = 'glance-%s' % uuid.uuid4().hex[:8]
    store = build_store('swift', {
        'swift_store_auth_address': swift_service.auth_url,
        'swift_store_auth_version': '1', 'swift_store_user': swift_service.user,
        'swift_store_key': swift_service.key, 'swift_store_container': container,
        'swift_store_create_container_on_put': True})
    data = payload(1000)
    stored = write_image(store, data, size=len(data))
    assert stored.url.startswith('swift+config://ref1/%s/' % container)
    assert b''.join(store.open_reader(stored.url)) == data
    store.delete(stored.url)
    admin = swift_service.connection()
    assert admin.get_container(container)[1] == []
    admin.delete_container(container)


def test_incomplete_credentials_in_the_main_config_are_refused():
    with pytest.raises(errors.BadConfiguration, match='lacks user, key'):
        build_store('swift', {'swift_store_auth_address': 'http://127.0.0.1:1/v3'})
