"""Schema steps that migrations share, each safe to run again: MariaDB commits
DDL at once, so a sync stopped half-way is simply run again."""

from glance_registry import db as db_module


def add_missing_column(db, table, column, definition):
    """``ALTER TABLE table ADD COLUMN column definition`` unless it exists."""
    add_missing_columns(db, table, [(column, definition)])


def add_missing_columns(db, table, columns):
    """Each ``(column, definition)`` of ``columns`` that ``table`` lacks, in one
    statement where the database takes that: where MariaDB cannot add a column
    in place (``image_properties``, whose indexed virtual column makes it rebuild
    the table, writes waiting: 18 s a million images on this project's machine),
    it rebuilds the table once, not once per column."""
    existing = {found.name for found in db.get_columns(table)}
    missing = [(column, definition) for column, definition in columns
               if column not in existing]
    if not missing:
        return
    if db_module.dialect(db) == 'sqlite':   # one column per ALTER TABLE
        for column, definition in missing:
            db.execute_sql('ALTER TABLE %s ADD COLUMN %s %s'
                           % (table, column, definition))
        return
    db.execute_sql('ALTER TABLE %s %s' % (table, ', '.join(
        'ADD COLUMN %s %s' % (column, definition) for column, definition in missing)))


def add_image_copies(db, columns, prefix):
    """Add to ``image_properties`` and ``image_tags`` each copy column of
    ``columns`` (``{images column: copy column}``) they lack, ``VARCHAR(prefix)``
    defaulting to '' (what the rows that a registry of an earlier release inserts
    while it still runs after the sync hold: "unknown"), then fill every row's
    copies from its image (their first ``prefix`` characters). Run again, the
    fill rewrites every row, which is harmless."""
    for table in ('image_properties', 'image_tags'):
        add_missing_columns(db, table, [
            (copy, "VARCHAR(%d) NULL DEFAULT ''" % prefix) for copy in columns.values()])
        db.execute_sql('UPDATE %s SET %s' % (table, ', '.join(
            '%s = (SELECT SUBSTR(%s, 1, %d) FROM images WHERE images.id = '
            '%s.image_id)' % (copy, column, prefix, table)
            for column, copy in columns.items())))


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
