"""The image's disk and container formats copied onto its properties and tags,
in the index that migration 19 built for its status.

A list filtered by a format and by a property or tag that each match many images
but no image together (``disk_format=qcow2`` and a property that only raw images
have) had no index holding both: it walked every image of the property testing
the format (86 ms at a million images on SQLite, 201 ms on PostgreSQL, 1.7 s on
MariaDB). ``image_disk_format`` and ``image_container_format`` hold the image's
formats (their first ``child_formats.PREFIX`` characters: NULL where the image
has none) on each of its property and tag rows, written by the registry in the
transaction that sets the formats or adds the row
(``glance_registry.images.child_formats``), so that one index counts the images
matching a property or tag with a status and formats
(``filters.narrowing_filters``).

The new indexes extend migration 19's, which are dropped (``REPLACED``): a
filter without formats reads the same prefix, and each row written keeps the
same number of index entries. The prefix keeps MariaDB's key within its 3,072
bytes (the name and value prefix take 2,040 of them).

Existing rows are filled from their image. Columns and indexes are created (and
the replaced ones dropped) only if missing (still there), since MariaDB commits
DDL at once: an interrupted sync can simply be run again; the fill rewrites every
row each time, which is harmless. On MariaDB the indexes are built in place while
reads and writes go on, as in migration 16; but adding the columns to
``image_properties`` rebuilds it while writes to it wait (migration 16's indexed
virtual column rules out doing it in place: 18 s a million images on this
project's machine), once for both columns. Migration 21 took 25 s a million
images on SQLite, 124 s on PostgreSQL and 135-141 s on MariaDB there.
"""

from glance_registry import db as db_module
from glance_registry.migrations import m0019_child_status
from glance_registry.migrations import steps

VERSION = 21
DESCRIPTION = "the image's formats on its properties and tags, indexed for lists"

#: Each copied column of the images, as its copy on the property and tag rows.
COLUMNS = {'disk_format': 'image_disk_format',
           'container_format': 'image_container_format'}
#: The characters of a format that its copy holds.
PREFIX = 64
PROPERTY_INDEX = 'ix_image_properties_name_value_copies'
TAG_INDEX = 'ix_image_tags_value_copies'

# Each index ends with the image id, so that the count of a filter's matches
# (``records.narrowest_filter``) reads the index alone, and is preferred to the
# one of migration 20 that holds the image id too.
_COPIES = 'image_status, image_disk_format, image_container_format, image_id'
_INDEXES = {
    'sqlite': ((PROPERTY_INDEX, 'image_properties',
                'name, substr(value, 1, 255), ' + _COPIES),
               (TAG_INDEX, 'image_tags', 'value, ' + _COPIES)),
    'postgresql': ((PROPERTY_INDEX, 'image_properties',
                    'name, substr(value, 1, 255), ' + _COPIES),
                   (TAG_INDEX, 'image_tags', 'value, ' + _COPIES)),
    'mysql': ((PROPERTY_INDEX, 'image_properties',
               '`name`, `value_prefix`, ' + _COPIES),
              (TAG_INDEX, 'image_tags', '`value`, ' + _COPIES)),
}

REPLACED = (('image_properties', m0019_child_status.PROPERTY_INDEX),
            ('image_tags', m0019_child_status.TAG_INDEX))


def upgrade(db):
    dialect = db_module.dialect(db)
    # '' on rows an earlier release inserts: every format filter counts them
    # (``child_formats``).
    steps.add_image_copies(db, COLUMNS, PREFIX)
    steps.create_missing_indexes(db, _INDEXES[dialect])
    steps.drop_present_indexes(db, REPLACED)

