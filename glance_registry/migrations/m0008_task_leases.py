"""Leases on tasks: which API worker runs an import task, and until when.

An import runs in a worker pool of an API process (``glance_api.tasks``). The
worker holds a lease on its task (``lease_owner``, ``lease_expires_at``) and renews
it as it works; ``attempts`` counts the workers that have claimed it. A worker that
dies leaves an expired lease, which another worker takes over
(``glance_registry.tasks.writes.claim``). Existing rows get no lease and 0 attempts.

MariaDB commits DDL at once, outside the migration's transaction: each column is
added only if missing, so a sync interrupted half-way can simply be run again.
"""

from glance_registry import db as db_module

VERSION = 8
DESCRIPTION = 'leases on tasks'

# Per dialect, as version 1 declared its columns: text compared binary, times with
# microseconds.
_COLUMNS = {
    'sqlite': [('lease_owner', 'VARCHAR(64)'),
               ('lease_expires_at', 'DATETIME'),
               ('attempts', 'INTEGER NOT NULL DEFAULT 0')],
    'postgresql': [('lease_owner', 'VARCHAR(64) COLLATE "C"'),
                   ('lease_expires_at', 'TIMESTAMP'),
                   ('attempts', 'INTEGER NOT NULL DEFAULT 0')],
    'mysql': [('lease_owner', 'VARCHAR(64)'),
              ('lease_expires_at', 'DATETIME(6)'),
              ('attempts', 'INTEGER NOT NULL DEFAULT 0')],
}


def upgrade(db):
    kind = db_module.dialect(db)
    existing = {column.name for column in db.get_columns('tasks')}
    for name, definition in _COLUMNS[kind]:
        if name not in existing:
            db.execute_sql('ALTER TABLE tasks ADD COLUMN %s %s' % (name, definition))
