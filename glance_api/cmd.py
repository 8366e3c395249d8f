"""``glance-api``: serve the Images API v2 with gunicorn.

    glance-api --config-file etc/glance-api.conf
"""

import logging
import sys

import stores
from glance_api import app, opts, policy, protections
from glance_registry import process

LOG = logging.getLogger('glance_api')


def main(argv=None):
    conf = process.load_config(sys.argv[1:] if argv is None else argv, 'glance',
                               opts.register_opts,
                               description='The Images API v2 server.')
    process.setup_logging(conf)
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
    process.serve(lambda: app.create_app(conf), conf, 'glance-api')
    return 0


if __name__ == '__main__':
    sys.exit(main())
