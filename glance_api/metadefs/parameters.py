"""The query parameters of the catalog's lists, checked with upstream's messages."""

from flask import request

from glance_api.http import errors, paging

SORT_DIRS = ('asc', 'desc')


def single(name, default=None):
    """The request's value of the query parameter ``name`` (``paging.single``)."""
    return paging.single(request.args, name, default)


def sort_dir():
    value = single('sort_dir', 'desc')
    if value not in SORT_DIRS:
        raise errors.BadRequest('Invalid sort direction: %s' % value)
    return value


def visibility(allowed):
    value = single('visibility')
    if value and value not in allowed:
        raise errors.BadRequest('Invalid visibility value: %s' % value)
    return value or None


def limit(default=None, maximum=paging.UNBOUNDED, zero=True):
    """The request's ``limit`` (``paging.limit``)."""
    return paging.limit(single('limit'), default, maximum, zero)


def true(value):
    """A header's boolean as upstream reads it (oslo's ``bool_from_string``)."""
    return (value or '').strip().lower() in ('1', 't', 'true', 'on', 'y', 'yes')
