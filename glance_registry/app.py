"""The registry's WSGI application: dispatch over the one routes table, and the one
error boundary.

``create_app(conf)`` opens the database and returns the application; nothing happens
at import time. Every request except ``GET /healthcheck`` must carry a valid identity
signature, or a Keystone service token where accepted (``auth.authenticate``), before
anything else is done. ``glance_registry.routes`` names the handler; handlers validate
the request strictly (``glance_registry.validation``), call the image operations and
answer JSON; ``Registry.__call__`` turns every error into the JSON error body of
docs/registry-api.rst, in one place.
"""

import logging

import orjson
import peewee
import webob

from glance_registry import auth
from glance_registry import db as db_module
from glance_registry import guard
from glance_registry import metrics
from glance_registry import process
from glance_registry import request_ids
from glance_registry import responses
from glance_registry import routes
from glance_registry import validation
from glance_registry.client import errors
from glance_registry.client import vocabulary


LOG = logging.getLogger(__name__)


class Registry:
    """The registry WSGI application over ``db``."""

    def __init__(self, db, secret, limit_default=vocabulary.LIST_LIMIT_DEFAULT,
                 limit_max=vocabulary.LIST_LIMIT_MAX,
                 accept_service_tokens=False, guard=None):
        self.db = db
        # What every write is checked against (glance_registry.guard).
        self.guard = guard
        self.secret = secret
        self.limit_default = limit_default
        self.limit_max = limit_max
        # Only behind keystonemiddleware (auth.wrap) may a token be trusted.
        self.accept_service_tokens = accept_service_tokens

    def __call__(self, environ, start_response):
        request = webob.Request(environ)
        # The API's request id, so one id traces a request through both daemons' logs.
        request_id = (request.headers.get(request_ids.REQUEST_ID_HEADER)
                      or request_ids.new_request_id())
        global_request_id = request_ids.global_request_id(
            request.headers.get(request_ids.GLOBAL_REQUEST_ID_HEADER))
        process.bind_request(request_id, global_request_id=global_request_id)
        try:
            response = self._dispatch(request, request_id, global_request_id)
        except errors.RegistryError as exc:
            response = responses.error(exc)
        except (peewee.DatabaseError, peewee.InterfaceError) as exc:
            response = self._database_error(request, request_id, exc)
        except Exception:
            LOG.exception('%s %s failed (request %s)', request.method, _path(environ),
                          request_id)
            response = responses.error(errors.RegistryError(
                'Internal error; the registry log has the details of request %s'
                % request_id, reason='internal_error', request_id=request_id))
        response.headers[request_ids.REQUEST_ID_HEADER] = request_id
        return response(environ, start_response)

    def _dispatch(self, request, request_id, global_request_id=None):
        try:
            path = request.path_info
        except UnicodeDecodeError:
            raise errors.BadRequest('The request path is not UTF-8',
                                    reason='invalid_request') from None
        if '\x00' in path:
            # PostgreSQL cannot even compare text holding NUL.
            raise errors.BadRequest('The request path contains a NUL character',
                                    reason='invalid_request')
        if path != '/healthcheck':
            caller = auth.authenticate(request, self.secret, self.accept_service_tokens)
            process.bind_request(request_id, caller.user_id, caller.project_id,
                                 global_request_id)
        else:
            caller = None
        by_token = caller is not None and auth.by_token(request,
                                                        self.accept_service_tokens)
        allowed = []
        for route in routes.ROUTES:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            if route.method != request.method:
                allowed.append(route.method)
                continue
            request.environ[metrics.ROUTE_ENVIRON] = metrics.route_label(
                route.pattern.pattern)
            if route.authenticated and caller is None:
                raise errors.Unauthorized('missing registry credentials',
                                          reason='invalid_credentials')
            if not getattr(route.handler, 'handles_query', False):
                validation.refuse_query(request)
            with db_module.connection(self.db):
                response = route.handler(self, request, caller, **match.groupdict())
            if (by_token and path.startswith('/v1/images')
                    and response.status_code < 300
                    and response.content_type == 'application/json'):
                response = responses.json(self.guard.token_view(
                    caller, orjson.loads(response.body)), response.status_code)
            return response
        if allowed:
            response = responses.error(errors.MethodNotAllowed(
                'Method %s is not allowed on %s' % (request.method, path),
                reason='method_not_allowed'))
            response.headers['Allow'] = ', '.join(sorted(set(allowed)))
            return response
        raise errors.NotFound('No such resource: %s' % path, reason='resource_not_found')

    def _database_error(self, request, request_id, exc):
        if _is_unavailable(exc):
            LOG.warning('%s %s: database unavailable (request %s): %s',
                        request.method, _path(request.environ), request_id,
                        db_module.cause(exc))
            return responses.error(errors.Unavailable(db_module.error_message(exc),
                                                      reason='database_unavailable'))
        LOG.error('%s %s: database error (request %s)', request.method,
                  _path(request.environ), request_id, exc_info=exc)
        return responses.error(errors.RegistryError(
            'Internal database error; the registry log has the details of request %s'
            % request_id, reason='database_error', request_id=request_id))


def _path(environ):
    # For log lines: the raw path, which (unlike webob's) cannot fail to decode.
    return environ.get('PATH_INFO', '')


def _is_unavailable(exc):
    if isinstance(exc, (peewee.OperationalError, peewee.InterfaceError)):
        return True
    # PostgreSQL hot standby: "cannot execute INSERT in a read-only transaction".
    return 'read-only' in str(exc).lower()


def pool_size(conf):
    """Connections a registry worker may hold at once: one per request thread,
    or upstream's SQLAlchemy bound, ``max_pool_size`` plus ``max_overflow``."""
    database = conf.database
    if not database.max_pool_size:
        return conf.threads
    return database.max_pool_size + database.max_overflow


def create_app(conf, store_set=None):
    """The registry application for ``conf``: opens (lazily) the configured database,
    guards it with the configured rules (``glance_registry.guard``); behind
    keystonemiddleware when ``conf`` accepts service tokens. ``store_set`` (a
    ``stores.StoreSet``) replaces the stores ``conf`` describes, for tests."""
    db = db_module.open_database(
        conf.database.connection,
        max_connections=pool_size(conf),
        pool_timeout=conf.database.pool_timeout,
        recycle=conf.database.connection_recycle_time,
        sqlite_busy_timeout=conf.database.sqlite_busy_timeout,
        lock_wait_timeout=conf.database.lock_wait_timeout)
    registry = Registry(db, conf.registry_auth_secret, conf.limit_param_default,
                        conf.api_limit_max,
                        accept_service_tokens=conf.accept_service_tokens,
                        guard=guard.Guard.from_config(conf, store_set))
    return metrics.Endpoint(auth.wrap(registry, conf))
