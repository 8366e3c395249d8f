"""Registry calls that race for certain.

A barrier starts threads together, but one call may still reach the database after
another has finished, and a race test then passes on calls that ran one after the
other. ``race`` first closes a gate, the lock every registry write takes before it
reads what it checks (PostgreSQL: the ``images`` table; MariaDB: the ``images`` and
``project_locks`` tables; SQLite: the file lock its writers queue on), starts the calls,
waits until the database shows them waiting at the gate, and opens it. It checks
that they overlapped (each began before the gate opened and ended after) and that
the database saw them wait together, then returns their outcomes.
"""

import fcntl
import os
import sqlite3
import threading
import time

from glance_registry.client import errors
from tests.fixtures import databases

# How long the number of callers waiting at the gate must stay the same before the
# gate opens without all of them: a registry worker serves at most its threads at
# once, and SQLite's writers queue in their process before the file lock.
SETTLED = 0.5


def race(registry, calls, gate=None):
    """Run the zero-argument ``calls`` at once against ``registry``; their outcomes,
    in the same order: the result, or the ``RegistryError`` raised. ``gate``: the
    gate's class for the registry's backend, if not the usual one (``GATES``)."""
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)
    spans = [None] * len(calls)

    def run(i):
        barrier.wait()
        began = time.monotonic()
        try:
            outcomes[i] = calls[i]()
        except errors.RegistryError as exc:
            outcomes[i] = exc
        finally:
            spans[i] = (began, time.monotonic())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    gate = (gate or GATES[registry.backend])(registry.database_url)
    try:
        for thread in threads:
            thread.start()
        gate.wait_for(len(calls))
        opened = time.monotonic()
    finally:
        gate.open()
    for thread in threads:
        thread.join()
    assert all(began < opened < ended for began, ended in spans), \
        'the calls did not overlap: %s, the gate opened at %s' % (spans, opened)
    return outcomes


def changed_while_waiting(backend, database_url, call, image_id, **columns):
    """Run ``call`` (one registry write) with the gate closed; while it waits there,
    set ``columns`` of image ``image_id`` as a concurrent writer would (before the
    call's transaction can lock the row, after anything it read outside one), then
    open the gate; the call's outcome: its result, or the ``RegistryError``."""
    outcome = []

    def run():
        try:
            outcome.append(call())
        except errors.RegistryError as exc:
            outcome.append(exc)

    gate = GATES[backend](database_url)
    thread = threading.Thread(target=run)
    try:
        thread.start()
        gate.wait_for(1)
        gate.set_image(image_id, columns)
    finally:
        gate.open()
    thread.join()
    return outcome[0]


def _update_sql(columns, param):
    return 'UPDATE images SET %s WHERE id = %s' % (
        ', '.join('%s = %s' % (name, param) for name in sorted(columns)), param)


def _update_params(image_id, columns):
    return [columns[name] for name in sorted(columns)] + [image_id]


class _Gate:
    """Closed from creation until ``open``."""

    #: Seconds between two looks at the waiters.
    poll = 0.02

    def wait_for(self, count, timeout=30):
        """Until ``count`` callers wait at the gate, or at least ``least_visible`` do
        and their number has stopped growing; how many wait."""
        least = self.least_visible(count)
        deadline = time.monotonic() + timeout
        seen, since = 0, time.monotonic()
        while True:
            now = self.waiting()
            if now >= count:
                return now
            if now != seen:
                seen, since = now, time.monotonic()
            elif now >= least and time.monotonic() - since > SETTLED:
                return now
            assert time.monotonic() < deadline, \
                'only %d of %d calls waited at the database together in %ss' % (
                    now, count, timeout)
            time.sleep(self.poll)

    def least_visible(self, count):
        """The fewest callers that must be seen waiting together."""
        return min(count, 2)


class _PostgresqlGate(_Gate):
    """``LOCK TABLE images IN EXCLUSIVE MODE``: reads pass, every write (an insert,
    an update, a row lock) waits."""

    table = 'images'

    def __init__(self, url):
        self._holder = databases.connect(url)
        self._observer = databases.connect(url)
        with self._holder.cursor() as cursor:
            cursor.execute('BEGIN')
            cursor.execute('LOCK TABLE %s IN EXCLUSIVE MODE' % self.table)

    def waiting(self):
        with self._observer.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                           "current_database() AND wait_event_type = 'Lock'")
            return cursor.fetchone()[0]

    def set_image(self, image_id, columns):
        """Change the image in the gate's transaction, committed as it opens."""
        with self._holder.cursor() as cursor:
            cursor.execute(_update_sql(columns, '%s'),
                           _update_params(image_id, columns))
        self._commit = True

    def open(self):
        with self._holder.cursor() as cursor:
            cursor.execute('COMMIT' if getattr(self, '_commit', False)
                           else 'ROLLBACK')
        self._holder.close()
        self._observer.close()


class PostgresqlLocationsGate(_PostgresqlGate):
    """Lets writers read and lock what they check, and holds them at their first
    insert of a location: a race test of a check on other images' locations sees
    whether the check alone (without a lock) would let them all through."""

    table = 'image_locations'


class _MysqlGate(_Gate):
    """``LOCK TABLES images WRITE, project_locks WRITE``: any use of either table
    waits, in a state the process list names (InnoDB's row-lock views are refreshed
    at most every 0.1 s, and can show the waiters of the previous race)."""

    def __init__(self, url):
        self._holder = databases.connect(url)
        self._observer = databases.connect(url)
        with self._holder.cursor() as cursor:
            cursor.execute('LOCK TABLES images WRITE, project_locks WRITE')

    def waiting(self):
        with self._observer.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM information_schema.processlist "
                           "WHERE db = DATABASE() "
                           "AND state = 'Waiting for table metadata lock'")
            return cursor.fetchone()[0]

    def set_image(self, image_id, columns):
        with self._holder.cursor() as cursor:
            cursor.execute(_update_sql(columns, '%s'),
                           _update_params(image_id, columns))

    def open(self):
        with self._holder.cursor() as cursor:
            cursor.execute('UNLOCK TABLES')
        self._holder.close()
        self._observer.close()


class _SqliteGate(_Gate):
    """The ``<database>.write-lock`` file lock that every writer takes first."""

    def __init__(self, url):
        self._database = url[len('sqlite:///'):]
        path = self._database + '.write-lock'
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self._inode = ':%d ' % os.fstat(self._fd).st_ino

    def waiting(self):
        with open('/proc/locks') as f:
            return sum(1 for line in f if '-> FLOCK' in line and self._inode in line)

    def least_visible(self, count):
        # A worker's writers queue on a lock in the process before one of them
        # waits for the file: the kernel shows one waiter per worker process.
        return 1

    def set_image(self, image_id, columns):
        # The writers wait before their transaction: the file itself is free.
        with sqlite3.connect(self._database, timeout=30) as conn:
            conn.execute(_update_sql(columns, '?'), _update_params(image_id, columns))
        conn.close()

    def open(self):
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


GATES = {'postgresql': _PostgresqlGate, 'mysql': _MysqlGate, 'sqlite': _SqliteGate}
