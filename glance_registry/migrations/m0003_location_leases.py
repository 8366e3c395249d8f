"""Leases on locations whose data is being verified; an index on location URLs.

A location added with the 2.17 locations API is ``pending`` while an API worker reads
and hashes its data. ``lease_owner`` and ``lease_expires_at`` say which worker does it
and until when it must renew its claim; ``attempts`` counts the workers that have
claimed it. A worker that dies leaves an expired lease, which another worker takes
over (``glance_registry.images.locations.claim``). Existing rows get no lease and 0 attempts.

``ix_image_locations_url`` indexes a prefix of ``url`` (URLs can be longer than a
PostgreSQL btree entry or a MySQL key may hold), for finding the images that share a
location (``glance_registry.images.locations.references``).

MariaDB commits DDL at once, outside the migration's transaction: each column and
the index is added only if missing, so a sync interrupted half-way can simply be run
again.
"""

from glance_registry import db as db_module

VERSION = 3
DESCRIPTION = ('leases on locations whose data is being verified, and an index on '
               'location URLs')

URL_PREFIX = 255
_URL_INDEX = {
    'sqlite': 'CREATE INDEX ix_image_locations_url ON image_locations '
              '(substr(url, 1, %d))' % URL_PREFIX,
    'postgresql': 'CREATE INDEX ix_image_locations_url ON image_locations '
                  '(substr(url, 1, %d))' % URL_PREFIX,
    'mysql': 'CREATE INDEX ix_image_locations_url ON image_locations '
             '(url(%d))' % URL_PREFIX,
}

# Per dialect, as version 1 declared its columns: text compared as images.id is
# (binary), times with microseconds.
_COLUMNS = {
    'sqlite': [('lease_owner', 'VARCHAR(64)'),
               ('lease_expires_at', 'DATETIME'),
               ('attempts', 'INTEGER NOT NULL DEFAULT 0')],
    'postgresql': [('lease_owner', 'VARCHAR(64) COLLATE "C"'),
                   ('lease_expires_at', 'TIMESTAMP'),
                   ('attempts', 'INTEGER NOT NULL DEFAULT 0')],
    # New columns take the table's (binary) collation.
    'mysql': [('lease_owner', 'VARCHAR(64)'),
              ('lease_expires_at', 'DATETIME(6)'),
              ('attempts', 'INTEGER NOT NULL DEFAULT 0')],
}


def upgrade(db):
    kind = db_module.dialect(db)
    existing = {column.name for column in db.get_columns('image_locations')}
    for name, definition in _COLUMNS[kind]:
        if name not in existing:
            # Nullable or with a constant default: no backend rewrites the rows.
            db.execute_sql('ALTER TABLE image_locations ADD COLUMN %s %s'
                           % (name, definition))
    if 'ix_image_locations_url' not in {index.name for index
                                        in db.get_indexes('image_locations')}:
        db.execute_sql(_URL_INDEX[kind])
