"""The image lifecycle: leases of the scrubbers on images in ``pending_delete``, and
the ids of purged images.

``scrub_lease_owner`` and ``scrub_lease_expires_at`` say which scrubber is deleting
an image's data and until when it must finish or renew (``glance-scrubber``: several
may run at once; one that dies leaves an expired lease, which another takes over).
Once claimed, an image is never restored: part of its data may be gone.

``purged_images`` keeps the id of every image row that ``glance-manage db
purge_images_table`` removed, so that a new image can never take it (upstream keeps
the image rows themselves for that reason, and reuses ids once they are purged).

MariaDB commits DDL at once, outside the migration's transaction: each step checks
whether it was already done, so a sync interrupted half-way can simply be run again.
"""

import peewee

from glance_registry import db as db_module

VERSION = 10
DESCRIPTION = 'scrubber leases on images pending delete, and the ids of purged images'

# As version 1 declared its columns: text compared as images.id is (binary), times
# with microseconds.
_COLUMNS = {
    'sqlite': [('scrub_lease_owner', 'VARCHAR(64)'),
               ('scrub_lease_expires_at', 'DATETIME')],
    'postgresql': [('scrub_lease_owner', 'VARCHAR(64) COLLATE "C"'),
                   ('scrub_lease_expires_at', 'TIMESTAMP')],
    # New columns take the table's (binary) collation.
    'mysql': [('scrub_lease_owner', 'VARCHAR(64)'),
              ('scrub_lease_expires_at', 'DATETIME(6)')],
}


def _tables():
    class PurgedImage(peewee.Model):
        id = peewee.CharField(max_length=36, primary_key=True)
        purged_at = peewee.DateTimeField()

        class Meta:
            table_name = 'purged_images'

    return [PurgedImage]


def _table_collation(db, table):
    return db.execute_sql(
        'SELECT TABLE_COLLATION FROM information_schema.TABLES '
        'WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s', (table,)).fetchone()[0]


def upgrade(db):
    kind = db_module.dialect(db)
    existing = {column.name for column in db.get_columns('images')}
    for name, definition in _COLUMNS[kind]:
        if name not in existing:
            # Nullable: no backend rewrites the rows.
            db.execute_sql('ALTER TABLE images ADD COLUMN %s %s' % (name, definition))
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
