"""StoreSet built from stores made in code (``StoreSet.of``), as API unit tests build
it; the configured path is in test_conformance.py."""

import pytest

from stores import StoreSet, errors
from stores.memory import MemoryStore
from tests.unit.stores.conftest import write_image


def test_one_store_is_the_default_of_a_single_store_set():
    store = MemoryStore()
    store_set = StoreSet.of(store)
    assert (store_set.default, store_set.default_id, store_set.multi) == (
        store, 'memory', False)
    assert list(store_set) == [store]
    assert 'memory' in store_set and store_set.get('memory') is store


def test_several_stores_make_a_multi_store_set_with_the_first_as_default():
    fast, slow = MemoryStore('fast'), MemoryStore('slow')
    store_set = StoreSet.of(fast, slow)
    assert (store_set.default_id, store_set.multi) == ('fast', True)
    assert StoreSet.of(fast, slow, default='slow').default is slow


def test_multi_can_be_asked_for_with_one_store():
    assert StoreSet.of(MemoryStore(), multi=True).multi
    assert not StoreSet.of(MemoryStore('a'), MemoryStore('b'), multi=False).multi


def test_downloads_try_the_heaviest_store_first():
    light = MemoryStore('light', weight=1, description='backup')
    heavy = MemoryStore('heavy', weight=9)
    store_set = StoreSet.of(light, heavy)
    assert list(store_set) == [heavy, light]
    assert light.options.store_description == 'backup'


def test_a_location_finds_its_store():
    fast, slow = MemoryStore('fast'), MemoryStore('slow')
    store_set = StoreSet.of(fast, slow)
    url = write_image(slow, b'data').url
    assert store_set.for_location({'url': url, 'metadata': {}}) is slow
    assert store_set.for_location({'url': url, 'metadata': {'store': 'slow'}}) is slow
    with pytest.raises(errors.BadLocation):
        store_set.for_location({'url': 'file:///var/lib/glance/images/x'})


@pytest.mark.parametrize('stores, default', [
    ((), None),
    ((MemoryStore('a'), MemoryStore('a')), None),
    ((MemoryStore('a'),), 'b'),
])
def test_a_set_that_cannot_work_is_refused(stores, default):
    with pytest.raises(ValueError):
        StoreSet.of(*stores, default=default)
