"""The memory driver beyond the conformance suite: its bound, what tests can see of
it, its locations, and that no config file can ask for it."""

import threading
import uuid

from oslo_config import cfg
import pytest

import stores
from stores import errors
from stores.memory import MemoryStore
from tests.unit.stores.conftest import payload, write_image


# -- not configurable -------------------------------------------------------------------

def test_no_config_file_can_name_the_memory_driver():
    with pytest.raises(errors.BadConfiguration, match='unknown store type'):
        stores.driver_class('memory')
    conf = cfg.ConfigOpts()
    conf(args=[], default_config_files=[], default_config_dirs=[])
    stores.register_opts(conf)
    conf.set_override('default_store', 'memory', 'glance_store')
    with pytest.raises(errors.BadConfiguration, match='unknown store type'):
        stores.StoreSet.from_config(conf)


def test_the_sample_config_knows_nothing_of_it():
    assert all('memory' not in opt.dest for _, opts in stores.list_opts()
               for opt in opts)


# -- bounded --------------------------------------------------------------------------

def test_a_write_beyond_the_capacity_is_store_full_and_leaves_nothing():
    store = MemoryStore(capacity=1000)
    with pytest.raises(errors.StoreFull):
        write_image(store, payload(1001), chunk_size=600)
    assert (store.names(), store.writing(), store.used) == ([], [], 0)


def test_objects_and_open_writers_share_the_capacity():
    store = MemoryStore(capacity=1000)
    kept = write_image(store, payload(600))
    with store.open_writer(str(uuid.uuid4())) as writer:
        writer.write(payload(300))
        assert store.used == 900
        with pytest.raises(errors.StoreFull):
            writer.write(payload(101))
    assert store.used == 600
    store.delete(kept.url)
    assert store.used == 0
    write_image(store, payload(1000))   # the room is back
    assert store.used == 1000


def test_the_loser_of_two_writers_gives_its_bytes_back():
    store = MemoryStore(capacity=1000)
    image_id = str(uuid.uuid4())
    with store.open_writer(image_id) as first, store.open_writer(image_id) as second:
        first.write(payload(400, seed=1))
        second.write(payload(400, seed=2))
        stored = first.commit()
        with pytest.raises(errors.Duplicate, match='already exists'):
            second.commit()
    assert (store.names(), store.writing(), store.used) == ([image_id], [], 400)
    assert b''.join(store.open_reader(stored.url)) == payload(400, seed=1)


def test_many_threads_never_hold_more_than_the_capacity():
    size, capacity = 10_000, 100_000
    store = MemoryStore(capacity=capacity)
    outcomes, peaks, done = [], [], threading.Event()

    def upload():
        try:
            write_image(store, payload(size), chunk_size=1000)
        except errors.StoreFull:
            outcomes.append('full')
        else:
            outcomes.append('stored')

    def watch():
        while not done.is_set():
            peaks.append(store.used)

    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=upload) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    watcher.join()
    stored = outcomes.count('stored')
    assert len(outcomes) == 30 and stored <= capacity // size
    assert max(peaks) <= capacity
    assert (len(store.names()), store.writing(), store.used) == (stored, [], stored * size)


# -- what tests can see ---------------------------------------------------------------

def test_open_writers_are_visible_until_committed_or_cancelled():
    store = MemoryStore()
    committed, cancelled = str(uuid.uuid4()), str(uuid.uuid4())
    first = store.open_writer(committed)
    second = store.open_writer(cancelled)
    assert store.writing() == sorted([committed, cancelled])
    first.write(b'abc')
    first.commit()
    second.cancel()
    assert (store.names(), store.writing()) == ([committed], [])


def test_describe_reports_capacity_and_use():
    store = MemoryStore(capacity=5000)
    write_image(store, b'x' * 123)
    assert store.describe() == {'capacity': 5000, 'used': 123}


# -- locations ------------------------------------------------------------------------

def test_each_memory_store_owns_only_its_own_locations():
    fast, slow = MemoryStore('fast'), MemoryStore('slow')
    url = write_image(fast, b'data').url
    assert url.startswith('memory://fast/')
    assert fast.owns(url) and not slow.owns(url)
    with pytest.raises(errors.BadLocation):
        slow.open_reader(url)


@pytest.mark.parametrize('url', [
    'memory://memory',
    'memory://memory/',
    'memory://memory/a/b',
    'memory://other/x',
    'memory://memory/x?y',
    'memory://memory/x#y',
    'file:///memory/x',
])
def test_malformed_locations_are_refused(url):
    store = MemoryStore()
    assert not store.owns(url)
    with pytest.raises(errors.BadLocation):
        store.stat(url)


def test_a_location_has_one_spelling():
    store = MemoryStore()
    assert store.canonical('MEMORY://memory/x') == 'memory://memory/x'


@pytest.mark.parametrize('store_id', ['', 'a/b', 'a b', 'a:1'])
def test_a_store_id_must_fit_in_a_url(store_id):
    with pytest.raises(ValueError):
        MemoryStore(store_id)
