"""The list API's query parameters, parsed: filters, visibility, sort, limit, marker.

``parse_list_params`` turns the query string (``(key, value)`` pairs, as the public
Images API v2 takes them) into a ``ListQuery``, raising ``errors.BadRequest`` for
whatever upstream Glance answers 400 to. Pure: the registry turns a ``ListQuery``
into SQL (``glance_registry.images.filters``); the API uses the same vocabulary
(``is_property_filter``). Both daemons register ``limit_opts`` and size a page with
``page_size``.

Semantics mirror upstream's ``glance/api/v2/images.py`` (sorting, limit) and
``glance/common/utils.py`` (``split_filter_op``, ``split_filter_value_for_quotes``).
"""

import dataclasses
import datetime
import re

from oslo_config import cfg

from glance_registry.client import errors
from glance_registry.client import vocabulary

# Every error of the list parameters: reason invalid_value, field the parameter.
_invalid = errors.BadRequest.invalid_value

# Both daemons read these: the API clamps the limit it forwards, and the registry
# the limit any caller sends.
limit_opts = [
    cfg.IntOpt('limit_param_default', default=vocabulary.LIST_LIMIT_DEFAULT, min=1,
               help='Images per page of a list when the client gives no limit.'),
    cfg.IntOpt('api_limit_max', default=vocabulary.LIST_LIMIT_MAX, min=1,
               help='The largest page of a list; larger limits are reduced to it.'),
]

SORT_KEYS = ('name', 'status', 'container_format', 'disk_format', 'size', 'id',
             'created_at', 'updated_at')
SORT_DIRS = ('asc', 'desc')
DEFAULT_SORT = (('created_at', 'desc'),)

LIST_VISIBILITIES = vocabulary.VISIBILITIES + ('all',)
LIST_MEMBER_STATUSES = vocabulary.MEMBER_STATUSES + ('all',)

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


def parse_list_params(pairs, limit_default=vocabulary.LIST_LIMIT_DEFAULT,
                      limit_max=vocabulary.LIST_LIMIT_MAX):
    """A ``ListQuery`` from the query string's ``(key, value)`` pairs.

    Raises ``errors.BadRequest`` with a message naming the parameter at fault.
    """
    pairs = list(pairs)
    seen = set()
    for key, _value in pairs:
        if key in _SINGLE and key in seen:
            raise _invalid("Parameter '%s' may be given only once" % key, key)
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
            raise _invalid("The 'changes-since' filter is no longer "
                           "available on v2", 'changes-since')
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
            raise _invalid("Cannot filter on '%s'" % key, key)
        else:
            properties.append((key, value))
    if len(matches) + len(times) + len(tags) + len(properties) > MAX_FILTERS:
        raise _invalid('Too many filters: a list takes at most %d (tags, '
                       'properties and other filters together)' % MAX_FILTERS)
    return ListQuery(matches=tuple(matches), times=tuple(times), tags=tuple(tags),
                     properties=tuple(properties), **fields)


def page_size(limit, limit_default, limit_max):
    """The images a page of a list holds for the caller's ``limit`` (None: it gave
    none): ``limit_default``, or ``limit``, but never more than ``limit_max``."""
    return min(limit_default if limit is None else limit, limit_max)


def _parse_limit(value, default, maximum):
    limit = None
    if value is not None:
        limit = _integer('limit', value)
        if limit < 0:
            raise _invalid("Parameter 'limit' must be positive", 'limit')
    return page_size(limit, default, maximum)


def _parse_sort(pairs):
    """``((key, dir), ...)`` from ``sort`` or ``sort_key``/``sort_dir``, plus ``id``."""
    keys = [v.strip() for k, v in pairs if k == 'sort_key']
    dirs = [v.strip() for k, v in pairs if k == 'sort_dir']
    new = [v for k, v in pairs if k == 'sort']
    if new and (keys or dirs):
        raise _invalid("Parameter 'sort' cannot be combined with "
                       "'sort_key' or 'sort_dir'", 'sort')
    if new:
        sort = []
        for item in new[0].strip().split(','):
            key, _, direction = item.partition(':')
            sort.append((_sort_key(key.strip()), _sort_dir(direction.strip() or 'desc')))
    else:
        keys = [_sort_key(k) for k in keys]
        dirs = [_sort_dir(d) for d in dirs]
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise _invalid("The number of 'sort_dir' values does not match "
                           "the number of 'sort_key' values", 'sort_dir')
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
        raise _invalid("Invalid sort key '%s': use one of %s"
                       % (key, ', '.join(SORT_KEYS)))
    return key


def _sort_dir(direction):
    if direction not in SORT_DIRS:
        raise _invalid("Invalid sort direction '%s': use asc or desc"
                       % direction)
    return direction


def _choice(name, value, choices):
    if value not in choices:
        raise _invalid("Invalid '%s' value '%s': use one of %s"
                       % (name, value, ', '.join(choices)), name)
    return value


def _boolean(name, value):
    if value not in ('true', 'false'):
        raise _invalid("Parameter '%s' must be 'true' or 'false'" % name, name)
    return value == 'true'


# oslo.utils strutils.bool_from_string(strict=True), which upstream applies to
# os_hidden (openstacksdk sends "True").
_TRUE_STRINGS = ('1', 't', 'true', 'on', 'y', 'yes')
_FALSE_STRINGS = ('0', 'f', 'false', 'off', 'n', 'no')


def _lenient_boolean(name, value):
    lowered = value.strip().lower()
    if lowered not in _TRUE_STRINGS + _FALSE_STRINGS:
        raise _invalid("Parameter '%s' must be a boolean (true or false)"
                       % name, name)
    return lowered in _TRUE_STRINGS


def _integer(name, value, message=None):
    # int() alone would take ' 1_000 ' and non-ASCII digits.
    if not re.fullmatch(r'-?[0-9]{1,19}', value) or abs(int(value)) > _INT_MAX:
        raise _invalid(message or "Parameter '%s' must be an integer" % name, name)
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
        # A value twice matches nothing more; kept once, the SQL text of a list
        # depends on its distinct values alone (``filters.values_apart``).
        return tuple(dict.fromkeys(split_filter_value_for_quotes(key, operand)))
    if op == 'eq':
        return (operand,)
    raise _invalid("Unable to filter '%s' by unknown operator '%s'"
                   % (key, op), key)


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
            raise _invalid("Invalid '%s' filter value %s: no comma before "
                           "the opening quotation mark" % (key, value), key)
        if not opening and i + 1 != len(value) and value[i + 1] != ',':
            raise _invalid("Invalid '%s' filter value %s: no comma after "
                           "the closing quotation mark" % (key, value), key)
        opening = not opening
    if not opening:
        raise _invalid("Invalid '%s' filter value %s: the quotation mark "
                       "is not closed" % (key, value), key)


def _parse_time_filter(key, value):
    op, operand = split_filter_op(value)
    if op not in _TIME_OPS:
        raise _invalid("Unable to filter '%s' by unknown operator '%s'"
                       % (key, op), key)
    when = parse_time(operand)
    if when is None:
        raise _invalid("Bad '%s' query filter format: use ISO 8601 date "
                       "and time notation" % key, key)
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
