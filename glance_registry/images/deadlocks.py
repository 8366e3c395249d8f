"""Replaying a write transaction that the database chose as a deadlock victim."""

import functools
import logging
import random
import time

import peewee

LOG = logging.getLogger(__name__)

_DEADLOCK_RETRIES = 5
# Seconds before the first replay, doubled for each next one, with jitter: victims
# replayed at once meet each other again (8 writers of 4 images on MariaDB lost
# three replays in a row).
_FIRST_BACKOFF = 0.01


def retry_on_deadlock(function):
    """Run a write again when the database chose it as a deadlock victim.

    Every write locks its image row first, so deadlocks are rare; but MariaDB's gap
    locks on the child tables' unique indexes can still produce one, and the whole
    transaction can safely be replayed, after a short random wait that grows with
    each attempt (about 0.3 s in all at most).
    """
    @functools.wraps(function)
    def retrying(*args, **kwargs):
        for attempt in range(_DEADLOCK_RETRIES):
            try:
                return function(*args, **kwargs)
            except peewee.OperationalError as exc:
                if 'deadlock' not in str(exc).lower() or attempt + 1 == _DEADLOCK_RETRIES:
                    raise
                LOG.info('deadlock in %s, retrying', function.__name__)
                time.sleep(random.uniform(0.5, 1.5) * _FIRST_BACKOFF * 2 ** attempt)
    return retrying
