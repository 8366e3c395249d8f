"""Periodic work that one API worker per node does: the one holding an ``flock``.

Each worker runs a thread per duty. The thread tries to take the duty's lock; the
worker that gets it keeps it for its life and does the work on schedule, the
others try again at each interval. When the holder dies, the kernel releases its
lock and another worker takes over at its next try: a lock, not luck, and no
state that a second process would need. Used by the staging sweeper and by the
image cache's prefetcher, pruner and cleaner; the sweeper of deleted images' data
runs ``alongside`` the staging sweeper, in the worker holding its lock.
"""

import fcntl
import logging
import os
import sys
import threading

from glance_registry.client import errors as registry_errors

LOG = logging.getLogger(__name__)


def start(name, take_lock, work, interval, at_once, holding):
    """Run ``work()`` in a daemon thread named ``name`` every ``interval`` seconds
    while this worker holds the lock ``take_lock()`` returns (an open descriptor,
    or None when another process holds it). ``at_once``: the first try is now
    rather than after one interval. An ``interval`` of 0 means one try only (the
    lock, if taken, stays held). ``holding`` is logged once, when the lock is
    taken. A failing ``work`` is logged; the next run retries. Returns the
    running ``Duty``."""
    duty = Duty(name, take_lock, work, interval, at_once, holding)
    duty.thread.start()
    return duty


class Duty:
    """A duty's thread; ``stop`` ends it after its current run (the workers'
    threads are daemons and end with their process: tests stop theirs)."""

    def __init__(self, name, take_lock, work, interval, at_once, holding):
        self._take_lock, self._work = take_lock, work
        self._interval, self._at_once, self._holding = interval, at_once, holding
        self._stopping = threading.Event()
        #: Set once this worker holds the duty's lock (for good: only its death
        #: releases it).
        self.locked = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def stop(self, timeout=None):
        self._stopping.set()
        self.thread.join(timeout)

    def join(self, timeout=None):
        self.thread.join(timeout)

    def _run(self):
        name, holder = self.thread.name, None
        if not self._at_once and self._stopping.wait(self._interval):
            return
        while True:
            if holder is None:
                try:
                    holder = self._take_lock()
                except OSError as exc:
                    LOG.warning('%s: cannot take its lock, will try again: %s', name, exc)
                if holder is not None:
                    self.locked.set()
                    LOG.info(self._holding)
            if holder is not None:
                try:
                    self._work()
                except Exception:   # noqa: BLE001 -- the next run retries
                    log_failure(LOG, name)
            if not self._interval or self._stopping.wait(self._interval):
                return


def log_failure(log, what):
    """Log, to ``log``, the exception being handled, which stopped ``what`` (tried
    again at the next run): a registry that is down (a restart, an outage) in one
    WARNING line, anything else with its traceback."""
    exc = sys.exc_info()[1]
    if isinstance(exc, registry_errors.Unavailable):
        log.warning('%s: the registry is not available, tried again at the next '
                    'run: %s', what, exc)
    else:
        log.exception('%s failed', what)


def alongside(duty):
    """A ``take_lock`` for a duty that runs in the worker holding ``duty``'s lock:
    no second lock (a second ``flock`` of one file by its holder would be
    refused: each open file takes its own)."""
    return lambda: HELD_ALONGSIDE if duty.locked.is_set() else None


#: What ``alongside`` answers for a lock held: not a descriptor of its own.
HELD_ALONGSIDE = -1


def try_flock(fd):
    """True once ``fd`` holds its exclusive ``flock``, False if another process
    does, None if the file system refuses it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


def try_lock_file(path, duty):
    """An open descriptor holding the exclusive ``flock`` of the file ``path``
    (created if missing, never through a symbolic link), or None when another
    process holds it. Where the file system locks nothing, the descriptor is
    returned all the same, with a warning that every worker does the ``duty``
    (which must then be safe, only wasteful). Raises ``OSError`` when the file
    cannot be opened."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    locked = try_flock(fd)
    if locked is False:
        os.close(fd)
        return None
    if locked is None:
        LOG.warning('no lock on %s: every worker %s', path, duty)
    return fd
