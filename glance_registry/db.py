"""Opening the image database from a URL, and the transactions the registry uses.

``open_database(url)`` builds a pooled peewee database (nothing connects until the
first query). Every request runs inside ``connection(db)``; writes inside
``write_transaction(db)`` and multi-query reads inside ``read_transaction(db)``.

SQLite is tuned for several worker processes writing at once: WAL journal, a busy
timeout, and ``BEGIN IMMEDIATE`` for every write transaction. Upstream Glance opens a
deferred transaction, reads, then writes; two such writers deadlock on the lock upgrade
and SQLite fails one at once with "database is locked", whatever the busy timeout.
Taking the write lock at ``BEGIN`` makes the second writer wait its turn instead.
"""

import contextlib
import datetime
import fcntl
import logging
import os
import threading
import time
import urllib.parse

import peewee
from playhouse import db_url
from playhouse import pool

LOG = logging.getLogger(__name__)

# Schemes operators copy from SQLAlchemy (upstream Glance) configs.
_SCHEME_ALIASES = {
    'sqlite': 'sqlite+pool',
    'postgres': 'postgresql+pool',
    'postgresql': 'postgresql+pool',
    'postgresql+psycopg2': 'postgresql+pool',
    'mysql': 'mysql+pool',
    'mysql+pymysql': 'mysql+pool',
}

# SQLAlchemy URL options that are not driver connect() arguments.
_SQLALCHEMY_ONLY = frozenset(['plugin', 'client_encoding'])

# Logical column types that the schema relies on, per dialect. They are part of the
# schema: changing one needs a migration.
_FIELD_TYPES = {
    # Microseconds: ordering and keyset pagination compare full timestamps.
    # MEDIUMTEXT: property values are up to 65535 characters, up to 4 bytes each.
    'mysql': {'DATETIME': 'DATETIME(6)', 'TEXT': 'MEDIUMTEXT'},
}


class UnsupportedDatabase(ValueError):
    """The connection URL names no database the registry can use."""


def dialect(db):
    """``'sqlite'``, ``'postgresql'`` or ``'mysql'``."""
    if isinstance(db, peewee.SqliteDatabase):
        return 'sqlite'
    if isinstance(db, peewee.PostgresqlDatabase):
        return 'postgresql'
    if isinstance(db, peewee.MySQLDatabase):
        return 'mysql'
    raise UnsupportedDatabase('unsupported database %r' % type(db).__name__)


def open_database(url, max_connections=8, pool_timeout=30, recycle=3600,
                  sqlite_busy_timeout=10, lock_wait_timeout=30):
    """A pooled peewee database for ``url``; no connection is opened yet.
    ``lock_wait_timeout``: seconds a PostgreSQL or MariaDB statement waits for a
    row lock before it fails (``error_message``: busy)."""
    scheme, _, rest = url.partition('://')
    if not rest:
        raise UnsupportedDatabase('database URL %r has no scheme' % _redact(url))
    pooled_scheme = _SCHEME_ALIASES.get(scheme.lower())
    if pooled_scheme is None:
        raise UnsupportedDatabase(
            'unsupported database URL scheme %r: use sqlite, postgresql or mysql'
            % scheme)
    location, _, query_string = rest.partition('?')
    query = [(k, v) for k, v in urllib.parse.parse_qsl(query_string,
                                                       keep_blank_values=True)
             if k not in _SQLALCHEMY_ONLY]
    kind = pooled_scheme.split('+')[0]
    # pymysql runs one init_command: the URL's runs after ours (_MySQLDatabase).
    init_commands = [v for k, v in query if k == 'init_command' and kind == 'mysql']
    query = [(k, v) for k, v in query if k != 'init_command' or kind != 'mysql']
    # A request stuck behind another transaction's row lock must fail in time to
    # be answered (503, busy), not hold its thread and connection for as long as
    # the lock lasts: PostgreSQL waits for ever by default.
    pg_lock_timeout = '-c lock_timeout=%d' % (lock_wait_timeout * 1000)
    if kind == 'postgresql':
        # Before the URL's own options, which therefore win (libpq: the last -c).
        query = [(k, '%s %s' % (pg_lock_timeout, v) if k == 'options' else v)
                 for k, v in query]
    # Rebuilt by hand: urlunsplit() turns sqlite:////abs/path into a host name.
    url = '%s://%s' % (pooled_scheme, location)
    if query:
        url += '?' + urllib.parse.urlencode(query)
    parsed = urllib.parse.urlsplit(url)
    options = {'max_connections': max_connections, 'timeout': pool_timeout,
               'stale_timeout': recycle,
               'field_types': _FIELD_TYPES.get(kind)}
    if kind == 'sqlite':
        path = parsed.path[1:]
        if not path or path == ':memory:':
            raise UnsupportedDatabase(
                'an in-memory SQLite database cannot be shared by the registry '
                'workers: give a file, e.g. sqlite:////var/lib/glance/glance.sqlite')
        options.update(
            # A pooled connection moves between request threads (one at a time).
            check_same_thread=False,
            pragmas=[('journal_mode', 'wal'),
                     ('busy_timeout', sqlite_busy_timeout * 1000),
                     ('synchronous', 'normal'),
                     ('foreign_keys', 1)])
    elif kind == 'postgresql':
        if 'connect_timeout' not in dict(query):
            options['connect_timeout'] = 10
        if 'options' not in dict(query):
            # Every registry query reads a page or a record: starting parallel
            # workers for one cost more than the query (a million-image list page
            # walking its index: 12 ms with two workers, 3 ms without).
            options['options'] = ('-c max_parallel_workers_per_gather=0 %s'
                                  % pg_lock_timeout)
    elif kind == 'mysql':
        from pymysql.constants import CLIENT
        options.update(
            charset='utf8mb4',
            # rowcount counts matched rows, not changed ones: the status
            # compare-and-swap must tell "lost the race" from "no change".
            client_flag=CLIENT.FOUND_ROWS)
        # The URL's own after ours, so that it wins where it sets the same (as
        # PostgreSQL's options do).
        options['session_sql'] = ['SET SESSION innodb_lock_wait_timeout = %d'
                                  % lock_wait_timeout] + init_commands
        if 'connect_timeout' not in dict(query):
            options['connect_timeout'] = 10
    try:
        if kind == 'sqlite':
            # Ours, so that the queue of its writers has a home.
            return _SqliteDatabase(**dict(db_url.parse(url), **options))
        if kind == 'mysql':
            params = db_url.parse(url, unquote_password=True, unquote_user=True)
            if not params['database']:
                # As db_url.connect says it of the other schemes.
                raise ValueError('"%s" has no database name: remote databases take '
                                 '"mysql://host/dbname"' % url)
            return _MySQLDatabase(**dict(params, **options))
        return db_url.connect(url, unquote_password=True, unquote_user=True, **options)
    except (RuntimeError, ValueError) as exc:
        raise UnsupportedDatabase('%s: %s' % (_redact(url), exc)) from None


def _redact(url):
    parsed = urllib.parse.urlsplit(url)
    if parsed.password:
        netloc = parsed.netloc.replace(':%s@' % parsed.password, ':***@')
        return urllib.parse.urlunsplit(parsed._replace(netloc=netloc))
    return url


def missing_sqlite(db):
    """Whether ``db`` is an SQLite file that does not exist: connecting would create
    an empty one, which would then pass for a database."""
    return dialect(db) == 'sqlite' and not os.path.exists(db.database)


def describe(db):
    """The database for log lines, without credentials."""
    kind = dialect(db)
    if kind == 'sqlite':
        return 'sqlite:///%s' % db.database
    params = db.connect_params
    port = params.get('port')
    return '%s://%s@%s%s/%s' % (kind, params.get('user', ''), params.get('host', ''),
                                ':%s' % port if port else '', db.database)


@contextlib.contextmanager
def connection(db):
    """Hold one pooled connection for the duration of the block (nests)."""
    try:
        # The pools ping a connection on checkout and replace it if the server
        # closed it (a restart, an idle reaper).
        opened = _connect(db)
    except pool.MaxConnectionsExceeded as exc:
        raise peewee.OperationalError('database connection pool exhausted') from exc
    try:
        yield db
    except peewee.DatabaseError as exc:
        if opened and _spoils_connection(exc):
            # Not back into the pool: SQLite opened it read-only (the file was
            # read-only then) and would stay so after the file is writable again.
            getattr(db, 'manual_close', db.close)()   # pooled, or a plain one
            opened = False
        raise
    finally:
        if opened:
            _release(db)


def _spoils_connection(exc):
    text = str(exc).lower()
    return any(sign in text for sign in ('readonly database', 'disk i/o error',
                                         'not a database', 'malformed'))


_SQLITE_CONNECT_ATTEMPTS = 5


def _connect(db):
    for attempt in range(_SQLITE_CONNECT_ATTEMPTS):
        try:
            return db.connect(reuse_if_open=True)
        except peewee.OperationalError as exc:
            # Connections that switch a new SQLite file to WAL at the same time (two
            # `db sync` runs) would deadlock, so SQLite fails all but one at once,
            # whatever the busy timeout. Once the file is in WAL mode this cannot
            # happen again.
            if (dialect(db) != 'sqlite' or 'database is locked' not in str(exc)
                    or attempt + 1 == _SQLITE_CONNECT_ATTEMPTS):
                raise
            time.sleep(0.05 * (attempt + 1))


def _release(db):
    try:
        db.close()
    except Exception:
        # A broken connection must not hide the request's own outcome.
        LOG.warning('could not return a database connection to the pool',
                    exc_info=True)


# The database's clock, as naive UTC (the models' timestamps). PostgreSQL's now() is
# when the transaction began; statement_timestamp() is this query's. SQLite's text
# compares with the stored 'YYYY-MM-DD HH:MM:SS.ffffff' as times do.
_NOW = {
    'postgresql': "statement_timestamp() AT TIME ZONE 'UTC'",
    'mysql': 'UTC_TIMESTAMP(6)',
    'sqlite': "strftime('%Y-%m-%d %H:%M:%f', 'now')",
}
_NOW_SQL = {kind: 'SELECT ' + expression for kind, expression in _NOW.items()}


def now_sql(db):
    """``now(db)`` as an SQL expression, for a query that judges leases by the
    database's clock without asking for the time first."""
    return peewee.SQL(_NOW[dialect(db)])


def now(db):
    """The database server's current time (naive UTC, as the models store it).

    Every lease is granted and judged by this clock, not the registry host's: with
    registries on several hosts, a host whose clock drifts would otherwise take over
    a live upload, or let a dead one hold its image too long. (An SQLite database
    has only one host: there the two clocks are the same.)
    """
    value = db.execute_sql(_NOW_SQL[dialect(db)]).fetchone()[0]
    if isinstance(value, str):
        value = datetime.datetime.strptime(value, '%Y-%m-%d %H:%M:%S.%f')
    return value.replace(tzinfo=None)


def write_transaction(db):
    """A transaction that will write: on SQLite it takes the write lock at BEGIN.

    SQLite writers also queue on a file lock first (``_SqliteWriters``), so that a
    writer waiting for the database sleeps in the kernel and wakes the moment the
    lock is free, instead of in SQLite's busy handler, which polls with growing
    sleeps and lets later writers overtake: under 8 concurrent writers that made the
    slowest creates take over a second.
    """
    if dialect(db) == 'sqlite':
        return _sqlite_write(db)
    return db.atomic()


@contextlib.contextmanager
def _sqlite_write(db):
    with db.writers.hold():
        with db.atomic('IMMEDIATE'):
            yield


class _SqliteWriters:
    """A queue for the writers of one SQLite file, across threads and processes.

    An flock on ``<database>.write-lock``. The file is opened once per process (a
    descriptor inherited through fork would share its lock with the parent).
    """

    def __init__(self, path):
        self._path = path + '.write-lock'
        self._lock = threading.RLock()
        self._depth = 0
        self._fd = None
        self._pid = None

    @contextlib.contextmanager
    def hold(self):
        with self._lock:
            fd = self._descriptor() if self._depth == 0 else self._fd
            if fd is not None and self._depth == 0:
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if fd is not None and self._depth == 0:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def _descriptor(self):
        if self._pid != os.getpid():
            self._pid = os.getpid()
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                                   0o600)
            except OSError:
                # A read-only directory: SQLite will report the real problem.
                self._fd = None
        return self._fd


class _SqliteDatabase(pool.PooledSqliteDatabase):
    """A pooled SQLite database, and the queue its writers wait in (``writers``)."""

    def __init__(self, database, **kwargs):
        super().__init__(database, **kwargs)
        self.writers = _SqliteWriters(database)


class _MySQLDatabase(pool.PooledMySQLDatabase):
    """A pooled MariaDB database that runs ``session_sql``, its statements in
    order, once on each new connection (not at each checkout from the pool: a
    round trip a request)."""

    def __init__(self, database, session_sql=(), **kwargs):
        self.session_sql = tuple(session_sql)
        super().__init__(database, **kwargs)

    def _connect(self):
        conn = super()._connect()
        if not getattr(conn, 'glance_session_set', False):
            try:
                with conn.cursor() as cursor:
                    for statement in self.session_sql:
                        cursor.execute(statement)
            except Exception:
                self._close(conn, close_conn=True)
                raise
            conn.glance_session_set = True
        return conn


# A read transaction on PostgreSQL: the rest of peewee's BEGIN TRANSACTION
# ISOLATION LEVEL ... statement.
_PG_SNAPSHOT = 'REPEATABLE READ READ ONLY'


def read_transaction(db):
    """A transaction for several reads that see one snapshot of the database, so
    that a write committed between two of them (a PATCH of an image's name and a
    property) is seen whole or not at all. Nothing may write inside it.

    SQLite's read transactions hold one snapshot, and so do MariaDB's at the
    server's default isolation, REPEATABLE READ (the registry sets none; the README
    tells operators to keep it). PostgreSQL's default, READ COMMITTED, takes one
    per statement: there the transaction is REPEATABLE READ, READ ONLY (in which no
    serialization failure can happen). peewee sends the BEGIN itself (psycopg2 runs
    in autocommit), so the level costs no round trip, and it is this transaction's
    alone: the session, and the write transactions after it on the pooled
    connection, stay READ COMMITTED. Inside another transaction it is a savepoint
    of that one, and reads as that one does.
    """
    if dialect(db) == 'postgresql':
        return db.atomic(isolation_level=_PG_SNAPSHOT)
    return db.atomic()


def check_writable(db):
    """Update the health check's row (migration 13) and commit; raises the
    database's error if it cannot be written (read-only, full, gone)."""
    with write_transaction(db):
        db.execute_sql('UPDATE health_checks SET checked_at = %s WHERE id = 1'
                       % db.param, (datetime.datetime.now(datetime.timezone.utc)
                                    .replace(tzinfo=None),))


def cause(exc):
    """The database error that began ``exc``'s chain, for operators' log lines: on
    a connection the server closed (a restart, a killed session), the rollback and
    a migration's lock release fail again, and pymysql's "(0, '')" would hide why."""
    first = exc
    while isinstance(exc.__context__, Exception):
        exc = exc.__context__
        if isinstance(exc, (peewee.DatabaseError, peewee.InterfaceError)):
            first = exc
    return first


def error_message(exc):
    """What a client may be told about a database error (no internals)."""
    text = str(exc).lower()
    if 'readonly database' in text or 'read-only' in text or '--read-only' in text:
        return 'the image database is read-only'
    if 'unable to open database' in text:
        return 'the image database file cannot be opened'
    if ('database is locked' in text or 'database is busy' in text
            or 'lock timeout' in text or 'lock wait timeout' in text):
        return 'the image database is busy; try again'
    if 'pool exhausted' in text:
        return 'no free database connection; try again'
    return 'the image database is unavailable'
