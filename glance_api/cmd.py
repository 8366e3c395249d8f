"""``glance-api``: serve the Images API v2 with gunicorn.

    glance-api --config-file etc/glance-api.conf
"""

import logging
import sys

import stores
from glance_api import app
from glance_api import opts
from glance_api.access import policy
from glance_api.access import protections
from glance_registry import service

LOG = logging.getLogger('glance_api')


def main(argv=None):
    conf = service.load_config(sys.argv[1:] if argv is None else argv, 'glance',
                               opts.register_opts,
                               description='The Images API v2 server.')
    service.setup_logging(conf)
    if not conf.registry_auth_secret:
        LOG.error('registry_auth_secret is not set: the API cannot authenticate to '
                  'the registry. Set the same secret in glance-api.conf and '
                  'glance-registry.conf.')
        return 2
    try:
        # Fail here, before forking workers, if a store is misconfigured.
        store_set = stores.StoreSet.from_config(conf, probe=conf.probe_stores_on_start)
    except stores.errors.StoreError as exc:
        LOG.error('store configuration error: %s', exc)
        return 2
    try:
        protections.PropertyProtections.from_config(conf, policy.new_enforcer(conf))
    except protections.InvalidConfiguration as exc:
        LOG.error('%s', exc)
        return 2
    for store in store_set:
        LOG.info('store %s (%s) ready', store.store_id, store.driver)
    service.serve(lambda: _worker_app(conf), conf, 'glance-api')
    return 0



def _worker_app(conf):
    """The app of one worker process (gunicorn calls this after the fork)."""
    worker_app = app.create_app(conf)
    app.start_worker(worker_app)
    return worker_app


if __name__ == '__main__':
    sys.exit(main())
