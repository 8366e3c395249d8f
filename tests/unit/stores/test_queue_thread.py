"""stores.queue_thread: items handled in order on one thread; errors kept, not lost."""

import threading

from stores.queue_thread import QueueThread


def test_items_are_handled_in_order_on_the_thread_and_stop_waits_for_them():
    handled, threads = [], set()

    def handle(item):
        handled.append(item)
        threads.add(threading.current_thread().name)

    worker = QueueThread('worker-test', handle, maxsize=2)
    for item in range(50):
        worker.put(item)
    worker.stop()
    assert handled == list(range(50))
    assert threads == {'worker-test'}
    assert worker.error is None


def test_no_thread_runs_until_the_first_item():
    before = threading.active_count()
    worker = QueueThread('idle-test', lambda item: None)
    assert threading.active_count() == before
    worker.stop()   # nothing to stop
    assert threading.active_count() == before


def test_the_first_error_is_kept_and_later_items_are_skipped_not_handled():
    handled, skipped = [], []

    def handle(item):
        if item == 3:
            raise OSError(28, 'No space left on device')
        handled.append(item)

    worker = QueueThread('error-test', handle, skip=skipped.append, maxsize=1)
    for item in range(10):
        worker.put(item)   # never blocks for good, though nothing is written
    worker.stop()
    assert handled == [0, 1, 2]
    assert skipped == [3, 4, 5, 6, 7, 8, 9]   # the failed item too
    assert isinstance(worker.error, OSError) and worker.error.errno == 28


def test_after_discard_nothing_more_is_handled():
    release = threading.Event()
    handled, skipped = [], []

    def handle(item):
        release.wait()
        handled.append(item)

    worker = QueueThread('discard-test', handle, skip=skipped.append)
    for item in range(5):
        worker.put(item)
    worker.discard()
    release.set()
    worker.stop()
    # The item in hand when discard came may finish; none after it starts.
    assert handled in ([], [0])
    assert handled + skipped == list(range(5))
    assert worker.error is None


def test_a_stopped_worker_starts_again_on_the_next_item():
    handled = []
    worker = QueueThread('restart-test', handled.append)
    worker.put(1)
    worker.stop()
    worker.put(2)
    worker.stop()
    assert handled == [1, 2]
