"""Reading image records: the registry's hot path (every API call reads one).

Functions take the database and the caller's ``Identity`` and return image records:
plain dicts in the shape of the registry API's image record, ``member_status`` (the
caller's project's membership) included. Visibility is applied in SQL
(``filters.visible_to``, ``filters.visible_sql``): an image the caller may not see is
``errors.NotFound``, as if it did not exist.

A record skips peewee's query builder and model instances: the SQL text is built once
per dialect and caller shape (``_record_sql``), and a record is one statement: the
image row, its properties, tags, locations and the caller's membership in one UNION
ALL. One statement also reads one snapshot on every backend, without a transaction.
"""

import datetime
import functools
import math
import operator

import orjson
import peewee

from glance_registry import db as db_module
from glance_registry.client import errors
from glance_registry.client import vocabulary
from glance_registry.client.identity import Identity
from glance_registry.images import child_access
from glance_registry.images import child_formats
from glance_registry.images import filters
from glance_registry.images import statements
from glance_registry.models import Image
from glance_registry.models import ImageLocation
from glance_registry.models import ImageMember
from glance_registry.models import ImageProperty

# The images columns of a record, in the order the record SQL selects them (and
# ``_record`` unpacks them).
IMAGE_COLUMNS = vocabulary.IMAGE_ATTRIBUTES

# Statuses of the rows of locations taken off a live image (``removals``).
_TAKEN_OFF = (vocabulary.DATA_TO_REMOVE, vocabulary.DATA_REMOVED)

# The first column of a record row says what the row is.
_IMAGE, _PROPERTY, _TAG, _LOCATION, _MEMBER = 0, 1, 2, 3, 4


def get_image(db, identity, image_id):
    """The record of ``image_id``; ``NotFound`` if absent, deleted or not visible."""
    record = _read_record(db, identity, image_id, check_visible=True)
    if record is None:
        raise not_found(image_id)
    return record


def list_images(db, identity, query):
    """A page of records and the next marker (None on the last page).

    A fixed number of queries: the marker, one counting (up to a bound) the
    matches of each tag, property, size or updated_at filter, for a caller who
    is not an admin the images they may list, and with an owner or visibility
    filter each tag's or property's images the list may show
    (``narrowest_filter``, which also picks how the page is read; none for an
    admin's list without such filters; sometimes one more, ``_outgrown``), the
    page of images (one row more than asked, to know whether another page
    follows), then one for the properties, tags, locations and the caller's
    memberships of the whole page. Their SQL text is built once per shape
    (``glance_registry.images.statements``).
    """
    with db_module.read_transaction(db):
        marker = None
        if query.marker is not None:
            marker = _marker(db, identity, query)
        if query.limit == 0:
            return [], None
        driven_by = narrowest_filter(db, query, identity)
        if driven_by is MATCHES_NOTHING:
            return [], None
        sql, params = page_statement(db, identity, query, driven_by, marker)
        rows = db.execute_sql(sql, params).fetchall()
        page = rows[:query.limit]
        next_marker = page[-1][0] if len(rows) > query.limit else None
        return _records(db, page, identity), next_marker


def _marker(db, identity, query):
    """The marker image's sort values (``{key: value}``); ``BadRequest`` if it is
    absent or not visible."""
    fields = [getattr(Image, key) for key, _ in query.sort]

    def build(bind):
        return [Image.select(*fields)
                .where((Image.id == bind(query.marker))
                       & filters.visible_to(identity, bind))
                .limit(bind(1))]
    (sql, params), = statements.statements(
        db, ('marker', _caller_shape(identity), query.sort), build)
    row = db.execute_sql(sql, params).fetchone()
    if row is None:
        raise errors.BadRequest("Invalid marker '%s': no such image"
                                % query.marker, reason='invalid_marker',
                                marker=query.marker)
    # As peewee reads a model's fields (SQLite's timestamps are text).
    return {field.name: field.python_value(value) for field, value in zip(fields, row)}


def page_statement(db, identity, query, driven_by=None, marker=None):
    """``(sql, params)`` of the page query of ``list_images``: ``query.limit + 1``
    rows of ``IMAGE_COLUMNS``, after ``marker`` (the marker image's sort values) if
    given, driven by the ``driven_by``-th of ``filters.narrowing_filters`` if given."""
    dialect = db_module.dialect(db)
    shape = ('page', _caller_shape(identity), _list_shape(query),
             child_access.shape(query, identity), driven_by,
             marker is not None and tuple(marker[key] is None for key, _ in query.sort))
    return statements.statements(db, shape, lambda bind: [page_query(
        identity, query, dialect, driven_by, marker, bind)])[0]


def page_query(identity, query, dialect, driven_by=None, marker=None,
               bind=statements.unbound):
    """The peewee query of ``page_statement``, its values passed through ``bind``."""
    if driven_by == WALK:
        return _walk(identity, query, dialect, marker, bind)
    if marker is not None and driven_by is None:
        apart = filters.values_apart(query, dialect)
        if apart:
            # One page for each value of the list, merged (see values_apart).
            return _merged([page_query(identity, each, dialect, None, marker, bind)
                            for each in apart], query.sort, query.limit, bind)
    driving = listed = None
    if driven_by is not None:
        narrowing = filters.narrowing_filters(query, dialect, bind, identity)
        driving = narrowing[driven_by]
        if dialect == 'mysql' and \
                filters.narrowing_kinds(query, identity)[driven_by] != 'filter':
            # Tested as ``id IN (...)``, MariaDB may still walk the page order's
            # index (when its estimates of a derived table say so) and look each
            # image up in the set: joined to the set, it reads the set first.
            listed, driving = driving.distinct().alias('listed'), None
    condition = filters.list_condition(query, identity, dialect, driving, bind)
    if marker is not None and filters.pages_by_level(query.sort, dialect):
        return _page_by_level(query, condition, marker, dialect, bind)
    if marker is not None:
        condition &= filters.after_marker(query.sort, marker, dialect, bind)
    forced = marker is not None and filters.forced_indexes(query, dialect, driven_by)
    if filters.ids_first(query, dialect, driven_by):
        # The page's ids from an index alone, then their rows.
        ids = (_forcing(Image.select(Image.id, Image.created_at), forced)
               .where(condition).order_by(*filters.order_by(query.sort, dialect))
               .limit(bind(query.limit + 1))).alias('page')
        return (Image.select(*_IMAGE_FIELDS)
                .join(ids, on=(Image.id == ids.c.id))
                .order_by(ids.c.created_at.desc(), ids.c.id.desc()))
    select = _forcing(Image.select(*_IMAGE_FIELDS), forced)
    if listed is not None:
        select = select.from_(peewee.NodeList([
            listed, peewee.SQL('STRAIGHT_JOIN'), Image, peewee.SQL('ON'),
            Image.id == listed.c.id]))
    return (select.where(condition).order_by(*filters.order_by(query.sort, dialect))
            .limit(bind(query.limit + 1)))


def _forcing(select, indexes):
    """``select`` from the images through one of ``indexes`` (MariaDB's FORCE
    INDEX; ``filters.forced_indexes``), if any."""
    if not indexes:
        return select
    return select.from_(peewee.NodeList([Image, peewee.SQL(
        'FORCE INDEX (%s)' % ', '.join(indexes))]))


def _walk(identity, query, dialect, marker, bind):
    """The page of a list that walks a tag's or property's index: the walked
    filter's rows in page order, each joined to its image, which the rest of the
    list's condition tests (``filters.walked_filter``)."""
    model, match, rest = filters.walked_filter(query, dialect, bind)
    # No row without the copy (which would sort first, NULL, out of page order):
    # ``narrowest_filter`` found none, and the walk reads its snapshot
    # (``db.read_transaction``), so a row an earlier release inserts meanwhile
    # waits for the next page's probe.
    condition = match & filters.list_condition(rest, identity, dialect, None, bind)
    if marker is not None:
        condition &= filters.walked_after_marker(model, marker, bind)
    # The walk must come first: MariaDB would read a tag that most images
    # have from the images' side and sort every visible image, and SQLite,
    # keeping no statistics, would take a broad column filter's index.
    # SQLite's CROSS JOIN keeps the order written (and takes no ON).
    joined = Image.id == model.image
    if dialect == 'sqlite':
        select = model.select(*_IMAGE_FIELDS).join(Image, peewee.JOIN.CROSS)
        condition = joined & condition
    else:
        select = model.select(*_IMAGE_FIELDS).join(
            Image, 'STRAIGHT_JOIN' if dialect == 'mysql' else peewee.JOIN.INNER,
            on=joined)
    return (select.where(condition).order_by(*filters.walked_order(model))
            .limit(bind(query.limit + 1)))


def _page_by_level(query, condition, marker, dialect, bind):
    """The page after ``marker`` as a UNION ALL of a page of the rest of the
    marker's group and one of the groups after it (``filters.marker_groups``), each
    a range of the sort's index, sorted again: at most ``query.limit + 1`` rows
    each."""
    terms = filters.sort_terms(query.sort, dialect)
    keys = [expression.alias('sort_%d' % n) for n, (expression, _) in enumerate(terms)]
    inside, after = filters.marker_groups(query.sort, marker, dialect, bind)
    # The first key, equal to the marker's inside its group, is left out of that
    # part's order: SQLite sorted a range of an expression index again with it.
    parts = [Image.select(*_IMAGE_FIELDS, *keys).where(condition & group)
             .order_by(*filters.order_by(sort, dialect)).limit(bind(query.limit + 1))
             for group, sort in ((inside, query.sort[1:]), (after, query.sort))]
    return _merged(parts, [('sort_%d' % n, direction)
                           for n, (_, direction) in enumerate(terms)], query.limit, bind)


def _merged(parts, order, limit, bind):
    """The first ``limit + 1`` rows of the pages ``parts`` (each selecting
    ``IMAGE_COLUMNS`` first, in page order, with its own limit) in one UNION ALL,
    sorted again by ``order``: ``(column of the parts, direction)``."""
    wrapped = [peewee.Select([part.alias('part_%d' % n)], [peewee.SQL('*')])
               for n, part in enumerate(parts)]
    union = functools.reduce(operator.add, wrapped).alias('parts')   # UNION ALL
    return (peewee.Select([union], [getattr(union.c, field.column_name)
                                    for field in _IMAGE_FIELDS])
            .order_by(*[peewee.SQL(column).asc() if direction == 'asc'
                        else peewee.SQL(column).desc() for column, direction in order])
            .limit(bind(limit + 1)))


MATCHES_NOTHING = object()

# ``narrowest_filter``'s answer for a page that walks a tag or property filter's
# own index in page order (``filters.walked_filter``).
WALK = 'walk'


def narrowest_filter(db, query, identity=None):
    """Which narrowing filter (its position in ``filters.narrowing_filters``, the
    images ``identity`` may list, of the catalogue or of a tag or property, among
    them: ``filters.narrowing_kinds``) matches fewest images if it matches fewer
    than ``filters.DRIVE_LIMIT`` (the images ``identity`` may list only where
    ``_outgrown`` says reading them first costs less than the walk);
    ``MATCHES_NOTHING`` if one matches no image at all; else ``WALK`` if the page
    may walk a tag or property filter's index in page order
    (``filters.walked_filter``): when no filter on a column of the images matches
    fewer than ``DRIVE_LIMIT`` either (``filters.column_probes``), and each of the
    walked filter's rows holds its copy of the image's ``created_at``
    (``child_order``); else None. ``WALK`` too, on those conditions, where the
    fewest is the walked filter itself and matches more than a page, in a list
    without a status or format filter. One query, which reads at most ``DRIVE_LIMIT``
    index entries per filter (per part of the images a caller may list), and one
    more entry to look for a missing copy."""
    dialect = db_module.dialect(db)
    walkable = filters.walkable(query)

    def build(bind):
        selects = filters.narrowing_filters(query, dialect, bind, identity,
                                            limit=filters.DRIVE_LIMIT)
        if walkable:
            selects += [select.limit(bind(filters.DRIVE_LIMIT))
                        for select in filters.column_probes(query, bind)]
            model, match, _ = filters.walked_filter(query, dialect, bind)
            selects.append(model.select(model.image)
                           .where(match & model.image_created_at.is_null())
                           .limit(bind(1)))
        return selects
    probes = statements.statements(
        db, ('probes', identity and _caller_shape(identity), _list_shape(query),
             child_access.shape(query, identity)), build)
    if not probes:
        return None
    counts = db.execute_sql(
        'SELECT %s' % ', '.join('(SELECT COUNT(*) FROM (%s) n%d)' % (sql, position)
                                for position, (sql, _) in enumerate(probes)),
        [param for _, params in probes for param in params]).fetchone()
    counts = list(counts)
    unfilled = counts.pop() if walkable else 0
    columns = (counts[len(counts) - len(filters.probed_columns(query)):]
               if walkable else [])
    counts = counts[:len(counts) - len(columns)]
    if 0 in counts + columns:
        return MATCHES_NOTHING
    fewest = min(range(len(counts)), key=counts.__getitem__)
    kinds = filters.narrowing_kinds(query, identity)
    if kinds[fewest] != 'filter' and counts[fewest] < filters.DRIVE_LIMIT \
            and not _outgrown(db, query, identity, kinds, counts, fewest):
        # Not the images the caller may list (of the catalogue, or of a tag or
        # property) then, nor a larger set of them, which needs more to outgrow.
        for position, kind in enumerate(kinds):
            if kind != 'filter':
                counts[position] = max(counts[position], filters.DRIVE_LIMIT)
        fewest = min(range(len(counts)), key=counts.__getitem__)
    # A column filter that matches few is walked by its own index instead.
    walk = walkable and not unfilled and min(
        columns, default=filters.DRIVE_LIMIT) >= filters.DRIVE_LIMIT
    if counts[fewest] < filters.DRIVE_LIMIT:
        if walk and fewest == filters.walked_position(query) \
                and counts[fewest] > query.limit + 1 \
                and not child_formats.copied(query):
            # The walk reads at most the rows the count read, in page order,
            # and stops at a full page: never more than reading and sorting
            # them all. (A status or format filter is counted in the tag or
            # property rows' copies but tested on the images by the walk, which
            # could then read many more rows than the count.)
            return WALK
        return fewest
    if walk:
        return WALK
    return None


def _outgrown(db, query, identity, kinds, counts, position):
    """Whether the ``counts[position]`` images a caller may list (the
    ``narrowing_filters`` of that position: of the catalogue, or of a tag or
    property) are so few among the images they are taken from that reading and
    sorting them costs less than walking those images in page order until
    ``limit + 1`` of them turn up: about ``(limit + 1) * whole / listed`` rows,
    where the caller may list a fair share of them (a quarter of 1,000: the walk
    read about a hundred rows, 2.9 ms a first page, where reading the 300 took
    3.8-4.2 ms; 200 of a property's 400 images, walked in its index: 50 rows).

    The whole is the catalogue, or a tag's or property's images when the page
    may walk them (``filters.walkable``), of which ``counts`` holds the count
    when under ``filters.DRIVE_LIMIT``. Otherwise one count of at most
    ``listed**2 / (limit + 1)`` rows (9,616 for 500 and pages of 25)."""
    listed, limit = counts[position], query.limit
    enough = listed * listed // (limit + 1) + 1
    if enough <= listed:
        return True   # a page holds them all: the walk could stop at none of them
    of = None
    if kinds[position] == 'accessible' and filters.walkable(query):
        of = position - kinds.index('accessible')   # its tag or property
        if counts[of] < filters.DRIVE_LIMIT:
            return counts[of] >= enough
    dialect = db_module.dialect(db)

    def build(bind):
        whole = (Image.select(peewee.SQL('1')) if of is None else
                 filters.narrowing_filters(query, dialect, bind, identity)[of])
        return [whole.limit(bind(enough))]
    (sql, params), = statements.statements(
        db, ('whole', of is not None and (
            identity and _caller_shape(identity), _list_shape(query),
            child_access.shape(query, identity), of)), build)
    count, = db.execute_sql('SELECT COUNT(*) FROM (%s) n' % sql, params).fetchone()
    return count >= enough


def _caller_shape(identity):
    """What of the caller a list's SQL text depends on."""
    return bool(identity.is_admin), bool(identity.project_id)


def _list_shape(query):
    """What of a ``ListQuery`` its SQL text depends on: everything but the values
    compared (which are bound)."""
    return (query.sort, query.visibility, query.member_status, query.os_hidden,
            query.protected, query.size_min is None, query.size_max is None,
            tuple((column, len(values)) for column, values in query.matches),
            tuple((column, op) for column, op, _ in query.times),
            len(query.tags),
            tuple(len(value) < filters.PROPERTY_VALUE_PREFIX
                  for _, value in query.properties))


_IMAGE_FIELDS = tuple(getattr(Image, name) for name in IMAGE_COLUMNS)


def not_found(image_id):
    """The error for an image that is absent, deleted or not visible."""
    return errors.NotFound('No image with id %s' % image_id, reason='image_not_found',
                           image_id=image_id)


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
    image = query.first(db)
    if image is None:
        raise not_found(image_id)
    return image


def locked_image(db, identity, image_id, judge=None):
    """The ``Image`` row, locked as ``visible_image`` with ``lock`` locks it (the
    first thing every write to an image does), after ``judge`` (if given) passed
    the image's record as read under that lock: the registry's rules
    (``glance_registry.guard``) judge a write by the image as it is when the write
    commits, not as it was when the request arrived, so a change made meanwhile
    (a new owner, a property created) cannot slip a write past them."""
    image = visible_image(db, identity, image_id, lock=True)
    if judge is not None:
        judge_locked(db, identity, image, judge)
    return image


def judge_locked(db, identity, image, judge):
    """Pass the record of ``image``, a row ``locked_image`` locked, to ``judge``:
    for a write that first finds what it changes in the image (a membership), so
    that what the caller may not see is ``NotFound`` whatever the rules say."""
    judge(_judged_record(db, identity, image))


def _judged_record(db, identity, image):
    """What the guard judges a write by, of the locked ``image`` row: its owner,
    visibility, protection, status, formats, properties, location URLs and the
    caller's membership status.

    Locking reads on MariaDB: its first plain read fixes the transaction's snapshot,
    and a write that locks its project next (``quotas.lock_project``) must then
    count what committed while it waited. They wait for nobody: every writer of the
    image's children holds the image's row, as this transaction does now.
    """
    def rows(query):
        if db_module.dialect(db) == 'mysql':
            query = query.for_update('LOCK IN SHARE MODE')
        return list(query.tuples().execute(db))

    properties = dict(rows(ImageProperty.select(ImageProperty.name,
                                                ImageProperty.value)
                           .where(ImageProperty.image == image.id)))
    locations = [{'url': url} for url, in rows(
        ImageLocation.select(ImageLocation.url)
        .where((ImageLocation.image == image.id)
               & ImageLocation.status.not_in(_TAKEN_OFF))
        .order_by(ImageLocation.position, ImageLocation.id))]
    member = rows(ImageMember.select(ImageMember.status)
                  .where((ImageMember.image == image.id)
                         & (ImageMember.member == identity.project_id))) \
        if identity.project_id is not None else []
    return {'id': image.id, 'owner': image.owner, 'visibility': image.visibility,
            'protected': bool(image.protected), 'status': image.status,
            'disk_format': image.disk_format,
            'container_format': image.container_format,
            'properties': properties, 'locations': locations,
            'member_status': member[0][0] if member else None}


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
    return _build_records(db, [image], children)[0]


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
    return _build_records(db, rows, db.execute_sql(sql, params).fetchall())


def _build_records(db, rows, children):
    """Records from image rows and ``(kind, image_id, ...)`` child rows."""
    # Only a location being verified costs the one query more: its lease's seconds
    # left, on the database's clock (the same for every registry host).
    now = (db_module.now(db) if any(
        child[0] == _LOCATION and child[4] == vocabulary.PENDING_LOCATION
        and child[5] is not None for child in children) else None)
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
                    member_statuses.get(row[0]), now)
            for row in rows]


def _record(row, properties, tags, locations, member_status, now):
    (image_id, name, status, visibility, protected, os_hidden, checksum, os_hash_algo,
     os_hash_value, size, virtual_size, min_disk, min_ram, disk_format,
     container_format, owner, created_at, updated_at, deleted, deleted_at) = row
    shown = []
    # Locations in the caller's order (position, then insertion).
    for _position, _id, url, metadata, location_status, lease_expires_at, attempts \
            in sorted(locations, key=_location_order):
        if not deleted and location_status in _TAKEN_OFF:
            # Taken off the live image, its data still to be removed
            # (glance_registry.images.removals): no location of it any more. A
            # deleted image shows them all: they are the data to remove.
            continue
        location = {'url': url, 'metadata': orjson.loads(metadata),
                    'status': location_status}
        # A pending location's record also says until when a verifier holds it and
        # how many verifiers have tried (glance_registry.images.locations).
        if location_status == vocabulary.PENDING_LOCATION:
            location.update(lease_expires_at=isotime(lease_expires_at),
                            attempts=attempts)
            if lease_expires_at is not None:
                location['lease_seconds_left'] = max(0, math.ceil(
                    (_as_datetime(lease_expires_at) - now).total_seconds()))
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


def _as_datetime(when):
    # SQLite hands back the text peewee stored.
    if isinstance(when, str):
        return datetime.datetime.fromisoformat(when)
    return when.replace(tzinfo=None)


def isotime(when):
    """A time as the wire writes it (``vocabulary.TIMESTAMP_FORMAT``); None stays
    None."""
    if isinstance(when, str):
        # SQLite hands back the text peewee stored: 'YYYY-MM-DD HH:MM:SS[.ffffff]'.
        if len(when) in (19, 26) and when[10] == ' ':
            return when[:10] + 'T' + when[11:19] + 'Z'
        when = datetime.datetime.fromisoformat(when)
    return vocabulary.format_timestamp(when)
