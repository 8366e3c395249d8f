"""The query parameters of the catalog's lists, checked with upstream's messages."""

from flask import request

from glance_api.http import errors

SORT_DIRS = ('asc', 'desc')


def sort_dir():
    value = request.args.get('sort_dir', 'desc')
    if value not in SORT_DIRS:
        raise errors.BadRequest('Invalid sort direction: %s' % value)
    return value


def visibility(allowed):
    value = request.args.get('visibility')
    if value and value not in allowed:
        raise errors.BadRequest('Invalid visibility value: %s' % value)
    return value or None


# What a list without a maximum (tags) is asked for at most: more than any
# namespace holds, and small enough for every database's LIMIT (and the
# registry, which takes at most 18 digits).
_UNBOUNDED = 2 ** 31 - 1


def limit(default=None, maximum=None, zero=True):
    """The ``limit`` parameter (``default`` without one), at most ``maximum``; 400
    unless an integer, negative, or (``zero`` false) 0."""
    value = request.args.get('limit')
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise errors.BadRequest('limit param must be an integer') from None
    if number < 0 or (number == 0 and not zero):
        raise errors.BadRequest('limit param must be positive')
    return min(number, _UNBOUNDED if maximum is None else maximum)


def true(value):
    """A header's boolean as upstream reads it (oslo's ``bool_from_string``)."""
    return (value or '').strip().lower() in ('1', 't', 'true', 'on', 'y', 'yes')
