"""Which API nodes hold a cached copy of which image (table ``cache_copies``,
migration 18): its handlers and their rows of the routes table.

Each API node's cache index is a file of its own; the nodes report here what they
hold, so that any node can answer ``GET /v2/cache/nodes/{image_id}``. A node
reports a copy when it is committed and when it is removed (``POST``, best effort),
and replaces its whole set every prefetcher cycle (``PUT``), which heals any report
that was lost. Rows are only ever recorded for images that exist and are not
deleted, and an image's rows go in its delete's own transaction
(``forget_deleted_image``), so a deleted image is never listed as cached. Only
admins (the API's cache policies, and its workers acting as the service) read or
change it.
"""

from glance_registry import db as db_module
from glance_registry import responses
from glance_registry import validation
from glance_registry.client import errors
from glance_registry.client import vocabulary
from glance_registry.images.deadlocks import retry_on_deadlock

#: As the column (migration 18).
MAX_NODE_NAME = 255
# Image ids per statement: far below every backend's limit on parameters.
_BATCH = 500


def _require_admin(caller):
    if not caller.is_admin:
        raise errors.Forbidden('Only an admin may use the image cache copies',
                               reason='admin_only')


def list_nodes(app, request, caller, image_id):
    """200 ``{"image_id", "nodes": [...]}``: the names of the nodes holding a copy,
    sorted; one read of the primary key's index."""
    _require_admin(caller)
    db = app.db
    with db_module.read_transaction(db):
        rows = db.execute_sql('SELECT node FROM cache_copies WHERE image_id = %s '
                              'ORDER BY node' % db.param, (image_id,)).fetchall()
    return responses.json({'image_id': image_id, 'nodes': [node for node, in rows]})


def report_changes(app, request, caller):
    """``{"node", "held": [ids], "dropped": [ids]}``: the node committed the copies
    ``held`` and removed those ``dropped``; 200 ``{"added", "removed"}`` (rows).
    A held image that is absent or deleted records nothing."""
    _require_admin(caller)
    body = validation.json_body(request)
    validation.check_only(body, ('node', 'held', 'dropped'), 'cache copies')
    node = _node(body)
    held, dropped = _image_ids(body, 'held'), _image_ids(body, 'dropped')
    if held & dropped:
        raise errors.BadRequest.invalid_value(
            "'held' and 'dropped' both name %s" % sorted(held & dropped)[0], 'held')
    added, removed = _change(app.db, node, held, dropped)
    return responses.json({'added': added, 'removed': removed})


def replace_node(app, request, caller):
    """``{"node", "image_ids": [ids]}``: the node holds exactly these copies (those
    of absent or deleted images are left out); 200 ``{"added", "removed"}``. Only
    the difference is written, so a node whose cache did not change costs one
    indexed read."""
    _require_admin(caller)
    body = validation.json_body(request)
    validation.check_only(body, ('node', 'image_ids'), 'cache copies')
    node = _node(body)
    wanted = _image_ids(body, 'image_ids')
    added, removed = _replace(app.db, node, wanted)
    return responses.json({'added': added, 'removed': removed})


def forget_deleted_image(db, image_id):
    """Remove the image's rows, in the caller's transaction: a deleted image
    (``pending_delete`` too) is never served from a cache, so no node holds it for
    ``GET /v2/cache/nodes``, whichever node's cleaner removes the file later."""
    db.execute_sql('DELETE FROM cache_copies WHERE image_id = %s' % db.param,
                   (image_id,))


def _node(body):
    validation.require(body, 'node')
    return validation.string('node', body['node'], max_length=MAX_NODE_NAME,
                             min_length=1)


def _image_ids(body, name):
    values = body.get(name, [])
    validation.check_type(name, values, list)
    for value in values:
        if not vocabulary.is_image_id(value):
            raise errors.BadRequest.invalid_value(
                "'%s' holds %s, which is not an image id" % (name, validation.shown(value)),
                name)
    return set(values)


@retry_on_deadlock
def _change(db, node, held, dropped):
    with db_module.write_transaction(db):
        return _insert(db, node, held), _delete(db, node, dropped)


@retry_on_deadlock
def _replace(db, node, wanted):
    p = db.param
    with db_module.write_transaction(db):
        recorded = {image_id for image_id, in db.execute_sql(
            'SELECT image_id FROM cache_copies WHERE node = %s' % p, (node,))}
        return (_insert(db, node, wanted - recorded),
                _delete(db, node, recorded - wanted))


def _insert(db, node, image_ids):
    """Record ``node``'s copies of those ``image_ids`` whose image exists and is not
    deleted; rows already there are kept. The image rows are read under a shared
    lock: a delete of one of them (which holds its row) either commits first, and
    its image is skipped, or waits for this transaction and removes its row."""
    added = 0
    for batch in _batches(image_ids):
        marks = ', '.join([db.param] * len(batch))
        select = ('SELECT id, %s FROM images WHERE id IN (%s) AND deleted = %s'
                  % (db.param, marks, db.param))
        kind = db_module.dialect(db)
        if kind == 'postgresql':
            sql = ('INSERT INTO cache_copies (image_id, node) %s FOR SHARE '
                   'ON CONFLICT DO NOTHING' % select)
        elif kind == 'mysql':
            # INSERT ... SELECT reads the images in share mode (repeatable read).
            sql = ('INSERT INTO cache_copies (image_id, node) %s '
                   'ON DUPLICATE KEY UPDATE node = cache_copies.node' % select)
        else:
            # SQLite: one writer at a time, no row locks to take.
            sql = 'INSERT OR IGNORE INTO cache_copies (image_id, node) %s' % select
        cursor = db.execute_sql(sql, [node, *batch, False])
        added += max(cursor.rowcount, 0)
    return added


def _delete(db, node, image_ids):
    removed = 0
    for batch in _batches(image_ids):
        marks = ', '.join([db.param] * len(batch))
        cursor = db.execute_sql('DELETE FROM cache_copies WHERE node = %s AND '
                                'image_id IN (%s)' % (db.param, marks), [node, *batch])
        removed += cursor.rowcount
    return removed


def _batches(image_ids):
    ordered = sorted(image_ids)   # one lock order for every writer
    return [ordered[start:start + _BATCH] for start in range(0, len(ordered), _BATCH)]


ROUTES = (
    ('GET', r'/v1/cache-copies/(?P<image_id>[^/]+)', list_nodes, True),
    ('POST', r'/v1/cache-copies', report_changes, True),
    ('PUT', r'/v1/cache-copies', replace_node, True),
)
