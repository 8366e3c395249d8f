"""Leases on uploads in progress.

An upload claims its image with ``queued -> saving`` and must renew
``images.upload_lease_expires_at`` while its bytes flow. An API worker killed in the
middle leaves the image in ``saving`` with a lease that runs out; a new upload of the
image then takes it over instead of being refused
(``glance_registry.images.writes.transition``). Rows of existing images get no lease: an upload already in progress
during the upgrade is never taken over.

MariaDB commits DDL at once: the column is added only if missing, so an interrupted
sync can simply be run again.
"""

from glance_registry import db as db_module

VERSION = 4
DESCRIPTION = 'leases on uploads in progress'

_TYPES = {'sqlite': 'DATETIME', 'postgresql': 'TIMESTAMP', 'mysql': 'DATETIME(6)'}


def upgrade(db):
    if 'upload_lease_expires_at' not in {column.name for column
                                         in db.get_columns('images')}:
        db.execute_sql('ALTER TABLE images ADD COLUMN upload_lease_expires_at %s'
                       % _TYPES[db_module.dialect(db)])
