"""The application factory: builds the Flask app from an oslo.config object.

``create_app`` is the one composition root: it wires the registry client, the stores,
the schemas, policy, quotas and property protections into a ``Services`` record and
adds the routes of ``glance_api.v2.routes``. It starts nothing (no thread, no
connection): what a worker runs besides requests starts from ``start_worker``, which
``glance_api.cmd`` calls once in each worker process.
"""

import functools
import logging

from flask import Flask, g, request

import stores
from glance_api import notifications
from glance_api.access import context, policy, protections, quotas
from glance_api.data import (deleted_data, import_filtering, runner, staging,
                             staging_sweep, store_data)
from glance_api.data.cache import copies, housekeeping, image_cache
from glance_api.http import (auth, cors, errors, healthcheck, keepalive, proxy,
                             request_ids, route_rules)
from glance_api.images import schemas
from glance_api.services import Services
from glance_api.v2 import messages, routes, versions
from glance_registry import metrics, process
from glance_registry.client import RegistryClient

LOG = logging.getLogger(__name__)


def check_directories_apart(conf, store_set, staging_store):
    """``stores.errors.BadConfiguration`` if the staging directory or the image
    cache's is a store's data directory: all of them name files after their
    image."""
    staging.check_apart(staging_store, store_set)
    if conf.image_cache_dir:
        # Before the cache makes its index and incomplete/ in that directory.
        image_cache.check_apart(conf.image_cache_dir, {
            store.store_id: store.datadir for store in [*store_set, staging_store]
            if store is not None and getattr(store, 'datadir', None) is not None})


def create_app(conf, registry=None, store_set=None, staging_store=None):
    """A Flask app serving the Images API v2 as ``conf`` says.

    ``registry`` (a ``RegistryClient``), ``store_set`` (a ``stores.StoreSet``) and
    ``staging_store`` (a ``stores.Store``) replace the ones ``conf`` describes, for
    tests.
    """
    app = Flask('glance_api')
    # As upstream's router: '/v2/images/' is not '/v2/images' and '//' is not '/'
    # (404, never a redirect to another URL).
    app.url_map.strict_slashes = True
    app.url_map.merge_slashes = False
    enforcer = policy.new_enforcer(conf)
    registry = registry or RegistryClient.from_config(conf)
    # Checked (and probed) before the workers started (glance_api.cmd): a worker
    # started later keeps serving when one store has failed since.
    store_set = store_set or stores.StoreSet.from_config(
        conf, probe=False, url_policy=import_filtering.url_policy(conf), strict=False)
    staging_store = staging_store or staging.from_conf(conf, probe=False, strict=False)
    check_directories_apart(conf, store_set, staging_store)
    app.extensions['glance'] = Services(
        conf=conf,
        registry=registry,
        stores=store_set,
        schemas=schemas.Schemas(conf),
        policy=enforcer,
        quotas=quotas.Quotas(conf),
        protections=protections.PropertyProtections.from_config(conf, enforcer),
        cache=image_cache.ImageCache.from_config(
            conf, reports=copies.CopyReports(registry, copies.node_name(conf))),
        runner=runner.Runner.from_conf(conf),
        staging=staging_store,
        notifier=notifications.Notifier(conf))
    bodiless = routes.bodiless_endpoints()

    @app.before_request
    def _build_context():
        g.request_id = request_ids.request_id(request.environ)
        g.context = context.context_for(
            request.headers, g.request_id, conf,
            is_admin=functools.partial(policy.passes_admin_rule, enforcer),
            global_request_id=request_ids.global_request_id(request.environ))
        # On every line logged for this request, here and (through the registry
        # client) in the registry's log.
        process.bind_request(g.request_id, g.context.user_id, g.context.project_id,
                             g.context.global_request_id)
        request.environ[metrics.ROUTE_ENVIRON] = (request.url_rule.rule
                                                  if request.url_rule else None)

    @app.before_request
    def _check_request_shape():
        route_rules.check(app.url_map, bodiless)

    errors.register_handlers(app, messages.wording)
    routes.register(app)
    # Version discovery and the health check outside authentication, as upstream:
    # load balancers and deployment tools carry no token.
    wsgi_app = auth.wrap(app.wsgi_app, conf, unauthenticated=[
        functools.partial(versions.VersionNegotiation, conf=conf)])
    wsgi_app = healthcheck.Healthcheck(wsgi_app, conf, registry)
    wsgi_app = metrics.Endpoint(wsgi_app)
    # Preflights are answered before authentication; every answer, a 401 too,
    # says which origins may read it.
    wsgi_app = cors.CORS(wsgi_app, conf)
    # Whoever answers: the health check and a preflight too.
    wsgi_app = request_ids.RequestIds(wsgi_app)
    # Outermost: whoever answers (a 401 from the auth layer too) may leave a body
    # unread on a keep-alive connection; and it closes one through the server's
    # own start_response (a layer outside it would hide that).
    wsgi_app = keepalive.KeepAliveGuard(wsgi_app)
    # Before anything reads the request's URL.
    app.wsgi_app = proxy.wrap(wsgi_app, conf)
    return app


def stop_worker(app):
    """What one API worker does as it exits, after its last request: send the
    notifications still queued."""
    app.extensions['glance'].notifier.stop()


def start_worker(app):
    """Start what one API worker process runs besides requests: the periodic sweep
    of its writable stores, the sender of its notifications, the threads of its
    bounded runner of background work (imports, verifications), the sweeper of
    the staging directory and, in the same worker, of deleted images' data left
    in the stores, and the image cache's prefetcher, pruner and cleaner (one
    worker per staging directory, and per node, runs those). Called once per
    worker, after the fork."""
    store_data.start_sweeper(app.extensions['glance'].stores)
    deleted_data.start(app, alongside=staging_sweep.start(app))
    app.extensions['glance'].notifier.start()
    app.extensions['glance'].runner.start()
    if app.extensions['glance'].cache is not None:
        housekeeping.start(app)
