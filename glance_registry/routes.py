"""The registry's one routes table: every operation it serves, method and path to
handler.

Each feature contributes its rows, ``(method, path pattern, handler,
authenticated)``: the image resources' are ``glance_registry.images.handlers.ROUTES``,
the metadata definitions catalog's ``glance_registry.metadefs.handlers.ROUTES``; a
new feature (tasks) adds its own module of handlers and its rows here. Patterns match the whole path; a named group becomes a
handler argument.
"""

import collections
import re

import webob

from glance_registry import cache_queue
from glance_registry import db as db_module
from glance_registry.images import handlers as image_handlers
from glance_registry.metadefs import handlers as metadef_handlers

Route = collections.namedtuple('Route', 'method pattern handler authenticated')


def healthcheck(app, request, caller):
    """200 ``OK`` when the database answers a query; 503 otherwise."""
    db_module.ping(app.db)
    return webob.Response(body=b'OK', content_type='text/plain', charset=None)


def _table(*features):
    return tuple(Route(method, re.compile(pattern, re.DOTALL), handler, authenticated)
                 for rows in features
                 for method, pattern, handler, authenticated in rows)


ROUTES = _table(
    (('GET', r'/healthcheck', healthcheck, False),),
    image_handlers.ROUTES,
    metadef_handlers.ROUTES,
    cache_queue.ROUTES,
)
