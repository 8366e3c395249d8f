"""The image cache's prefetch queue (table ``cache_queue``, migration 11): its
handlers and their rows of the routes table.

Every API node's prefetcher lists the queue and caches what it has not fetched for
an entry's ``queued_at``; an entry stays until it is deleted (``DELETE
/v2/cache/{image_id}``, clearing the queue) so that nodes started later fetch it
too, or until its image is deleted (``forget_deleted_image``, in the delete's
transaction); only images that exist are queued. Only admins (the API's cache
policies, and its prefetchers acting as the service) read or change it.
"""

import datetime

from glance_registry import db as db_module
from glance_registry import responses
from glance_registry import validation
from glance_registry.client import errors
from glance_registry.client import vocabulary
from glance_registry.images import records


def _require_admin(caller):
    if not caller.is_admin:
        raise errors.Forbidden('Only an admin may use the image cache queue',
                               reason='admin_only')


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def _iso(value):
    if isinstance(value, str):   # SQLite gives the text it stored
        value = datetime.datetime.fromisoformat(value)
    return value.isoformat(timespec='microseconds')


def list_queue(app, request, caller):
    """200 ``{"queued_images": [{"image_id", "queued_at"}]}``, oldest first."""
    _require_admin(caller)
    db = app.db
    with db_module.read_transaction(db):
        rows = db.execute_sql('SELECT image_id, queued_at FROM cache_queue '
                              'ORDER BY queued_at, image_id').fetchall()
    return responses.json({'queued_images': [
        {'image_id': image_id, 'queued_at': _iso(queued_at)}
        for image_id, queued_at in rows]})


def queue_image(app, request, caller, image_id):
    """200 with the entry; queueing an image again renews its ``queued_at``, so
    every node fetches it again. 400 for what is no image id (the column holds
    36 characters: a longer one was 500 on PostgreSQL and MariaDB); 404 for an
    image that does not exist or is deleted, as upstream's ``PUT
    /v2/cache/{image_id}`` (the API checks first; internal services may call
    here directly)."""
    _require_admin(caller)
    if not vocabulary.is_image_id(image_id):
        raise errors.BadRequest.invalid_value(
            '%s is not an image id' % validation.shown(image_id), 'image_id')
    db, p = app.db, app.db.param
    now = _now()
    with db_module.write_transaction(db):
        # Locked, so a delete either comes after (and removes the entry:
        # forget_deleted_image) or before (and the image is not found): an entry
        # of a deleted image would stay queued for every node.
        records.visible_image(db, caller, image_id, lock=True)
        db.execute_sql('DELETE FROM cache_queue WHERE image_id = %s' % p, (image_id,))
        db.execute_sql('INSERT INTO cache_queue (image_id, queued_at) VALUES (%s, %s)'
                       % (p, p), (image_id, now))
    return responses.json({'image_id': image_id, 'queued_at': _iso(now)})


def dequeue_image(app, request, caller, image_id):
    """200 ``{"deleted": 0|1}``."""
    _require_admin(caller)
    return _delete(app.db, 'WHERE image_id = %s' % app.db.param, (image_id,))


def clear_queue(app, request, caller):
    """200 ``{"deleted": n}``: the queue is empty."""
    _require_admin(caller)
    return _delete(app.db, '', ())


def forget_deleted_image(db, image_id):
    """Remove the image's entry, in the caller's transaction: a deleted image
    (``pending_delete`` too) can no longer be downloaded, so no node may fetch it
    again. Done by the registry's delete, so it holds whoever deletes, on any node,
    and costs the API no call of its own."""
    db.execute_sql('DELETE FROM cache_queue WHERE image_id = %s' % db.param,
                   (image_id,))


def _delete(db, where, params):
    with db_module.write_transaction(db):
        cursor = db.execute_sql('DELETE FROM cache_queue ' + where, params)
        deleted = cursor.rowcount
    return responses.json({'deleted': deleted})


ROUTES = (
    ('GET', r'/v1/cache-queue', list_queue, True),
    ('DELETE', r'/v1/cache-queue', clear_queue, True),
    ('PUT', r'/v1/cache-queue/(?P<image_id>[^/]+)', queue_image, True),
    ('DELETE', r'/v1/cache-queue/(?P<image_id>[^/]+)', dequeue_image, True),
)
