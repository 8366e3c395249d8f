"""Opening the database from a URL, SQLite's tuning, write transactions that do not
fail under concurrent writers, and read transactions that read one snapshot."""

import datetime
import threading
import time

import peewee
import pytest
from playhouse import pool

from glance_registry import db as db_module
from tests.fixtures import databases as databases_module
from tests.fixtures.databases import databases  # noqa: F401 (a fixture)
from tests.fixtures.tools import immutable


@pytest.mark.parametrize('url,cls,database,params', [
    ('sqlite:////var/lib/glance/glance.sqlite', pool.PooledSqliteDatabase,
     '/var/lib/glance/glance.sqlite', {}),
    ('sqlite:///relative.sqlite', pool.PooledSqliteDatabase, 'relative.sqlite', {}),
    ('postgresql://glance@db.example:5433/images', pool.PooledPostgresqlDatabase,
     'images', {'user': 'glance', 'host': 'db.example', 'port': 5433}),
    ('postgresql+psycopg2://glance:p%40ss@db/images', pool.PooledPostgresqlDatabase,
     'images', {'user': 'glance', 'password': 'p@ss', 'host': 'db'}),
    ('postgres://db/images', pool.PooledPostgresqlDatabase, 'images', {'host': 'db'}),
    ('mysql://root@127.0.0.1:3306/glance', pool.PooledMySQLDatabase, 'glance',
     {'user': 'root', 'host': '127.0.0.1', 'port': 3306, 'charset': 'utf8mb4'}),
    # Copied from an upstream config: the SQLAlchemy driver and options.
    ('mysql+pymysql://glance:secret@db/glance?charset=utf8mb4&plugin=dbcounter',
     pool.PooledMySQLDatabase, 'glance',
     {'user': 'glance', 'password': 'secret', 'host': 'db', 'charset': 'utf8mb4'}),
])
def test_urls_open_pooled_databases(url, cls, database, params):
    db = db_module.open_database(url)
    assert isinstance(db, cls)
    assert db.database == database
    for key, value in params.items():
        assert db.connect_params[key] == value
    assert 'plugin' not in db.connect_params


@pytest.mark.postgresql
def test_postgresql_sessions_start_no_parallel_workers_for_a_page(databases):
    """A page query walking an index is faster alone than with workers to start."""
    db = db_module.open_database(databases.create('postgresql'))
    with db_module.connection(db):
        setting = db.execute_sql('SHOW max_parallel_workers_per_gather').fetchone()[0]
    db.close_all()
    assert setting == '0'


@pytest.mark.postgresql
def test_postgresql_lock_timeout_comes_before_the_urls_own_options(databases):
    """An operator's ``options`` in the URL win over ours (libpq keeps the last
    ``-c``), and a row lock is still waited for no longer than ours otherwise."""
    url = databases.create('postgresql')
    settings = {}
    for name, suffix in (('ours', ''), ('url', '?options=-c%20lock_timeout%3D7s'),
                         ('other', '?options=-c%20work_mem%3D8MB')):
        db = db_module.open_database(url + suffix, lock_wait_timeout=3)
        with db_module.connection(db):
            settings[name] = db.execute_sql('SHOW lock_timeout').fetchone()[0]
        db.close_all()
    assert settings == {'ours': '3s', 'url': '7s', 'other': '3s'}


@pytest.mark.mysql
def test_mariadb_sessions_wait_lock_wait_timeout_for_a_row_lock(databases):
    db = db_module.open_database(databases.create('mysql'), lock_wait_timeout=3)
    with db_module.connection(db):
        setting = db.execute_sql(
            'SELECT @@SESSION.innodb_lock_wait_timeout').fetchone()[0]
    db.close_all()
    assert setting == 3


@pytest.mark.mysql
def test_mariadb_lock_wait_timeout_holds_beside_the_urls_init_command(databases):
    """An operator's ``init_command`` in the URL (a short ``wait_timeout``, so that
    idle connections go) runs after ours, so it wins where it sets the same; a row
    lock is still waited for no longer than ours otherwise. It used to replace
    ours: MariaDB's default, 50 s, whatever ``lock_wait_timeout`` said."""
    url = databases.create('mysql')
    settings = {}
    for name, suffix in (
            ('ours', ''),
            ('url', '?init_command=SET+SESSION+innodb_lock_wait_timeout%3D7'),
            ('other', '?init_command=SET+SESSION+wait_timeout%3D5')):
        db = db_module.open_database(url + suffix, lock_wait_timeout=3)
        with db_module.connection(db):
            settings[name] = db.execute_sql(
                'SELECT @@SESSION.innodb_lock_wait_timeout, '
                '@@SESSION.wait_timeout = 5').fetchone()
        db.close_all()
    assert settings == {'ours': (3, 0), 'url': (7, 0), 'other': (3, 1)}


@pytest.mark.parametrize('url', ['oracle://db/glance', 'sqlite://', 'sqlite:///:memory:',
                                 'glance.sqlite', 'mysql+mysqldb://db/glance'])
def test_unusable_urls_are_refused(url):
    with pytest.raises(db_module.UnsupportedDatabase):
        db_module.open_database(url)


def test_describe_never_shows_the_password():
    db = db_module.open_database('postgresql://glance:hunter2@db:5432/images')
    assert db_module.describe(db) == 'postgresql://glance@db:5432/images'


def test_describe_names_no_port_when_the_url_gives_none():
    # 'host:/name' read as a port left empty, in every "db sync" line.
    db = db_module.open_database('postgresql://glance@db/images')
    assert db_module.describe(db) == 'postgresql://glance@db/images'


def test_sqlite_connections_use_wal_busy_timeout_normal_sync_and_foreign_keys(tmp_path):
    db = db_module.open_database('sqlite:///%s/t.sqlite' % tmp_path,
                                 sqlite_busy_timeout=7)
    with db_module.connection(db):
        assert db.pragma('journal_mode') == 'wal'
        assert db.pragma('busy_timeout') == 7000
        assert db.pragma('synchronous') == 1  # NORMAL
        assert db.pragma('foreign_keys') == 1
    db.close_all()


def _concurrent_read_then_write(tmp_path, begin, writers=4):
    """Writers that read, pause, then write, all at once: (outcomes, final count)."""
    db = db_module.open_database('sqlite:///%s/race.sqlite' % tmp_path)
    with db_module.connection(db):
        db.execute_sql('CREATE TABLE counter (n INTEGER)')
        db.execute_sql('INSERT INTO counter VALUES (0)')
    outcomes = []

    def writer():
        with db_module.connection(db):
            try:
                with begin(db):
                    db.execute_sql('SELECT n FROM counter').fetchone()
                    time.sleep(0.2)
                    db.execute_sql('UPDATE counter SET n = n + 1')
                outcomes.append('ok')
            except peewee.OperationalError as exc:
                outcomes.append(str(exc))

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db_module.connection(db):
        total = db.execute_sql('SELECT n FROM counter').fetchone()[0]
    db.close_all()
    return outcomes, total


def test_deferred_sqlite_transactions_fail_concurrent_writers(tmp_path):
    """Upstream's failure, which write_transaction exists to avoid: a deferred
    transaction that read first cannot upgrade to a write lock once another writer
    has committed, whatever the busy timeout."""
    outcomes, total = _concurrent_read_then_write(tmp_path, lambda db: db.atomic())
    assert 'database is locked' in outcomes
    assert total == outcomes.count('ok') < 4


def test_write_transactions_queue_concurrent_sqlite_writers(tmp_path):
    outcomes, total = _concurrent_read_then_write(tmp_path, db_module.write_transaction)
    assert outcomes == ['ok'] * 4
    assert total == 4


def test_a_connection_opened_read_only_is_not_reused_once_the_file_is_writable(
        tmp_path):
    path = tmp_path / 'ro.sqlite'
    db = db_module.open_database('sqlite:///%s' % path)
    with db_module.connection(db):
        db.execute_sql('CREATE TABLE t (x INTEGER)')
    db.close_all()
    # Immutable: even root opens it read-only (chmod does not stop root).
    with immutable(str(path)):
        with pytest.raises(peewee.OperationalError, match='readonly'):
            with db_module.connection(db):
                db.execute_sql('INSERT INTO t VALUES (1)')
    with db_module.connection(db):
        db.execute_sql('INSERT INTO t VALUES (2)')
        assert db.execute_sql('SELECT x FROM t').fetchall() == [(2,)]
    db.close_all()


_SESSION_TIME_ZONE = {
    'postgresql': "SET TIME ZONE 'Asia/Tokyo'",
    'mysql': "SET time_zone = '+09:00'",
}


@pytest.mark.parametrize('backend', ['sqlite', 'postgresql', 'mysql'])
def test_the_database_clock_is_naive_utc_whatever_the_session_time_zone(
        databases, backend):  # noqa: F811
    db = db_module.open_database(databases.create(backend), max_connections=1)
    try:
        with db_module.connection(db):
            if backend in _SESSION_TIME_ZONE:
                db.execute_sql(_SESSION_TIME_ZONE[backend])
            now = db_module.now(db)
    finally:
        db.close_all()
    assert now.tzinfo is None
    here = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert abs((now - here).total_seconds()) < 5, (now, here)


_KILL_SESSION = {
    'postgresql': ('SELECT pg_backend_pid()', 'SELECT pg_terminate_backend(%s)'),
    'mysql': ('SELECT CONNECTION_ID()', 'KILL %s'),
}


@pytest.mark.parametrize('backend', [
    pytest.param('postgresql', marks=pytest.mark.postgresql),
    pytest.param('mysql', marks=pytest.mark.mysql),
])
def test_a_connection_killed_in_a_transaction_is_reported_by_its_cause(
        databases, backend):  # noqa: F811
    """The rollback (and a migration's lock release) on the dead connection fails
    too; the operator is told why it died, not pymysql's "(0, '')"."""
    db = db_module.open_database(databases.create(backend), max_connections=1)
    admin = databases_module.admin_connection(backend)
    session, kill = _KILL_SESSION[backend]
    try:
        with pytest.raises((peewee.DatabaseError, peewee.InterfaceError)) as raised:
            with db_module.connection(db), db_module.write_transaction(db):
                with admin.cursor() as cursor:
                    cursor.execute(kill % db.execute_sql(session).fetchone()[0])
                db.execute_sql('SELECT 1')
    finally:
        admin.close()
        db.close_all()
    cause = str(db_module.cause(raised.value))
    assert ('server closed the connection unexpectedly' in cause
            if backend == 'postgresql' else 'Lost connection' in cause), cause


def _count(db):
    return db.execute_sql('SELECT COUNT(*) FROM t').fetchone()[0]


def _insert_elsewhere(url):
    """Insert a row into ``t`` and commit, as another registry worker would."""
    if url.startswith('sqlite'):
        other = db_module.open_database(url)
        with db_module.connection(other), db_module.write_transaction(other):
            other.execute_sql('INSERT INTO t VALUES (1)')
        other.close_all()
        return
    conn = databases_module.connect(url)
    with conn.cursor() as cursor:
        cursor.execute('INSERT INTO t VALUES (1)')
    conn.close()


@pytest.mark.parametrize('backend', [
    'sqlite',
    pytest.param('postgresql', marks=pytest.mark.postgresql),
    pytest.param('mysql', marks=pytest.mark.mysql),
])
def test_a_read_transaction_and_its_savepoints_read_one_snapshot(
        databases, backend):  # noqa: F811
    url = databases.create(backend)
    db = db_module.open_database(url)
    try:
        with db_module.connection(db):
            db.execute_sql('CREATE TABLE t (n INTEGER)')
            with db_module.read_transaction(db):
                first = _count(db)
                _insert_elsewhere(url)
                with db.atomic():
                    in_savepoint = _count(db)
                last = _count(db)
            after = _count(db)
    finally:
        db.close_all()
    assert (first, in_savepoint, last, after) == (0, 0, 0, 1)


@pytest.mark.postgresql
def test_postgresql_write_transactions_after_a_read_one_still_read_each_commit(
        databases):  # noqa: F811
    """PostgreSQL's writers rely on READ COMMITTED (each statement sees what
    committed before it): the snapshot of a read transaction ends with it, and
    does not stay with its pooled connection, which the next write gets."""
    url = databases.create('postgresql')
    db = db_module.open_database(url, max_connections=1)
    try:
        with db_module.connection(db):
            db.execute_sql('CREATE TABLE t (n INTEGER)')
            with db_module.read_transaction(db):
                _count(db)
        with db_module.connection(db), db_module.write_transaction(db):
            before = _count(db)
            _insert_elsewhere(url)
            after = _count(db)
    finally:
        db.close_all()
    assert (before, after) == (0, 1)


@pytest.mark.postgresql
def test_nothing_writes_inside_a_read_transaction_on_postgresql(
        databases):  # noqa: F811
    db = db_module.open_database(databases.create('postgresql'))
    try:
        with db_module.connection(db):
            db.execute_sql('CREATE TABLE t (n INTEGER)')
            with pytest.raises(peewee.InternalError, match='read-only transaction'):
                with db_module.read_transaction(db):
                    db.execute_sql('INSERT INTO t VALUES (1)')
            assert _count(db) == 0
    finally:
        db.close_all()
