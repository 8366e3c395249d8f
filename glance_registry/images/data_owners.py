"""Which images have a location at a URL, and keeping one writable store's data to
one image.

Several images may share a location in a store this service does not write (an http
URL: upstream allows it). In a store it writes, no two live images may: their data
would be one file, and deleting one image would delete the other's data. Images
``pending_delete`` count as live: a restore brings their data back.

``check_not_in_use`` is that rule inside a write transaction: it locks each new
URL's slot in ``location_locks`` (after the image row and any project row: one order
for every writer) before it looks, so two requests adding one URL to two images
take turns and the second one sees the first one's location.
"""

import hashlib

import peewee

from glance_registry import db as db_module
from glance_registry.client import errors
from glance_registry.models import Image
from glance_registry.models import ImageLocation
from glance_registry.models import LocationLock

# image_locations is indexed on this prefix of the URL (migration 3).
URL_PREFIX = 255

# URLs share this many locks (migration 15).
LOCK_SLOTS = 65536


def images_using(db, url, lock=False):
    """The ids of the live images (not deleted, or ``pending_delete``) that have a
    location at ``url``, sorted; a location taken off a live image whose data is
    still to be removed counts (``removals``): that data is the image's until
    then. ``lock``: read as a writer that must see what
    committed meanwhile (MariaDB's plain reads keep the transaction's first
    snapshot; a locking read sees the latest rows)."""
    query = (ImageLocation.select(ImageLocation.image)
             .join(Image, on=(ImageLocation.image == Image.id))
             .where((_url_prefix(ImageLocation.url) == url[:URL_PREFIX])
                    & (ImageLocation.url == url)
                    & ((Image.deleted == False)  # noqa: E712
                       | (Image.status == 'pending_delete'))))
    if lock and db_module.dialect(db) == 'mysql':
        query = query.for_update('LOCK IN SHARE MODE')
    return sorted({image_id for image_id, in query.tuples().execute(db)})


def check_not_in_use(db, image_id, urls):
    """``errors.Conflict`` (``location_in_use``) if another live image has a location
    at one of ``urls`` (URLs of writable stores, as their store spells them) that
    image ``image_id`` does not have yet. Call it inside the write transaction, the
    image row locked, before adding the locations."""
    own = {url for url, in ImageLocation.select(ImageLocation.url)
           .where(ImageLocation.image == image_id).tuples().execute(db)}
    new = sorted(set(urls) - own)
    _lock(db, new)
    for url in new:
        if any(other != image_id for other in images_using(db, url, lock=True)):
            raise errors.Conflict('The location %s is in use by another image.' % url,
                                  reason='location_in_use', image_id=image_id, url=url)


def _lock(db, urls):
    """Lock the slots of ``urls`` until the transaction ends, in slot order (no two
    writers wait for each other). SQLite's writers already take turns."""
    kind = db_module.dialect(db)
    if kind == 'sqlite':
        return
    for slot in sorted({_slot(url) for url in urls}):
        insert = LocationLock.insert(slot=slot)
        if kind == 'postgresql':
            # As quotas.lock_project: DO UPDATE locks the row, new or not.
            insert = insert.on_conflict(conflict_target=[LocationLock.slot],
                                        preserve=[LocationLock.slot])
        else:
            insert = insert.on_conflict(preserve=[LocationLock.slot])
        insert.execute(db)


def _slot(url):
    return int.from_bytes(hashlib.sha256(url.encode()).digest()[:4], 'big') \
        % LOCK_SLOTS


def _url_prefix(field):
    # Literal bounds: SQLite matches an expression index only on identical constants.
    return peewee.fn.SUBSTR(field, peewee.SQL('1'), peewee.SQL(str(URL_PREFIX)))
