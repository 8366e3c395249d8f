"""Schema steps that migrations share, each safe to run again: MariaDB commits
DDL at once, so a sync stopped half-way is simply run again."""

from glance_registry import db as db_module


def add_missing_column(db, table, column, definition):
    """``ALTER TABLE table ADD COLUMN column definition`` unless it exists."""
    if column not in {found.name for found in db.get_columns(table)}:
        db.execute_sql('ALTER TABLE %s ADD COLUMN %s %s' % (table, column, definition))


def create_missing_indexes(db, indexes):
    """Each ``(name, table, key parts)`` of ``indexes`` unless it exists; on
    MariaDB built in place while reads and writes go on (asked for explicitly, so
    that a server which cannot do that fails the sync instead of locking the
    table for the length of the build)."""
    dialect = db_module.dialect(db)
    for name, table, parts in indexes:
        if name in {index.name for index in db.get_indexes(table)}:
            continue
        if dialect == 'mysql':
            db.execute_sql('ALTER TABLE %s ADD INDEX %s (%s), '
                           'ALGORITHM=INPLACE, LOCK=NONE' % (table, name, parts))
        else:
            db.execute_sql('CREATE INDEX %s ON %s (%s)' % (name, table, parts))


def drop_present_indexes(db, indexes):
    """Drop each ``(table, name)`` of ``indexes`` that exists; on MariaDB in place,
    while reads and writes go on."""
    for table, name in indexes:
        if name not in {index.name for index in db.get_indexes(table)}:
            continue
        if db_module.dialect(db) == 'mysql':
            db.execute_sql('ALTER TABLE %s DROP INDEX %s, ALGORITHM=INPLACE, '
                           'LOCK=NONE' % (table, name))
        else:
            db.execute_sql('DROP INDEX %s' % name)
