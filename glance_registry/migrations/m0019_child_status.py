"""The image's status copied onto its properties and tags, with an index each.

A list filtered by status and by a property or tag that each match many images
but no image together (``status=queued`` and a property of every other project's
images) had no index holding both: it walked every queued image testing the
property (a quarter to three quarters of a second at a million images on SQLite
and PostgreSQL, four seconds on MariaDB). ``image_status`` is the image's status
on each of its property and tag rows, written by the registry in the transaction
that changes the status or adds the row (``glance_registry.images.child_status``),
so that ``(name, value prefix, image_status)`` and ``(value, image_status)`` count
the images matching both from one index (``filters.narrowing_filters``).

The new indexes begin with the columns of the ones they replace, which are
dropped (``REPLACED``): a property or tag filter without a status reads the same
prefix, and each row written keeps the same number of index entries.

Existing rows are filled from their image. Columns and indexes are created (and
the replaced ones dropped) only if missing (still there), since MariaDB commits
DDL at once: an interrupted sync can simply be run again; the fill rewrites every
row each time, which is harmless. On MariaDB the indexes are built in place while
reads and writes go on, as in migration 16.
"""

from glance_registry import db as db_module
from glance_registry.migrations import steps

VERSION = 19
DESCRIPTION = "the image's status on its properties and tags, indexed for lists"

COLUMN = 'image_status'
PROPERTY_INDEX = 'ix_image_properties_name_value_status'
TAG_INDEX = 'ix_image_tags_value_status'

# Key parts per dialect: the property value's prefix as the list filters compare it
# (migration 1's expression; on MariaDB migration 16's generated column).
_INDEXES = {
    'sqlite': ((PROPERTY_INDEX, 'image_properties',
                'name, substr(value, 1, 255), image_status'),
               (TAG_INDEX, 'image_tags', 'value, image_status')),
    'postgresql': ((PROPERTY_INDEX, 'image_properties',
                    'name, substr(value, 1, 255), image_status'),
                   (TAG_INDEX, 'image_tags', 'value, image_status')),
    'mysql': ((PROPERTY_INDEX, 'image_properties',
               '`name`, `value_prefix`, `image_status`, `image_id`'),
              (TAG_INDEX, 'image_tags', '`value`, `image_status`, `image_id`')),
}

# (table, index) made redundant by the new ones: migration 1's (name, value prefix)
# and (value), and on MariaDB migration 16's (name, value_prefix, image_id).
REPLACED = (('image_properties', 'ix_image_properties_name_value'),
            ('image_properties', 'ix_image_properties_name_value_prefix'),
            ('image_tags', 'ix_image_tags_value'))


def upgrade(db):
    dialect = db_module.dialect(db)
    for table in ('image_properties', 'image_tags'):
        # '' for rows a registry of an earlier release inserts while it still
        # runs after the sync (it knows no such column): "status unknown", which
        # every status filter counts (``child_status``).
        steps.add_missing_column(db, table, COLUMN, "VARCHAR(30) NOT NULL DEFAULT ''")
        db.execute_sql('UPDATE %s SET %s = (SELECT status FROM images '
                       'WHERE images.id = %s.image_id)' % (table, COLUMN, table))
    steps.create_missing_indexes(db, _INDEXES[dialect])
    steps.drop_present_indexes(db, REPLACED)
