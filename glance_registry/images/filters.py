"""A parsed list query (``client.list_params.ListQuery``) as SQL: filters, visibility,
sort, keyset.

``list_condition``, ``order_by`` and ``after_marker`` turn a ``ListQuery`` into peewee
expressions; ``visible_to`` is the row-level visibility every operation applies, and
``visible_sql`` the same as SQL text for the hot read paths. Every value they compare
passes through ``bind`` (``statements.Binder``), so that a list's SQL text is built
once per shape (``glance_registry.images.statements``); without it, the value as is.

Semantics mirror upstream's ``glance/db/sqlalchemy/api.py``
(``_make_conditions_from_filters``, ``_select_images_query``).
"""

import dataclasses
import functools
import operator

import peewee

from glance_registry.images import child_access
from glance_registry.images import child_formats
from glance_registry.images.statements import unbound
from glance_registry.migrations import m0009_list_filter_indexes
from glance_registry.migrations import m0016_mysql_list_columns
from glance_registry.models import Image
from glance_registry.models import ImageMember
from glance_registry.models import ImageProperty
from glance_registry.models import ImageTag

# NULL sorts as these values on every backend (they differ in where NULLs go), and
# the keyset comparison uses the same values, so pagination is exact.
_NULL_SORT_VALUES = {'name': '', 'container_format': '', 'disk_format': '',
                     'size': -1}

# Property filters compare a value prefix too, so that the (name, prefix) index that
# the initial migration builds is usable (values may exceed an index entry).
PROPERTY_VALUE_PREFIX = 255


def _and(conditions):
    return functools.reduce(operator.and_, conditions)


def _or(conditions):
    return functools.reduce(operator.or_, conditions)


def _member_of(project, member_status=None, bind=unbound):
    """The image is shared with ``project`` (in ``member_status``, unless None)."""
    members = (ImageMember.select(peewee.SQL('1'))
               .where((ImageMember.image == Image.id)
                      & (ImageMember.member == bind(project))))
    if member_status is not None:
        members = members.where(ImageMember.status == bind(member_status))
    return peewee.fn.EXISTS(members)


def visible_to(identity, bind=unbound):
    """The rows ``identity`` may see at all (get, update, delete, marker).

    Admins see every image; others their own, public and community images, and
    shared images their project is a member of (any member status).
    """
    condition = Image.deleted == bind(False)
    if identity.is_admin:
        return condition
    visible = [Image.visibility.in_([bind('public'), bind('community')])]
    if identity.project_id:
        visible.append(Image.owner == bind(identity.project_id))
        visible.append((Image.visibility == bind('shared'))
                       & _member_of(identity.project_id, bind=bind))
    return condition & _or(visible)


def visible_sql(identity, param, quote):
    """``visible_to`` as SQL text over the ``images`` table aliased ``i``, for the
    hot read paths that skip peewee's query builder: ``(sql, params)``, with
    ``param`` the driver's placeholder and ``quote`` (``'""'`` or ``'``'``) its
    identifier quotes."""
    def q(name):
        return quote[0] + name + quote[1]
    sql = 'i.%s = %s' % (q('deleted'), param)
    params = [False]
    if identity.is_admin:
        return sql, params
    visible = ["i.%s IN ('public', 'community')" % q('visibility')]
    if identity.project_id:
        visible.append('i.%s = %s' % (q('owner'), param))
        visible.append("(i.%s = 'shared' AND EXISTS (SELECT 1 FROM %s m WHERE "
                       "m.%s = i.%s AND m.%s = %s))"
                       % (q('visibility'), q('image_members'), q('image_id'), q('id'),
                          q('member'), param))
        params += [identity.project_id, identity.project_id]
    return '%s AND (%s)' % (sql, ' OR '.join(visible)), params


def _listed_for(identity, visibility, member_status, dialect=None, bind=unbound,
                drive_only=False):
    """Which visible images a list shows, following upstream's rules.

    Without ``visibility``: public, own, and shared-with-me in ``member_status``;
    never other projects' community images (admins too). ``community`` lists every
    community image; ``all`` everything visible, shared ones per ``member_status``.
    ``drive_only``: on SQLite, the visibility filter's index is not used either
    (see ``list_condition``).
    """
    status = None if member_status == 'all' else member_status
    visibility_column, owner_column = Image.visibility, Image.owner
    if dialect == 'sqlite':
        # SQLite would answer this OR from the visibility and owner indexes, then
        # sort every match (a third of 100,000 images: about a second) to return
        # 25. Walking the sort's index and filtering is what a page needs, and
        # a unary + keeps SQLite from using these two indexes here.
        visibility_column = _unindexed(visibility_column)
        owner_column = _unindexed(owner_column)
    conditions = [Image.deleted == bind(False)]
    if visibility is None:
        conditions.append(visibility_column != bind('community')
                          if not identity.project_id else
                          (visibility_column != bind('community'))
                          | (owner_column == bind(identity.project_id)))
    elif visibility != 'all':
        conditions.append((visibility_column if drive_only else Image.visibility)
                          == bind(visibility))
    if identity.is_admin:
        return _and(conditions)
    listed = [visibility_column.in_([bind('public'), bind('community')])]
    if identity.project_id:
        listed.append(owner_column == bind(identity.project_id))
        listed.append((visibility_column == bind('shared'))
                      & _member_of(identity.project_id, status, bind))
    conditions.append(_or(listed))
    return _and(conditions)


def _unindexed(field):
    return peewee.NodeList((peewee.SQL('+'), field), glue='')


# A list whose filter matches fewer images than this reads that filter's matches
# from its index and sorts them (``driven_by``), unless the page may walk that very
# filter's index in page order (``records.narrowest_filter``); a filter matching
# more is tested on each image along the sort order's index, which then finds a
# full page within about 25 * N / DRIVE_LIMIT images (25,000 of a million), or
# walked in its own index (``walked_filter``).
DRIVE_LIMIT = 1000


def narrowing_filters(query, dialect=None, bind=unbound, identity=None, limit=None):
    """For each filter of ``query`` that an index finds from its own side (tags,
    custom properties, size and updated_at ranges): a select of the ids of the
    images it matches, deleted and invisible ones included (an upper bound); for
    a caller who is not an admin (``identity``), the images they may list
    (``listable``); and last, for each tag and property, the ids of its images
    that the list may show by their owner and visibility, where
    ``child_access.bounds`` has bounds. ``narrowing_kinds`` names each. With
    ``limit``, each select reads at most that many index entries (the count of
    ``records.narrowest_filter``).

    A tag or property select also compares the status and format filters, if
    any, with the copies of the image's status and formats that each tag and
    property row carries (``child_status``, ``child_formats``): an index holds
    them all, so a tag or property and a status or format that each match many
    images but few or none together are found few from the index. Its select
    by owner and visibility (``child_access``) reads another index, so that
    neither loses its seeks to columns the list does not name."""
    copied = child_formats.copied(query)

    def with_copies(select, model):
        for column, values in copied:
            select = select.where(child_formats.matching(model, column, values, bind))
        return select
    matched = [(ImageTag, ImageTag.value == bind(tag)) for tag in query.tags]
    matched += [(ImageProperty, _property_matches(name, value, dialect, bind))
                for name, value in query.properties]
    selects = [with_copies(model.select(model.image).where(match), model)
               for model, match in matched]
    if _size_ranged(query):
        sizes = [Image.size >= bind(query.size_min)
                 if query.size_min is not None else None,
                 Image.size <= bind(query.size_max)
                 if query.size_max is not None else None]
        selects.append(Image.select(Image.id).where(
            _and([term for term in sizes if term is not None])))
    selects += [Image.select(Image.id).where(_compare(Image.updated_at, op, bind(when)))
                for op, when in _updated_at_ranges(query)]
    if limit is not None:
        selects = [select.limit(bind(limit)) for select in selects]
    if _counts_listable(query, identity):
        selects.append(listable(query, identity, bind, limit))
    bounds = child_access.bounds(query, identity)
    if bounds is not None:
        # (Named as the images' ids, which a page query joins it by.)
        selects += [_union([model.select(model.image.alias('id')).where(
            match & child_access.matching(model, visibilities, owners, bind))
            for visibilities, owners in bounds], 'accessible', bind, limit)
            for model, match in matched]
    return selects


def narrowing_kinds(query, identity=None):
    """What each of ``narrowing_filters(query, identity=identity)`` selects:
    ``'filter'`` (a tag, property, size or updated_at filter), ``'accessible'``
    (a tag's or property's images the list may show by their owner and
    visibility) or ``'listable'``, without building them."""
    filtered = len(query.tags) + len(query.properties)
    kinds = ['filter'] * (filtered + int(_size_ranged(query))
                          + len(_updated_at_ranges(query)))
    if _counts_listable(query, identity):
        kinds.append('listable')
    if child_access.bounds(query, identity) is not None:
        kinds += ['accessible'] * filtered
    return kinds


def _size_ranged(query):
    """Whether ``query`` filters on a size range (one narrowing filter)."""
    return query.size_min is not None or query.size_max is not None


def _updated_at_ranges(query):
    """The ``(op, when)`` of each ``updated_at`` comparison of ``query`` that an
    index finds from its own side (one narrowing filter each)."""
    return [(op, when) for column, op, when in query.times
            if column == 'updated_at' and op != 'neq']


def _union(parts, name, bind, limit=None):
    """A select of the rows of ``parts`` (UNION ALL), as a derived table named
    ``name``: the page query's ``id IN (...)`` reads it once where MariaDB would
    test a bare UNION on each image it walks. With ``limit``, at most that many
    rows of each part and of the whole (MariaDB reads every part of a UNION
    whole before a LIMIT of the union applies)."""
    if limit is not None:
        # (SQLite takes no LIMIT on a member of a compound select itself.)
        parts = [peewee.Select([part.limit(bind(limit)).alias('%s_%d' % (name, n))],
                               [peewee.SQL('*')]) for n, part in enumerate(parts)]
    union = functools.reduce(operator.add, parts).alias(name)
    select = peewee.Select([union], [peewee.SQL('*')])
    return select if limit is None else select.limit(bind(limit))


# Columns whose equality filter finds few images through the column's own index:
# reading a caller's listable images instead would read hundreds for one.
_FEW_PER_VALUE = frozenset(('id', 'name', 'checksum', 'os_hash_value'))


def _counts_listable(query, identity):
    return (identity is not None and not identity.is_admin
            and not any(column in _FEW_PER_VALUE for column, _ in query.matches))


def listable(query, identity, bind=unbound, limit=None):
    """A select of the ids of the images that a list of ``identity`` (not an
    admin) may show, as its visibility filter allows (``_listed_for``): their
    project's own, the public ones, the community ones when the list asks for
    them, and those shared with their project. With ``limit``, at most that many
    of each (MariaDB reads every part of a UNION whole before a LIMIT of the
    union applies: 110,000 index entries to count to 1,000 for a project owning
    10,000 images among 100,000 public and community ones).

    An upper bound, so that each part reads an index alone: deleted images, own
    images of any visibility and shares in any member status are in it. A cloud
    has few public images and a project few images of its own, and a list that
    tests its filters on each image in page order read every other project's
    matches for a page it could not fill (a property on a fiftieth of a million
    images, 79 ms on SQLite; ``visibility=shared`` for a project nothing is
    shared with, 200 ms; ``visibility=private`` for one without images, 330 ms):
    counted few, this set drives the list (``records.narrowest_filter``).
    """
    visibility, project = query.visibility, identity.project_id
    parts = []
    if project and visibility not in ('public', 'community'):
        parts.append(Image.select(Image.id).where(Image.owner == bind(project)))
    for listed in ('public', 'community'):
        if visibility == listed or visibility == 'all' or (
                visibility is None and listed == 'public'):
            parts.append(Image.select(Image.id)
                         .where(Image.visibility == bind(listed)))
    if project and visibility in (None, 'shared', 'all'):
        parts.append(ImageMember.select(ImageMember.image)
                     .where(ImageMember.member == bind(project)))
    if not parts:   # an anonymous caller's private or shared images: none
        return Image.select(Image.id).where(Image.id.is_null())
    return _union(parts, 'listable', bind, limit)


def listable_position(query, identity):
    """The position of ``listable`` among the ``narrowing_filters`` of ``query`` for
    ``identity``, or None (an admin's list, or one by a name or id, has none)."""
    kinds = narrowing_kinds(query, identity)
    return kinds.index('listable') if 'listable' in kinds else None


# MariaDB's generated column holding ``LEFT(value, 255)``, indexed with the name
# and image id (migration 16): it has no expression indexes, and an index of a
# prefix of ``value`` itself cannot tell a whole value from a longer one.
MYSQL_VALUE_PREFIX = peewee.Column(ImageProperty, m0016_mysql_list_columns.VALUE_PREFIX)


def _property_matches(name, value, dialect, bind=unbound):
    prefix = (MYSQL_VALUE_PREFIX if dialect == 'mysql'
              else _value_prefix(ImageProperty.value))
    condition = ((ImageProperty.name == bind(name))
                 & (prefix == bind(value[:PROPERTY_VALUE_PREFIX])))
    if len(value) < PROPERTY_VALUE_PREFIX:
        # The prefix is then the whole value. Comparing the value too would make
        # PostgreSQL count the same selectivity twice and expect a common value
        # to be rare (so sort all its matches rather than walk the page order),
        # and MariaDB read each matching row rather than its index alone.
        return condition
    return condition & (ImageProperty.value == bind(value))


def list_condition(query, identity, dialect=None, driven_by=None, bind=unbound):
    """The WHERE clause of a list: visibility and every filter of ``query``, for
    the database ``dialect`` (see ``_listed_for``).

    ``driven_by`` (one of ``narrowing_filters(query)``, which matches few images)
    makes the database read that filter's matches first, through its index, rather
    than walk the sort order testing every image (the whole table for a filter
    that matches few)."""
    os_hidden = Image.os_hidden
    if not query.os_hidden and dialect == 'sqlite':
        # Nearly every image is not hidden: walking (os_hidden, created_at, id)
        # would be the creation-order walk, and SQLite (which has no statistics
        # here) would prefer it to a selective index such as the name's.
        os_hidden = _unindexed(os_hidden)
    # Driven by a filter's few matches, SQLite must not prefer another index that
    # also gives the page order (it would walk, say, every queued image).
    drive_only = driven_by is not None and dialect == 'sqlite'
    conditions = [_listed_for(identity, query.visibility, query.member_status,
                              dialect, bind, drive_only),
                  os_hidden == bind(query.os_hidden)]
    if query.protected is not None:
        conditions.append((Image.protected if query.protected or dialect != 'sqlite'
                           else _unindexed(Image.protected)) == bind(query.protected))
    if query.size_min is not None:
        conditions.append(Image.size >= bind(query.size_min))
    if query.size_max is not None:
        conditions.append(Image.size <= bind(query.size_max))
    for column, values in query.matches:
        field = getattr(Image, column)
        if drive_only or (column == 'status' and dialect == 'sqlite'
                          and len(values) > 1):
            # A handful of statuses, most images active: without statistics SQLite
            # takes the status index and sorts every match (5,000 images: 1.6 ms,
            # against 0.02 ms walking the sort's index and filtering).
            field = _unindexed(field)
        conditions.append(field == bind(values[0]) if len(values) == 1
                          else field.in_([bind(value) for value in values]))
    for column, op, when in query.times:
        conditions.append(_compare(getattr(Image, column), op, bind(when)))
    for tag in query.tags:
        conditions.append(_tested_per_image(
            ImageTag.select(peewee.SQL('1'))
            .where((ImageTag.image == Image.id) & (ImageTag.value == bind(tag))),
            dialect, bind))
    for name, value in query.properties:
        conditions.append(_tested_per_image(
            ImageProperty.select(peewee.SQL('1'))
            .where((ImageProperty.image == Image.id)
                   & _property_matches(name, value, dialect, bind)), dialect, bind))
    if driven_by is not None:
        conditions.append(Image.id.in_(driven_by))
    return _and(conditions)


# The default page order, on the columns of MariaDB's covering index below.
_CREATED_ORDER = (('created_at', 'desc'), ('id', 'desc'))


def walked_filter(query, dialect=None, bind=unbound):
    """The tag or property filter whose own index a page of ``query`` may walk in
    page order, as ``(model, match, rest)``: the property or tag model, the
    condition on its rows, and ``query`` without that filter. None if the list
    has no tag or property filter, is not in the default order, or filters on a
    time or size range or on ``protected``.

    Each property and tag row holds its image's ``created_at`` (``child_order``;
    migration 20), and ``(name, value prefix, image_created_at, image_id)`` and
    ``(value, image_created_at, image_id)`` hold a filter's matches in page
    order: the page reads the filter's matches alone, where walking the images
    tests the filter on each (5,000 images for a member's page of a property on
    2% of a million). The caller decides whether to walk
    (``records.narrowest_filter``): not when another filter matches few, nor
    when a row of this one lacks the copy."""
    if not walkable(query):
        return None
    if query.properties:
        (name, value), rest = query.properties[0], query.properties[1:]
        return (ImageProperty, _property_matches(name, value, dialect, bind),
                dataclasses.replace(query, properties=rest))
    tag, rest = query.tags[0], query.tags[1:]
    return (ImageTag, ImageTag.value == bind(tag), dataclasses.replace(query, tags=rest))


def walked_position(query):
    """The position in ``narrowing_filters`` of ``walked_filter``'s filter."""
    return len(query.tags) if query.properties else 0


def column_probes(query, bind=unbound):
    """For each equality filter on a column of the images (``query.matches``) but
    the status, a select of the ids of the images it matches, deleted and
    invisible ones included, from the column's index: with a tag or property
    filter, the page walks that filter's index only if none of these matches few
    images (one that does is walked by its own index instead). The status needs
    none: the tag and property selects of ``narrowing_filters`` count it."""
    return [Image.select(Image.id).where(
        getattr(Image, column) == bind(values[0]) if len(values) == 1
        else getattr(Image, column).in_([bind(value) for value in values]))
        for column, values in probed_columns(query)]


def probed_columns(query):
    """The ``(column, values)`` of ``query.matches`` that ``column_probes`` counts."""
    return [(column, values) for column, values in query.matches if column != 'status']


def walked_order(model):
    """ORDER BY terms walking ``model``'s rows in the default page order."""
    return [model.image_created_at.desc(), model.image.desc()]


def walked_after_marker(model, marker, bind=unbound):
    """``after_marker`` of the default order, on ``model``'s copies of the image's
    ``created_at`` and ``id``."""
    return after_marker(_CREATED_ORDER, marker, bind=bind,
                        columns={'created_at': model.image_created_at,
                                 'id': model.image})


def walkable(query):
    """Whether ``walked_filter`` has a filter for ``query`` (without building it)."""
    return bool(query.tags or query.properties) and _walkable_shape(query)


def _walkable_shape(query):
    """Whether ``query`` sorts in the default order and filters on no time or size
    range nor on ``protected``."""
    return (tuple(query.sort) == _CREATED_ORDER and not query.times
            and query.size_min is None and query.size_max is None
            and query.protected is None)


def ids_first(query, dialect, driven_by=None):
    """Whether the page query finds its images' ids before reading their rows.

    Migration 16's index ``(os_hidden, created_at, id, deleted, visibility,
    owner)`` holds everything a list in the default order tests when it filters
    on no column of the images, but a tag or property: on MariaDB a subquery
    finds the page's ids from that index alone, and only their rows are read
    after it. Read with the rows, MariaDB reads the index by ``os_hidden`` alone
    from the top: a page after a marker half a million images deep read half a
    million rows (1.1 s), where the index alone reads the range after the marker.
    And a tag or property tested on each image (when it is not walked in its own
    index: ``walked_filter``) read each image's row first: 5,000 rows for a
    member's page of a property on 2% of a million images."""
    return (dialect == 'mysql' and driven_by is None and not query.matches
            and _walkable_shape(query))


# Migration 9's ``(column, created_at, id)`` index of each column.
_CREATED_ORDER_INDEXES = {columns[0]: name
                          for name, columns in m0009_list_filter_indexes.INDEXES
                          if columns[1:] == ('created_at', 'id')}


def forced_indexes(query, dialect, driven_by=None):
    """The indexes MariaDB must read a page after a marker of ``query`` through
    (``FORCE INDEX``), or None.

    A page in the default order compares os_hidden and each equality filter
    with a value, and each has a ``(column, created_at, id)`` index. MariaDB read
    one of them by the column's value alone (ref), from the top of its matches,
    testing the marker's bound on each: 0.8-2.2 s half a million images deep
    (``status=active``, ``visibility=public``, ``size_min=1``,
    ``status=active&disk_format=qcow2``). Forced to the filters' own indexes, it
    reads a range of one from the marker on, the one its estimates of those
    ranges find narrowest: 0.3-1 ms (``owner=X&status=killed`` reads the
    status's, which holds no match). Without a filter on a column, os_hidden's;
    a page that reads its ids first (``ids_first``: no filter on a column but
    the visibility) reads migration 16's covering index. os_hidden's index is
    left out of a filter's set: MariaDB then read the ref of another. Pages
    driven by a filter's few matches or walked along a tag's or property's
    index are read otherwise, and so are lists that filter on a column without
    such an index or on a list of values."""
    if dialect != 'mysql' or driven_by is not None or tuple(query.sort) != _CREATED_ORDER:
        return None
    if ids_first(query, dialect, driven_by):
        return [m0016_mysql_list_columns.COVERING_INDEX]
    if any(len(values) > 1 or column not in _CREATED_ORDER_INDEXES
           for column, values in query.matches):
        # A name, id or checksum has an index MariaDB rightly reads for its few
        # matches; a list of values cannot be read in page order.
        return None
    columns = [column for column, _ in query.matches]
    if query.visibility not in (None, 'all'):
        columns.append('visibility')
    if query.protected is not None:
        columns.append('protected')
    return [_CREATED_ORDER_INDEXES[column]
            for column in dict.fromkeys(columns or ['os_hidden'])]


#: ``values_apart`` splits lists of up to this many values.
APART_VALUES = 10


def values_apart(query, dialect):
    """On MariaDB, ``query`` as one query per value of its list of values (``in:``),
    for a page after a marker in the default order, or None.

    MariaDB reads ``status IN (...)`` from the ``(status, created_at, id)`` index as
    one range per value, which is not in page order, or walks another index by
    its value alone from the top: 2.2-3.4 s a page half a million images deep
    (``status=in:active,queued``, ``disk_format=in:qcow2,raw``). With one value
    each, the pages read a range from the marker on through the filters' own
    indexes (``forced_indexes``); the page merges theirs
    (``records._merged``). Only a list of at most ``APART_VALUES`` values that
    is the list's one filter on a column: beside another filter a value's page
    would read every match of the other filter after the marker when the two
    match many images each and none together (``status=queued&owner=X``, 1.5 s
    at a million), where the list as a whole found its page in 20 ms. Nor with
    a tag or property filter, which each page would test again."""
    if (dialect != 'mysql' or tuple(query.sort) != _CREATED_ORDER
            or len(query.matches) != 1 or query.visibility not in (None, 'all')
            or query.protected is not None or query.tags or query.properties):
        return None
    (column, values), = query.matches
    if column not in _CREATED_ORDER_INDEXES or len(values) < 2:
        return None
    if len(values) > APART_VALUES:   # distinct (``list_params``)
        return None
    return [dataclasses.replace(query, matches=tuple(
        (name, (value,) if name == column else kept) for name, kept in query.matches))
        for value in values]


def _tested_per_image(select, dialect, bind=unbound):
    """EXISTS ``select``, tested on each image the list walks."""
    exists = peewee.fn.EXISTS(select)
    if dialect == 'mysql':
        # MariaDB turns a bare EXISTS into a semi-join read from the tag or
        # property side, then sorts all its matches (50,000 of a million for a
        # tag on 5% of the images). A filter that matches few drives the list
        # (``driven_by``); this one matches many, so walking the page order wins,
        # and a compared EXISTS stays a dependent subquery.
        return exists == bind(1)
    return exists


def _value_prefix(field):
    # Literal bounds: SQLite matches an expression index only on identical constants.
    return peewee.fn.SUBSTR(field, peewee.SQL('1'),
                            peewee.SQL(str(PROPERTY_VALUE_PREFIX)))


def _compare(field, op, value):
    return {'gt': operator.gt, 'gte': operator.ge, 'lt': operator.lt,
            'lte': operator.le, 'eq': operator.eq, 'neq': operator.ne}[op](field, value)


# MariaDB's generated column holding ``COALESCE(name, '')``, indexed (migration 16):
# it has no expression indexes, and sorting by the expression would sort every
# visible image.
MYSQL_NAME_SORT = peewee.Column(Image, m0016_mysql_list_columns.NAME_SORT)


def _sort_expression(key, dialect=None):
    if key == 'name' and dialect == 'mysql':
        return MYSQL_NAME_SORT
    field = getattr(Image, key)
    if key in _NULL_SORT_VALUES:
        # A literal, not a parameter: SQLite uses an expression index (migration 5
        # builds one for name) only for the same expression text.
        default = _NULL_SORT_VALUES[key]
        return peewee.fn.COALESCE(field, peewee.SQL(
            "''" if default == '' else str(int(default))))
    return field


def sort_value(image, key):
    """The value ``image`` (a mapping of its sort keys to its values) sorts by for
    ``key``, as the database compares it."""
    value = image[key]
    if value is None:
        return _NULL_SORT_VALUES.get(key)
    return value


# Keys whose plain column sorts as its COALESCE does on MariaDB (NULL first
# ascending, last descending, like the smallest value): no size is negative and no
# format is empty. MariaDB cannot index the COALESCE (migration 9 indexes these
# columns there), so it sorts by the column; keyset comparisons keep the COALESCE.
_MYSQL_PLAIN_SORT = ('size', 'disk_format', 'container_format')


def sort_terms(sort, dialect=None):
    """``(expression, direction)`` of each key of ``sort`` on ``dialect``, as the
    page is ordered."""
    return [(getattr(Image, key) if dialect == 'mysql' and key in _MYSQL_PLAIN_SORT
             else _sort_expression(key, dialect), direction) for key, direction in sort]


def order_by(sort, dialect=None):
    """ORDER BY terms for ``sort`` (``((key, dir), ...)``) on ``dialect``."""
    return [expression.asc() if direction == 'asc' else expression.desc()
            for expression, direction in sort_terms(sort, dialect)]


# Sort keys many images share a value of (a status, a format, the size of every
# image without data): each has an index of (key, id) (migration 9).
_SHARED_SORT_KEYS = ('status', 'disk_format', 'container_format', 'size')


def pages_by_level(sort, dialect):
    """Whether a page after a marker in ``sort`` order reads the rest of the
    marker's group and the groups after it each on its own (``marker_groups``),
    rather than ``after_marker``.

    ``after_marker`` bounds only the first key: for a key many images share, the
    bound starts at the top of the marker's group, and the page reads the group
    from there to the marker (100-440 ms half a million images deep on SQLite).
    The marker's group, ``k1 = m1 AND id < mid`` for a sort by one key, is a
    range of the ``(k1, id)`` index that starts at the marker
    (``marker_groups``, ``records._page_by_level``). MariaDB reads
    the OR of ``after_marker`` as those ranges itself (``_to_marker``)."""
    return dialect != 'mysql' and sort[0][0] in _SHARED_SORT_KEYS


def marker_levels(sort, marker, dialect=None, bind=unbound, columns=None):
    """The rows after the ``marker`` image in ``sort`` order, as one condition per
    level of the keyset: for keys k1..kn, the rows after it on k1, then those equal
    to it on k1 and after it on k2, ..., then those equal to it on k1..k(n-1) and
    after it on kn (``<`` for descending keys). See ``after_marker`` for
    ``marker`` and ``columns``."""
    levels = []
    for i, (key, direction) in enumerate(sort):
        terms = [_to_marker(k, operator.eq, marker, dialect, bind, columns)
                 for k, _ in sort[:i]]
        terms.append(_to_marker(key, operator.gt if direction == 'asc' else operator.lt,
                                marker, dialect, bind, columns))
        levels.append(_and(terms))
    return levels


def marker_groups(sort, marker, dialect=None, bind=unbound):
    """The rows after the ``marker`` image in ``sort`` order as two conditions, in
    page order: the rest of the marker's group (equal to it on the first key,
    after it on the others: ``marker_levels`` of the other keys), then the groups
    after it (``records._page_by_level``).

    Only the first key has an index of its own (``(key, id)``, migration 9): a
    sub-select per further level would read the marker's group again, and
    PostgreSQL plans each sub-select, with every filter of the list, on its own.
    A page of a sort by eight keys filtered on many properties took 2.8 s to plan
    (0.3 s as one keyset); the levels of a sort by one key are these two."""
    (first, direction), rest = sort[0], sort[1:]
    inside = _to_marker(first, operator.eq, marker, dialect, bind, None) \
        & _or(marker_levels(rest, marker, dialect, bind))
    after = _to_marker(first, operator.gt if direction == 'asc' else operator.lt,
                       marker, dialect, bind, None)
    return [inside, after]


def after_marker(sort, marker, dialect=None, bind=unbound, columns=None):
    """Rows that come after the ``marker`` image in ``sort`` order (keyset), on
    ``dialect``.

    For keys k1..kn: (k1 > m1) OR (k1 = m1 AND k2 > m2) OR ..., with ``<`` for the
    descending keys, and the bound that implies on k1 (k1 >= m1) stated too: SQLite
    and PostgreSQL read that as a range of the sort's index, where they tested the
    OR alone on each entry from the top (a page half a million images deep read
    them all: 45-290 ms). MariaDB does for most sorts, not for the default order,
    which it reads by ``os_hidden`` alone (docs/performance.rst). ``sort`` ends
    with ``id``, so no two rows tie.
    ``marker`` maps the sort keys to the marker image's values. ``columns`` maps
    keys to the columns compared instead of the images' own (copies of them
    elsewhere).
    """
    first, direction = sort[0]
    bound = _to_marker(first, operator.ge if direction == 'asc' else operator.le,
                       marker, dialect, bind, columns)
    return bound & _or(marker_levels(sort, marker, dialect, bind, columns))


def _to_marker(key, compare, marker, dialect, bind, columns):
    """``key compare marker's value``, as the page sorts (NULL as the key's
    ``_NULL_SORT_VALUES``).

    On MariaDB a key of ``_MYSQL_PLAIN_SORT`` compares its plain column, which
    its index holds: a comparison of the COALESCE read the whole index from the
    top (a page of sort=disk_format half a million images deep). NULL sorts
    below every value there, so it is tested as such. Which of the marker's
    values are NULL is part of the query's shape (``records.page_statement``)."""
    columns = columns or {}
    if key in columns:
        return compare(columns[key], bind(sort_value(marker, key)))
    if dialect != 'mysql' or key not in _MYSQL_PLAIN_SORT:
        return compare(_sort_expression(key, dialect), bind(sort_value(marker, key)))
    column, value = getattr(Image, key), marker[key]
    if value is None:
        return {operator.eq: column.is_null(), operator.le: column.is_null(),
                operator.gt: column.is_null(False), operator.ge: peewee.SQL('TRUE'),
                operator.lt: peewee.SQL('FALSE')}[compare]
    if compare in (operator.lt, operator.le):
        return compare(column, bind(value)) | column.is_null()
    return compare(column, bind(value))
