"""Image data access: every registry operation on images, each in one short transaction.

Functions take the database, the caller's ``Identity`` and already-validated values
(see ``app.py``), and return image records: plain dicts in the shape of the registry
API's image record. Visibility is applied in SQL (``filters.visible_to``): an image
the caller may not see is ``errors.NotFound``, as if it did not exist.

The status change is a compare-and-swap in the database
(``UPDATE images SET status = :to WHERE id = :id AND status = :from``): whoever updates
no row has lost the race and gets ``errors.Conflict`` with the current status.
"""

import datetime
import functools
import logging
import uuid

import orjson
import peewee

from glance_registry import db as db_module
from glance_registry import errors
from glance_registry import filters
from glance_registry import status as status_table
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

_DEADLOCK_RETRIES = 3


def _retry_on_deadlock(function):
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

def get_image(db, identity, image_id):
    """The record of ``image_id``; ``NotFound`` if absent, deleted or not visible."""
    with db_module.read_transaction(db):
        return _records([_visible_image(db, identity, image_id)])[0]


def list_images(db, identity, query):
    """A page of records and the next marker (None on the last page).

    A fixed number of queries: the marker, the page of images (one row more than
    asked, to know whether another page follows), then their properties, tags and
    locations.
    """
    with db_module.read_transaction(db):
        condition = filters.list_condition(query, identity)
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
        rows = list(Image.select().where(condition)
                    .order_by(*filters.order_by(query.sort))
                    .limit(query.limit + 1))
        page = rows[:query.limit]
        next_marker = page[-1].id if len(rows) > query.limit else None
        return _records(page), next_marker


def _visible_image(db, identity, image_id, lock=False):
    query = Image.select().where((Image.id == image_id) & filters.visible_to(identity))
    if lock and db_module.dialect(db) != 'sqlite':
        # Writers of one image queue up here (SQLite's BEGIN IMMEDIATE already
        # serialises all writers).
        query = query.for_update()
    image = query.first()
    if image is None:
        raise errors.NotFound('No image with id %s' % image_id)
    return image


def _records(images):
    """Records of ``images``: three queries, whatever their number."""
    if not images:
        return []
    ids = [image.id for image in images]
    properties = {image_id: {} for image_id in ids}
    tags = {image_id: [] for image_id in ids}
    locations = {image_id: [] for image_id in ids}
    for image_id, name, value in (ImageProperty
                                  .select(ImageProperty.image, ImageProperty.name,
                                          ImageProperty.value)
                                  .where(ImageProperty.image.in_(ids)).tuples()):
        properties[image_id][name] = value
    for image_id, value in (ImageTag.select(ImageTag.image, ImageTag.value)
                            .where(ImageTag.image.in_(ids)).tuples()):
        tags[image_id].append(value)
    for image_id, url, metadata, location_status in (
            ImageLocation.select(ImageLocation.image, ImageLocation.url,
                                 ImageLocation.metadata, ImageLocation.status)
            .where(ImageLocation.image.in_(ids))
            .order_by(ImageLocation.image, ImageLocation.position).tuples()):
        locations[image_id].append({'url': url, 'metadata': orjson.loads(metadata),
                                    'status': location_status})
    return [_record(image, properties[image.id], sorted(tags[image.id]),
                    locations[image.id]) for image in images]


def _record(image, properties, tags, locations):
    return {
        'id': image.id, 'name': image.name, 'status': image.status,
        'visibility': image.visibility, 'protected': bool(image.protected),
        'os_hidden': bool(image.os_hidden), 'checksum': image.checksum,
        'os_hash_algo': image.os_hash_algo, 'os_hash_value': image.os_hash_value,
        'size': image.size, 'virtual_size': image.virtual_size,
        'min_disk': image.min_disk, 'min_ram': image.min_ram,
        'disk_format': image.disk_format, 'container_format': image.container_format,
        'owner': image.owner,
        'created_at': isotime(image.created_at), 'updated_at': isotime(image.updated_at),
        'deleted': bool(image.deleted), 'deleted_at': isotime(image.deleted_at),
        'properties': properties, 'tags': tags, 'locations': locations,
    }


def isotime(when):
    """ISO 8601, whole seconds, UTC with a ``Z``; None stays None."""
    if when is None:
        return None
    if isinstance(when, str):
        # Defensive: a driver that hands back text.
        when = datetime.datetime.fromisoformat(when)
    return when.strftime('%Y-%m-%dT%H:%M:%SZ')


# -- writes --------------------------------------------------------------------------

@_retry_on_deadlock
def create_image(db, identity, values, properties=None, tags=()):
    """Create a ``queued`` image; ``Conflict`` if the id exists (even deleted).

    ``values`` holds base attributes and optionally ``id``; ``owner`` defaults to the
    caller's project when absent.
    """
    values = dict(values)
    image_id = values.pop('id', None) or str(uuid.uuid4())
    values.setdefault('owner', identity.project_id)
    now = utcnow()
    with db_module.write_transaction(db):
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
        _insert_properties(image_id, properties or {})
        _insert_tags(image_id, tags)
        image = Image.get_by_id(image_id)
        return _records([image])[0]


@_retry_on_deadlock
def update_image(db, identity, image_id, values=None, properties=None, tags=None):
    """Set base attributes, set or remove (``None``) properties, replace tags.

    ``Conflict`` when removing a property that does not exist; ``NotFound`` when the
    image is absent, deleted or not visible. One transaction.
    """
    with db_module.write_transaction(db):
        _visible_image(db, identity, image_id, lock=True)
        if properties:
            _update_properties(image_id, properties)
        if tags is not None:
            ImageTag.delete().where(ImageTag.image == image_id).execute()
            _insert_tags(image_id, tags)
        changes = dict(values or {}, updated_at=utcnow())
        Image.update(**changes).where(Image.id == image_id).execute()
        return _records([Image.get_by_id(image_id)])[0]


@_retry_on_deadlock
def transition(db, identity, image_id, from_status, to_status, values=None,
               locations=None):
    """Compare-and-swap the status from ``from_status`` to ``to_status``.

    Sets the data attributes in ``values`` and replaces the locations when
    ``locations`` is not None, in the same transaction. ``Conflict`` (with
    ``current_status``) if the image is no longer in ``from_status`` or the status
    table forbids the move; ``BadRequest`` if the target needs disk and container
    formats the image lacks; ``NotFound`` if absent, deleted or not visible.
    """
    with db_module.write_transaction(db):
        image = _visible_image(db, identity, image_id, lock=True)
        status_table.check_transition(from_status, to_status,
                                      current_status=image.status)
        if image.status != from_status:
            raise _lost_race(image_id, from_status, image.status)
        missing = status_table.missing_formats(to_status, image.disk_format,
                                               image.container_format)
        if missing:
            raise errors.BadRequest(
                "Image status cannot become '%s' before %s %s set"
                % (to_status, ' and '.join(missing),
                   'is' if len(missing) == 1 else 'are'))
        changes = dict(values or {}, status=to_status, updated_at=utcnow())
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
        if locations is not None:
            _replace_locations(image_id, locations)
        return _records([Image.get_by_id(image_id)])[0]


def _lost_race(image_id, expected, current):
    return errors.Conflict("Image %s status is '%s', not '%s'"
                           % (image_id, current, expected), current_status=current)


@_retry_on_deadlock
def delete_image(db, identity, image_id):
    """Mark the image deleted; returns its record as it was just before.

    ``Forbidden`` if it is protected; ``NotFound`` if absent, deleted or not visible.
    Rows are kept, so the id is never reused and the caller learns which locations
    to purge from the stores.
    """
    with db_module.write_transaction(db):
        image = _visible_image(db, identity, image_id, lock=True)
        if image.protected:
            raise errors.Forbidden('Image %s is protected and cannot be deleted'
                                   % image_id)
        status_table.check_transition(image.status, 'deleted',
                                      current_status=image.status)
        record = _records([image])[0]
        now = utcnow()
        updated = (Image.update(status='deleted', deleted=True, deleted_at=now,
                                updated_at=now)
                   .where((Image.id == image_id) & (Image.deleted == False))  # noqa: E712
                   .execute())
        if updated != 1:
            raise errors.NotFound('No image with id %s' % image_id)
        return record


@_retry_on_deadlock
def add_tag(db, identity, image_id, tag):
    """Add ``tag`` to the image; adding a tag it has already is not an error."""
    with db_module.write_transaction(db):
        _visible_image(db, identity, image_id, lock=True)
        _insert_tags(image_id, [tag])
        Image.update(updated_at=utcnow()).where(Image.id == image_id).execute()


@_retry_on_deadlock
def delete_tag(db, identity, image_id, tag):
    """Remove ``tag``; ``NotFound`` if the image does not have it."""
    with db_module.write_transaction(db):
        _visible_image(db, identity, image_id, lock=True)
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


def _update_properties(image_id, properties):
    existing = dict(ImageProperty.select(ImageProperty.name, ImageProperty.id)
                    .where(ImageProperty.image == image_id).tuples())
    missing = sorted(name for name, value in properties.items()
                     if value is None and name not in existing)
    if missing:
        raise errors.Conflict('Property %s does not exist.' % ', '.join(missing))
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


def _replace_locations(image_id, locations):
    ImageLocation.delete().where(ImageLocation.image == image_id).execute()
    if locations:
        ImageLocation.insert_many([
            {'image': image_id, 'position': position, 'url': location['url'],
             'metadata': orjson.dumps(location.get('metadata') or {}).decode(),
             'status': location.get('status') or 'active'}
            for position, location in enumerate(locations)]).execute()
