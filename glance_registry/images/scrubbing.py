"""Delayed delete: images in ``pending_delete``, the scrubbers' leases on them, and
restoring them.

With ``delayed_delete`` a deleted image that has data becomes ``pending_delete``
(``writes.delete_image``): hidden as a deleted image is, its data kept. A scrubber
(``glance-scrubber``) claims such images once they have waited ``older_than``
seconds, deletes their data and marks them ``deleted``. Several scrubbers may run at
once: each claim is a compare-and-swap on the image's lease
(``scrub_lease_owner`` until ``scrub_lease_expires_at``), so one image is scrubbed by
one scrubber at a time; one that dies leaves a lease that runs out, and another
takes the image over. An image once claimed is never restored: part of its data may
already be gone.

The same claims and leases serve images deleted at once whose data was never
confirmed removed: ``writes.delete_image`` moves their locations to
``pending_delete`` in the delete's transaction, and whoever removed the data
confirms (``confirm_removed``: the API right after the delete, or the sweep that
claimed the image with ``claim(..., status='deleted')`` once ``older_than`` has
passed, longer than any request could take). Until then ``glance-manage db
purge`` keeps the image's rows.

Only admins may call these (``Forbidden`` otherwise): the API's service identity,
the scrubber's.
"""

import datetime

import peewee

from glance_registry import db as db_module
from glance_registry.client import errors
from glance_registry.client import vocabulary
from glance_registry.images import child_status
from glance_registry.images import records
from glance_registry.images.deadlocks import retry_on_deadlock
from glance_registry.models import Image
from glance_registry.models import ImageLocation
from glance_registry.models import utcnow
from glance_registry.tasks import writes as task_writes

PENDING_DELETE = 'pending_delete'
DELETED = 'deleted'


def _admin_only(identity):
    if not identity.is_admin:
        raise errors.Forbidden('Only an admin may scrub or restore images',
                               reason='admin_only')


def _lease_free(owner, now):
    """SQL: the scrub lease of an image is free for ``owner`` (nobody holds it, it
    ran out, or ``owner`` holds it already)."""
    return (Image.scrub_lease_owner.is_null() | (Image.scrub_lease_owner == owner)
            | (Image.scrub_lease_expires_at <= now))


def _data_to_remove():
    """SQL: the image has locations whose data is still to be removed (read from
    the index of migration 17, not by walking the deleted images)."""
    return Image.id.in_(ImageLocation.select(ImageLocation.image)
                        .where(ImageLocation.status == vocabulary.DATA_TO_REMOVE))


def _waiting(status):
    """SQL: the image is in ``status`` and its data waits to be removed: every
    ``pending_delete`` image does; a ``deleted`` one until that is confirmed."""
    if status == PENDING_DELETE:
        return Image.status == PENDING_DELETE
    return (Image.status == DELETED) & _data_to_remove()


def _any_waiting():
    return _waiting(PENDING_DELETE) | _waiting(DELETED)


@retry_on_deadlock
def claim(db, identity, owner, seconds, older_than, limit, status=PENDING_DELETE):
    """Lease to ``owner`` for ``seconds`` up to ``limit`` images in ``status``
    (``pending_delete``, or ``deleted`` with data whose removal was never
    confirmed) for at least ``older_than`` seconds whose lease is free; their
    records (each with its locations): those never claimed first, oldest
    deletion first."""
    _admin_only(identity)
    waiting = _waiting(status)
    now = db_module.now(db)   # every lease's clock: the database's
    claimed = []
    with db_module.write_transaction(db):
        candidates = [image_id for image_id, in (
            Image.select(Image.id)
            .where(waiting
                   & (Image.deleted_at <= now - datetime.timedelta(seconds=older_than))
                   & _lease_free(owner, now))
            # Never claimed first: images a scrubber failed on (a store that is
            # down) must not crowd out the others.
            .order_by(peewee.Case(None, [(Image.scrub_lease_owner.is_null(), 0)], 1),
                      Image.deleted_at, Image.id)
            .limit(limit).tuples().execute(db))]
        for image_id in candidates:
            # The compare-and-swap: of two scrubbers that read the same candidate,
            # one updates the row and the other finds the lease taken.
            if _take(db, image_id, owner, seconds, now, waiting):
                claimed.append(records.record_of(db, identity, image_id))
    return claimed


def _take(db, image_id, owner, seconds, now, waiting):
    return (Image.update(scrub_lease_owner=owner,
                         scrub_lease_expires_at=now + datetime.timedelta(
                             seconds=seconds))
            .where((Image.id == image_id) & waiting & _lease_free(owner, now))
            .execute(db)) == 1


def renew(db, identity, image_id, owner, seconds):
    """Extend ``owner``'s lease on ``image_id`` to ``seconds`` from now.

    ``Conflict`` (``scrub_lease_lost``) unless the image's data waits to be removed
    (``pending_delete``, or ``deleted`` and not confirmed) and its lease is
    ``owner``'s or free; ``NotFound`` if there is no such image.
    """
    _admin_only(identity)
    with db_module.write_transaction(db):
        if not _take(db, image_id, owner, seconds, db_module.now(db), _any_waiting()):
            raise _lost(db, image_id)
        return {'image_id': image_id}


@retry_on_deadlock
def finish(db, identity, image_id, owner):
    """``pending_delete -> deleted`` for the scrubber ``owner`` that deleted the data.

    The data of locations taken off the image before its deletion went too (its
    claimed record listed them: ``removals``): their removal is confirmed.
    ``Conflict`` (``scrub_lease_lost``) unless ``owner`` still holds the image's
    lease; ``NotFound``. Returns the record.
    """
    _admin_only(identity)
    with db_module.write_transaction(db):
        updated = (Image.update(status='deleted', scrub_lease_expires_at=None,
                                updated_at=utcnow())
                   .where((Image.id == image_id) & (Image.status == PENDING_DELETE)
                          & (Image.scrub_lease_owner == owner))
                   .execute(db))
        if updated != 1:
            raise _lost(db, image_id)
        child_status.follow(db, image_id, 'deleted')
        _confirm_locations(db, image_id)
        return records.record_of(db, identity, image_id)


def _confirm_locations(db, image_id):
    (ImageLocation.update(status=vocabulary.DATA_REMOVED)
     .where((ImageLocation.image == image_id)
            & (ImageLocation.status == vocabulary.DATA_TO_REMOVE))
     .execute(db))


@retry_on_deadlock
def confirm_removed(db, identity, image_id, owner=None):
    """The data of the ``deleted`` image ``image_id`` is gone from the stores: its
    ``pending_delete`` locations become ``deleted``, and no sweep claims it again.
    Confirming twice is no error (the API and a late sweep may both have removed
    it: deleting data that is gone is too).

    ``owner``: the sweep that claimed it, which must still hold its lease (it
    ends); without, the API that deleted the image. ``Conflict``
    (``not_deleted``, with ``current_status``) if the image is not ``deleted``
    (a ``pending_delete`` one is the scrubber's: ``finish``), (``scrub_lease_lost``)
    if ``owner`` does not hold it; ``NotFound``.
    """
    _admin_only(identity)
    with db_module.write_transaction(db):
        row = (Image.select(Image.status, Image.scrub_lease_owner)
               .where(Image.id == image_id).first(db))
        if row is None:
            raise records.not_found(image_id)
        if row.status != DELETED:
            raise errors.Conflict("Image %s status is '%s', not 'deleted': its data "
                                  "cannot be confirmed removed" % (image_id, row.status),
                                  reason='not_deleted', image_id=image_id,
                                  current_status=row.status)
        if owner is not None:
            released = (Image.update(scrub_lease_expires_at=None)
                        .where((Image.id == image_id) & (Image.status == DELETED)
                               & (Image.scrub_lease_owner == owner))
                        .execute(db))
            if released != 1:
                raise _lost(db, image_id)
        _confirm_locations(db, image_id)


def _lost(db, image_id):
    row = (Image.select(Image.status, Image.scrub_lease_owner)
           .where(Image.id == image_id).first(db))
    if row is None:
        raise records.not_found(image_id)
    return errors.Conflict('Image %s is not held by this scrubber (status %s)'
                           % (image_id, row.status), reason='scrub_lease_lost',
                           image_id=image_id, current_status=row.status)


@retry_on_deadlock
def restore(db, identity, image_id):
    """``pending_delete -> active``: the image is back, with its data, and without
    the import lock of an import that ended while it was deleted
    (``task_writes.release_ended_lock``).

    ``Conflict`` (``not_pending_delete``, with ``current_status``) if it is not
    ``pending_delete``; ``Conflict`` (``scrub_started``) once a scrubber has claimed
    it; ``NotFound`` if there is no such image. Returns the record.
    """
    _admin_only(identity)
    with db_module.write_transaction(db):
        row = Image.select().where(Image.id == image_id).first(db)
        if row is None:
            raise records.not_found(image_id)
        if row.status != PENDING_DELETE:
            raise errors.Conflict("Image %s status is '%s', not 'pending_delete': it "
                                  "cannot be restored" % (image_id, row.status),
                                  reason='not_pending_delete', image_id=image_id,
                                  current_status=row.status)
        if row.scrub_lease_owner is not None:
            raise _scrub_started(image_id)
        restored = (Image.update(status='active', deleted=False, deleted_at=None,
                                 updated_at=utcnow())
                    .where((Image.id == image_id) & (Image.status == PENDING_DELETE)
                           & Image.scrub_lease_owner.is_null())
                    .execute(db))
        if restored != 1:
            # A scrubber claimed it since the read above.
            raise _scrub_started(image_id)
        child_status.follow(db, image_id, 'active')
        task_writes.release_ended_lock(db, image_id)
        return records.record_of(db, identity, image_id)


def _scrub_started(image_id):
    return errors.Conflict('Image %s cannot be restored: a scrubber has started '
                           'deleting its data' % image_id, reason='scrub_started',
                           image_id=image_id)
