"""The data of locations taken off a live image, removed for certain.

Removing one location of an image (``DELETE /v2/stores/{store_id}/{image_id}``, a
PATCH that removes one) takes it off the image in the registry first: in that
transaction the registry records that its data is still to be removed, leased to
this API worker for ``deleted_data_grace_time`` seconds (``removal_lease``), longer
than any removal takes. The worker then removes the data, where no other image uses
it (``store_data.delete_data``), and confirms (``remove``). A worker killed in
between, a registry answer lost after it committed, or a store that failed leaves
the removal unconfirmed; upstream leaves those bytes in the store for ever. The
sweep (``scrubbing.Scrubber.sweep_deleted``, with the data of deleted images)
claims such removals once their lease has run out (at once for one this worker
gave up after a store failed) and removes the data.

While the removal's lease runs, the registry refuses to give the URL back to the
image (its data may be going); afterwards adding it back ends the removal, and no
sweep removes the data. So the worker deletes data only while its lease runs, with
time to spare: the lease lasts at least ``MIN_HOLD_SECONDS`` (a grace time of 0
would let the image take the URL back as the worker deleted its data), and a
worker that got to the data late leaves it to the sweep.
"""

import dataclasses
import logging
import os
import secrets
import socket
import time

from glance_api.access.context import SERVICE_IDENTITY
from glance_api.data import store_data
from glance_api.services import services
from glance_registry.client import Lease
from glance_registry.client import errors as registry_errors
from glance_registry.client import leases
from glance_registry.client import vocabulary

LOG = logging.getLogger(__name__)


#: The shortest lease on a removal: the registry refuses the URL back only while
#: it runs, so it must outlast the worker's own deletion of the data.
MIN_HOLD_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class Hold:
    """A request's ``lease`` on the removals of the locations it takes off an
    image, and when it asked for it (``time.monotonic()``, before the registry
    started the lease: this clock's end comes first)."""

    lease: Lease
    taken_at: float

    def lasts(self):
        """Whether at least half the lease is left: time for a store to delete
        before the URL may be given back."""
        return leases.surely_runs(self.taken_at, self.lease.seconds)


def removal_lease():
    """The ``Hold`` a request takes on the removals of the locations it takes off
    an image: for ``deleted_data_grace_time`` seconds (at least
    ``MIN_HOLD_SECONDS``, at most a lease's bound), under a name of its own."""
    seconds = min(max(services().conf.deleted_data_grace_time, MIN_HOLD_SECONDS),
                  vocabulary.MAX_LEASE_SECONDS)
    owner = 'api-%s-%d-%s' % (socket.gethostname()[:32], os.getpid(),
                              secrets.token_hex(6))
    return Hold(Lease(owner=owner, seconds=seconds), time.monotonic())


def remove(image_id, locations, hold):
    """Remove the data of ``locations``, just taken off the live image
    ``image_id`` under ``hold``, where no other image uses it, and confirm each
    removal to the registry. A location whose data cannot be removed now, or
    that the hold no longer lasts for, is left to the sweep: its lease is given
    up, so the next sweep takes it (and the image may have it back meanwhile)."""
    if not locations:
        return
    failed = set()
    for location in locations:
        if not hold.lasts():
            LOG.warning('image %s: too late to remove the data at %s within its '
                        'lease', image_id, location['url'])
            failed.add(location['url'])
        else:
            failed.update(store_data.delete_data([location], image_id))
    registry = services().registry
    lease = hold.lease
    for location in locations:
        url = location['url']
        try:
            if url in failed:
                registry.renew_removal_lease(SERVICE_IDENTITY, image_id, url,
                                             lease.owner, 0)
                LOG.warning('image %s: the sweep removes the data left at %s',
                            image_id, url)
            else:
                registry.confirm_location_removed(SERVICE_IDENTITY, image_id, url,
                                                  lease.owner)
        except registry_errors.RegistryError as exc:
            LOG.warning('image %s: the removal of the data at %s could not be %s '
                        '(%s): the sweep takes it over once its lease has run out',
                        image_id, url, 'given up' if url in failed else 'confirmed',
                        exc)
