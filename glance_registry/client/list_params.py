"""From the list API's query parameters to SQL: filters, visibility, sort, keyset.

``parse_list_params`` turns the query string (``(key, value)`` pairs, as the public
Images API v2 takes them) into a ``ListQuery``, raising ``errors.BadRequest`` for
whatever upstream Glance answers 400 to. ``list_condition``, ``order_by`` and
``after_marker`` turn a ``ListQuery`` into peewee expressions; ``visible_to`` is the
row-level visibility every operation applies.

Semantics mirror upstream's ``glance/api/v2/images.py`` (sorting, limit),
``glance/db/sqlalchemy/api.py`` (``_make_conditions_from_filters``,
``_select_images_query``) and ``glance/common/utils.py`` (``split_filter_op``,
``split_filter_value_for_quotes``).
"""

import dataclasses
import datetime
import functools
import operator
import re

import peewee

from glance_registry import errors
from glance_registry.models import Image
from glance_registry.models import ImageMember
from glance_registry.models import ImageProperty
from glance_registry.models import ImageTag

SORT_KEYS = ('name', 'status', 'container_format', 'disk_format', 'size', 'id',
             'created_at', 'updated_at')
SORT_DIRS = ('asc', 'desc')
DEFAULT_SORT = (('created_at', 'desc'),)

VISIBILITIES = ('public', 'private', 'shared', 'community')
LIST_VISIBILITIES = VISIBILITIES + ('all',)
MEMBER_STATUSES = ('pending', 'accepted', 'rejected')
LIST_MEMBER_STATUSES = MEMBER_STATUSES + ('all',)

# Filters that take exact values or ``in:a,b,"c, d"``.
_IN_FILTERS = ('name', 'id', 'status', 'container_format', 'disk_format')
# Filters on a column by plain equality (upstream's generic column branch).
_EQ_FILTERS = ('owner', 'checksum', 'os_hash_value', 'os_hash_algo')
_INT_EQ_FILTERS = ('min_disk', 'min_ram', 'size', 'virtual_size')
_TIME_FILTERS = ('created_at', 'updated_at')
_TIME_OPS = ('gt', 'gte', 'lt', 'lte', 'eq', 'neq')
# Attributes of the image record that no filter reaches.
_UNFILTERABLE = ('deleted', 'deleted_at', 'locations', 'properties', 'tags')
# Parameters that page, sort or scope a list rather than filter it.
_CONTROLS = ('limit', 'marker', 'sort', 'sort_key', 'sort_dir', 'visibility',
             'member_status', 'os_hidden', 'protected', 'size_min', 'size_max')
_SINGLE = frozenset(('limit', 'marker', 'sort', 'visibility', 'member_status',
                     'size_min', 'size_max', 'os_hidden', 'protected')
                    + _IN_FILTERS + _EQ_FILTERS + _INT_EQ_FILTERS + _TIME_FILTERS)

# NULL sorts as these values on every backend (they differ in where NULLs go), and
# the keyset comparison uses the same values, so pagination is exact.
_NULL_SORT_VALUES = {'name': '', 'container_format': '', 'disk_format': '',
                     'size': -1}

# Property filters compare a value prefix too, so that the (name, prefix) index that
# the initial migration builds is usable (values may exceed an index entry).
PROPERTY_VALUE_PREFIX = 255

_INT_MAX = 2 ** 63 - 1


def is_property_filter(key):
    """Whether the list parameter ``key`` filters on a custom property."""
    return key not in _NOT_PROPERTIES


_NOT_PROPERTIES = frozenset(
    _CONTROLS + ('changes-since', 'tag') + _IN_FILTERS + _EQ_FILTERS + _INT_EQ_FILTERS
    + _TIME_FILTERS + _UNFILTERABLE)

# Filters (tags, properties, and others) one list may combine. Each is a term of
# the WHERE clause: a few hundred overflow SQLite's parser stack and, beyond,
# Python's recursion limit while the query is built; no real client sends 32.
MAX_FILTERS = 32


@dataclasses.dataclass(frozen=True)
class ListQuery:
    """A parsed list request. ``sort`` ends with the ``id`` tie-breaker."""

    limit: int
    marker: str | None = None
    sort: tuple = DEFAULT_SORT + (('id', 'desc'),)
    visibility: str | None = None
    member_status: str = 'accepted'
    os_hidden: bool = False
    protected: bool | None = None
    size_min: int | None = None
    size_max: int | None = None
    # ((column, (value, ...)), ...): the column equals one of the values.
    matches: tuple = ()
    # ((column, op, datetime), ...)
    times: tuple = ()
    tags: tuple = ()
    # ((name, value), ...)
    properties: tuple = ()


def parse_list_params(pairs, limit_default=25, limit_max=1000):
    """A ``ListQuery`` from the query string's ``(key, value)`` pairs.

    Raises ``errors.BadRequest`` with a message naming the parameter at fault.
    """
    pairs = list(pairs)
    seen = set()
    for key, _value in pairs:
        if key in _SINGLE and key in seen:
            raise errors.BadRequest("Parameter '%s' may be given only once" % key)
        seen.add(key)
    single = {k: v for k, v in pairs if k in _SINGLE}
    fields = {'limit': _parse_limit(single.get('limit'), limit_default, limit_max),
              'sort': _parse_sort(pairs)}
    if 'marker' in single:
        fields['marker'] = single['marker']
    if 'visibility' in single:
        fields['visibility'] = _choice('visibility', single['visibility'],
                                       LIST_VISIBILITIES)
    if 'member_status' in single:
        fields['member_status'] = _choice('member_status', single['member_status'],
                                          LIST_MEMBER_STATUSES)
    if 'os_hidden' in single:
        fields['os_hidden'] = _lenient_boolean('os_hidden', single['os_hidden'])
    if 'protected' in single:
        fields['protected'] = _boolean('protected', single['protected'])
    for key in ('size_min', 'size_max'):
        if key in single:
            fields[key] = _integer(key, single[key],
                                   "Parameter '%s': unable to filter on a range with "
                                   "a non-numeric value" % key)
    matches, times, tags, properties = [], [], [], []
    for key, value in pairs:
        if key in _CONTROLS:
            continue
        if key == 'changes-since':
            raise errors.BadRequest("The 'changes-since' filter is no longer "
                                    "available on v2")
        if key in _IN_FILTERS:
            matches.append((key, _parse_in_filter(key, value)))
        elif key in _EQ_FILTERS:
            matches.append((key, (value,)))
        elif key in _INT_EQ_FILTERS:
            matches.append((key, (_integer(key, value),)))
        elif key in _TIME_FILTERS:
            times.append((key,) + _parse_time_filter(key, value))
        elif key == 'tag':
            tags.append(value)
        elif key in _UNFILTERABLE:
            raise errors.BadRequest("Cannot filter on '%s'" % key)
        else:
            properties.append((key, value))
    if len(matches) + len(times) + len(tags) + len(properties) > MAX_FILTERS:
        raise errors.BadRequest('Too many filters: a list takes at most %d (tags, '
                                'properties and other filters together)' % MAX_FILTERS)
    return ListQuery(matches=tuple(matches), times=tuple(times), tags=tuple(tags),
                     properties=tuple(properties), **fields)


def _parse_limit(value, default, maximum):
    if value is None:
        return min(default, maximum)
    limit = _integer('limit', value)
    if limit < 0:
        raise errors.BadRequest("Parameter 'limit' must be positive")
    return min(limit, maximum)


def _parse_sort(pairs):
    """``((key, dir), ...)`` from ``sort`` or ``sort_key``/``sort_dir``, plus ``id``."""
    keys = [v.strip() for k, v in pairs if k == 'sort_key']
    dirs = [v.strip() for k, v in pairs if k == 'sort_dir']
    new = [v for k, v in pairs if k == 'sort']
    if new and (keys or dirs):
        raise errors.BadRequest("Parameter 'sort' cannot be combined with "
                                "'sort_key' or 'sort_dir'")
    if new:
        sort = []
        for item in new[0].strip().split(','):
            key, _, direction = item.partition(':')
            sort.append((_sort_key(key.strip()), _sort_dir(direction.strip() or 'desc')))
    else:
        keys = [_sort_key(k) for k in keys]
        dirs = [_sort_dir(d) for d in dirs]
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise errors.BadRequest("The number of 'sort_dir' values does not match "
                                    "the number of 'sort_key' values")
        keys = keys or ['created_at']
        dirs = dirs or ['desc']
        if len(dirs) == 1:
            dirs = dirs * len(keys)
        sort = list(zip(keys, dirs))
    unique = []
    for key, direction in sort:
        if key not in (k for k, _ in unique):
            unique.append((key, direction))
    if 'id' not in (k for k, _ in unique):
        # Upstream's tie-breaker: id, descending.
        unique.append(('id', 'desc'))
    return tuple(unique)


def _sort_key(key):
    if key not in SORT_KEYS:
        raise errors.BadRequest("Invalid sort key '%s': use one of %s"
                                % (key, ', '.join(SORT_KEYS)))
    return key


def _sort_dir(direction):
    if direction not in SORT_DIRS:
        raise errors.BadRequest("Invalid sort direction '%s': use asc or desc"
                                % direction)
    return direction


def _choice(name, value, choices):
    if value not in choices:
        raise errors.BadRequest("Invalid '%s' value '%s': use one of %s"
                                % (name, value, ', '.join(choices)))
    return value


def _boolean(name, value):
    if value not in ('true', 'false'):
        raise errors.BadRequest("Parameter '%s' must be 'true' or 'false'" % name)
    return value == 'true'


# oslo.utils strutils.bool_from_string(strict=True), which upstream applies to
# os_hidden (openstacksdk sends "True").
_TRUE_STRINGS = ('1', 't', 'true', 'on', 'y', 'yes')
_FALSE_STRINGS = ('0', 'f', 'false', 'off', 'n', 'no')


def _lenient_boolean(name, value):
    lowered = value.strip().lower()
    if lowered not in _TRUE_STRINGS + _FALSE_STRINGS:
        raise errors.BadRequest("Parameter '%s' must be a boolean (true or false)"
                                % name)
    return lowered in _TRUE_STRINGS


def _integer(name, value, message=None):
    # int() alone would take ' 1_000 ' and non-ASCII digits.
    if not re.fullmatch(r'-?[0-9]{1,19}', value) or abs(int(value)) > _INT_MAX:
        raise errors.BadRequest(message or "Parameter '%s' must be an integer" % name)
    return int(value)


def split_filter_op(expression):
    """``(operator, operand)`` of a filter value, as upstream splits it.

    ``op:operand``; no operator means ``eq``. A whole value that parses as an ISO 8601
    time is an ``eq`` operand even though it contains colons.
    """
    left, sep, right = expression.partition(':')
    if not sep:
        return 'eq', expression
    if parse_time(expression) is not None:
        return 'eq', expression
    return left, right


def _parse_in_filter(key, value):
    op, operand = split_filter_op(value)
    if op == 'in':
        return tuple(split_filter_value_for_quotes(key, operand))
    if op == 'eq':
        return (operand,)
    raise errors.BadRequest("Unable to filter '%s' by unknown operator '%s'"
                            % (key, op))


_IN_VALUES = re.compile(r'''
    "(                  # a double-quoted value:
       [^"\\]*          #   characters other than quotes and backslashes,
       (?:\\.[^"\\]*)*  #   and backslash-escaped characters
     )",?               # then an optional comma
    | ([^,]+),?         # or an unquoted value up to a comma
    | ,                 # or an empty value
    ''', re.VERBOSE)


def split_filter_value_for_quotes(key, value):
    """The values of an ``in:`` filter: comma-separated, double quotes protect commas."""
    _validate_quotes(key, value)
    return [quoted or plain for quoted, plain in _IN_VALUES.findall(value)]


def _validate_quotes(key, value):
    opening = True
    for i, char in enumerate(value):
        if char != '"' or (i and value[i - 1] == '\\'):
            continue
        if opening and i and value[i - 1] != ',':
            raise errors.BadRequest("Invalid '%s' filter value %s: no comma before "
                                    "the opening quotation mark" % (key, value))
        if not opening and i + 1 != len(value) and value[i + 1] != ',':
            raise errors.BadRequest("Invalid '%s' filter value %s: no comma after "
                                    "the closing quotation mark" % (key, value))
        opening = not opening
    if not opening:
        raise errors.BadRequest("Invalid '%s' filter value %s: the quotation mark "
                                "is not closed" % (key, value))


def _parse_time_filter(key, value):
    op, operand = split_filter_op(value)
    if op not in _TIME_OPS:
        raise errors.BadRequest("Unable to filter '%s' by unknown operator '%s'"
                                % (key, op))
    when = parse_time(operand)
    if when is None:
        raise errors.BadRequest("Bad '%s' query filter format: use ISO 8601 date "
                                "and time notation" % key)
    return op, when


def parse_time(text):
    """A naive UTC ``datetime`` from ISO 8601 text, or None if it is not one."""
    if not text or not text[0].isdigit():
        return None
    if text[-1:] in ('Z', 'z'):
        text = text[:-1] + '+00:00'
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is not None:
        try:
            when = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        except OverflowError:   # e.g. 9999-12-31T23:59:59-01:00: past year 9999
            return None
    return when


# -- SQL ---------------------------------------------------------------------------

def _and(conditions):
    return functools.reduce(operator.and_, conditions)


def _or(conditions):
    return functools.reduce(operator.or_, conditions)


def _member_of(project, member_status=None):
    """The image is shared with ``project`` (in ``member_status``, unless None)."""
    members = (ImageMember.select(peewee.SQL('1'))
               .where((ImageMember.image == Image.id) & (ImageMember.member == project)))
    if member_status is not None:
        members = members.where(ImageMember.status == member_status)
    return peewee.fn.EXISTS(members)


def visible_to(identity):
    """The rows ``identity`` may see at all (get, update, delete, marker).

    Admins see every image; others their own, public and community images, and
    shared images their project is a member of (any member status).
    """
    condition = Image.deleted == False  # noqa: E712 (SQL, not Python)
    if identity.is_admin:
        return condition
    visible = [Image.visibility.in_(('public', 'community'))]
    if identity.project_id:
        visible.append(Image.owner == identity.project_id)
        visible.append((Image.visibility == 'shared') & _member_of(identity.project_id))
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


def _listed_for(identity, visibility, member_status, dialect=None):
    """Which visible images a list shows, following upstream's rules.

    Without ``visibility``: public, own, and shared-with-me in ``member_status``;
    never other projects' community images (admins too). ``community`` lists every
    community image; ``all`` everything visible, shared ones per ``member_status``.
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
    conditions = [Image.deleted == False]  # noqa: E712
    if visibility is None:
        conditions.append(visibility_column != 'community'
                          if not identity.project_id else
                          (visibility_column != 'community')
                          | (owner_column == identity.project_id))
    elif visibility != 'all':
        conditions.append(Image.visibility == visibility)
    if identity.is_admin:
        return _and(conditions)
    listed = [visibility_column.in_(('public', 'community'))]
    if identity.project_id:
        listed.append(owner_column == identity.project_id)
        listed.append((visibility_column == 'shared')
                      & _member_of(identity.project_id, status))
    conditions.append(_or(listed))
    return _and(conditions)


def _unindexed(field):
    return peewee.NodeList((peewee.SQL('+'), field), glue='')


def list_condition(query, identity, dialect=None):
    """The WHERE clause of a list: visibility and every filter of ``query``, for
    the database ``dialect`` (see ``_listed_for``)."""
    conditions = [_listed_for(identity, query.visibility, query.member_status,
                              dialect),
                  Image.os_hidden == query.os_hidden]
    if query.protected is not None:
        conditions.append(Image.protected == query.protected)
    if query.size_min is not None:
        conditions.append(Image.size >= query.size_min)
    if query.size_max is not None:
        conditions.append(Image.size <= query.size_max)
    for column, values in query.matches:
        field = getattr(Image, column)
        if column == 'status' and dialect == 'sqlite':
            # A handful of statuses, most images active: without statistics SQLite
            # takes the status index and sorts every match (5,000 images: 1.6 ms,
            # against 0.02 ms walking the sort's index and filtering).
            field = _unindexed(field)
        conditions.append(field == values[0] if len(values) == 1 else field.in_(values))
    for column, op, when in query.times:
        conditions.append(_compare(getattr(Image, column), op, when))
    for tag in query.tags:
        conditions.append(peewee.fn.EXISTS(
            ImageTag.select(peewee.SQL('1'))
            .where((ImageTag.image == Image.id) & (ImageTag.value == tag))))
    for name, value in query.properties:
        prefix = value[:PROPERTY_VALUE_PREFIX]
        conditions.append(peewee.fn.EXISTS(
            ImageProperty.select(peewee.SQL('1'))
            .where((ImageProperty.image == Image.id) & (ImageProperty.name == name)
                   & (_value_prefix(ImageProperty.value) == prefix)
                   & (ImageProperty.value == value))))
    return _and(conditions)


def _value_prefix(field):
    # Literal bounds: SQLite matches an expression index only on identical constants.
    return peewee.fn.SUBSTR(field, peewee.SQL('1'),
                            peewee.SQL(str(PROPERTY_VALUE_PREFIX)))


def _compare(field, op, value):
    return {'gt': operator.gt, 'gte': operator.ge, 'lt': operator.lt,
            'lte': operator.le, 'eq': operator.eq, 'neq': operator.ne}[op](field, value)


def _sort_expression(key):
    field = getattr(Image, key)
    if key in _NULL_SORT_VALUES:
        # A literal, not a parameter: SQLite uses an expression index (migration 5
        # builds one for name) only for the same expression text.
        default = _NULL_SORT_VALUES[key]
        return peewee.fn.COALESCE(field, peewee.SQL(
            "''" if default == '' else str(int(default))))
    return field


def sort_value(image, key):
    """The value ``image`` sorts by for ``key``, as the database compares it."""
    value = getattr(image, key)
    if value is None:
        return _NULL_SORT_VALUES.get(key)
    return value


def order_by(sort):
    """ORDER BY terms for ``sort`` (``((key, dir), ...)``)."""
    return [_sort_expression(key).asc() if direction == 'asc'
            else _sort_expression(key).desc() for key, direction in sort]


def after_marker(sort, marker):
    """Rows that come after the ``marker`` image in ``sort`` order (keyset).

    For keys k1..kn: (k1 > m1) OR (k1 = m1 AND k2 > m2) OR ..., with ``<`` for the
    descending keys. ``sort`` ends with ``id``, so no two rows tie.
    """
    clauses = []
    for i, (key, direction) in enumerate(sort):
        terms = [_sort_expression(k) == sort_value(marker, k) for k, _ in sort[:i]]
        compare = operator.gt if direction == 'asc' else operator.lt
        terms.append(compare(_sort_expression(key), sort_value(marker, key)))
        clauses.append(_and(terms))
    return _or(clauses)
