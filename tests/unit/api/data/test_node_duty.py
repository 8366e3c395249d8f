"""One worker per node does a periodic duty: the one whose thread holds the
duty's ``flock``; the others keep trying, and take over when it is released."""

import os
import threading

import pytest

from glance_api.data import node_duty


def lock_of(tmp_path):
    return lambda: node_duty.try_lock_file(str(tmp_path / 'duty.lock'), 'does it')


def test_the_holder_does_the_duty_at_once_and_another_process_does_not(tmp_path):
    held = node_duty.try_lock_file(str(tmp_path / 'duty.lock'), 'does it')
    try:
        # The flock is per open file: a second open is another holder, as another
        # worker process would be.
        ran = threading.Event()
        node_duty.start('duty-test', lock_of(tmp_path), ran.set, interval=0,
                        at_once=True, holding='holding').join(5)
        assert not ran.is_set()
    finally:
        os.close(held)
    node_duty.start('duty-test', lock_of(tmp_path), ran.set, interval=0,
                    at_once=True, holding='holding').join(5)
    assert ran.is_set()


def test_a_waiting_worker_takes_over_when_the_holder_goes(tmp_path):
    held = node_duty.try_lock_file(str(tmp_path / 'duty.lock'), 'does it')
    runs = threading.Semaphore(0)
    duty = node_duty.start('duty-test', lock_of(tmp_path), runs.release,
                           interval=0.05, at_once=False, holding='holding')
    try:
        assert not runs.acquire(timeout=0.3)
        os.close(held)   # the holder dies: the kernel releases its lock
        assert runs.acquire(timeout=5)
        assert runs.acquire(timeout=5)   # and it goes on, every interval
    finally:
        duty.stop(5)


def test_a_failing_duty_is_retried_at_the_next_interval(tmp_path):
    runs = threading.Semaphore(0)
    failed = []

    def fails_once():
        if not failed:
            failed.append(True)
            raise RuntimeError('the registry is away')
        runs.release()

    duty = node_duty.start('duty-test', lock_of(tmp_path), fails_once,
                           interval=0.05, at_once=True, holding='holding')
    try:
        assert runs.acquire(timeout=5)
    finally:
        duty.stop(5)


def test_a_lock_that_cannot_be_opened_is_tried_again(tmp_path):
    missing = tmp_path / 'not yet'
    ran = threading.Semaphore(0)
    duty = node_duty.start(
        'duty-test', lambda: node_duty.try_lock_file(str(missing / 'duty.lock'), 'x'),
        ran.release, interval=0.05, at_once=True, holding='holding')
    try:
        assert not ran.acquire(timeout=0.2)
        missing.mkdir()
        assert ran.acquire(timeout=5)
    finally:
        duty.stop(5)


def test_a_lock_file_is_never_taken_through_a_symbolic_link(tmp_path):
    (tmp_path / 'elsewhere').write_text('')
    os.symlink(tmp_path / 'elsewhere', tmp_path / 'duty.lock')
    with pytest.raises(OSError):
        lock_of(tmp_path)()


def test_a_duty_alongside_another_runs_in_the_worker_holding_its_lock(tmp_path):
    held = node_duty.try_lock_file(str(tmp_path / 'duty.lock'), 'does it')
    leader = node_duty.start('duty-test', lock_of(tmp_path), lambda: None,
                             interval=0.05, at_once=True, holding='holding')
    runs = threading.Semaphore(0)
    follower = node_duty.start('duty-test-alongside', node_duty.alongside(leader),
                               runs.release, interval=0.05, at_once=True,
                               holding='holding too')
    try:
        # Another worker holds the leader's lock: neither runs here.
        assert not runs.acquire(timeout=0.3)
        os.close(held)
        assert runs.acquire(timeout=5)
        assert leader.locked.is_set()
    finally:
        follower.stop(5)
        leader.stop(5)
