"""Indexes that drive every filter and sort of a list.

An index ``(<column>, created_at, id)`` answers "the first page, in the default
order, of the images whose <column> is v" by walking only the matching entries in
page order: a page of a filter that matches a tenth of a million images reads about
25 entries, and one that matches nothing reads none (before, SQLite walked the
creation index testing each image: the whole table for a filter matching nothing).
They replace the single-column indexes of status, owner and visibility, which they
begin with.

``(updated_at, id)`` serves ``updated_at`` ranges and sorts, ``(size)`` size ranges,
and ``SORT_INDEXES`` the sorts by status, size and the formats. Custom property and
tag filters use the indexes of the initial migration, from the side the list
chooses (``glance_registry.images.filters``).

Each index is created (or dropped) only if needed, so an interrupted sync can be run
again.
"""

from glance_registry import db as db_module

VERSION = 9
DESCRIPTION = 'indexes that drive every filter and sort of a list'

_FILTERED = ('status', 'visibility', 'owner', 'disk_format', 'container_format',
             'os_hidden', 'protected', 'min_ram', 'min_disk')

# (name, columns)
INDEXES = (
    [('ix_images_%s_created_at_id' % column, (column, 'created_at', 'id'))
     for column in _FILTERED]
    + [('ix_images_updated_at_id', ('updated_at', 'id')),
       ('ix_images_size', ('size',))])


# Sorts by a key that few values share (and size): the key, then the id tie-breaker
# which is always descending, so a key sorted ascending needs its own index. Lists
# sort by the expressions of ``filters._sort_expression`` (SQLite matches them as
# text); MariaDB has no expression indexes: there size and the formats get plain
# column indexes below, and a sort by name sorts every visible image (until
# migration 16 indexed a generated column).
SORT_INDEXES = {
    'ix_images_status_id': ('status', 'id'),
    'ix_images_status_asc_id': ('status', 'id DESC'),
    'ix_images_disk_format_sort': ("COALESCE(disk_format, '')", 'id'),
    'ix_images_disk_format_asc_sort': ("COALESCE(disk_format, '')", 'id DESC'),
    'ix_images_container_format_sort': ("COALESCE(container_format, '')", 'id'),
    'ix_images_container_format_asc_sort': ("COALESCE(container_format, '')",
                                            'id DESC'),
    'ix_images_size_sort': ('COALESCE(size, -1)', 'id'),
}
# Begun by the (column, created_at, id) ones above.
REPLACED = ('ix_images_status', 'ix_images_owner', 'ix_images_visibility')
# SQLite and PostgreSQL sort the ties of a time (a few rows) by id on the fly;
# MariaDB would sort every image instead.
MYSQL_SORT_INDEXES = {
    'ix_images_created_at_asc_id': ('created_at', 'id DESC'),
    'ix_images_updated_at_asc_id': ('updated_at', 'id DESC'),
    # MariaDB sorts these by the plain column (``filters.order_by``).
    'ix_images_size_id': ('size', 'id'),
    'ix_images_size_asc_id': ('size', 'id DESC'),
    'ix_images_disk_format_id': ('disk_format', 'id'),
    'ix_images_disk_format_asc_id': ('disk_format', 'id DESC'),
    'ix_images_container_format_id': ('container_format', 'id'),
    'ix_images_container_format_asc_id': ('container_format', 'id DESC'),
}


def upgrade(db):
    kind = db_module.dialect(db)
    quote = '`%s`' if kind == 'mysql' else '"%s"'
    existing = {index.name for index in db.get_indexes('images')}
    for name, columns in INDEXES:
        if name not in existing:
            db.execute_sql('CREATE INDEX %s ON images (%s)' % (
                name, ', '.join(quote % column for column in columns)))
    for name in REPLACED:
        if name in existing:
            db.execute_sql('DROP INDEX %s%s' % (name, ' ON images' if kind == 'mysql'
                                                else ''))
    sort_indexes = dict(SORT_INDEXES, **(MYSQL_SORT_INDEXES if kind == 'mysql' else {}))
    for name, terms in sort_indexes.items():
        expression = terms[0].startswith('COALESCE')
        if name in existing or (expression and kind == 'mysql'):
            continue
        db.execute_sql('CREATE INDEX %s ON images (%s)' % (name, ', '.join(
            '(%s)' % term if term.startswith('COALESCE') and kind == 'postgresql'
            else term for term in terms)))
