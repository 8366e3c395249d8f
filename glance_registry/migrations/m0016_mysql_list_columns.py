"""Generated columns and a covering index that let MariaDB (and MySQL) read a list's
sort by name and its property filters from an index.

MariaDB has no expression indexes; SQLite and PostgreSQL index the expressions the
list queries use (migrations 1 and 5). Here virtual generated columns hold them,
in the collation of the column they derive from, so that they compare and order
exactly as the expressions do, and the list queries name the columns on MariaDB
(``glance_registry.images.filters``):

- ``images.name_sort`` is ``COALESCE(name, '')``, the name a list sorts by (an image
  without a name sorts as the empty name). Until now MariaDB sorted every visible
  image for the first page of ``sort=name`` (3.0-3.9 s at a million images). Two
  indexes serve both directions: the ``id`` tie-breaker is always descending, and
  MariaDB cannot sort ties on the fly.
- ``image_properties.value_prefix`` is ``LEFT(value, 255)``, as the other databases
  index ``substr(value, 1, 255)``. Migration 1's ``(name, value(255))`` holds a
  prefix of the value itself, so MariaDB read every matching row to compare the
  whole value: counting a common property's first 1,000 matches
  (``records.narrowest_filter``) cost 1,000 row reads. ``(name, value_prefix,
  image_id)`` answers that count, and a rare property's image ids, from the index
  alone; a value shorter than the prefix is compared by the prefix alone. The old
  index stays: the previous release's registries, still serving while a sync
  runs, filter by the value and would otherwise read every property row.

And ``(os_hidden, created_at, id, deleted, visibility, owner)`` on ``images``: a
page filtered by a tag or property that many images have walks the page order
testing each image, and MariaDB read each image's row to test it (5,000 rows for
a project member's page of a property on 2% of a million images). This index holds
everything such a page tests but the tag or property, so the page's ids are found
from it alone, and only their rows are read (``filters.ids_first``). Writes to
those columns update one index more.

On a big table: adding a virtual column changes only the table's metadata (InnoDB's
instant ADD COLUMN, nothing is stored in the rows), and each index is built in place
while reads and writes go on (``ALGORITHM=INPLACE, LOCK=NONE``, asked for explicitly
so that a server which cannot do that fails the sync instead of locking the table
for the length of the build). Other databases: nothing to do. Each column and index
is created only if missing, so an interrupted sync can be run again.
"""

from glance_registry import db as db_module

VERSION = 16
DESCRIPTION = 'generated columns and indexes for lists on MariaDB'

# (table, column, the column it derives from, its expression); the list queries
# name these columns (``filters.MYSQL_NAME_SORT``, ``filters.MYSQL_VALUE_PREFIX``).
NAME_SORT = 'name_sort'
VALUE_PREFIX = 'value_prefix'
COLUMNS = (
    ('images', NAME_SORT, 'name', "COALESCE(`name`, '')"),
    ('image_properties', VALUE_PREFIX, 'value', 'LEFT(`value`, 255)'),
)
# Everything a page filtered by a common tag or property tests on each image but
# the tag or property (``filters.ids_first``).
COVERING_INDEX = 'ix_images_os_hidden_created_at_visible'
# (table, name, key parts): sorts by name in both directions, with ``id``
# descending; property filters; the covering index.
INDEXES = (
    ('images', 'ix_images_name_sort_id', '`name_sort`, `id`'),
    ('images', 'ix_images_name_sort_asc_id', '`name_sort`, `id` DESC'),
    ('image_properties', 'ix_image_properties_name_value_prefix',
     '`name`, `value_prefix`, `image_id`'),
    ('images', COVERING_INDEX,
     '`os_hidden`, `created_at`, `id`, `deleted`, `visibility`, `owner`'),
)


def upgrade(db):
    if db_module.dialect(db) != 'mysql':
        return
    for table, column, source, expression in COLUMNS:
        if column not in {found.name for found in db.get_columns(table)}:
            collation, = db.execute_sql(
                'SELECT collation_name FROM information_schema.columns '
                'WHERE table_schema = DATABASE() AND table_name = %s '
                'AND column_name = %s', (table, source)).fetchone()
            db.execute_sql(
                'ALTER TABLE %s ADD COLUMN `%s` VARCHAR(255) CHARACTER SET utf8mb4 '
                'COLLATE %s AS (%s) VIRTUAL' % (table, column, collation, expression))
    existing = {table: {index.name for index in db.get_indexes(table)}
                for table in ('images', 'image_properties')}
    for table, name, parts in INDEXES:
        if name not in existing[table]:
            db.execute_sql('ALTER TABLE %s ADD INDEX %s (%s), '
                           'ALGORITHM=INPLACE, LOCK=NONE' % (table, name, parts))
