"""A lease is renewed every third of it, and sooner after a failed renewal."""

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
