"""Location operations: add one, remove one, replace all, lease a pending one, and
find the images that use a URL.

Each write runs in one transaction that first locks the image row
(``records.locked_image``, which also runs the guard's ``judge`` on it), so the
checks it makes (no duplicate URL, ``max_locations``, not the last copy of an active
image's data, the owner's ``max_storage`` counted over active locations, no other
live image using a writable store's URL) hold when it commits, however many
requests race. Adding or replacing can move the image's status in the same
transaction (the compare-and-swap of ``writes.transition``), so an image never
becomes ``active`` without its location, nor keeps a location it was refused.

Locations are kept in order (``position``). A location in status ``pending`` holds
data that an API worker is verifying under a lease (see ``claim``); the others are
``active`` (or any status a caller gives). A location removed from an image keeps
its row, invisible, until its data is confirmed removed (``removals``).
"""

import datetime

from glance_registry import db as db_module
from glance_registry.client import errors
from glance_registry.client import vocabulary
from glance_registry.images import data_owners
from glance_registry.images import quotas
from glance_registry.images import records
from glance_registry.images import removals
from glance_registry.images import writes
from glance_registry.images.deadlocks import retry_on_deadlock
from glance_registry.models import Image
from glance_registry.models import ImageLocation
from glance_registry.models import utcnow

# Statuses in which an image's data must exist: its last active location cannot be
# removed (unless the caller insists).
STATUSES_WITH_DATA = ('active', 'deactivated')


@retry_on_deadlock
def add_location(db, identity, image_id, location, position=None, transition=None,
                 values=None, max_locations=None, lease=None, max_storage=None,
                 exclusive_urls=(), judge=None):
    """Add ``location`` (``url``, ``metadata``, ``status``) to the image.

    ``position`` is the index it takes in the image's list (None or past the end:
    last). ``transition`` is an optional ``(from, to)`` status compare-and-swap made
    in the same transaction, setting the data attributes in ``values``. ``lease``
    (``{"owner", "seconds"}``, for a ``pending`` location) claims it at once, as
    ``claim`` would. Returns the image record.

    ``Conflict`` if the image has a location with that URL (``reason``
    ``duplicate_location``), another live image has one at a URL in
    ``exclusive_urls`` (``location_in_use``: URLs of writable stores) or the status
    was not ``from`` (``current_status``);
    ``TooLarge`` if the image would have more than ``max_locations``, or its owner
    a storage usage over ``max_storage`` bytes; ``NotFound``.
    """
    with db_module.write_transaction(db):
        image = records.locked_image(db, identity, image_id, judge)
        if transition is not None:
            writes.check_status_move(image, *transition)
        storage = quotas.StorageCheck(db, image.owner, max_storage)
        rows = _rows(db, image_id)
        writes.check_distinct_urls(image_id, [row.url for row in rows]
                                   + [location['url']])
        removals.revive(db, image_id, [location['url']])
        quotas.check('max_locations', max_locations, len(rows), len(rows) + 1,
                     'Too many locations on image %s' % image_id)
        data_owners.check_not_in_use(db, image_id, exclusive_urls)
        if position is None or position >= len(rows):
            slot = rows[-1].position + 1 if rows else 0
        else:
            slot = rows[position].position
            (ImageLocation.update(position=ImageLocation.position + 1)
             .where((ImageLocation.image == image_id)
                    & (ImageLocation.position >= slot))
             .execute(db))
        now = utcnow()
        fields = writes.location_row(image_id, slot, location)
        if lease is not None:
            fields.update(lease_owner=lease['owner'], attempts=1,
                          lease_expires_at=db_module.now(db) + datetime.timedelta(
                              seconds=lease['seconds']))
        ImageLocation.insert(**fields).execute(db)
        _finish(db, image_id, transition, values, now)
        storage.check()
        return records.record_of(db, identity, image_id)


@retry_on_deadlock
def remove_location(db, identity, image_id, url, allow_last=False, judge=None,
                    removal_lease=None):
    """Remove the image's location with ``url``; returns the image record after.

    ``Conflict`` (``reason`` ``last_location``) if it is the last active location of
    an image whose data must exist (``active``, ``deactivated``), unless
    ``allow_last``; ``NotFound`` if the image has no such location. An active
    location's data is recorded as still to be removed, in this transaction
    (``removals``): the caller removes it and confirms, holding the removal's lease
    ``removal_lease`` (``{"owner", "seconds"}``) if given; else, or if it never
    confirms, a sweep does.
    """
    with db_module.write_transaction(db):
        image = records.locked_image(db, identity, image_id, judge)
        row = (ImageLocation.select()
               .where((ImageLocation.image == image_id) & (ImageLocation.url == url)
                      & removals.on_image())
               .first(db))
        if row is None:
            raise _no_location(image_id, url)
        if (not allow_last and image.status in STATUSES_WITH_DATA
                and row.status == 'active'):
            others = (ImageLocation.select()
                      .where((ImageLocation.image == image_id)
                             & (ImageLocation.status == 'active')
                             & (ImageLocation.id != row.id))
                      .count(db))
            if others == 0:
                raise errors.Conflict(
                    "Location %s holds the only copy of the data of image %s "
                    "(status '%s')" % (url, image_id, image.status),
                    reason='last_location', image_id=image_id, url=url,
                    current_status=image.status)
        removals.take_off(db, image_id, [row], removal_lease)
        _finish(db, image_id, None, None, utcnow())
        return records.record_of(db, identity, image_id)


@retry_on_deadlock
def replace_locations(db, identity, image_id, locations, expected_urls=None,
                      transition=None, values=None, max_locations=None,
                      max_storage=None, update=None, exclusive_urls=(), judge=None,
                      removal_lease=None):
    """Replace all the image's locations with ``locations``, in order.

    ``expected_urls`` (the URLs the caller read, in order) makes it a
    compare-and-swap: ``Conflict`` (``reason`` ``locations_changed``) if the image's
    locations are no longer those. ``transition`` and ``values`` as for
    ``add_location``. ``Conflict`` (``duplicate_location``) if ``locations`` names a
    URL twice; ``TooLarge`` if it holds more than ``max_locations`` and more than
    the image had, or the owner's storage usage grows over ``max_storage``. Leases
    on pending locations end. ``update`` (``values``, ``properties``, ``tags``,
    ``quota``, ``expected_properties`` as for ``writes.update_image``) changes the image's attributes in the
    same transaction: a patch that changes both is applied whole or not at all.
    Active locations it drops are removed as ``remove_location`` removes them
    (``removal_lease`` the same), and a URL given back ends its removal
    (``Conflict``, ``removal_in_progress``, while a lease on it runs).
    """
    with db_module.write_transaction(db):
        image = records.locked_image(db, identity, image_id, judge)
        if transition is not None:
            writes.check_status_move(image, *transition)
        storage = quotas.StorageCheck(db, image.owner, max_storage)
        current = [row.url for row in _rows(db, image_id)]
        if expected_urls is not None and current != list(expected_urls):
            raise errors.Conflict('The locations of image %s changed meanwhile'
                                  % image_id, reason='locations_changed',
                                  image_id=image_id)
        quotas.check('max_locations', max_locations, len(current), len(locations),
                     'Too many locations on image %s' % image_id)
        data_owners.check_not_in_use(db, image_id, exclusive_urls)
        writes.replace_location_rows(db, image_id, locations, removal_lease)
        _finish(db, image_id, transition, values, utcnow())
        if update:
            writes.apply_update(db, image_id, **update)
        storage.check()
        return records.record_of(db, identity, image_id)


@retry_on_deadlock
def claim(db, identity, image_id, url, owner, seconds, judge=None):
    """Lease the ``pending`` location ``url`` to ``owner`` for ``seconds``.

    Succeeds when nobody holds it, its lease has expired, or ``owner`` holds it
    already (a renewal). A new holder counts one more attempt. Returns the image
    record, whose pending location shows ``lease_expires_at`` and ``attempts``.
    ``Conflict`` if another owner's lease is still running (``lease_expires_at``)
    or the location is not pending (``location_status``); ``NotFound``.
    """
    with db_module.write_transaction(db):
        records.locked_image(db, identity, image_id, judge)
        row = (ImageLocation.select()
               .where((ImageLocation.image == image_id) & (ImageLocation.url == url)
                      & removals.on_image())
               .first(db))
        if row is None:
            raise _no_location(image_id, url)
        if row.status != vocabulary.PENDING_LOCATION:
            raise errors.Conflict("Location %s of image %s is '%s', not '%s'"
                                  % (url, image_id, row.status,
                                     vocabulary.PENDING_LOCATION),
                                  reason='location_not_pending', image_id=image_id,
                                  url=url, location_status=row.status)
        now = db_module.now(db)   # every lease's clock
        if (row.lease_owner not in (None, owner) and row.lease_expires_at is not None
                and _naive(row.lease_expires_at) > now):
            raise errors.Conflict(
                'Location %s of image %s is being verified by another worker'
                % (url, image_id), reason='location_leased', image_id=image_id,
                url=url, lease_expires_at=records.isotime(row.lease_expires_at))
        attempts = row.attempts + (0 if row.lease_owner == owner else 1)
        # Not updated_at: a lease is bookkeeping, not a change to the image.
        (ImageLocation.update(lease_owner=owner, attempts=attempts,
                              lease_expires_at=now + datetime.timedelta(
                                  seconds=seconds))
         .where(ImageLocation.id == row.id).execute(db))
        return records.record_of(db, identity, image_id)


def references(db, identity, urls):
    """``{url: [ids of the images not deleted that have a location at url]}``;
    images ``pending_delete`` count as not deleted: their data may be restored.

    Lets the API keep one image from taking over, or deleting, another image's
    data through a location. Answers for every image, so only for an admin
    (``Forbidden`` otherwise). One indexed query per URL.
    """
    if not identity.is_admin:
        raise errors.Forbidden('Only an admin may look up the locations of every '
                               'image', reason='admin_only')
    with db_module.read_transaction(db):
        return {url: data_owners.images_using(db, url) for url in urls}


def _rows(db, image_id):
    return list(ImageLocation.select(ImageLocation.id, ImageLocation.url,
                                     ImageLocation.position)
                .where((ImageLocation.image == image_id) & removals.on_image())
                .order_by(ImageLocation.position, ImageLocation.id).execute(db))


def _finish(db, image_id, transition, values, now):
    if transition is not None:
        writes.swap_status(db, image_id, transition[0], transition[1], values)
    else:
        Image.update(updated_at=now).where(Image.id == image_id).execute(db)


def _no_location(image_id, url):
    return errors.NotFound('Image %s has no location %s' % (image_id, url),
                           reason='location_not_found', image_id=image_id, url=url)


def _naive(when):
    # Defensive: a driver that hands back text.
    if isinstance(when, str):
        return datetime.datetime.fromisoformat(when)
    return when
