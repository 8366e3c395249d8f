"""When a lease holder renews its lease: every third of the lease.

The registry grants leases (an upload's hold on its image, a worker's claim on a
pending location) for a number of seconds; the holder must renew before they run
out, or another process takes over. Work driven by its client (an upload) renews
between chunks (``LeaseKeeper``); background work renews from a thread of its own
while it shows signs of life (``Heartbeat``).
"""

import contextlib
import logging
import threading
import time

LOG = logging.getLogger(__name__)

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


class Lost(Exception):
    """Raised by a ``Heartbeat``'s ``renew``: the lease is another holder's now, or
    the work it held has ended."""


class Heartbeat:
    """Renews the lease of background work (an import, a location's verification)
    from a thread of its own, every third of the lease, while the work is alive.

    Work that renews only between chunks loses its lease whenever one read waits
    longer than the lease: a web source that paused for a minute (its reads may
    wait two) had a live import taken over and run again, and a qemu-img
    conversion longer than the lease was run three times and failed. The
    heartbeat renews whatever the work waits for, as long as the work has
    ``moved()`` within ``stall`` seconds, or is in a step declared to take longer
    (``waiting``). So a worker stuck for good (a hung mount) still loses its lease
    after ``stall`` seconds, and a dead one with its process.

    ``renew()`` renews the lease. It raises ``Lost`` when the lease is no longer
    the holder's: the heartbeat stops and ``lost`` is set, for the work to see
    when it next moves. Any other error is logged and the renewal tried again a
    second later. ``clock`` is for tests.
    """

    def __init__(self, seconds, stall, renew, name='lease', clock=time.monotonic):
        self.stall = stall
        self.lost = False
        self._renew = renew
        self._name = name
        self._clock = clock
        self._interval = seconds / RENEWALS_PER_LEASE
        self._allowance = stall
        self._stop = threading.Event()
        self._thread = None
        self._taken()

    def _taken(self):
        """The lease was taken (or renewed) just now."""
        now = self._clock()
        self._moved, self._next = now, now + self._interval

    def __enter__(self):
        """Start beating: the lease was taken just before (the work was queued
        since the heartbeat was made)."""
        self._taken()
        self._thread = threading.Thread(target=self._beat_until_stopped,
                                        name='heartbeat-%s' % self._name,
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()

    def moved(self):
        """The work made progress (a chunk read or written)."""
        self._moved = self._clock()

    @contextlib.contextmanager
    def waiting(self, seconds):
        """A step that may take up to ``seconds`` without moving (a conversion
        bounded by its timeout): the lease is kept that long, and ``stall`` more."""
        self.moved()
        self._allowance = seconds + self.stall
        try:
            yield
        finally:
            self._allowance = self.stall
            self.moved()

    def _beat_until_stopped(self):
        delay = self._next - self._clock()
        while not self._stop.wait(max(delay, 0)):
            delay = self.beat()
            if delay is None:
                return

    def beat(self):
        """Renew if a renewal is due and the work is alive; the seconds until the
        next beat, or None once the lease is lost."""
        now = self._clock()
        if now < self._next:
            return self._next - now
        if now - self._moved > self._allowance:
            # Stuck: no renewal. Should the work move again, the next beat renews,
            # or finds the lease taken over.
            LOG.warning('%s: no progress for %d s: not renewing its lease',
                        self._name, now - self._moved)
            self._next = now + self._interval
            return self._interval
        try:
            self._renew()
        except Lost:
            self.lost = True
            return None
        except Exception as exc:   # noqa: BLE001 -- the lease has two more tries
            LOG.warning('%s: could not renew its lease: %s', self._name, exc)
            self._next = now + 1
            return 1
        self._next = now + self._interval
        return self._interval
