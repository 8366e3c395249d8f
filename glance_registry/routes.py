"""The registry's one routes table: every operation it serves, method and path to
handler.

Each feature contributes its rows, ``(method, path pattern, handler,
authenticated)``: the image resources' are ``glance_registry.images.handlers.ROUTES``,
the metadata definitions catalog's ``glance_registry.metadefs.handlers.ROUTES``; a
new feature (tasks) adds its own module of handlers and its rows here. Patterns match the whole path; a named group becomes a
handler argument. A handler that takes query parameters is marked
``validation.handles_query``; a query to any other is 400 (``Unknown parameter``).
"""

import collections
import re

import webob

from glance_registry import cache_copies
from glance_registry import cache_queue
from glance_registry import db as db_module
from glance_registry import validation
from glance_registry.images import handlers as image_handlers
from glance_registry.metadefs import handlers as metadef_handlers
from glance_registry.tasks import handlers as task_handlers

Route = collections.namedtuple('Route', 'method pattern handler authenticated')


# Reads none, but a load balancer's probe may add a query (a cache buster): a
# 400 would take a healthy registry out of service.
@validation.handles_query
def healthcheck(app, request, caller):
    """200 ``OK`` when the database can be written (a row updated and committed: a
    read-only or full database answers reads happily); 503 otherwise. Unsigned at
    ``/healthcheck`` for load balancers; signed at ``/v1/health``, so the API's
    health check proves its credentials too. A query string is ignored."""
    db_module.check_writable(app.db)
    return webob.Response(body=b'OK', content_type='text/plain', charset=None)


def _table(*features):
    return tuple(Route(method, re.compile(pattern, re.DOTALL), handler, authenticated)
                 for rows in features
                 for method, pattern, handler, authenticated in rows)


ROUTES = _table(
    (('GET', r'/healthcheck', healthcheck, False),
     ('GET', r'/v1/health', healthcheck, True)),
    image_handlers.ROUTES,
    metadef_handlers.ROUTES,
    cache_queue.ROUTES,
    cache_copies.ROUTES,
    task_handlers.ROUTES,
)
