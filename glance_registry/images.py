"""Image data access: every registry operation on images, each in one short transaction.

Functions take the database, the caller's ``Identity`` and already-validated values
(see ``app.py``), and return image records: plain dicts in the shape of the registry
API's image record, ``member_status`` (the caller's project's membership) included.
Visibility is applied in SQL (``filters.visible_to``): an image the caller may not
see is ``errors.NotFound``, as if it did not exist. Limits the caller passes
(``quota``) are checked in the write's transaction (``glance_registry.quotas``).

The status change is a compare-and-swap in the database
(``UPDATE images SET status = :to WHERE id = :id AND status = :from``): whoever updates
no row has lost the race and gets ``errors.Conflict`` with the current status.
"""

import datetime
import functools
import logging
import math
import uuid

import orjson
import peewee

from glance_registry import db as db_module
from glance_registry import errors
from glance_registry import filters
from glance_registry import quotas
from glance_registry import status as status_table
from glance_registry.identity import Identity
from glance_registry.models import Image
from glance_registry.models import ImageLocation
from glance_registry.models import ImageProperty
from glance_registry.models import ImageTag
from glance_registry.models import utcnow

LOG = logging.getLogger(__name__)

# Base attributes a caller may set on create and update.
BASE_ATTRIBUTES = ('name', 'visibility', 'protected', 'os_hidden', 'min_disk',
                   'min_ram', 'disk_format', 'container_format', 'owner')
# Data attributes that a status transition sets.
DATA_ATTRIBUTES = ('size', 'virtual_size', 'checksum', 'os_hash_algo', 'os_hash_value')

# A location whose data is being verified (glance_registry.locations): its record
# also says until when a verifier holds it and how many verifiers have tried.
PENDING = 'pending'

_DEADLOCK_RETRIES = 3


def retry_on_deadlock(function):
    """Run a write again when the database chose it as a deadlock victim.

    Every write locks its image row first, so deadlocks are rare; but MariaDB's gap
    locks on the child tables' unique indexes can still produce one, and the whole
    transaction can safely be replayed.
    """
    @functools.wraps(function)
    def retrying(*args, **kwargs):
        for attempt in range(_DEADLOCK_RETRIES):
            try:
                return function(*args, **kwargs)
            except peewee.OperationalError as exc:
                if 'deadlock' not in str(exc).lower() or attempt + 1 == _DEADLOCK_RETRIES:
                    raise
                LOG.info('deadlock in %s, retrying', function.__name__)
    return retrying


# -- reads ---------------------------------------------------------------------------
#
# Reading records is the registry's hot path (every API call reads one), so it skips
# peewee's query builder and model instances: the SQL text is built once per dialect
# and caller shape (``_record_sql``), and a record is one statement: the image row,
# its properties, tags, locations and the caller's membership in one UNION ALL. One
# statement also reads one snapshot on every backend, without a transaction.

# The images columns of a record, in the order the record SQL selects them.
IMAGE_COLUMNS = ('id', 'name', 'status', 'visibility', 'protected', 'os_hidden',
                 'checksum', 'os_hash_algo', 'os_hash_value', 'size', 'virtual_size',
                 'min_disk', 'min_ram', 'disk_format', 'container_format', 'owner',
                 'created_at', 'updated_at', 'deleted', 'deleted_at')

# The first column of a record row says what the row is.
_IMAGE, _PROPERTY, _TAG, _LOCATION, _MEMBER = 0, 1, 2, 3, 4


def get_image(db, identity, image_id):
    """The record of ``image_id``; ``NotFound`` if absent, deleted or not visible."""
    record = _read_record(db, identity, image_id, check_visible=True)
    if record is None:
        raise errors.NotFound('No image with id %s' % image_id)
    return record


def list_images(db, identity, query):
    """A page of records and the next marker (None on the last page).

    A fixed number of queries: the marker, the page of images (one row more than
    asked, to know whether another page follows), then one for the properties,
    tags, locations and the caller's memberships of the whole page.
    """
    with db_module.read_transaction(db):
        condition = filters.list_condition(query, identity, db_module.dialect(db))
        if query.marker is not None:
            marker = (Image.select()
                      .where((Image.id == query.marker) & filters.visible_to(identity))
                      .first())
            if marker is None:
                raise errors.BadRequest("Invalid marker '%s': no such image"
                                        % query.marker)
            condition &= filters.after_marker(query.sort, marker)
        if query.limit == 0:
            return [], None
        rows = list(Image.select(*[getattr(Image, name) for name in IMAGE_COLUMNS])
                    .where(condition)
                    .order_by(*filters.order_by(query.sort))
                    .limit(query.limit + 1).tuples())
        page = rows[:query.limit]
        next_marker = page[-1][0] if len(rows) > query.limit else None
        return _records(db, page, identity), next_marker


def visible_image(db, identity, image_id, lock=False):
    """The ``Image`` row; ``NotFound`` if absent, deleted or not visible.

    ``lock`` locks the row until the transaction ends: every write to an image (its
    members included) does, so writers of one image take turns.
    """
    query = Image.select().where((Image.id == image_id) & filters.visible_to(identity))
    if lock and db_module.dialect(db) != 'sqlite':
        # Writers of one image queue up here (SQLite's BEGIN IMMEDIATE already
        # serialises all writers).
        query = query.for_update()
    image = query.first()
    if image is None:
        raise errors.NotFound('No image with id %s' % image_id)
    return image


def record_of(db, identity, image_id):
    """The record of ``image_id`` as ``identity`` sees it, inside a transaction that
    has already checked that it may (deleted or not)."""
    return _read_record(db, identity, image_id, check_visible=False)


def _read_record(db, identity, image_id, check_visible):
    """The record, or None if there is no such image (visible to ``identity`` if
    ``check_visible``, else deleted ones too)."""
    if check_visible:
        shape = 'admin' if identity.is_admin else (
            'project' if identity.project_id else 'anonymous')
    else:
        shape = None
    member = identity.project_id is not None
    sql = _record_sql(db.param, db.quote, shape, member)
    params = [image_id]
    if check_visible:
        params += filters.visible_sql(identity, db.param, db.quote)[1]
    params += [image_id] * 3
    if member:
        params += [image_id, identity.project_id]
    image = None
    children = []
    for row in db.execute_sql(sql, params).fetchall():
        if row[0] == _IMAGE:
            image = row[1:21]
        else:
            children.append((row[0],) + row[21:])
    if image is None:
        return None
    return _build_records([image], children)[0]


def _records(db, rows, identity):
    """Records of the image ``rows`` (``IMAGE_COLUMNS`` tuples) as ``identity`` sees
    them: one query, whatever their number."""
    if not rows:
        return []
    ids = [row[0] for row in rows]
    member = identity.project_id is not None
    sql = _children_sql(db.param, db.quote, len(ids), member)
    params = ids * 3
    if member:
        params += ids + [identity.project_id]
    return _build_records(rows, db.execute_sql(sql, params).fetchall())


def _build_records(rows, children):
    """Records from image rows and ``(kind, image_id, ...)`` child rows."""
    properties = {row[0]: [] for row in rows}
    tags = {row[0]: [] for row in rows}
    locations = {row[0]: [] for row in rows}
    member_statuses = {}
    for kind, image_id, a, b, c, d, e, f, g in children:
        if kind == _PROPERTY:
            properties[image_id].append((a, b))
        elif kind == _TAG:
            tags[image_id].append(a)
        elif kind == _LOCATION:
            locations[image_id].append((f, g, a, b, c, d, e))
        else:
            member_statuses[image_id] = a
    return [_record(row, properties[row[0]], tags[row[0]], locations[row[0]],
                    member_statuses.get(row[0]))
            for row in rows]


def _record(row, properties, tags, locations, member_status):
    (image_id, name, status, visibility, protected, os_hidden, checksum, os_hash_algo,
     os_hash_value, size, virtual_size, min_disk, min_ram, disk_format,
     container_format, owner, created_at, updated_at, deleted, deleted_at) = row
    shown = []
    # Locations in the caller's order (position, then insertion).
    for _position, _id, url, metadata, location_status, lease_expires_at, attempts \
            in sorted(locations, key=_location_order):
        location = {'url': url, 'metadata': orjson.loads(metadata),
                    'status': location_status}
        if location_status == PENDING:
            location.update(lease_expires_at=isotime(lease_expires_at),
                            attempts=attempts)
        shown.append(location)
    return {
        'id': image_id, 'name': name, 'status': status,
        'visibility': visibility, 'protected': bool(protected),
        'os_hidden': bool(os_hidden), 'checksum': checksum,
        'os_hash_algo': os_hash_algo, 'os_hash_value': os_hash_value,
        'size': size, 'virtual_size': virtual_size,
        'min_disk': min_disk, 'min_ram': min_ram,
        'disk_format': disk_format, 'container_format': container_format,
        'owner': owner,
        'created_at': isotime(created_at), 'updated_at': isotime(updated_at),
        'deleted': bool(deleted), 'deleted_at': isotime(deleted_at),
        'properties': dict(sorted(properties)), 'tags': sorted(tags),
        'locations': shown,
        'member_status': member_status,
    }


def _location_order(location):
    return location[0], location[1]


# Child rows: (kind, image_id, a, b, c, d, e, f, g), the same columns for every kind
# so that one UNION ALL reads them all. Locations come first: PostgreSQL types a
# UNION's columns pair by pair from the left, and theirs fill every column (a NULL
# meeting a NULL would become text, which a timestamp then cannot match).
_CHILD_BRANCHES = (
    (_LOCATION, 'image_locations', ('url', 'metadata', 'status', 'lease_expires_at',
                                    'attempts', 'position', 'id')),
    (_PROPERTY, 'image_properties', ('name', 'value', None, None, None, None, None)),
    (_TAG, 'image_tags', ('value', None, None, None, None, None, None)),
)


def _child_selects(q, param, pad, condition, member):
    selects = []
    for kind, table, columns in _CHILD_BRANCHES:
        selects.append('SELECT %d, %s%s, %s FROM %s WHERE %s %s' % (
            kind, pad, q('image_id'),
            ', '.join('NULL' if column is None else q(column) for column in columns),
            q(table), q('image_id'), condition))
    if member:
        selects.append('SELECT %d, %s%s, %s, NULL, NULL, NULL, NULL, NULL, NULL '
                       'FROM %s WHERE %s %s AND %s = %s'
                       % (_MEMBER, pad, q('image_id'), q('status'), q('image_members'),
                          q('image_id'), condition, q('member'), param))
    return selects


def _quoter(quote):
    return lambda name: quote[0] + name + quote[1]


@functools.lru_cache(maxsize=64)
def _record_sql(param, quote, visible_shape, member):
    """The statement reading one record: the image row (kind 0, its columns first),
    then its child rows (their columns after the image's)."""
    q = _quoter(quote)
    condition = 'i.%s = %s' % (q('id'), param)
    if visible_shape is not None:
        identity = _SHAPES[visible_shape]
        condition += ' AND ' + filters.visible_sql(identity, param, quote)[0]
    image = 'SELECT %d, %s, %s FROM %s i WHERE %s' % (
        _IMAGE, ', '.join('i.' + q(column) for column in IMAGE_COLUMNS),
        ', '.join(['NULL'] * 8), q('images'), condition)
    pad = 'NULL, ' * len(IMAGE_COLUMNS)
    children = _child_selects(q, param, pad, '= ' + param, member)
    return ' UNION ALL '.join([image] + children)


@functools.lru_cache(maxsize=256)
def _children_sql(param, quote, count, member):
    """The statement reading the child rows of ``count`` images."""
    q = _quoter(quote)
    ids = 'IN (%s)' % ', '.join([param] * count)
    return ' UNION ALL '.join(_child_selects(q, param, '', ids, member))


# Identities of each shape, for building the visibility SQL once per shape.
_SHAPES = {
    'admin': Identity(user_id=None, project_id=None, is_admin=True),
    'project': Identity(user_id=None, project_id='-', is_admin=False),
    'anonymous': Identity(user_id=None, project_id=None, is_admin=False),
}


def isotime(when):
    """ISO 8601, whole seconds, UTC with a ``Z``; None stays None."""
    if when is None:
        return None
    if isinstance(when, str):
        # SQLite hands back the text peewee stored: 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
        if len(when) in (19, 26) and when[10] == ' ':
            return when[:10] + 'T' + when[11:19] + 'Z'
        when = datetime.datetime.fromisoformat(when)
    return when.strftime('%Y-%m-%dT%H:%M:%SZ')


# -- writes --------------------------------------------------------------------------

@retry_on_deadlock
def create_image(db, identity, values, properties=None, tags=(), quota=None):
    """Create a ``queued`` image; ``Conflict`` if the id exists (even deleted).

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
            owned = quotas.project_usage(values['owner']).image_count_total
            quotas.check('max_images', max_images, owned, owned + 1,
                         'Too many images in project %s' % values['owner'])
        if Image.select(Image.id).where(Image.id == image_id).exists():
            raise errors.Conflict('An image with id %s already exists' % image_id)
        try:
            with db.atomic():
                Image.insert(id=image_id, status='queued', created_at=now,
                             updated_at=now, **values).execute()
        except peewee.IntegrityError:
            # Another request created the same id since the check above.
            raise errors.Conflict('An image with id %s already exists'
                                  % image_id) from None
        _insert_properties(image_id, properties)
        _insert_tags(image_id, tags)
        return record_of(db, identity, image_id)


@retry_on_deadlock
def update_image(db, identity, image_id, values=None, properties=None, tags=None,
                 quota=None):
    """Set base attributes, set or remove (``None``) properties, replace tags.

    ``Conflict`` when removing a property that does not exist; ``NotFound`` when the
    image is absent, deleted or not visible; ``TooLarge`` when the image would have
    more properties or tags than ``quota``'s ``max_properties`` or ``max_tags``.
    One transaction.
    """
    with db_module.write_transaction(db):
        visible_image(db, identity, image_id, lock=True)
        apply_update(image_id, values, properties, tags, quota)
        return record_of(db, identity, image_id)


def apply_update(image_id, values=None, properties=None, tags=None, quota=None):
    """``update_image``'s changes, inside the caller's write transaction (the image
    row locked)."""
    quota = quota or {}
    if properties:
        _update_properties(image_id, properties, quota.get('max_properties'))
    if tags is not None:
        tags = sorted(set(tags))
        max_tags = quota.get('max_tags')
        if quotas.limited(max_tags):
            before = ImageTag.select().where(ImageTag.image == image_id).count()
            quotas.check('max_tags', max_tags, before, len(tags),
                         'Too many tags on image %s' % image_id)
        ImageTag.delete().where(ImageTag.image == image_id).execute()
        _insert_tags(image_id, tags)
    changes = dict(values or {}, updated_at=utcnow())
    Image.update(**changes).where(Image.id == image_id).execute()


@retry_on_deadlock
def transition(db, identity, image_id, from_status, to_status, values=None,
               locations=None, quota=None, lease=None, upload_id=None):
    """Compare-and-swap the status from ``from_status`` to ``to_status``.

    Moving to ``saving`` with ``lease`` (seconds) gives the upload a lease that it
    renews with ``renew_upload_lease``; ``queued -> saving`` then also takes over an
    image left in ``saving`` by an upload whose lease has run out (its worker died,
    or its client stalled). ``upload_id`` names the upload: given when claiming the
    image, it is recorded; given when leaving ``saving``, the image must still be
    held by that upload (``Conflict`` otherwise: another one took it over).

    Sets the data attributes in ``values`` and replaces the locations when
    ``locations`` is not None, in the same transaction. ``Conflict`` (with
    ``current_status``) if the image is no longer in ``from_status`` or the status
    table forbids the move; ``BadRequest`` if the target needs disk and container
    formats the image lacks; ``NotFound`` if absent, deleted or not visible;
    ``TooLarge`` if, moving to an uploading status, the owner would have more
    uploads in progress than ``quota``'s ``max_uploading``, or if the move takes the
    owner's storage usage over ``quota``'s ``max_storage`` (bytes).

    Every status change ends the upload's storage reservation (``reserved`` = 0):
    on ``saving -> active`` the data is counted through its location instead.
    """
    quota = quota or {}
    now = utcnow()
    leased = bool(lease) and to_status == 'saving'
    values = dict(values or {}, upload_lease_expires_at=(
        now + datetime.timedelta(seconds=lease) if leased else None),
        upload_id=upload_id if leased else None)
    with db_module.write_transaction(db):
        image = visible_image(db, identity, image_id, lock=True)
        if (from_status, to_status) == ('queued', 'saving') and \
                image.status == 'saving':
            if not _abandoned_upload(image, now):
                raise _held_by_upload(image, now)
            LOG.warning('image %s: taking over an upload whose lease ran out at %s',
                        image_id, image.upload_lease_expires_at)
            from_status = 'saving'   # already counted as uploading
        else:
            check_status_move(image, from_status, to_status)
            if from_status == 'saving' and upload_id is not None:
                _check_upload_holds(image, upload_id)
        storage = quotas.StorageCheck(db, image.owner, quota.get('max_storage'))
        max_uploading = quota.get('max_uploading')
        if (quotas.limited(max_uploading) and to_status in quotas.UPLOADING_STATUSES
                and from_status not in quotas.UPLOADING_STATUSES):
            quotas.lock_project(db, image.owner)
            uploading = quotas.project_usage(image.owner).image_count_uploading
            quotas.check('max_uploading', max_uploading, uploading, uploading + 1,
                         'Too many uploads in progress in project %s' % image.owner)
        swap_status(image_id, from_status, to_status, values)
        if locations is not None:
            replace_location_rows(image_id, locations)
        storage.check()
        return record_of(db, identity, image_id)


def _abandoned_upload(image, now):
    """Whether ``image`` is ``saving`` for an upload that stopped renewing its lease."""
    expires = image.upload_lease_expires_at
    return image.status == 'saving' and expires is not None and expires <= now


def _held_by_upload(image, now):
    """The ``Conflict`` for a new upload to an image another upload still holds:
    with when its lease runs out (``upload_lease_expires_at``, and
    ``upload_lease_seconds_left`` on the registry's clock), so that the caller can
    say when the image is released if that upload has stopped."""
    expires = image.upload_lease_expires_at
    details = {'current_status': image.status}
    if expires is not None:
        details.update(upload_lease_expires_at=isotime(expires),
                       upload_lease_seconds_left=math.ceil(
                           (expires - now).total_seconds()))
    return errors.Conflict('Image %s is held by another upload until its lease runs '
                           'out' % image.id, **details)


def renew_upload_lease(db, identity, image_id, seconds, upload_id=None):
    """Extend the lease of the upload to ``image_id`` to ``seconds`` from now.

    ``Conflict`` (with ``current_status``) unless the image is ``saving`` and, given
    ``upload_id``, held by that upload; ``NotFound`` if absent, deleted or not
    visible. Returns the new expiry.
    """
    with db_module.write_transaction(db):
        image = _uploading_image(db, identity, image_id, 'holds a lease')
        if upload_id is not None:
            _check_upload_holds(image, upload_id)
        expires = utcnow() + datetime.timedelta(seconds=seconds)
        # Not updated_at: bookkeeping, as reservations.
        Image.update(upload_lease_expires_at=expires).where(
            Image.id == image_id).execute()
        return {'upload_lease_expires_at': isotime(expires)}


def _check_upload_holds(image, upload_id):
    """``Conflict`` unless the upload ``upload_id`` holds ``image`` (``saving``)."""
    if image.upload_id != upload_id:
        raise errors.Conflict('Image %s is held by another upload: this one stopped '
                              'renewing its lease and was taken over' % image.id,
                              current_status=image.status, taken_over=True)


def _uploading_image(db, identity, image_id, what):
    """The locked row of ``image_id``, which must be ``saving`` (an upload in
    progress ``what``: else ``Conflict`` with ``current_status``)."""
    image = visible_image(db, identity, image_id, lock=True)
    if image.status != 'saving':
        raise errors.Conflict("Image %s status is '%s': only an upload in progress "
                              "(status 'saving') %s" % (image_id, image.status, what),
                              current_status=image.status)
    return image


def check_status_move(image, from_status, to_status):
    """Raise unless the locked ``image`` row may move ``from_status -> to_status``.

    ``Conflict`` (with ``current_status``) if the table forbids the move or the image
    is no longer in ``from_status``; ``BadRequest`` if the target needs disk and
    container formats the image lacks.
    """
    status_table.check_transition(from_status, to_status,
                                  current_status=image.status)
    if image.status != from_status:
        raise _lost_race(image.id, from_status, image.status)
    missing = status_table.missing_formats(to_status, image.disk_format,
                                           image.container_format)
    if missing:
        raise errors.BadRequest(
            "Image status cannot become '%s' before %s %s set"
            % (to_status, ' and '.join(missing),
               'is' if len(missing) == 1 else 'are'))


def swap_status(image_id, from_status, to_status, values=None):
    """The compare-and-swap itself, with the data attributes in ``values``.

    Ends the upload's storage reservation. ``NotFound`` if the image was deleted,
    ``Conflict`` if its status is no longer ``from_status``.
    """
    changes = dict(values or {}, status=to_status, updated_at=utcnow(), reserved=0)
    updated = (Image.update(**changes)
               .where((Image.id == image_id) & (Image.status == from_status)
                      & (Image.deleted == False))  # noqa: E712
               .execute())
    if updated != 1:
        current = (Image.select(Image.status, Image.deleted)
                   .where(Image.id == image_id).first())
        if current is None or current.deleted:
            raise errors.NotFound('No image with id %s' % image_id)
        raise _lost_race(image_id, from_status, current.status)


def _lost_race(image_id, expected, current):
    return errors.Conflict("Image %s status is '%s', not '%s'"
                           % (image_id, current, expected), current_status=current)


@retry_on_deadlock
def reserve(db, identity, image_id, total, max_storage=None):
    """Set the bytes the upload to ``image_id`` has reserved to ``total``.

    Returns ``{"usage": <owner's storage usage after>, "reserved": total}``.
    ``TooLarge`` if growing the reservation takes the owner's usage over
    ``max_storage`` bytes (shrinking it always succeeds); ``Conflict`` (with
    ``current_status``) unless the image is ``saving``; ``NotFound`` if absent,
    deleted or not visible. Uploads of one project reserve one after the other, so
    together they never exceed the limit.
    """
    with db_module.write_transaction(db):
        image = _uploading_image(db, identity, image_id, 'reserves storage')
        if quotas.limited(max_storage):
            quotas.lock_project(db, image.owner)
        used = quotas.project_usage(image.owner).image_size_total
        after = used - image.reserved + total
        quotas.check('max_storage', max_storage, used, after,
                     'Storage quota of project %s exceeded (bytes)' % image.owner)
        # Not updated_at: reserving is bookkeeping, not a change to the image.
        Image.update(reserved=total).where(Image.id == image_id).execute()
        return {'usage': after, 'reserved': total}


@retry_on_deadlock
def delete_image(db, identity, image_id):
    """Mark the image deleted; returns its record as it was just before.

    ``Forbidden`` if it is protected; ``NotFound`` if absent, deleted or not visible.
    Rows are kept, so the id is never reused and the caller learns which locations
    to purge from the stores. An upload's reservation ends with the image.
    """
    with db_module.write_transaction(db):
        image = visible_image(db, identity, image_id, lock=True)
        if image.protected:
            raise errors.Forbidden('Image %s is protected and cannot be deleted'
                                   % image_id)
        status_table.check_transition(image.status, 'deleted',
                                      current_status=image.status)
        record = record_of(db, identity, image_id)
        now = utcnow()
        updated = (Image.update(status='deleted', deleted=True, deleted_at=now,
                                updated_at=now, reserved=0)
                   .where((Image.id == image_id) & (Image.deleted == False))  # noqa: E712
                   .execute())
        if updated != 1:
            raise errors.NotFound('No image with id %s' % image_id)
        return record


@retry_on_deadlock
def add_tag(db, identity, image_id, tag, max_tags=None):
    """Add ``tag`` to the image; adding a tag it has already is not an error.

    ``TooLarge`` if the image would have more than ``max_tags`` tags.
    """
    with db_module.write_transaction(db):
        visible_image(db, identity, image_id, lock=True)
        if quotas.limited(max_tags):
            existing = {value for value, in ImageTag.select(ImageTag.value)
                        .where(ImageTag.image == image_id).tuples()}
            quotas.check('max_tags', max_tags, len(existing),
                         len(existing | {tag}), 'Too many tags on image %s' % image_id)
        _insert_tags(image_id, [tag])
        Image.update(updated_at=utcnow()).where(Image.id == image_id).execute()


@retry_on_deadlock
def delete_tag(db, identity, image_id, tag):
    """Remove ``tag``; ``NotFound`` if the image does not have it."""
    with db_module.write_transaction(db):
        visible_image(db, identity, image_id, lock=True)
        removed = (ImageTag.delete()
                   .where((ImageTag.image == image_id) & (ImageTag.value == tag))
                   .execute())
        if not removed:
            raise errors.NotFound("Image %s has no tag '%s'" % (image_id, tag))
        Image.update(updated_at=utcnow()).where(Image.id == image_id).execute()


def _insert_properties(image_id, properties):
    if properties:
        ImageProperty.insert_many(
            [{'image': image_id, 'name': name, 'value': value}
             for name, value in properties.items()]).execute()


def _insert_tags(image_id, tags):
    tags = sorted(set(tags))
    if tags:
        (ImageTag.insert_many([{'image': image_id, 'value': tag} for tag in tags])
         .on_conflict_ignore().execute())


def _update_properties(image_id, properties, max_properties=None):
    existing = dict(ImageProperty.select(ImageProperty.name, ImageProperty.id)
                    .where(ImageProperty.image == image_id).tuples())
    missing = sorted(name for name, value in properties.items()
                     if value is None and name not in existing)
    if missing:
        raise errors.Conflict('Property %s does not exist.' % ', '.join(missing),
                              reason='missing_property')
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
        ImageProperty.delete().where(ImageProperty.id.in_(removed)).execute()
    for name, value in properties.items():
        if value is None:
            continue
        if name in existing:
            (ImageProperty.update(value=value)
             .where(ImageProperty.id == existing[name]).execute())
        else:
            ImageProperty.insert(image=image_id, name=name, value=value).execute()


def replace_location_rows(image_id, locations):
    """Replace the image's location rows with ``locations``, in order (the caller
    holds the image's row lock); ``Conflict`` if a URL appears twice."""
    check_distinct_urls(image_id, [location['url'] for location in locations])
    ImageLocation.delete().where(ImageLocation.image == image_id).execute()
    if locations:
        ImageLocation.insert_many([
            {'image': image_id, 'position': position, 'url': location['url'],
             'metadata': orjson.dumps(location.get('metadata') or {}).decode(),
             'status': location.get('status') or 'active'}
            for position, location in enumerate(locations)]).execute()


def check_distinct_urls(image_id, urls):
    """``Conflict`` if ``urls`` names one location twice: an image has each URL once."""
    seen = set()
    for url in urls:
        if url in seen:
            raise errors.Conflict('Image %s would have the location %s twice'
                                  % (image_id, url), reason='duplicate_location')
        seen.add(url)
