"""Locations taken off a live image whose data is still to be removed.

Removing a location of an image that is not deleted (``locations.remove_location``,
or a replacement that drops a URL) keeps its row, in status ``pending_delete``
(``vocabulary.DATA_TO_REMOVE``), in the transaction that takes it off the image:
nothing shows it any more (records, the guard's judgement, duplicate and quota
counts), but its data is recorded as still to be removed from its store. Whoever
removes the data confirms (``confirm``), and the row goes. An API worker killed
after the registry committed, a registry answer lost, or a store that failed
leaves it unconfirmed; the sweep claims it (``claim``) and removes the data.

A row carries a removal lease (``lease_owner`` until ``lease_expires_at``, the
columns a ``pending`` location's verifier uses): the remover may take one in the
removal's transaction (the API holds it for as long as a removal can take,
``deleted_data_grace_time``), and the sweep claims only rows whose lease is free,
with a compare-and-swap, so one sweep removes one location's data. A row removed
without a lease has no remover: any sweep may take it at once.

The same URL added back to the image (``revive``) ends its removal: its data is in
use again, and no sweep may remove it. While someone holds the removal's lease, the
data may be going: adding it back is refused (``removal_in_progress``), and
possible again once the lease is given up or the data is confirmed gone (there is
then no data to add).

Images deleted, or ``pending_delete``, are not swept here: all their locations are
their data (``scrubbing``); ``writes.delete_image`` hands the removals still
unconfirmed to the delete's caller together with the image's other locations.

Claiming, renewing and confirming are for admins only (``Forbidden`` otherwise):
the API's service identity, the scrubber's.
"""

import datetime

import orjson

from glance_registry import db as db_module
from glance_registry.client import errors
from glance_registry.client import vocabulary
from glance_registry.images import records
from glance_registry.images.deadlocks import retry_on_deadlock
from glance_registry.models import Image
from glance_registry.models import ImageLocation

#: Location statuses that are no location of a live image: its data to remove, or
#: removed (a deleted image's bookkeeping).
TAKEN_OFF = (vocabulary.DATA_TO_REMOVE, vocabulary.DATA_REMOVED)


def on_image():
    """SQL: the location row is one of its image's locations (not taken off)."""
    return ImageLocation.status.not_in(TAKEN_OFF)


def take_off(db, image_id, rows, lease=None):
    """Take the location ``rows`` off the live image ``image_id`` (its row locked):
    an ``active`` one's data is still to be removed, leased to ``lease``
    (``{"owner", "seconds"}``) if given; any other (data being verified, staged
    data: their own cleanups remove it) simply goes."""
    keep = [row.id for row in rows if row.status == 'active']
    drop = [row.id for row in rows if row.status != 'active']
    if drop:
        ImageLocation.delete().where(ImageLocation.id.in_(drop)).execute(db)
    if not keep:
        return
    changes = {'status': vocabulary.DATA_TO_REMOVE, 'lease_owner': None,
               'lease_expires_at': None, 'attempts': 0}
    if lease is not None:
        changes.update(lease_owner=lease['owner'],
                       lease_expires_at=db_module.now(db) + datetime.timedelta(
                           seconds=lease['seconds']))
    (ImageLocation.update(**changes)
     .where((ImageLocation.id.in_(keep)) & (ImageLocation.image == image_id))
     .execute(db))


def revive(db, image_id, urls):
    """``urls`` become locations of the image ``image_id`` (its row locked) again:
    their removals end, so no sweep removes their data. ``Conflict``
    (``removal_in_progress``, with ``url`` and ``lease_expires_at``) if one's
    data is being removed under a lease that still runs."""
    urls = set(urls)
    if not urls:
        return
    rows = list(ImageLocation.select()
                .where((ImageLocation.image == image_id)
                       & (ImageLocation.status == vocabulary.DATA_TO_REMOVE)
                       & ImageLocation.url.in_(sorted(urls)))
                .execute(db))
    if not rows:
        return
    now = db_module.now(db)
    for row in rows:
        if _held(row, now):
            expires = records.isotime(row.lease_expires_at)
            raise errors.Conflict(
                'The data at %s, removed from image %s, is being removed from its '
                'store (under a lease running until %s): it cannot be added back'
                % (row.url, image_id, expires), reason='removal_in_progress',
                image_id=image_id, url=row.url, lease_expires_at=expires)
    ImageLocation.delete().where(ImageLocation.id.in_([row.id for row in rows])) \
        .execute(db)


def pending_of(db, image_id):
    """The image's locations taken off it whose data is still to be removed, as a
    record shows locations (``{"url", "metadata", "status"}``)."""
    return [{'url': url, 'metadata': orjson.loads(metadata), 'status': status}
            for url, metadata, status in (
                ImageLocation.select(ImageLocation.url, ImageLocation.metadata,
                                     ImageLocation.status)
                .where((ImageLocation.image == image_id)
                       & (ImageLocation.status == vocabulary.DATA_TO_REMOVE))
                .order_by(ImageLocation.position, ImageLocation.id)
                .tuples().execute(db))]


def _admin_only(identity):
    if not identity.is_admin:
        raise errors.Forbidden('Only an admin may remove the data of locations '
                               'taken off images', reason='admin_only')


def _free(owner, now):
    """SQL: a removal's lease is free for ``owner`` (nobody holds it, it ran out,
    or ``owner`` holds it already)."""
    return (ImageLocation.lease_owner.is_null() | (ImageLocation.lease_owner == owner)
            | (ImageLocation.lease_expires_at <= now))


def _held(row, now):
    expires = row.lease_expires_at
    if isinstance(expires, str):   # SQLite hands back the text peewee stored
        expires = datetime.datetime.fromisoformat(expires)
    return row.lease_owner is not None and expires is not None and expires > now


def _removal(image_id, url):
    return ((ImageLocation.image == image_id) & (ImageLocation.url == url)
            & (ImageLocation.status == vocabulary.DATA_TO_REMOVE))


@retry_on_deadlock
def claim(db, identity, owner, seconds, limit):
    """Lease to ``owner`` for ``seconds`` up to ``limit`` locations taken off live
    images whose data is still to be removed and whose lease is free:
    ``[{"image_id", "url", "metadata", "attempts"}]``, those claimed least often
    first (a store that keeps failing must not crowd out the others)."""
    _admin_only(identity)
    now = db_module.now(db)   # every lease's clock: the database's
    with db_module.write_transaction(db):
        candidates = list(
            ImageLocation.select(ImageLocation.id, ImageLocation.lease_owner,
                                 ImageLocation.attempts)
            .join(Image, on=(ImageLocation.image == Image.id))
            .where((ImageLocation.status == vocabulary.DATA_TO_REMOVE)
                   & (Image.deleted == False)  # noqa: E712
                   & _free(owner, now))
            .order_by(ImageLocation.attempts, ImageLocation.id)
            .limit(limit).execute(db))
        claimed = [row.id for row in candidates if _take(db, row, owner, seconds,
                                                         now)]
        if not claimed:
            return []
        return [{'image_id': image_id, 'url': url, 'metadata': orjson.loads(metadata),
                 'attempts': attempts}
                for image_id, url, metadata, attempts in (
                    ImageLocation.select(ImageLocation.image, ImageLocation.url,
                                         ImageLocation.metadata, ImageLocation.attempts)
                    .where(ImageLocation.id.in_(claimed))
                    .order_by(ImageLocation.attempts, ImageLocation.id)
                    .tuples().execute(db))]


def _take(db, row, owner, seconds, now):
    """Lease the removal ``row`` (read with its ``lease_owner`` and ``attempts``)
    to ``owner``; whether it could. The compare-and-swap: of two sweeps that read
    the same row, one updates it and the other finds its attempts changed or its
    lease taken. A new holder counts one more attempt."""
    attempts = row.attempts + (0 if row.lease_owner == owner else 1)
    return (ImageLocation.update(
        attempts=attempts, lease_owner=owner,
        lease_expires_at=now + datetime.timedelta(seconds=seconds))
        .where((ImageLocation.id == row.id)
               & (ImageLocation.status == vocabulary.DATA_TO_REMOVE)
               & (ImageLocation.attempts == row.attempts) & _free(owner, now))
        .execute(db)) == 1


@retry_on_deadlock
def renew(db, identity, image_id, url, owner, seconds):
    """Extend ``owner``'s lease on the removal of ``url`` from ``image_id`` to
    ``seconds`` from now (0: give it up, for the next sweep to try again).
    ``Conflict`` (``removal_lease_lost``) unless the removal still waits and its
    lease is ``owner``'s or free."""
    _admin_only(identity)
    with db_module.write_transaction(db):
        row = (ImageLocation.select(ImageLocation.id, ImageLocation.lease_owner,
                                    ImageLocation.attempts)
               .where(_removal(image_id, url)).first(db))
        if row is None or not _take(db, row, owner, seconds, db_module.now(db)):
            raise _lost(image_id, url)
        return {'image_id': image_id, 'url': url}


@retry_on_deadlock
def confirm(db, identity, image_id, url, owner):
    """The data of ``url``, taken off image ``image_id``, is gone from its store:
    the removal ends (its row goes; a deleted image keeps it, ``deleted``).
    Confirming a removal that no longer waits (confirmed already, or absorbed by
    the image's deletion) is no error. ``Conflict`` (``removal_lease_lost``) if
    another remover holds it now: that one removes the data and confirms."""
    _admin_only(identity)
    with db_module.write_transaction(db):
        row = (ImageLocation.select(ImageLocation.id, ImageLocation.lease_owner)
               .where(_removal(image_id, url)).first(db))
        if row is None:
            if Image.select(Image.id).where(Image.id == image_id).first(db) is None:
                raise records.not_found(image_id)
            return
        if row.lease_owner != owner:
            raise _lost(image_id, url)
        deleted = (Image.select(Image.deleted).where(Image.id == image_id)
                   .scalar(db))
        if deleted:
            (ImageLocation.update(status=vocabulary.DATA_REMOVED,
                                  lease_expires_at=None)
             .where(ImageLocation.id == row.id).execute(db))
        else:
            ImageLocation.delete().where(ImageLocation.id == row.id).execute(db)


def _lost(image_id, url):
    return errors.Conflict('The removal of %s from image %s is not held by this '
                           'remover' % (url, image_id), reason='removal_lease_lost',
                           image_id=image_id, url=url)
