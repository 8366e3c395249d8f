"""Replaying a write transaction that the database chose as a deadlock victim."""

import functools
import logging

import peewee

LOG = logging.getLogger(__name__)

_DEADLOCK_RETRIES = 3


def retry_on_deadlock(function):
    """Run a write again when the database chose it as a deadlock victim.

    Every write locks its image row first, so deadlocks are rare; but MariaDB's gap
    locks on the child tables' unique indexes can still produce one, and the whole
    transaction can safely be replayed.
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
    return retrying
