"""What a node reports of its cached copies (glance_api.data.cache.copies): every
commit and removal of a copy is reported, off the caller's thread, and a registry
that fails never fails the cache."""

import hashlib
import os
import threading

import pytest

from glance_api.data.cache import copies, image_cache
from glance_registry.client import errors


class _Registry:
    """The registry client's calls for cached copies, recorded; ``failing`` makes
    the next reports fail as an unreachable registry does, ``gate`` holds them."""

    def __init__(self):
        self.reports = []
        self.replaced = []
        self.failing = 0
        self.gate = threading.Event()
        self.gate.set()

    def report_cache_copies(self, identity, node, held=(), dropped=()):
        self.gate.wait(10)
        if self.failing:
            self.failing -= 1
            raise errors.Unavailable('registry down', reason='unreachable')
        self.reports.append((node, sorted(held), sorted(dropped)))
        return {'added': len(held), 'removed': len(dropped)}

    def replace_cache_copies(self, identity, node, image_ids):
        self.replaced.append((node, sorted(image_ids)))
        return {'added': 0, 'removed': 0}


@pytest.fixture
def registry():
    return _Registry()


@pytest.fixture
def cache(tmp_path, registry):
    return image_cache.ImageCache(
        str(tmp_path / 'cache'), max_size=10_000, stall_time=3600,
        reports=copies.CopyReports(registry, 'http://node-a'))


def _fill(cache, image_id, data):
    record = {'id': image_id, 'status': 'active', 'size': len(data),
              'checksum': hashlib.md5(data).hexdigest(), 'os_hash_value': 'h'}
    fill = cache.start_fill(record)
    assert fill is not None
    fill.feed(data)
    fill.finish()
    assert fill.wait(10)
    return record


def _sent(cache, registry):
    """``{image_id: held}`` as the registry was told, in order."""
    assert cache.reports.flush(10)
    state = {}
    for node, held, dropped in registry.reports:
        assert node == 'http://node-a'
        state.update(dict.fromkeys(held, True))
        state.update(dict.fromkeys(dropped, False))
    return state


def test_a_committed_copy_is_reported_held_and_a_deleted_one_dropped(cache, registry):
    _fill(cache, 'a', os.urandom(1000))
    assert _sent(cache, registry) == {'a': True}
    cache.delete('a')
    assert _sent(cache, registry) == {'a': False}
    registry.reports.clear()
    cache.delete('a')   # nothing left to remove: nothing to say
    assert _sent(cache, registry) == {}


def test_clear_eviction_prune_and_a_stale_copy_report_their_removals(cache, registry):
    for image_id in 'abc':
        _fill(cache, image_id, os.urandom(3000))
    _fill(cache, 'd', os.urandom(3000))   # over 10,000 bytes: 'a' is evicted
    assert _sent(cache, registry) == {'a': False, 'b': True, 'c': True, 'd': True}
    cache.max_size = 6000
    assert cache.prune() == (1, 3000)   # 'b', least recently used
    assert _sent(cache, registry)['b'] is False
    stale = {'id': 'c', 'status': 'active', 'size': 3000, 'checksum': '0' * 32,
             'os_hash_value': 'h'}
    assert cache.open_cached(stale, 0, 3000) is None
    assert _sent(cache, registry)['c'] is False
    cache.clear()
    assert _sent(cache, registry) == {'a': False, 'b': False, 'c': False, 'd': False}


def test_a_fill_that_fails_reports_nothing(cache, registry):
    record = {'id': 'a', 'status': 'active', 'size': 10, 'checksum': '0' * 32,
              'os_hash_value': 'h'}
    fill = cache.start_fill(record)
    fill.feed(b'x' * 10)   # not the checksum's bytes
    fill.finish()
    assert not fill.wait(10)
    assert _sent(cache, registry) == {}


def test_reports_wait_for_no_registry_and_the_last_of_an_image_wins(cache, registry):
    registry.gate.clear()   # a registry that does not answer yet
    data = os.urandom(1000)
    _fill(cache, 'a', data)   # commits although its report is held up
    cache.delete('a')
    _fill(cache, 'b', data)
    cache.delete('b')
    _fill(cache, 'b', data)
    assert not cache.reports.flush(0.2)
    registry.gate.set()
    assert _sent(cache, registry) == {'a': False, 'b': True}
    assert len(registry.reports) <= 2   # batched, not one call per report


def test_a_registry_that_fails_loses_the_report_and_nothing_else(cache, registry,
                                                                 caplog):
    registry.failing = 1
    _fill(cache, 'a', os.urandom(1000))
    assert cache.reports.flush(10)
    assert registry.reports == []
    assert 'could not report 1 held and 0 dropped' in caplog.text
    _fill(cache, 'b', os.urandom(1000))   # later reports still go
    assert _sent(cache, registry) == {'b': True}


def test_replace_sends_the_whole_set_at_once(cache, registry):
    cache.reports.replace(['b', 'a'])
    assert registry.replaced == [('http://node-a', ['a', 'b'])]


def test_the_node_is_its_self_reference_url_or_the_host_name():
    class Conf:
        worker_self_reference_url = None
    assert copies.node_name(Conf) == os.uname().nodename
    Conf.worker_self_reference_url = 'http://node-a:9292'
    assert copies.node_name(Conf) == 'http://node-a:9292'
