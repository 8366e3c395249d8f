"""The row the registry's health check writes.

``GET /healthcheck`` proves the database can be written, not only read (a read-only
or full database answers ``SELECT 1`` happily): it updates this one row and commits
(``glance_registry.db.check_writable``). One row, never more, so the table stays a
few bytes however often load balancers poll.

MariaDB commits DDL at once: the table is created only if missing and the row
inserted only if absent, so an interrupted sync can simply be run again.
"""

import peewee

VERSION = 13
DESCRIPTION = 'the row the health check writes'


def _table():
    class HealthCheck(peewee.Model):
        id = peewee.IntegerField(primary_key=True)
        checked_at = peewee.DateTimeField(null=True)

        class Meta:
            table_name = 'health_checks'

    return HealthCheck


def upgrade(db):
    table = _table()
    with db.bind_ctx([table]):
        db.create_tables([table], safe=True)
        if not table.select().where(table.id == 1).exists():
            table.insert(id=1, checked_at=None).execute()
