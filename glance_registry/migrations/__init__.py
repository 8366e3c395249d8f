"""Versioned schema migrations of the image database.

Each migration is a module ``mNNNN_<what>.py`` with ``VERSION`` (its number),
``DESCRIPTION`` and ``upgrade(db)``, listed in ``MIGRATIONS`` in order. A migration
never imports ``glance_registry.models`` (which describes only the latest schema):
each declares the tables it creates, frozen as they were then, and alters existing
ones with plain DDL that every backend runs in place. (``playhouse.migrate`` rebuilds
a SQLite table to add a NOT NULL column, and dropping ``images`` to rebuild it would
cascade to its properties, tags, locations and members.)

The ``schema_version`` table records every applied version; ``current_version`` is
the highest. ``upgrade`` applies the missing ones in order, each in its own
transaction together with its ``schema_version`` row, under a database-wide lock so
that two ``glance-manage db sync`` runs cannot both apply one migration.
"""

import contextlib
import datetime
import logging

import peewee

from glance_registry import db as db_module
from glance_registry.migrations import m0001_initial
from glance_registry.migrations import m0002_quotas
from glance_registry.migrations import m0003_location_leases
from glance_registry.migrations import m0004_upload_leases
from glance_registry.migrations import m0005_name_sort_index
from glance_registry.migrations import m0006_upload_ids
from glance_registry.migrations import m0007_metadefs
from glance_registry.migrations import m0008_task_leases
from glance_registry.migrations import m0009_list_filter_indexes
from glance_registry.migrations import m0010_image_lifecycle
from glance_registry.migrations import m0011_cache_queue
from glance_registry.migrations import m0013_health_checks
from glance_registry.migrations import m0015_location_locks
from glance_registry.migrations import m0016_mysql_list_columns
from glance_registry.migrations import m0017_data_to_remove
from glance_registry.migrations import m0018_cache_copies
from glance_registry.migrations import m0019_child_status
from glance_registry.migrations import m0020_child_created_at
from glance_registry.migrations import m0021_child_formats
from glance_registry.migrations import m0022_child_access

LOG = logging.getLogger(__name__)

MIGRATIONS = (
    m0001_initial,
    m0002_quotas,
    m0003_location_leases,
    m0004_upload_leases,
    m0005_name_sort_index,
    m0006_upload_ids,
    m0007_metadefs,
    m0008_task_leases,
    m0009_list_filter_indexes,
    m0010_image_lifecycle,
    m0011_cache_queue,
    m0013_health_checks,
    m0015_location_locks,
    m0016_mysql_list_columns,
    m0017_data_to_remove,
    m0018_cache_copies,
    m0019_child_status,
    m0020_child_created_at,
    m0021_child_formats,
    m0022_child_access,
)

_LOCK_NAME = 'glance_registry_migrations'
_PG_LOCK_KEY = 0x676c616e6365  # "glance"


def latest_version():
    """The version the code needs: that of the last migration."""
    return MIGRATIONS[-1].VERSION


class UnusableDatabase(Exception):
    """The database cannot hold this service's records, whatever its schema."""


class UpstreamSchema(UnusableDatabase):
    """The database is upstream Glance's own (its alembic version table, none of
    ours): an operator moving over kept its ``[database] connection``."""


def _refuse_other_encodings(db):
    """``UnusableDatabase`` for a PostgreSQL database not encoded in UTF-8 (created
    from a LATIN1 or SQL_ASCII template): names, tags and properties are Unicode,
    and every one it cannot encode would fail its request with 500."""
    if db_module.dialect(db) != 'postgresql':
        return   # MariaDB tables are utf8mb4 whatever the database's default.
    encoding = db.execute_sql('SHOW server_encoding').fetchone()[0]
    if encoding != 'UTF8':
        raise UnusableDatabase(
            '%s is encoded in %s, which cannot hold every name, tag and property: '
            "create the database with ENCODING 'UTF8' (CREATE DATABASE ... ENCODING "
            "'UTF8' TEMPLATE template0) and run `glance-manage db sync` there"
            % (db_module.describe(db), encoding))


def _refuse_upstream_schema(db):
    """``UpstreamSchema`` if ``db`` holds upstream Glance's schema: creating ours
    beside it fails half-way (its ``images`` table is there), and telling the
    operator to run ``db sync`` is wrong advice."""
    tables = db.get_tables()
    if 'schema_version' in tables or 'alembic_version' not in tables:
        return
    row = db.execute_sql('SELECT version_num FROM alembic_version').fetchone()
    raise UpstreamSchema(
        "%s holds upstream Glance's schema (alembic revision %s), which this service "
        "cannot use: give it a database of its own in [database] connection and run "
        "`glance-manage db sync` there (upstream's image records are not converted)"
        % (db_module.describe(db), row[0] if row else 'none'))


def current_version(db):
    """The database's schema version; 0 for an empty database.
    ``UnusableDatabase`` for upstream Glance's, or one not encoded in UTF-8."""
    with db_module.connection(db):
        _refuse_upstream_schema(db)
        _refuse_other_encodings(db)
        if 'schema_version' not in db.get_tables():
            return 0
        return _recorded_version(db)


def upgrade(db, target=None):
    """Apply the migrations the database lacks, up to ``target`` (default: all).

    Returns the versions applied, in order (empty when already up to date).
    """
    target = latest_version() if target is None else target
    applied = []
    with db_module.connection(db), _migration_lock(db):
        _refuse_upstream_schema(db)
        _refuse_other_encodings(db)
        with db.bind_ctx([_SchemaVersion]):
            db.create_tables([_SchemaVersion], safe=True)
        for migration in MIGRATIONS:
            if migration.VERSION > target:
                break
            with db_module.write_transaction(db):
                # Re-read inside the transaction: another sync may have won.
                if _recorded_version(db) >= migration.VERSION:
                    continue
                LOG.info('applying migration %04d: %s', migration.VERSION,
                         migration.DESCRIPTION)
                migration.upgrade(db)
                with db.bind_ctx([_SchemaVersion]):
                    _SchemaVersion.create(
                        version=migration.VERSION, description=migration.DESCRIPTION,
                        applied_at=datetime.datetime.now(datetime.timezone.utc)
                        .replace(tzinfo=None))
            applied.append(migration.VERSION)
    return applied


class _SchemaVersion(peewee.Model):
    version = peewee.IntegerField(primary_key=True)
    description = peewee.CharField(max_length=255)
    applied_at = peewee.DateTimeField()

    class Meta:
        table_name = 'schema_version'


def _recorded_version(db):
    with db.bind_ctx([_SchemaVersion]):
        return _SchemaVersion.select(peewee.fn.MAX(_SchemaVersion.version)).scalar() or 0


@contextlib.contextmanager
def _migration_lock(db):
    kind = db_module.dialect(db)
    if kind == 'postgresql':
        db.execute_sql('SELECT pg_advisory_lock(%s)', (_PG_LOCK_KEY,))
        try:
            yield
        finally:
            db.execute_sql('SELECT pg_advisory_unlock(%s)', (_PG_LOCK_KEY,))
    elif kind == 'mysql':
        got = db.execute_sql('SELECT GET_LOCK(%s, 300)', (_LOCK_NAME,)).fetchone()[0]
        if got != 1:
            raise RuntimeError('another migration holds the lock %r' % _LOCK_NAME)
        try:
            yield
        finally:
            db.execute_sql('SELECT RELEASE_LOCK(%s)', (_LOCK_NAME,))
    else:
        # SQLite: BEGIN IMMEDIATE around each migration serialises the writers.
        yield
