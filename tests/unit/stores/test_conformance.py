"""The conformance suite: what every store driver promises (docs/stores.rst).

Each test runs once per driver (``writable_harness``: memory, file, swift;
``readable_harness`` adds the read-only http driver; ``configurable_harness`` is every
driver but memory, which no config file may name). A driver is done when it passes all
of them. Tests that write check the backend directly afterwards: what a failed or
cancelled write leaves behind is part of the contract.
"""

import hashlib
import threading
import uuid

import pytest

import stores
from stores import errors
from tests.unit.stores.conftest import MiB, payload, write_image


def md5(data):
    return hashlib.md5(data).hexdigest()


def sha512(data):
    return hashlib.sha512(data).hexdigest()


def read_all(store, url, offset=0, length=None):
    with store.open_reader(url, offset=offset, length=length) as reader:
        return b''.join(reader)


# -- writing ------------------------------------------------------------------------

@pytest.mark.parametrize('size', [1, 64 * 1024 + 1, 3 * 256 * 1024 + 17])
@pytest.mark.parametrize('declared', [True, False], ids=['size-given', 'size-unknown'])
def test_commit_returns_what_was_stored(writable_harness, size, declared):
    store = writable_harness.store
    data = payload(size, seed=size)
    stored = write_image(store, data, size=size if declared else None)
    assert isinstance(stored, stores.StoredImage)
    assert (stored.size, stored.checksum, stored.multihash) == (size, md5(data),
                                                                sha512(data))
    assert store.owns(stored.url)
    assert store.canonical(stored.url) == stored.url   # written as it is spelt
    assert store.stat(stored.url) == size
    assert read_all(store, stored.url) == data


def test_multihash_uses_the_requested_algorithm(writable_harness):
    data = payload(1000)
    writer = writable_harness.store.open_writer(str(uuid.uuid4()),
                                                hashing_algorithm='sha256')
    with writer:
        writer.write(data)
        stored = writer.commit()
    assert stored.multihash == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize('declared', [True, False], ids=['size-given', 'size-unknown'])
def test_empty_image_round_trips(writable_harness, declared):
    store = writable_harness.store
    writer = store.open_writer(str(uuid.uuid4()), size=0 if declared else None)
    with writer:
        stored = writer.commit()
    assert (stored.size, stored.checksum, stored.multihash) == (0, md5(b''), sha512(b''))
    assert store.stat(stored.url) == 0
    with store.open_reader(stored.url) as reader:
        assert reader.size == 0
        assert b''.join(reader) == b''
    store.delete(stored.url)
    assert writable_harness.backend_names() == []


def test_empty_writes_change_nothing(writable_harness):
    store = writable_harness.store
    for declared in (0, 3):
        writer = store.open_writer(str(uuid.uuid4()), size=declared)
        with writer:
            writer.write(b'')
            writer.write(b'abc'[:declared])
            writer.write(b'')
            stored = writer.commit()
        assert (stored.size, read_all(store, stored.url)) == (declared, b'abc'[:declared])


def test_large_image_round_trips_with_small_pieces(writable_harness):
    # 20 MiB through 64 KiB writes: 20 segments (Swift), 5000 read chunks (file,
    # memory).
    store = writable_harness.make_store(**writable_harness.large_options)
    data = payload(20 * MiB + 12345, seed=20)
    stored = write_image(store, data)
    assert (stored.size, stored.checksum, stored.multihash) == (len(data), md5(data),
                                                                sha512(data))
    digest, size = hashlib.sha512(), 0
    with store.open_reader(stored.url) as reader:
        assert reader.size == len(data)
        for chunk in reader:
            digest.update(chunk)
            size += len(chunk)
    assert (size, digest.hexdigest()) == (len(data), sha512(data))
    store.delete(stored.url)
    assert writable_harness.backend_names() == []


def test_write_after_commit_raises(writable_harness):
    writer = writable_harness.store.open_writer(str(uuid.uuid4()))
    writer.write(b'abc')
    stored = writer.commit()
    with pytest.raises(errors.StoreError):
        writer.write(b'more')
    with pytest.raises(errors.StoreError):
        writer.commit()
    writer.cancel()   # a no-op once committed
    assert read_all(writable_harness.store, stored.url) == b'abc'


def test_cancel_removes_everything_written(writable_harness):
    before = writable_harness.backend_names()
    writer = writable_harness.store.open_writer(str(uuid.uuid4()))
    data = payload(3 * writable_harness.boundary + 10)
    for start in range(0, len(data), 65536):
        writer.write(data[start:start + 65536])
    writer.cancel()
    writer.cancel()   # safe twice
    assert writable_harness.backend_names() == before
    with pytest.raises(errors.StoreError):
        writer.write(b'x')


def test_writer_as_context_manager_cancels_on_exception(writable_harness):
    before = writable_harness.backend_names()
    with pytest.raises(RuntimeError):
        with writable_harness.store.open_writer(str(uuid.uuid4())) as writer:
            writer.write(payload(2 * writable_harness.boundary))
            raise RuntimeError('client went away')
    assert writable_harness.backend_names() == before


def test_writer_as_context_manager_cancels_when_not_committed(writable_harness):
    before = writable_harness.backend_names()
    with writable_harness.store.open_writer(str(uuid.uuid4())) as writer:
        writer.write(b'abandoned')
    assert writable_harness.backend_names() == before


def test_second_upload_of_an_image_cannot_overwrite_it(writable_harness):
    store = writable_harness.store
    image_id = str(uuid.uuid4())
    first = payload(2 * writable_harness.boundary + 1, seed=1)
    stored = write_image(store, first, image_id=image_id)
    before = writable_harness.backend_names()
    with pytest.raises(errors.Duplicate, match='already exists'):
        write_image(store, payload(100, seed=2), image_id=image_id)
    assert read_all(store, stored.url) == first
    assert writable_harness.backend_names() == before


@pytest.mark.parametrize('declared', [True, False], ids=['size-given', 'size-unknown'])
def test_concurrent_writers_for_one_image_commit_at_most_once(writable_harness,
                                                              declared):
    store = writable_harness.store
    image_id = str(uuid.uuid4())
    size = 2 * writable_harness.boundary + 5
    data_a, data_b = payload(size, seed=1), payload(size, seed=2)
    writer_a = store.open_writer(image_id, size=size if declared else None)
    writer_b = store.open_writer(image_id, size=size if declared else None)
    with writer_a, writer_b:
        for start in range(0, size, 65536):   # interleaved, as two API threads would
            writer_a.write(data_a[start:start + 65536])
            writer_b.write(data_b[start:start + 65536])
        stored = writer_a.commit()
        with pytest.raises(errors.Duplicate, match='already exists'):
            writer_b.commit()
    assert read_all(store, stored.url) == data_a
    store.delete(stored.url)
    assert writable_harness.backend_names() == []


def test_writers_for_different_images_do_not_interfere(writable_harness):
    store = writable_harness.store
    images = {str(uuid.uuid4()): payload(writable_harness.boundary * 2 + n, seed=n)
              for n in range(4)}
    results = {}

    def upload(image_id, data):
        results[image_id] = write_image(store, data, image_id=image_id)

    threads = [threading.Thread(target=upload, args=item) for item in images.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for image_id, data in images.items():
        assert read_all(store, results[image_id].url) == data


# -- reading ------------------------------------------------------------------------

# (offset, length) as a function of the boundary b (read chunk or segment size) and
# the object's size n; expected bytes are data[offset:offset+length].
RANGES = {
    'whole': lambda b, n: (0, None),
    'from-offset': lambda b, n: (1, None),
    'last-byte': lambda b, n: (n - 1, None),
    'first-byte': lambda b, n: (0, 1),
    'inside-first-piece': lambda b, n: (5, 100),
    'across-one-boundary': lambda b, n: (b - 3, 6),
    'across-two-boundaries': lambda b, n: (b - 1, b + 2),
    'exactly-one-piece': lambda b, n: (b, b),
    'to-the-end-exactly': lambda b, n: (b + 7, n - b - 7),
    'zero-length': lambda b, n: (10, 0),
}


# Writers may store an image differently when they know its size (Swift: one object
# instead of segments), so reads are checked on both.
DECLARED = pytest.mark.parametrize('declared', [True, False],
                                   ids=['size-given', 'size-unknown'])


@DECLARED
@pytest.mark.parametrize('case', sorted(RANGES))
def test_read_range(readable_harness, case, declared):
    boundary = readable_harness.boundary
    data = payload(3 * boundary + 999, seed=3)
    url = readable_harness.seed(data, declared)
    offset, length = RANGES[case](boundary, len(data))
    expected = data[offset:None if length is None else offset + length]
    with readable_harness.store.open_reader(url, offset=offset, length=length) as reader:
        assert (reader.size, reader.offset, reader.length) == (len(data), offset,
                                                               len(expected))
        chunks = list(reader)
    assert b''.join(chunks) == expected
    assert all(chunks), 'a reader never yields empty chunks'


@DECLARED
def test_read_starting_at_the_end_is_empty(readable_harness, declared):
    data = payload(1000)
    url = readable_harness.seed(data, declared)
    with readable_harness.store.open_reader(url, offset=len(data)) as reader:
        assert reader.size == len(data)
        assert b''.join(reader) == b''


@DECLARED
def test_read_past_the_end_yields_what_is_there(readable_harness, declared):
    data = payload(1000)
    url = readable_harness.seed(data, declared)
    with readable_harness.store.open_reader(url, offset=900, length=500) as reader:
        assert (reader.size, reader.length) == (1000, 100)
        assert b''.join(reader) == data[900:]


def test_stat_answers_the_size(readable_harness):
    url = readable_harness.seed(payload(12345))
    assert readable_harness.store.stat(url) == 12345


def test_missing_object_is_not_found(readable_harness):
    store, url = readable_harness.store, readable_harness.missing_url()
    assert store.owns(url)
    with pytest.raises(errors.NotFound):
        store.open_reader(url)
    with pytest.raises(errors.NotFound):
        store.stat(url)


def test_store_does_not_own_other_schemes(readable_harness):
    store = readable_harness.store
    for url in ('gopher://example.com/x', 'rbd://pool/image', 'cinder://volume'):
        assert not store.owns(url)
    with pytest.raises(errors.BadLocation):
        store.open_reader('gopher://example.com/x')


def test_probe_passes_and_leaves_nothing(readable_harness):
    if readable_harness.writable:
        before = readable_harness.backend_names()
    readable_harness.store.probe()
    if readable_harness.writable:
        assert readable_harness.backend_names() == before


# -- deleting -----------------------------------------------------------------------

def test_delete_removes_the_object_and_everything_it_used(writable_harness):
    store = writable_harness.store
    stored = write_image(store, payload(3 * writable_harness.boundary + 1))
    store.delete(stored.url)
    assert writable_harness.backend_names() == []
    with pytest.raises(errors.NotFound):
        store.open_reader(stored.url)
    with pytest.raises(errors.NotFound):
        store.stat(stored.url)
    with pytest.raises(errors.NotFound):
        store.delete(stored.url)


def test_delete_missing_is_not_found(writable_harness):
    with pytest.raises(errors.NotFound):
        writable_harness.store.delete(writable_harness.missing_url())


@pytest.mark.parametrize('declared', [True, False], ids=['size-given', 'size-unknown'])
def test_discard_object_removes_the_images_object_and_it_can_be_written_again(
        writable_harness, declared):
    """What an upload that committed and then died left: the image's id is free
    again, and other images' objects stay."""
    store = writable_harness.store
    other = write_image(store, payload(10, seed=3), size=10)
    kept = writable_harness.backend_names()
    image_id = str(uuid.uuid4())
    old = payload(3 * writable_harness.boundary + 1, seed=1)
    write_image(store, old, image_id=image_id, size=len(old) if declared else None)
    store.discard_object(image_id)
    assert writable_harness.backend_names() == kept
    new = payload(100, seed=2)
    assert read_all(store, write_image(store, new, image_id=image_id).url) == new
    assert read_all(store, other.url) == payload(10, seed=3)


def test_discard_object_of_an_image_without_one_is_no_error(writable_harness):
    before = writable_harness.backend_names()
    writable_harness.store.discard_object(str(uuid.uuid4()))
    assert writable_harness.backend_names() == before


# -- configuration --------------------------------------------------------------------

def test_store_set_builds_and_probes_the_driver(configurable_harness):
    """The path the API takes: options registered by StoreSet, then probed."""
    from oslo_config import cfg
    template = configurable_harness.store
    conf = cfg.ConfigOpts()
    conf(args=[], default_config_files=[], default_config_dirs=[])
    stores.register_opts(conf)
    conf.set_override('enabled_backends', {'it': configurable_harness.driver})
    conf.set_override('default_backend', 'it', 'glance_store')
    # The group's options exist only once StoreSet registers them, so set them after a
    # registration of our own (registering the same options twice is allowed).
    conf.register_opts(type(template).option_list(), group='it')
    for option in type(template).option_list():
        value = getattr(template.options, option.dest)
        if value != option.default:
            conf.set_override(option.dest, value, 'it')
    store_set = stores.StoreSet.from_config(conf)
    store = store_set.get('it')
    assert type(store) is type(template)
    assert isinstance(store.describe(), dict)
    url = configurable_harness.seed(b'through the set')
    assert store_set.for_location({'url': url, 'metadata': {}}) is store
