"""Writing images: every registry operation that changes one, each in one short
transaction.

Functions take the database, the caller's ``Identity`` and already-validated values
(``glance_registry.validation``), and return image records (``records``). Every write
first locks the image row (``records.visible_image`` with ``lock``), so writers of
one image take turns. Limits the caller passes (``quota``) are checked in the write's
transaction (``quotas``); ``judge``, given, passes the image's record as read under
the lock before anything is written (``records.locked_image``: the guard's rules).

The status change is a compare-and-swap in the database
(``UPDATE images SET status = :to WHERE id = :id AND status = :from``): whoever updates
no row has lost the race and gets ``errors.Conflict`` with the current status.
"""

import datetime
import logging
import math
import uuid

import orjson
import peewee

from glance_registry import cache_copies
from glance_registry import cache_queue
from glance_registry import db as db_module
from glance_registry.client import errors
from glance_registry.client import vocabulary
from glance_registry.images import child_access
from glance_registry.images import child_formats
from glance_registry.images import child_order
from glance_registry.images import child_status
from glance_registry.images import data_owners
from glance_registry.images import quotas
from glance_registry.images import records
from glance_registry.images import removals
from glance_registry.images import statements
from glance_registry.images import status as status_table
from glance_registry.images.deadlocks import retry_on_deadlock
from glance_registry.models import Image
from glance_registry.models import ImageLocation
from glance_registry.models import ImageProperty
from glance_registry.models import ImageTag
from glance_registry.models import PurgedImage
from glance_registry.models import utcnow

LOG = logging.getLogger(__name__)

#: The columns of an image its property and tag rows hold copies of, besides the
#: status and created_at (``child_copies``).
_COPIED = (child_formats.COPIES, child_access.COPIES)


@retry_on_deadlock
def create_image(db, identity, values, properties=None, tags=(), quota=None):
    """Create a ``queued`` image; ``Conflict`` if the id exists (even deleted or
    purged).

    ``values`` holds base attributes and optionally ``id``; ``owner`` defaults to the
    caller's project when absent. ``quota`` may hold ``max_properties``,
    ``max_tags`` and ``max_images`` (the owner's images, this one included);
    ``TooLarge`` if the image would exceed one.
    """
    quota = quota or {}
    values = dict(values)
    image_id = values.pop('id', None) or str(uuid.uuid4())
    values.setdefault('owner', identity.project_id)
    properties = properties or {}
    tags = sorted(set(tags))
    quotas.check('max_properties', quota.get('max_properties'), 0, len(properties),
                 'Too many properties')
    quotas.check('max_tags', quota.get('max_tags'), 0, len(tags), 'Too many tags')
    max_images = quota.get('max_images')
    now = utcnow()
    with db_module.write_transaction(db):
        if quotas.limited(max_images):
            quotas.lock_project(db, values['owner'])
            owned = quotas.project_usage(db, values['owner']).image_count_total
            quotas.check('max_images', max_images, owned, owned + 1,
                         quotas.naming_owner(values['owner'],
                                             'Too many images in project %s',
                                             'Too many images without an owner'))
        # images first, then purged_images: a purge moving the id from one to the
        # other meanwhile is seen in one of them (each query reads a fresh snapshot
        # under READ COMMITTED, both the same one under REPEATABLE READ).
        if Image.select(Image.id).where(Image.id == image_id).exists(db) or \
                PurgedImage.select().where(PurgedImage.id == image_id).exists(db):
            raise _duplicate(image_id)
        try:
            with db.atomic():
                Image.insert(id=image_id, status='queued', created_at=now,
                             updated_at=now, **values).execute(db)
        except peewee.IntegrityError:
            # Another request created the same id since the check above.
            raise _duplicate(image_id) from None
        copies = dict(image_status='queued', image_created_at=now)
        for copied in _COPIED:
            copies.update(copied.of_new_image(values))
        _insert_properties(db, image_id, properties, copies)
        _insert_tags(db, image_id, tags, copies)
        return records.record_of(db, identity, image_id)


def _duplicate(image_id):
    return errors.Conflict('An image with id %s already exists' % image_id,
                           reason='duplicate_image', image_id=image_id)


@retry_on_deadlock
def update_image(db, identity, image_id, values=None, properties=None, tags=None,
                 quota=None, expected_properties=None, judge=None):
    """Set base attributes, set or remove (``None``) properties, replace tags.

    ``Conflict`` when removing a property that does not exist, or when a property
    of ``expected_properties`` (name: whether it must exist) exists or not
    otherwise; ``NotFound`` when the image is absent, deleted or not visible;
    ``TooLarge`` when the image would have more properties or tags than ``quota``'s
    ``max_properties`` or ``max_tags``. One transaction.
    """
    with db_module.write_transaction(db):
        records.locked_image(db, identity, image_id, judge)
        apply_update(db, image_id, values, properties, tags, quota,
                     expected_properties)
        return records.record_of(db, identity, image_id)


def apply_update(db, image_id, values=None, properties=None, tags=None, quota=None,
                 expected_properties=None):
    """``update_image``'s changes, inside the caller's write transaction (the image
    row locked)."""
    quota = quota or {}
    if expected_properties:
        _check_expected_properties(db, image_id, expected_properties)
    if properties:
        _update_properties(db, image_id, properties, quota.get('max_properties'))
    if tags is not None:
        tags = sorted(set(tags))
        max_tags = quota.get('max_tags')
        if quotas.limited(max_tags):
            before = ImageTag.select().where(ImageTag.image == image_id).count(db)
            quotas.check('max_tags', max_tags, before, len(tags),
                         'Too many tags on image %s' % image_id)
        ImageTag.delete().where(ImageTag.image == image_id).execute(db)
        _insert_tags(db, image_id, tags)
    changes = dict(values or {}, updated_at=utcnow())
    Image.update(**changes).where(Image.id == image_id).execute(db)
    for copied in _COPIED:
        copied.follow(db, image_id, changes)


@retry_on_deadlock
def transition(db, identity, image_id, from_status, to_status, values=None,
               locations=None, quota=None, lease=None, upload_id=None,
               exclusive_urls=(), judge=None):
    """Compare-and-swap the status from ``from_status`` to ``to_status``.

    Moving to ``saving`` (or ``uploading``, a stage) with ``lease`` (seconds) gives
    the upload a lease that it renews with ``renew_upload_lease``; ``queued ->
    saving`` (``queued -> uploading``) then also takes over an image left in that
    status by an upload whose lease has run out (its worker died, or its client
    stalled). ``uploading -> uploading`` with the stage's ``upload_id`` ends a
    stage whose data is staged: the lease ends, the image stays ``uploading``.
    ``upload_id`` names the upload: given when claiming the image, it is recorded;
    given when leaving ``saving``, the image must still be held by that upload
    (``Conflict`` otherwise: another one took it over). An upload whose lease has
    run out may only give its image back (``-> queued``): publishing or staging is
    ``Conflict`` (``lease_expired``), since its reservation and upload slot stopped
    counting against the owner's quotas when its lease ran out (``quotas``).

    Sets the data attributes in ``values`` and replaces the locations when
    ``locations`` is not None, in the same transaction (``Conflict``,
    ``location_in_use``, if another live image has a location at one of
    ``exclusive_urls``, URLs of writable stores). ``Conflict`` (with
    ``current_status``) if the image is no longer in ``from_status`` or the status
    table forbids the move; ``BadRequest`` if the target needs disk and container
    formats the image lacks; ``NotFound`` if absent, deleted or not visible;
    ``TooLarge`` if, moving to an uploading status, the owner would have more
    uploads in progress than ``quota``'s ``max_uploading``, if the move takes the
    owner's storage usage over ``quota``'s ``max_storage`` (bytes), or if a stage
    starts while the owner's staged data is over ``quota``'s ``max_stage`` (MiB); a
    takeover is checked as the start it is (the abandoned upload no longer counts).

    Every status change ends the upload's storage reservation (``reserved`` = 0):
    on ``saving -> active`` the data is counted through its location instead.
    """
    quota = quota or {}
    leased = bool(lease) and to_status in _LEASED
    # A finished stage: the image stays uploading, its data staged, its lease ended.
    staged = from_status == to_status == 'uploading' and upload_id is not None
    with db_module.write_transaction(db):
        image = records.locked_image(db, identity, image_id, judge)
        now = db_module.now(db)   # the leases' clock, after the lock's wait
        values = dict(values or {}, upload_lease_expires_at=(
            now + datetime.timedelta(seconds=lease) if leased else None),
            upload_id=upload_id if leased else None)
        starting = from_status
        if from_status == 'queued' and to_status in _LEASED and \
                image.status == to_status:
            if not _abandoned_upload(image, now):
                raise _held_by_upload(image, now)
            LOG.warning('image %s: taking over an upload whose lease ran out at %s',
                        image_id, image.upload_lease_expires_at)
            from_status = to_status   # the compare-and-swap's; limits see a start
        elif staged:
            if image.status != 'uploading':
                raise _lost_race(image_id, from_status, image.status)
            _check_upload_holds(image, upload_id)
            _check_lease_runs(image, now)
        else:
            check_status_move(image, from_status, to_status)
            if from_status in _LEASED and upload_id is not None:
                _check_upload_holds(image, upload_id)
            if to_status != 'queued':
                _check_lease_runs(image, now)
        storage = quotas.StorageCheck(db, image.owner, quota.get('max_storage'), now)
        _check_upload_limits(db, image, quota, starting, to_status, now)
        swap_status(db, image_id, from_status, to_status, values)
        if locations is not None:
            data_owners.check_not_in_use(db, image_id, exclusive_urls)
            replace_location_rows(db, image_id, locations)
        storage.check()
        return records.record_of(db, identity, image_id)


def _check_upload_limits(db, image, quota, from_status, to_status, now):
    """``TooLarge`` if the move starts an upload over ``quota``'s ``max_uploading``
    or a stage while the owner's staged data is over ``max_stage``: the project
    locked and its usage (with leases judged at ``now``) read once for both."""
    max_uploading = quota.get('max_uploading')
    starts_upload = (quotas.limited(max_uploading)
                     and to_status in quotas.UPLOADING_STATUSES
                     and from_status not in quotas.UPLOADING_STATUSES)
    max_stage = quota.get('max_stage')
    starts_stage = (quotas.limited(max_stage) and to_status == 'uploading'
                    and from_status == 'queued')
    if not (starts_upload or starts_stage):
        return
    quotas.lock_project(db, image.owner)
    usage = quotas.project_usage(db, image.owner, now)
    if starts_upload:
        uploading = usage.image_count_uploading
        quotas.check('max_uploading', max_uploading, uploading, uploading + 1,
                     quotas.naming_owner(image.owner,
                                         'Too many uploads in progress in project %s',
                                         'Too many uploads in progress of images '
                                         'without an owner'))
    if starts_stage:
        quotas.check_stage(max_stage, usage.image_stage_total, image.owner)


#: The statuses an upload holds with a lease: ``saving`` (``PUT /file``) and
#: ``uploading`` (``PUT /stage``, until the data is staged).
_LEASED = ('saving', 'uploading')


def _abandoned_upload(image, now):
    """Whether ``image`` is held for an upload that stopped renewing its lease."""
    expires = image.upload_lease_expires_at
    return image.status in _LEASED and expires is not None and expires <= now


def _check_lease_runs(image, now):
    """``Conflict`` (``lease_expired``) if ``image`` is held by an upload whose
    lease has run out: the upload lost the image, whether or not another has taken
    it over yet.

    Its reservation and upload slot stopped counting against the owner's quotas
    when the lease ran out, and other uploads may have used them since: letting it
    renew, reserve or publish would take the project over its limits unchecked.
    So an upload that comes back after its lease ran out is refused, as one taken
    over is; it may only give the image back (``-> queued``), and a new upload
    starts afresh, checked against every limit."""
    if _abandoned_upload(image, now):
        expired = records.isotime(image.upload_lease_expires_at)
        raise errors.Conflict('Image %s: the upload holding it let its lease run out '
                              'at %s; it may only give the image back, and a new '
                              'upload may take it over' % (image.id, expired),
                              reason='lease_expired', image_id=image.id,
                              current_status=image.status,
                              upload_lease_expires_at=expired)


def _held_by_upload(image, now):
    """The ``Conflict`` for a new upload to an image another upload still holds:
    with when its lease runs out (``upload_lease_expires_at``, and
    ``upload_lease_seconds_left`` on the database's clock), so that the caller can
    say when the image is released if that upload has stopped."""
    expires = image.upload_lease_expires_at
    details = {'image_id': image.id, 'current_status': image.status}
    if expires is not None:
        details.update(upload_lease_expires_at=records.isotime(expires),
                       upload_lease_seconds_left=math.ceil(
                           (expires - now).total_seconds()))
    return errors.Conflict('Image %s is held by another upload until its lease runs '
                           'out' % image.id, reason='held_by_upload', **details)


def renew_upload_lease(db, identity, image_id, seconds, upload_id=None, judge=None):
    """Extend the lease of the upload to ``image_id`` to ``seconds`` from now.

    ``Conflict`` (with ``current_status``) unless the image is ``saving`` and, given
    ``upload_id``, held by that upload (``taken_over``), whose lease still runs
    (``lease_expired``: see ``_check_lease_runs``); ``NotFound`` if absent, deleted
    or not visible. Returns the new expiry.
    """
    with db_module.write_transaction(db):
        image = _uploading_image(db, identity, image_id, 'holds a lease', judge)
        if upload_id is not None:
            _check_upload_holds(image, upload_id)
        now = db_module.now(db)
        _check_lease_runs(image, now)
        expires = now + datetime.timedelta(seconds=seconds)
        # Not updated_at: bookkeeping, as reservations.
        Image.update(upload_lease_expires_at=expires).where(
            Image.id == image_id).execute(db)
        return {'upload_lease_expires_at': records.isotime(expires)}


def _check_upload_holds(image, upload_id):
    """``Conflict`` unless the upload ``upload_id`` holds ``image`` (``saving``)."""
    if image.upload_id != upload_id:
        raise errors.Conflict('Image %s is held by another upload: this one stopped '
                              'renewing its lease and was taken over' % image.id,
                              reason='taken_over', image_id=image.id,
                              current_status=image.status)


def _uploading_image(db, identity, image_id, what, judge=None):
    """The locked row of ``image_id``, which must be ``saving``, or ``uploading``
    by a stage in progress (an upload in progress ``what``: else ``Conflict`` with
    ``current_status``). A stage whose data is staged holds no lease."""
    image = records.locked_image(db, identity, image_id, judge)
    if image.status not in _LEASED or (image.status == 'uploading'
                                       and image.upload_lease_expires_at is None):
        raise errors.Conflict("Image %s status is '%s': only an upload in progress "
                              "(status 'saving', or 'uploading' for a stage) %s"
                              % (image_id, image.status, what),
                              reason='not_uploading', image_id=image_id,
                              current_status=image.status)
    return image


def check_status_move(image, from_status, to_status):
    """Raise unless the locked ``image`` row may move ``from_status -> to_status``.

    ``Conflict`` (with ``current_status``) if the table forbids the move or the image
    is no longer in ``from_status``; ``BadRequest`` if the target needs disk and
    container formats the image lacks.
    """
    status_table.check_transition(from_status, to_status, image_id=image.id,
                                  current_status=image.status)
    if image.status != from_status:
        raise _lost_race(image.id, from_status, image.status)
    missing = status_table.missing_formats(to_status, image.disk_format,
                                           image.container_format)
    if missing:
        raise errors.BadRequest(
            "Image status cannot become '%s' before %s %s set"
            % (to_status, ' and '.join(missing),
               'is' if len(missing) == 1 else 'are'),
            reason='missing_formats', image_id=image.id, missing=missing)


def swap_status(db, image_id, from_status, to_status, values=None):
    """The compare-and-swap itself, with the data attributes in ``values``.

    Ends the upload's storage reservation. ``NotFound`` if the image was deleted,
    ``Conflict`` if its status is no longer ``from_status``.
    """
    changes = dict(values or {}, status=to_status, updated_at=utcnow(), reserved=0)
    updated = (Image.update(**changes)
               .where((Image.id == image_id) & (Image.status == from_status)
                      & (Image.deleted == False))  # noqa: E712
               .execute(db))
    if updated != 1:
        current = (Image.select(Image.status, Image.deleted)
                   .where(Image.id == image_id).first(db))
        if current is None or current.deleted:
            raise records.not_found(image_id)
        raise _lost_race(image_id, from_status, current.status)
    child_status.follow(db, image_id, to_status)
    for copied in _COPIED:
        copied.follow(db, image_id, changes)


def _lost_race(image_id, expected, current):
    return errors.Conflict("Image %s status is '%s', not '%s'"
                           % (image_id, current, expected), reason='status_changed',
                           image_id=image_id, current_status=current)


@retry_on_deadlock
def reserve(db, identity, image_id, total, max_storage=None, upload_id=None,
            judge=None):
    """Set the bytes the upload to ``image_id`` has reserved to ``total``.

    Returns ``{"usage": <owner's storage usage after>, "reserved": total}``.
    ``TooLarge`` if growing the reservation takes the owner's usage over
    ``max_storage`` bytes (shrinking it always succeeds); ``Conflict`` (with
    ``current_status``) unless the image is ``saving`` and, given ``upload_id``,
    held by that upload (``taken_over``: an upload taken over must not change the
    reservation of the one that took it over), or if its upload's lease has run
    out (``lease_expired``); ``NotFound`` if absent, deleted or not visible.
    Uploads of one project reserve one after the other, so together they never
    exceed the limit.
    """
    with db_module.write_transaction(db):
        image = _uploading_image(db, identity, image_id, 'reserves storage', judge)
        if upload_id is not None:
            _check_upload_holds(image, upload_id)
        now = db_module.now(db)
        # Refused, not re-counted: its reservation stopped counting at expiry.
        _check_lease_runs(image, now)
        if quotas.limited(max_storage):
            quotas.lock_project(db, image.owner)
        # Judged at the same ``now``: the lease runs, so ``used`` counts the
        # image's own reservation, which the new total replaces.
        used = quotas.project_usage(db, image.owner, now).image_size_total
        after = used - image.reserved + total
        quotas.check('max_storage', max_storage, used, after,
                     quotas.storage_exceeded(image.owner))
        # Not updated_at: reserving is bookkeeping, not a change to the image.
        Image.update(reserved=total).where(Image.id == image_id).execute(db)
        return {'usage': after, 'reserved': total}


@retry_on_deadlock
def delete_image(db, identity, image_id, delayed=False, judge=None):
    """Mark the image deleted; returns its record as it was just before, with
    ``delayed``: whether it went to ``pending_delete`` instead.

    ``delayed`` (upstream's ``delayed_delete``): an image with locations whose
    status may become ``pending_delete`` (``active``: the status table) does, its
    data kept for the scrubber (``scrubbing``) or a restore; any other is deleted
    at once. ``Forbidden`` if it
    is protected; ``NotFound`` if absent, deleted or not visible. Rows are kept, so
    the id is never reused and the caller learns which locations to purge from the
    stores. An upload's reservation ends with the image, and so do its entry in
    the image cache's prefetch queue and the API nodes' reports of its cached
    copies (either way: it cannot be downloaded).

    Deleted at once, its locations become ``pending_delete`` in this transaction:
    the caller removes the data and confirms (``scrubbing.confirm_removed``); if it
    never does (killed, timed out, a store failed), the sweep finds them. The
    record's locations include those taken off the image whose data is still to be
    removed (``removals``, status ``pending_delete``): its data as well.
    """
    with db_module.write_transaction(db):
        image = records.locked_image(db, identity, image_id, judge)
        if image.protected:
            raise errors.Forbidden('Image %s is protected and cannot be deleted'
                                   % image_id, reason='protected', image_id=image_id)
        record = records.record_of(db, identity, image_id)
        # Locations taken off the image whose data still waits: the image's data
        # too, removed with the rest (``removals``).
        taken_off = removals.pending_of(db, image_id)
        to_status = 'pending_delete' if (
            delayed and record['locations']
            and status_table.can_transition(image.status, 'pending_delete')) \
            else 'deleted'
        status_table.check_transition(image.status, to_status, image_id=image_id,
                                      current_status=image.status)
        # The scrubber judges deleted_at by the database's clock (scrub_time,
        # glance_registry.images.scrubbing): written by the same clock, an image
        # is never younger than its age there (a registry host ahead, or SQLite's
        # milliseconds against Python's microseconds).
        now = db_module.now(db)
        updated = (Image.update(status=to_status, deleted=True, deleted_at=now,
                                updated_at=now, reserved=0)
                   .where((Image.id == image_id) & (Image.deleted == False))  # noqa: E712
                   .execute(db))
        if updated != 1:
            raise records.not_found(image_id)
        child_status.follow(db, image_id, to_status)
        if to_status == 'deleted' and record['locations']:
            (ImageLocation.update(status=vocabulary.DATA_TO_REMOVE)
             .where(ImageLocation.image == image_id).execute(db))
        cache_queue.forget_deleted_image(db, image_id)
        cache_copies.forget_deleted_image(db, image_id)
        return dict(record, locations=record['locations'] + taken_off,
                    delayed=to_status == 'pending_delete')


@retry_on_deadlock
def add_tag(db, identity, image_id, tag, max_tags=None, judge=None):
    """Add ``tag`` to the image; adding a tag it has already is not an error.

    ``TooLarge`` if the image would have more than ``max_tags`` tags.
    """
    with db_module.write_transaction(db):
        records.locked_image(db, identity, image_id, judge)
        if quotas.limited(max_tags):
            existing = {value for value, in ImageTag.select(ImageTag.value)
                        .where(ImageTag.image == image_id).tuples().execute(db)}
            quotas.check('max_tags', max_tags, len(existing),
                         len(existing | {tag}), 'Too many tags on image %s' % image_id)
        _insert_tags(db, image_id, [tag])
        Image.update(updated_at=utcnow()).where(Image.id == image_id).execute(db)


@retry_on_deadlock
def delete_tag(db, identity, image_id, tag, judge=None):
    """Remove ``tag``; ``NotFound`` if the image does not have it."""
    with db_module.write_transaction(db):
        records.locked_image(db, identity, image_id, judge)
        removed = (ImageTag.delete()
                   .where((ImageTag.image == image_id) & (ImageTag.value == tag))
                   .execute(db))
        if not removed:
            raise errors.NotFound("Image %s has no tag '%s'" % (image_id, tag),
                                  reason='tag_not_found', image_id=image_id, tag=tag)
        Image.update(updated_at=utcnow()).where(Image.id == image_id).execute(db)


def _insert_properties(db, image_id, properties, copies=None):
    """``copies``: the copies of the image's columns each row holds
    (``copies_of``), when the caller knows them."""
    if properties:
        copies = copies or copies_of(image_id)
        statements.insert(db, ImageProperty, [
            dict(copies, image=image_id, name=name, value=value)
            for name, value in properties.items()])


def _insert_tags(db, image_id, tags, copies=None):
    """``copies``: as ``_insert_properties``'."""
    tags = sorted(set(tags))
    if tags:
        copies = copies or copies_of(image_id)
        statements.insert(db, ImageTag, [
            dict(copies, image=image_id, value=tag) for tag in tags],
            ignore_conflicts=True)


def copies_of(image_id):
    """The copies of the image's columns on a new property or tag row of it
    (``child_status``, ``child_formats``, ``child_access``, ``child_order``),
    each read by the insert itself."""
    copies = dict(image_status=child_status.of_image(image_id),
                  image_created_at=child_order.of_image(image_id))
    for copied in _COPIED:
        copies.update(copied.of_image(image_id))
    return copies


def _check_expected_properties(db, image_id, expected):
    """``Conflict`` unless each property of ``expected`` exists (``True``) or not
    (``False``) as expected. A JSON patch's ``replace``/``remove`` and 2.0 ``add``
    were judged on the image as the API read it: a writer that committed since
    makes them fail as if they came after it, not undo its change."""
    # All the image's names (as many as its quota allows), not those expected:
    # a caller may expect more names than a statement takes parameters.
    existing = {name for name, in ImageProperty.select(ImageProperty.name)
                .where(ImageProperty.image == image_id).tuples().execute(db)}
    missing = sorted(name for name, present in expected.items()
                     if present and name not in existing)
    if missing:
        raise errors.Conflict('Property %s does not exist.' % ', '.join(missing),
                              reason='missing_property', image_id=image_id,
                              properties=missing)
    present = sorted(name for name, present in expected.items()
                     if not present and name in existing)
    if present:
        raise errors.Conflict('Property %s already present.' % ', '.join(present),
                              reason='property_exists', image_id=image_id,
                              properties=present)


def _update_properties(db, image_id, properties, max_properties=None):
    existing = dict(ImageProperty.select(ImageProperty.name, ImageProperty.id)
                    .where(ImageProperty.image == image_id).tuples().execute(db))
    missing = sorted(name for name, value in properties.items()
                     if value is None and name not in existing)
    if missing:
        raise errors.Conflict('Property %s does not exist.' % ', '.join(missing),
                              reason='missing_property', image_id=image_id,
                              properties=missing)
    after = set(existing)
    for name, value in properties.items():
        if value is None:
            after.discard(name)
        else:
            after.add(name)
    quotas.check('max_properties', max_properties, len(existing), len(after),
                 'Too many properties on image %s' % image_id)
    removed = [existing[name] for name, value in properties.items() if value is None]
    if removed:
        ImageProperty.delete().where(ImageProperty.id.in_(removed)).execute(db)
    for name, value in properties.items():
        if value is None:
            continue
        if name in existing:
            (ImageProperty.update(value=value)
             .where(ImageProperty.id == existing[name]).execute(db))
        else:
            ImageProperty.insert(image=image_id, name=name, value=value,
                                 **copies_of(image_id)).execute(db)


def replace_location_rows(db, image_id, locations, removal_lease=None):
    """Replace the image's locations with ``locations``, in order (the caller
    holds the image's row lock); ``Conflict`` if a URL appears twice.

    Those it drops are taken off the image (``removals.take_off``: an active one's
    data is still to be removed, leased to ``removal_lease`` if given); a URL whose
    removal still waits is the image's again (``removals.revive``: ``Conflict``
    while the removal's lease runs).
    """
    urls = [location['url'] for location in locations]
    check_distinct_urls(image_id, urls)
    removals.revive(db, image_id, urls)
    rows = list(ImageLocation.select(ImageLocation.id, ImageLocation.url,
                                     ImageLocation.status)
                .where((ImageLocation.image == image_id) & removals.on_image())
                .execute(db))
    kept = set(urls)
    dropped = [row for row in rows if row.url not in kept]
    if len(dropped) < len(rows):
        (ImageLocation.delete()
         .where(ImageLocation.id.in_([row.id for row in rows if row.url in kept]))
         .execute(db))
    removals.take_off(db, image_id, dropped, removal_lease)
    if locations:
        ImageLocation.insert_many([
            location_row(image_id, position, location)
            for position, location in enumerate(locations)]).execute(db)


def append_location_rows(db, image_id, locations):
    """Add ``locations`` after the image's current ones (the caller holds the
    image's row lock); one whose URL the image has already stays as it is. A URL
    whose removal still waits is the image's again (``removals.revive``)."""
    rows = list(ImageLocation.select(ImageLocation.url, ImageLocation.position)
                .where((ImageLocation.image == image_id) & removals.on_image())
                .execute(db))
    have = {row.url for row in rows}
    new = [location for location in locations if location['url'] not in have]
    check_distinct_urls(image_id, [location['url'] for location in new])
    if not new:
        return
    removals.revive(db, image_id, [location['url'] for location in new])
    first = max((row.position for row in rows), default=-1) + 1
    ImageLocation.insert_many([
        location_row(image_id, first + n, location)
        for n, location in enumerate(new)]).execute(db)


def location_row(image_id, position, location):
    """The ``image_locations`` row of ``location`` at ``position``."""
    return {'image': image_id, 'position': position, 'url': location['url'],
            'metadata': orjson.dumps(location.get('metadata') or {}).decode(),
            'status': location.get('status') or 'active'}


def check_distinct_urls(image_id, urls):
    """``Conflict`` if ``urls`` names one location twice: an image has each URL once."""
    seen = set()
    for url in urls:
        if url in seen:
            raise errors.Conflict('Image %s would have the location %s twice'
                                  % (image_id, url), reason='duplicate_location',
                                  image_id=image_id, url=url)
        seen.add(url)
