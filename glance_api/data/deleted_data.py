"""The data of images deleted at once, removed for certain.

Deleting an image marks it deleted in the registry first, then removes its data
from the stores (``purge``). The registry records in the delete's transaction that
the data is still to be removed (the image's locations become ``pending_delete``),
and ``purge`` confirms once it is gone. An API worker killed in between, a registry
call that timed out after the registry committed, or a store that failed leaves the
removal unconfirmed; upstream leaves those bytes in the store for ever, since
nothing records them. The sweep (``scrubbing.Scrubber.sweep_deleted``) claims such
images once ``deleted_data_grace_time`` has passed (longer than any delete request
takes), removes their data where no other image uses it, and confirms. It claims
under the scrubber's leases, so several sweeps at once remove each image's data
once.

The sweep runs every ``deleted_data_sweep_interval`` seconds in one API worker per
node, the one that sweeps the staging directory (it holds the directory's lock:
``staging_sweep``), and in every run of ``glance-scrubber``: a default deployment
sweeps with nothing new to run or configure. The API's sweep also fails the import
tasks of deleted images whose worker died (``imports.fail_orphaned``), which
nothing else would end.
"""

import logging

from oslo_config import cfg

from glance_api.access.context import SERVICE_IDENTITY
from glance_api.data import imports
from glance_api.data import node_duty
from glance_api.data import scrubbing
from glance_api.data import store_data
from glance_api.services import services
from glance_registry.client import errors as registry_errors

LOG = logging.getLogger(__name__)

deleted_data_opts = [
    cfg.IntOpt('deleted_data_grace_time', default=3600, min=0,
               help='Seconds after an image was deleted, or one of its locations '
                    'removed, before the sweep removes its data if the removal was '
                    'never confirmed (the API worker removing it died, its registry '
                    'call timed out, or a store failed). Keep it longer than any '
                    'delete request can take: a shorter one only costs a second '
                    'removal of the same data. A location\'s removal waits at '
                    'least 60 seconds: the API worker removing it holds it that '
                    'long, so that the image cannot take the URL back as its data '
                    'goes.'),
    cfg.IntOpt('deleted_data_sweep_interval', default=600, min=1,
               help='Seconds between two sweeps for the data of deleted images '
                    'and of removed locations whose removal was never confirmed, '
                    'in the API worker of each '
                    'node that sweeps the staging directory (glance-scrubber also '
                    'sweeps at each run). The API\'s sweep also fails the import '
                    'tasks of deleted images whose worker died.'),
]


def register_opts(conf):
    conf.register_opts(deleted_data_opts)


def purge(record):
    """Remove the data of the image ``record`` (just deleted, as it was before)
    from the stores that hold it, where no other image uses it
    (``store_data.delete_data``), and confirm it to the registry. What cannot be
    removed now the sweep removes later."""
    locations = record.get('locations') or []
    if not locations:
        return
    left = store_data.delete_data(locations, record['id'])
    if left:
        LOG.warning('image %s: the sweep removes the data left at %s once '
                    'deleted_data_grace_time has passed', record['id'],
                    ', '.join(left))
        return
    try:
        services().registry.confirm_data_removed(SERVICE_IDENTITY, record['id'])
    except registry_errors.RegistryError as exc:
        LOG.warning('image %s: data removed, but not confirmed to the registry '
                    '(%s): the sweep will find nothing left to remove',
                    record['id'], exc)


def start(app, alongside):
    """Sweep every ``deleted_data_sweep_interval`` seconds from a thread of this
    worker while it holds the lock of the ``node_duty.Duty`` ``alongside`` (the
    staging sweeper's)."""
    svc = app.extensions['glance']
    scrubber = scrubbing.Scrubber(svc.conf, app, svc.registry, name='api')

    def sweep():
        removed, failed = scrubber.sweep_deleted()
        if removed or failed:
            LOG.info('deleted images swept: data of %d removed, %d failed (tried '
                     'again at the next sweep)', removed, failed)
        orphaned = imports.fail_orphaned(svc)
        if orphaned:
            LOG.info('deleted images swept: %d import tasks whose worker was gone '
                     'taken over to fail them', orphaned)

    return node_duty.start(
        'deleted-data-sweeper', node_duty.alongside(alongside), sweep,
        svc.conf.deleted_data_sweep_interval, at_once=False,
        holding='this worker sweeps the data of deleted images whose removal was '
                'never confirmed')
