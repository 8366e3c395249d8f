"""The bounded runner of background work: so many at once, so many waiting, and a
clear refusal beyond."""

import threading

import pytest

from glance_api.data import runner


def test_work_beyond_threads_and_queue_is_refused_until_some_finishes():
    pool = runner.Runner(threads=1, queue=1)
    gate = threading.Event()
    done = []
    first, second = pool.reserve('a'), pool.reserve('b')
    first.run(lambda: (gate.wait(10), done.append(1)))
    second.run(lambda: done.append(2))
    with pytest.raises(runner.Busy) as refused:
        pool.reserve('a third import')
    assert refused.value.status == 503
    assert 'a third import is refused' in refused.value.message
    assert pool.try_reserve() is None
    gate.set()
    pool.start().shutdown(wait=True)
    assert done == [1, 2]
    assert pool.try_reserve() is not None


def test_a_slot_released_unused_frees_its_place():
    pool = runner.Runner(threads=1, queue=0)
    slot = pool.reserve('x')
    slot.release()
    slot.release()   # twice is once
    pool.reserve('y').release()
    assert pool.try_reserve() is not None


def test_failing_work_frees_its_place():
    pool = runner.Runner(threads=1, queue=0)
    pool.reserve('x').run(lambda: 1 / 0)
    pool.start().shutdown(wait=True)
    assert pool.try_reserve() is not None
