"""The image's owner and visibility copied onto its properties and tags, and an
index counting a tag's or property's images by them.

A list pairing a tag or property that matches many images with an owner, or with
the few images a project may list among them (its own private ones, say), had no
index holding both: it walked the tag's or property's images testing the owner
and visibility of each. At a million images a project member's
``visibility=private`` with a property on a tenth of them, none the project's
own, took 64-242 ms on SQLite, 154-464 ms on PostgreSQL and 1.7-2.0 s on
MariaDB; an admin's ``owner=X`` with such a property the same. ``image_owner``
(the owner's first ``PREFIX`` characters; NULL where the image has none) and
``image_visibility`` hold them on each property and tag row, written by the
registry in the transaction that sets them or adds the row
(``glance_registry.images.child_access``), so that one index counts the rows of a
tag or property by the visibilities and owners a list may show
(``filters.narrowing_filters``).

An index of its own, not more columns of migration 21's: a list by a status
or format seeks those in that one, which it could not past an owner it does
not name. Each property and tag row written gets one more index entry.

Existing rows are filled from their image; columns and indexes are created only
if missing, so an interrupted sync can simply be run again (migration 21). On
MariaDB adding the columns rebuilds ``image_properties`` while writes to it wait,
once for both; the indexes are built in place.
"""

from glance_registry import db as db_module
from glance_registry.migrations import steps

VERSION = 22
DESCRIPTION = "the image's owner and visibility on its properties and tags, indexed"

#: Each copied column of the images, as its copy on the property and tag rows.
COLUMNS = {'visibility': 'image_visibility', 'owner': 'image_owner'}
#: The characters of an owner or visibility that its copy holds (a visibility is
#: at most 9; project ids are 32).
PREFIX = 64
PROPERTY_INDEX = 'ix_image_properties_name_value_access'
TAG_INDEX = 'ix_image_tags_value_access'

# Ending with the image id, so that a count reads the index alone. MariaDB's key
# is at most 3,072 bytes: the name and value prefix take 2,040 of them, these
# copies 512 and the id 144.
_ACCESS = 'image_visibility, image_owner, image_id'
_INDEXES = {
    'sqlite': ((PROPERTY_INDEX, 'image_properties',
                'name, substr(value, 1, 255), ' + _ACCESS),
               (TAG_INDEX, 'image_tags', 'value, ' + _ACCESS)),
    'postgresql': ((PROPERTY_INDEX, 'image_properties',
                    'name, substr(value, 1, 255), ' + _ACCESS),
                   (TAG_INDEX, 'image_tags', 'value, ' + _ACCESS)),
    'mysql': ((PROPERTY_INDEX, 'image_properties',
               '`name`, `value_prefix`, ' + _ACCESS),
              (TAG_INDEX, 'image_tags', '`value`, ' + _ACCESS)),
}


def upgrade(db):
    dialect = db_module.dialect(db)
    # '' on rows an earlier release inserts: every list counts them
    # (``child_access``).
    steps.add_image_copies(db, COLUMNS, PREFIX)
    steps.create_missing_indexes(db, _INDEXES[dialect])
