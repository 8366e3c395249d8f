"""When a lease holder renews its lease: every third of the lease (``LeaseKeeper``).

The registry grants leases (an upload's hold on its image, a worker's claim on a
pending location) for a number of seconds; the holder must renew before they run
out, or another process takes over.
"""

import time

# A third: a holder that misses one renewal (a registry restart, a slow call) still
# has two more tries before the lease runs out, and renews only three times per
# lease, however fast the work goes.
RENEWALS_PER_LEASE = 3


def surely_runs(started, seconds, clock=time.monotonic):
    """Whether at least half a lease of ``seconds``, last taken or renewed at
    ``started`` by ``clock`` (read before asking the registry, so this clock's end
    comes first), is left: time for work that must end before the lease does
    (deleting data whose URL the image may take back once it has run out)."""
    return clock() - started < seconds / 2


class LeaseKeeper:
    """The timing of one lease of ``seconds``, taken when the keeper is made.

    It knows nothing of what the lease holds or how it is renewed. The holder asks
    ``due()`` as it works (between chunks of data, say) and renews when told to::

        keeper = LeaseKeeper(lease_seconds)
        for chunk in chunks:
            if keeper.due():
                try:
                    registry.renew_upload_lease(...)
                except errors.Unavailable:
                    keeper.retry_in(1)
            ...

    ``clock`` (seconds, monotonic) is for tests.
    """

    def __init__(self, seconds, clock=time.monotonic):
        self.seconds = seconds
        self._interval = seconds / RENEWALS_PER_LEASE
        self._clock = clock
        self._next = clock() + self._interval

    def due(self, now=False):
        """Whether to renew the lease now: a third of it has passed since it was
        taken or last renewed, or ``now`` (e.g. before publishing the work, to hold
        the lease a whole term more). ``True`` counts as a renewal: the next one is
        due a third of the lease later (see ``retry_in``)."""
        when = self._clock()
        if not now and when < self._next:
            return False
        self._next = when + self._interval
        return True

    def retry_in(self, seconds):
        """The renewal ``due`` asked for failed: be due again in ``seconds``, not a
        third of the lease later."""
        self._next = self._clock() + seconds
