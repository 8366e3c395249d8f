"""``glance-scrubber``: delete the data of images deleted with ``delayed_delete``.

    glance-scrubber --config-file /etc/glance/glance-api.conf [--daemon]
    glance-scrubber --config-file /etc/glance/glance-api.conf --restore <image id>

It reads the API's configuration (the registry, the stores), claims images that
have been ``pending_delete`` for ``scrub_time`` seconds from the registry, deletes
their data from the stores (where no other image uses it: ``store_data``) with
``scrub_pool_size`` threads, and marks them ``deleted``. Once, or with ``--daemon``
every ``wakeup_time`` seconds until stopped. Several scrubbers may run at once (on
several hosts): the registry leases each image to one of them, and this one renews
its leases while it works, so no image's data is deleted twice and an image whose
scrubber died is taken over once its lease runs out. A store that fails leaves the
image ``pending_delete``, tried again on the next run.

Each run also sweeps the images deleted at once (without ``delayed_delete``) whose
data was never confirmed removed, ``deleted_data_grace_time`` seconds after their
deletion (``glance_api.data.deleted_data``), as one API worker per node does.

``--restore <id>`` brings a ``pending_delete`` image back to ``active`` (not once a
scrubber has claimed it); what is no image id, an empty one included, is refused.
Exit status: 0, 1 if an image could not be scrubbed (or swept) or restored, 2 for a
bad configuration.
"""

import logging
import signal
import sys

from oslo_config import cfg

import stores
from glance_api import app as app_module
from glance_api import opts
from glance_api import signal_stop
from glance_api.data import scrubbing
from glance_registry import process
from glance_registry.client import RegistryClient
from glance_registry.client import errors as registry_errors
from glance_registry.client import vocabulary

LOG = logging.getLogger('glance_api.scrubber')

cli_opts = [
    cfg.BoolOpt('daemon', short='D', default=False,
                help='Run until stopped, scrubbing every wakeup_time seconds.'),
    cfg.StrOpt('restore', metavar='<image id>',
               help='Bring this pending_delete image back to active, and exit.'),
]


def register_opts(conf):
    opts.register_opts(conf)   # the scrubber's own options among them
    conf.register_cli_opts(cli_opts)


def main(argv=None):
    """Scrub (or restore); the exit status (``process.run``)."""
    return process.run(argv, register_opts, 'Delete the data of images pending '
                       'delete.', _start, LOG, command=True, prog='glance-scrubber',
                       default_config_files=process.upstream_config_files(
                           'glance-api', 'glance-scrubber'))


def _start(conf):
    restoring = conf.restore is not None
    if restoring and not vocabulary.is_image_id(conf.restore):
        # An empty one ("--restore $ID" with $ID unset) must not fall through to a
        # scrub run that deletes what the operator meant to bring back.
        raise process.Refused('--restore needs an image id, not %r' % conf.restore)
    if restoring and conf.daemon:
        raise process.Refused('The restore and daemon options should not be set '
                              'together. Please use either of them in one request.')
    process.require_secret(conf, 'the scrubber cannot authenticate to the registry.')
    if restoring:
        # The registry alone: a restore touches no store (one may be down).
        registry = RegistryClient.from_config(conf)
        try:
            return scrubbing.restore(registry, conf.restore)
        finally:
            registry.close()
    try:
        # A store that is down (logged) leaves its images pending_delete for the
        # next run; the other stores' images are scrubbed meanwhile.
        store_set = stores.StoreSet.from_config(conf, probe=False,
                                                unreachable_ok=True)
    except stores.errors.StoreError as exc:
        raise process.Refused('store configuration error: %s' % exc) from None
    app = app_module.create_app(conf, store_set=store_set)
    scrubber = scrubbing.Scrubber(conf, app, app.extensions['glance'].registry,
                                  progress=lambda message: print(
                                      'glance-scrubber: ' + message, flush=True))
    if not conf.daemon:
        try:
            scrubbed, failed = scrubber.run_once()
            swept, sweep_failed = scrubber.sweep_deleted()
        except registry_errors.RegistryError as exc:
            LOG.error('scrub run failed: %s', exc)
            return 1
        print('glance-scrubber: %d images scrubbed, %d failed' % (scrubbed, failed))
        print('glance-scrubber: %d deleted images swept, %d failed'
              % (swept, sweep_failed))
        return 1 if failed or sweep_failed else 0
    stop = signal_stop.SignalStop()
    signal.signal(signal.SIGTERM, stop.set)
    signal.signal(signal.SIGINT, stop.set)
    LOG.info('glance-scrubber %s: scrubbing every %ds', scrubber.owner,
             conf.wakeup_time)
    scrubber.run_forever(stop)
    return 0


if __name__ == '__main__':
    sys.exit(main())
