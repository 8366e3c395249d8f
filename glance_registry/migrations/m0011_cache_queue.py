"""The image cache's prefetch queue, shared by every API node.

``PUT /v2/cache/{image_id}`` queues an image here; every node's prefetcher reads the
table and caches what it has not fetched for that queueing (``queued_at``: queueing
again makes every node fetch it again). Upstream keeps the queue in each node's
cache directory, so only the node that answered the request ever prefetched.

The table is created only if missing (MariaDB commits DDL at once), so an
interrupted sync can simply be run again. Image ids compare binary, as
``images.id``.
"""

from glance_registry import db as db_module

VERSION = 11
DESCRIPTION = 'the image cache prefetch queue'

_DDL = {
    'sqlite': 'CREATE TABLE IF NOT EXISTS cache_queue ('
              'image_id VARCHAR(36) NOT NULL PRIMARY KEY, '
              'queued_at DATETIME NOT NULL)',
    'postgresql': 'CREATE TABLE IF NOT EXISTS cache_queue ('
                  'image_id VARCHAR(36) COLLATE "C" NOT NULL PRIMARY KEY, '
                  'queued_at TIMESTAMP NOT NULL)',
    'mysql': 'CREATE TABLE IF NOT EXISTS cache_queue ('
             'image_id VARCHAR(36) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL '
             'PRIMARY KEY, queued_at DATETIME(6) NOT NULL) ENGINE=InnoDB',
}


def upgrade(db):
    db.execute_sql(_DDL[db_module.dialect(db)])
