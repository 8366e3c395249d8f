"""``glance-api``: serve the Images API v2 with gunicorn.

    glance-api --config-file etc/glance-api.conf
"""

import hashlib
import logging
import ssl
import sys

import stores
from glance_api import app, ignored_opts, notifications, opts
from glance_api.access import policy, protections, quotas
from glance_api.data import (conversion, decompression, imports, inject_metadata,
                             staging)
from glance_api.data.cache import image_cache
from glance_api.http import auth, errors
from glance_api.images import schemas
from glance_registry import process
from glance_registry.client import RegistryClient

LOG = logging.getLogger('glance_api')


def main(argv=None):
    """Serve the API until stopped; the exit status (``process.run``)."""
    return process.run(argv, opts.register_opts, 'The Images API v2 server.', _serve,
                       LOG, prog='glance-api',
                       default_config_files=process.upstream_config_files('glance-api'))


def _serve(conf):
    process.require_secret(conf, 'the API cannot authenticate to the registry. Set '
                                 'the same secret in glance-api.conf and '
                                 'glance-registry.conf.')
    try:
        auth.resolve_strategy(conf)
    except ValueError as exc:
        raise process.Refused('configuration error: %s' % exc) from None
    warn_if_open_to_all(conf)
    ignored_opts.warn(conf, LOG)
    imports.warn_unknown_methods(conf, LOG)
    conversion.warn_unknown_plugins(conf, LOG)
    decompression.warn_order(conf, LOG)
    try:
        # The registry client's TLS files are read now, not in every worker.
        RegistryClient.from_config(conf).close()
    except (ValueError, OSError, ssl.SSLError) as exc:
        raise process.Refused('registry client configuration error: %s'
                              % exc) from None
    try:
        # Fail here, before forking workers, if a store is misconfigured. Without
        # the probe, a store that cannot be reached (a Swift that is down) is
        # logged and the API starts, as upstream's: requests that need it answer
        # 503 until it is back.
        store_set = stores.StoreSet.from_config(
            conf, probe=conf.probe_stores_on_start,
            unreachable_ok=not conf.probe_stores_on_start)
        staging_store = staging.from_conf(conf, probe=conf.probe_stores_on_start)
        app.check_directories_apart(conf, store_set, staging_store)
    except stores.errors.StoreError as exc:
        raise process.Refused('store configuration error: %s' % exc) from None
    try:
        enforcer = policy.new_enforcer(conf)
        policy.check_policy_file(enforcer, LOG)
        property_protections = protections.PropertyProtections.from_config(
            conf, enforcer)
        if property_protections is not None:
            property_protections.warn_backtracking(LOG)
        # The operator's schema-image.json, read here too: a bad one is one line
        # at start, not a traceback in every worker.
        image_schemas = schemas.Schemas(conf)
        inject_metadata.check(conf, image_schemas)
        # Here, not in each worker: once per start.
        image_schemas.warn_backtracking(LOG)
    except ValueError as exc:   # protections.InvalidConfiguration, SchemaFileError
        raise process.Refused(str(exc)) from None
    check_worker_options(conf)
    for store in store_set:
        facts = ', '.join('%s %s' % item for item in store.describe().items())
        LOG.info('store %s (%s) ready%s', store.store_id, store.driver,
                 ': ' + facts if facts else '')
    process.serve(lambda: _worker_app(conf), conf, 'glance-api', LOG,
                  worker_exit=_stop_worker, error_body=_error_body)
    return 0


def _error_body(status, reason, message):
    """A request gunicorn refused (a request line or header over the limits...),
    answered as the app answers a client that accepts anything: upstream's HTML
    page. No Accept header was read, and both python-glanceclient and openstacksdk
    show HTML, where the JSON shape crashed glanceclient ("'str' object has no
    attribute 'get'") on a metadef name too long for a URL."""
    return 'text/html; charset=utf-8', errors.html_body(status, message).encode()


def check_worker_options(conf):
    """``Refused`` for the values that only the workers read: a bad one stopped
    every worker with a traceback, and gunicorn with "Worker failed to boot"."""
    try:
        quotas.parse_size(conf.user_storage_quota)
    except ValueError as exc:
        raise process.Refused('configuration error: user_storage_quota: %s'
                              % exc) from None
    try:
        hashlib.new(conf.hashing_algorithm)
    except ValueError:
        raise process.Refused('configuration error: hashing_algorithm: %r is not an '
                              'algorithm of hashlib (e.g. sha512, sha256)'
                              % conf.hashing_algorithm) from None
    try:
        notifications.check(conf)
    except ValueError as exc:
        raise process.Refused('configuration error: %s' % exc) from None
    try:
        # Its directory and index, opened (and closed) before the workers fork:
        # each worker opens them again.
        image_cache.ImageCache.from_config(conf)
    except stores.errors.BadConfiguration as exc:
        raise process.Refused('configuration error: %s' % exc) from None


def warn_if_open_to_all(conf):
    """A loud warning when the API trusts its callers' headers on a non-loopback
    address: whoever reaches it there acts as anyone, and as an admin by default."""
    if conf.auth_strategy == 'noauth' and not process.is_loopback(conf.bind_host):
        LOG.warning('UNAUTHENTICATED API ON THE NETWORK: auth_strategy = noauth and '
                    'bind_host = %s: anyone who reaches port %d acts as whoever the '
                    'X-Project-Id and X-Roles headers say, and a request without them '
                    'is an admin. Set auth_strategy = keystone, or bind_host = '
                    '127.0.0.1, unless every client on that network is trusted.',
                    conf.bind_host, conf.bind_port)


#: This worker process's app (one per process, after the fork).
_this_worker = {}


def _worker_app(conf):
    """The app of one worker process (gunicorn calls this after the fork)."""
    worker_app = app.create_app(conf)
    app.start_worker(worker_app)
    _this_worker['app'] = worker_app
    return worker_app


def _stop_worker():
    if 'app' in _this_worker:
        app.stop_worker(_this_worker['app'])


if __name__ == '__main__':
    sys.exit(main())
