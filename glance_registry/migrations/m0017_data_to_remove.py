"""An index that finds the deleted images whose data is still to be removed.

An image deleted at once has its locations moved to ``pending_delete`` in the
delete's transaction, and to ``deleted`` once whoever removed the data from the
stores confirms it (``glance_registry.images.scrubbing``). The sweep that finds
deletions never confirmed (an API worker killed between the two, a store that
failed) looks them up by that status: ``(status, image_id)`` answers it from the
index alone, where the images table would otherwise be walked over every deleted
image at each sweep. ``db purge`` uses it too, to keep those images' rows.

No column changes: locations already had a status. Images deleted before this
version keep ``active`` locations and are never swept (nothing recorded whether
their data went).

The index is built in place while reads and writes go on on MariaDB
(``ALGORITHM=INPLACE, LOCK=NONE``, as migration 16), and created only if missing,
so an interrupted sync can be run again.
"""

from glance_registry import db as db_module

VERSION = 17
DESCRIPTION = 'an index on location status, for deleted data still to remove'

NAME = 'ix_image_locations_status_image_id'


def upgrade(db):
    if NAME in {index.name for index in db.get_indexes('image_locations')}:
        return
    if db_module.dialect(db) == 'mysql':
        db.execute_sql('ALTER TABLE image_locations ADD INDEX %s (`status`, '
                       '`image_id`), ALGORITHM=INPLACE, LOCK=NONE' % NAME)
    else:
        db.execute_sql('CREATE INDEX %s ON image_locations (status, image_id)' % NAME)
