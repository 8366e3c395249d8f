"""Quota accounting: bytes reserved by uploads in progress, and per-project locks.

``images.reserved`` holds what an upload in progress has reserved against its
project's storage limit (0 otherwise; existing rows get 0). ``project_locks`` has one
row per project, which writers that check a per-project limit lock first
(``glance_registry.images.quotas.lock_project``).

On PostgreSQL the child tables' ``image_id`` columns also get the "C" collation of
``images.id``: version 1 left them in the database's default collation, and a
comparison between columns of two collations cannot use an index, so every
correlated subquery (``... WHERE image_locations.image_id = images.id``: usage, tag,
property and member filters) scanned the whole child table. PostgreSQL rebuilds the
indexes on those columns; the rows are not rewritten.

MariaDB commits DDL at once, outside the migration's transaction: each step checks
whether it was already done, so a sync interrupted half-way can simply be run again.
"""

import peewee

from glance_registry import db as db_module

VERSION = 2
DESCRIPTION = ('upload reservations, per-project quota locks, and image_id columns '
               'collated as images.id (PostgreSQL)')


def _tables():
    class ProjectLock(peewee.Model):
        project_id = peewee.CharField(max_length=255, primary_key=True)

        class Meta:
            table_name = 'project_locks'

    return [ProjectLock]


def _table_collation(db, table):
    # The new table compares project ids exactly as images.owner does.
    return db.execute_sql(
        'SELECT TABLE_COLLATION FROM information_schema.TABLES '
        'WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s', (table,)).fetchone()[0]


_CHILD_TABLES = ('image_properties', 'image_tags', 'image_locations', 'image_members')


def upgrade(db):
    kind = db_module.dialect(db)
    if kind == 'postgresql':
        for table in _CHILD_TABLES:
            db.execute_sql('ALTER TABLE %s ALTER COLUMN image_id TYPE VARCHAR(36) '
                           'COLLATE "C"' % table)
    if 'reserved' not in {column.name for column in db.get_columns('images')}:
        # A constant default: every backend adds the column without rewriting rows
        # one by one (SQLite and MariaDB instantly, PostgreSQL >= 11 too).
        db.execute_sql('ALTER TABLE images ADD COLUMN reserved BIGINT NOT NULL '
                       'DEFAULT 0')
    tables = _tables()
    if kind == 'mysql':
        collation = _table_collation(db, 'images')
        for table in tables:
            table._meta.table_settings = ['ENGINE=InnoDB', 'DEFAULT CHARSET=utf8mb4',
                                          'COLLATE=%s' % collation]
    elif kind == 'postgresql':
        for table in tables:
            for field in table._meta.sorted_fields:
                if isinstance(field, peewee.CharField):
                    field.collation = '"C"'
    with db.bind_ctx(tables):
        db.create_tables(tables, safe=True)
