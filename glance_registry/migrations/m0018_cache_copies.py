"""Which API nodes hold a cached copy of which image, shared by every node.

Each node's cache index is a local file; this table is what every node reports of
its own (``glance_registry.cache_copies``), so ``GET /v2/cache/nodes/{image_id}``
on any node can say which nodes hold an image. A node is named by its
``worker_self_reference_url`` (or host name), at most 255 characters.

The primary key ``(image_id, node)`` answers "which nodes hold this image" from the
index alone; ``(node, image_id)`` finds one node's rows when it replaces its whole
set (every prefetcher cycle) without walking the table. Created only if missing
(MariaDB commits DDL at once), so an interrupted sync can simply be run again.
Image ids compare binary, as ``images.id``; node names too (URLs are
case-sensitive in their path).
"""

from glance_registry import db as db_module

VERSION = 18
DESCRIPTION = 'the API nodes holding a cached copy of an image'

INDEX = 'ix_cache_copies_node_image_id'

_DDL = {
    'sqlite': ('CREATE TABLE IF NOT EXISTS cache_copies ('
               'image_id VARCHAR(36) NOT NULL, node VARCHAR(255) NOT NULL, '
               'PRIMARY KEY (image_id, node))',
               'CREATE INDEX IF NOT EXISTS %s ON cache_copies (node, image_id)'
               % INDEX),
    'postgresql': ('CREATE TABLE IF NOT EXISTS cache_copies ('
                   'image_id VARCHAR(36) COLLATE "C" NOT NULL, '
                   'node VARCHAR(255) COLLATE "C" NOT NULL, '
                   'PRIMARY KEY (image_id, node))',
                   'CREATE INDEX IF NOT EXISTS %s ON cache_copies (node, image_id)'
                   % INDEX),
    'mysql': ('CREATE TABLE IF NOT EXISTS cache_copies ('
              'image_id VARCHAR(36) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin '
              'NOT NULL, '
              'node VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, '
              'PRIMARY KEY (image_id, node), '
              'INDEX %s (node, image_id)) ENGINE=InnoDB' % INDEX,),
}


def upgrade(db):
    for statement in _DDL[db_module.dialect(db)]:
        db.execute_sql(statement)
