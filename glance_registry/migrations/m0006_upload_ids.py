"""Which upload holds an image in ``saving``.

An upload that stalls for longer than its lease (a client that stops sending, then
resumes) is taken over by a new upload of the image, which is what leases are for; the
stalled one must then find out and stop, not publish its own bytes or put the image
back to ``queued`` under the new upload. Each upload names itself with a random
``upload_id`` when it claims the image; renewing the lease and leaving ``saving``
require that it still holds it.

The column is added only if missing, so an interrupted sync can be run again.
"""

from glance_registry import db as db_module

VERSION = 6
DESCRIPTION = 'which upload holds an image in saving'

# Compared as other identifiers are: binary.
_TYPES = {'sqlite': 'VARCHAR(64)', 'postgresql': 'VARCHAR(64) COLLATE "C"',
          'mysql': 'VARCHAR(64)'}


def upgrade(db):
    if 'upload_id' not in {column.name for column in db.get_columns('images')}:
        db.execute_sql('ALTER TABLE images ADD COLUMN upload_id %s'
                       % _TYPES[db_module.dialect(db)])
