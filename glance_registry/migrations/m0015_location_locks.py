"""Locks on the URLs of locations in the stores this service writes.

No two live images may have a location at one URL of a writable store (their data
would be one file: reading one image would read the other, deleting one would
delete the other's data). A writer adding such a URL locks its row in
``location_locks`` before it looks for other images using the URL, so two writers
adding one URL to two images take turns and the second sees the first's location
(``glance_registry.images.data_owners``). A URL's lock is one of a fixed number of
slots (a hash of the URL): the table stays small, and two URLs sharing a slot only
take turns.

The table is created only if missing (MariaDB commits DDL at once), so an
interrupted sync can simply be run again.
"""

from glance_registry import db as db_module

VERSION = 15
DESCRIPTION = 'locks on the URLs of locations in writable stores'

_DDL = {
    'sqlite': 'CREATE TABLE IF NOT EXISTS location_locks ('
              'slot INTEGER NOT NULL PRIMARY KEY)',
    'postgresql': 'CREATE TABLE IF NOT EXISTS location_locks ('
                  'slot INTEGER NOT NULL PRIMARY KEY)',
    'mysql': 'CREATE TABLE IF NOT EXISTS location_locks ('
             'slot INTEGER NOT NULL PRIMARY KEY) ENGINE=InnoDB',
}


def upgrade(db):
    db.execute_sql(_DDL[db_module.dialect(db)])
