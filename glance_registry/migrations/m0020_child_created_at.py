"""The image's ``created_at`` copied onto its properties and tags, with an index
each in page order.

A list filtered by a tag or property that matches many images, but not most
(2% of a million, say), walked every image in page order testing the filter
on each: 1,300 images for an admin's page of 25 and 5,000 for a project
member's, whose page skips the images it may not see. ``image_created_at`` is
the image's ``created_at`` on each of its property and tag rows, written with
the row (``glance_registry.images.child_order``), and ``(name, value prefix,
image_created_at, image_id)`` and ``(value, image_created_at, image_id)`` hold
each filter's matches in the default page order (``created_at`` then ``id``,
both descending), so the list walks the filter's own matches only.

Both columns are NULL on rows that a registry of the release before inserts
while it still runs after ``db sync``; lists do not walk a filter that has such
rows (``records.list_images``) and registries fill them when they start.

Columns and indexes are created only if missing, since MariaDB commits DDL at
once: an interrupted sync can simply be run again; the fill only writes rows
still NULL. On MariaDB the indexes are built in place while reads and writes go
on, as in migration 16.
"""

from glance_registry import db as db_module
from glance_registry.migrations import steps

VERSION = 20
DESCRIPTION = "the image's created_at on its properties and tags, indexed for lists"

COLUMN = 'image_created_at'
PROPERTY_INDEX = 'ix_image_properties_name_value_created'
TAG_INDEX = 'ix_image_tags_value_created'

# The type of images.created_at on each backend (``db._FIELD_TYPES``), so that
# the copy compares with the image's own value exactly.
_TYPES = {'sqlite': 'DATETIME', 'postgresql': 'TIMESTAMP', 'mysql': 'DATETIME(6)'}

# Key parts per dialect: the property value's prefix as the list filters compare it
# (migration 1's expression; on MariaDB migration 16's generated column).
_INDEXES = {
    'sqlite': ((PROPERTY_INDEX, 'image_properties',
                'name, substr(value, 1, 255), image_created_at, image_id'),
               (TAG_INDEX, 'image_tags', 'value, image_created_at, image_id')),
    'postgresql': ((PROPERTY_INDEX, 'image_properties',
                    'name, substr(value, 1, 255), image_created_at, image_id'),
                   (TAG_INDEX, 'image_tags', 'value, image_created_at, image_id')),
    'mysql': ((PROPERTY_INDEX, 'image_properties',
               '`name`, `value_prefix`, `image_created_at`, `image_id`'),
              (TAG_INDEX, 'image_tags', '`value`, `image_created_at`, `image_id`')),
}


def upgrade(db):
    dialect = db_module.dialect(db)
    for table in ('image_properties', 'image_tags'):
        steps.add_missing_column(db, table, COLUMN, _TYPES[dialect] + ' NULL')
        db.execute_sql('UPDATE %s SET %s = (SELECT created_at FROM images '
                       'WHERE images.id = %s.image_id) WHERE %s IS NULL'
                       % (table, COLUMN, table, COLUMN))
    steps.create_missing_indexes(db, _INDEXES[dialect])
