"""The application factory: builds the Flask app from an oslo.config object.

Nothing happens at import time; ``create_app`` wires the registry client, the stores
and the schemas into a ``Services`` record and registers one blueprint per resource.
Handlers reach the record through ``glance_api.services.services()``.
"""

import logging

from flask import Flask, g, request

import stores
from glance_api import (auth, connections, errors, healthcheck, image_data, images,
                        info, locations, members, policy, protections, quotas,
                        request_shape, schemas, store_data, versions)
from glance_api.services import Services
from glance_registry.client import RegistryClient

LOG = logging.getLogger(__name__)


def create_app(conf, registry=None, store_set=None):
    """A Flask app serving the Images API v2 as ``conf`` says."""
    app = Flask('glance_api')
    app.url_map.strict_slashes = False
    # '//' is not '/' (as upstream's router has it): 404, not a 308 to another URL.
    app.url_map.merge_slashes = False
    app.url_map.converters['tag'] = images.TagConverter
    enforcer = policy.new_enforcer(conf)
    registry = registry or RegistryClient.from_config(conf)
    app.extensions['glance'] = Services(
        conf=conf,
        registry=registry,
        stores=store_set or stores.StoreSet.from_config(
            conf, probe=conf.probe_stores_on_start),
        schemas=schemas.Schemas(conf),
        policy=enforcer,
        quotas=quotas.Quotas(conf),
        protections=protections.PropertyProtections.from_config(conf, enforcer))

    @app.before_request
    def _build_context():
        g.request_id = auth.request_id(request.environ)
        g.context = auth.context_for(request.headers, g.request_id, conf)

    @app.before_request
    def _check_request_shape():
        request_shape.check(app.url_map)

    store_data.start_sweeper(app.extensions['glance'].stores)
    errors.register_handlers(app)
    for blueprint in (versions.bp, schemas.bp, images.bp, image_data.bp, members.bp,
                      info.bp, locations.bp):
        app.register_blueprint(blueprint)
    # Outside authentication: load balancers carry no token.
    wsgi_app = healthcheck.Healthcheck(auth.wrap(app.wsgi_app, conf), conf, registry)
    # Outermost: whoever answers (a 401 from the auth layer too) may leave a body
    # unread on a keep-alive connection.
    app.wsgi_app = connections.KeepAliveGuard(wsgi_app)
    return app
