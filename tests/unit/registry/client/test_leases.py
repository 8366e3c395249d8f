"""A lease is renewed every third of it, and sooner after a failed renewal; a
heartbeat renews background work's lease while the work is alive."""

import time

import pytest

from glance_registry.client import leases


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


def test_a_lease_is_due_for_renewal_once_a_third_of_it_has_passed(clock):
    keeper = leases.LeaseKeeper(300, clock=clock)
    clock.now += 99.9
    assert not keeper.due()
    clock.now += 0.1
    assert keeper.due()


def test_a_renewal_moves_the_next_one_a_third_of_the_lease_later(clock):
    keeper = leases.LeaseKeeper(300, clock=clock)
    clock.now += 150
    assert keeper.due()
    clock.now += 99
    assert not keeper.due()
    clock.now += 1
    assert keeper.due()
    assert not keeper.due()


def test_now_renews_at_once_and_restarts_the_count(clock):
    keeper = leases.LeaseKeeper(300, clock=clock)
    clock.now += 10
    assert keeper.due(now=True)
    clock.now += 99
    assert not keeper.due()
    clock.now += 1
    assert keeper.due()


def test_after_a_failed_renewal_the_next_try_comes_when_asked(clock):
    keeper = leases.LeaseKeeper(300, clock=clock)
    clock.now += 100
    assert keeper.due()
    keeper.retry_in(1)
    clock.now += 0.5
    assert not keeper.due()
    clock.now += 0.5
    assert keeper.due()


def test_the_keeper_says_how_long_the_lease_is(clock):
    assert leases.LeaseKeeper(60, clock=clock).seconds == 60


def test_by_default_it_counts_on_the_monotonic_clock():
    keeper = leases.LeaseKeeper(3)
    assert not keeper.due()
    assert keeper.due(now=True)


class Renewals:
    """A heartbeat's ``renew``: counts its calls, or raises what it is told."""

    def __init__(self):
        self.count = 0
        self.error = None

    def __call__(self):
        self.count += 1
        if self.error is not None:
            raise self.error


@pytest.fixture
def renewals():
    return Renewals()


def test_a_heartbeat_renews_every_third_of_the_lease_while_the_work_moves(
        clock, renewals):
    heartbeat = leases.Heartbeat(60, 300, renewals, clock=clock)
    clock.now += 19
    assert heartbeat.beat() == pytest.approx(1)
    assert renewals.count == 0
    for _ in range(10):
        clock.now += 20
        heartbeat.moved()
        assert heartbeat.beat() == 20
    assert renewals.count == 10


def test_a_heartbeat_keeps_the_lease_while_the_work_waits_up_to_the_stall_time(
        clock, renewals):
    # A web source that pauses for two minutes: no chunk moves, the lease stays.
    heartbeat = leases.Heartbeat(60, 300, renewals, clock=clock)
    for _ in range(15):
        clock.now += 20
        heartbeat.beat()
    assert renewals.count == 15


def test_work_that_moves_nothing_for_the_stall_time_loses_its_lease(clock, renewals):
    heartbeat = leases.Heartbeat(60, 300, renewals, clock=clock)
    clock.now += 300
    heartbeat.beat()
    assert renewals.count == 1
    clock.now += 20
    assert heartbeat.beat() == 20
    clock.now += 20
    heartbeat.beat()
    assert renewals.count == 1
    # Should it move again, the next beat renews (or finds the lease taken).
    heartbeat.moved()
    clock.now += 20
    heartbeat.beat()
    assert renewals.count == 2


def test_a_step_declared_long_keeps_the_lease_for_its_time_and_the_stall_time(
        clock, renewals):
    heartbeat = leases.Heartbeat(60, 300, renewals, clock=clock)
    with heartbeat.waiting(1800):
        clock.now += 2100
        heartbeat.beat()
        assert renewals.count == 1
        clock.now += 20
        heartbeat.beat()
        assert renewals.count == 1
    # Once the step ends, the work counts as having moved.
    clock.now += 20
    heartbeat.beat()
    assert renewals.count == 2


def test_a_lost_lease_stops_the_heartbeat(clock, renewals):
    heartbeat = leases.Heartbeat(60, 300, renewals, clock=clock)
    renewals.error = leases.Lost()
    clock.now += 20
    assert heartbeat.beat() is None
    assert heartbeat.lost


def test_a_failed_renewal_is_tried_again_a_second_later(clock, renewals):
    heartbeat = leases.Heartbeat(60, 300, renewals, clock=clock)
    renewals.error = ConnectionError('registry restarting')
    clock.now += 20
    assert heartbeat.beat() == 1
    assert not heartbeat.lost
    renewals.error = None
    clock.now += 1
    assert heartbeat.beat() == 20
    assert renewals.count == 2


def test_the_heartbeat_beats_in_its_own_thread_until_the_work_ends(renewals):
    with leases.Heartbeat(0.03, 300, renewals) as heartbeat:
        deadline = time.monotonic() + 5
        while renewals.count < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert renewals.count >= 3
    ended = renewals.count
    time.sleep(0.05)
    assert renewals.count == ended
    assert not heartbeat.lost
