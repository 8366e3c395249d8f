"""Scrubbing: deleting the data of images ``pending_delete`` (upstream's scrubber),
for ``glance-scrubber`` (``glance_api.scrubber``).

A ``Scrubber`` claims images that have been ``pending_delete`` for ``scrub_time``
seconds from the registry, deletes their data from the stores (where no other image
uses it: ``store_data.delete_data``) with ``scrub_pool_size`` threads, and marks them
``deleted``. Several scrubbers may run at once (on several hosts): the registry
leases each image to one of them, and a scrubber renews its leases while it works,
so no image's data is deleted twice and an image whose scrubber died is taken over
once its lease runs out. A store that fails leaves the image ``pending_delete``,
tried again on the next run.

The same claims, leases and threads sweep the images deleted at once whose data was
never confirmed removed (``sweep_deleted``): an API worker killed between the
registry's delete and the data's removal, a registry call that timed out, a store
that failed. Once ``deleted_data_grace_time`` has passed (``deleted_data``), the
sweep removes their data (still only where no other image uses it) and confirms.
One API worker per node does it (``deleted_data.start``), and so does every run of
``glance-scrubber``.
"""

import concurrent.futures
import logging
import os
import secrets
import socket
import sys
import threading

from oslo_config import cfg

from glance_api.access.context import SERVICE_IDENTITY
from glance_api.data import store_data
from glance_registry.client import errors as registry_errors
from glance_registry.client import leases
from glance_registry.client import vocabulary

LOG = logging.getLogger(__name__)

scrubber_opts = [
    cfg.IntOpt('scrub_time', default=0, min=0,
               help='Seconds an image stays pending_delete (and can be restored) '
                    'before glance-scrubber deletes its data.'),
    cfg.IntOpt('scrub_pool_size', default=1, min=1,
               help='Images glance-scrubber (and the sweep of deleted images\' '
                    'data in an API worker) deletes the data of at once.'),
    cfg.IntOpt('wakeup_time', default=300, min=0,
               help='Seconds glance-scrubber --daemon sleeps between two runs.'),
    cfg.IntOpt('scrub_lease_time', default=300, min=1,
               max=vocabulary.MAX_LEASE_SECONDS,
               help='Seconds a scrubber (or a sweep of deleted images\' data) '
                    'holds an image it is deleting the data of without renewing; it '
                    'renews every third of that. Another scrubber takes the image '
                    'over once this has run out (the first one died).'),
]

#: Images claimed per registry call.
CLAIM_BATCH = 20


class _Leases:
    """Renews this scrubber's leases on the images it is working on, every third
    of the lease, on a daemon thread."""

    def __init__(self, registry, owner, seconds):
        self._registry = registry
        self._owner = owner
        self._seconds = seconds
        self._held = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_forever, daemon=True,
                                        name='scrub-lease-renewer')

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()

    def hold(self, image_id):
        with self._lock:
            self._held.add(image_id)

    def release(self, image_id):
        with self._lock:
            self._held.discard(image_id)

    def _renew_forever(self):
        while not self._stop.wait(self._seconds / leases.RENEWALS_PER_LEASE):
            with self._lock:
                held = list(self._held)
            for image_id in held:
                try:
                    self._registry.renew_scrub_lease(SERVICE_IDENTITY, image_id,
                                                     self._owner, self._seconds)
                except registry_errors.RegistryError as exc:
                    # Marking it deleted will fail too: whoever holds it finishes.
                    LOG.warning('image %s: could not renew the scrub lease: %s',
                                image_id, exc)


class Scrubber:
    """One scrubber (a ``glance-scrubber`` process, or an API worker's sweep): its
    name in the registry's leases, and its runs. ``progress(message)`` is told
    after each batch (the command prints it)."""

    def __init__(self, conf, app, registry, name='scrubber', progress=None):
        self.conf = conf
        self.app = app   # the API's Flask app: stores and registry, as handlers see
        self.registry = registry
        self.owner = '%s-%s-%d-%s' % (name, socket.gethostname()[:32], os.getpid(),
                                      secrets.token_hex(4))
        self._progress = progress or (lambda message: LOG.debug('%s', message))

    def run_once(self):
        """Scrub every image due; ``(scrubbed, failed)`` counts."""
        return self._run('pending_delete', self.conf.scrub_time, self._scrub,
                         'images scrubbed')

    def sweep_deleted(self):
        """Remove the data of every image deleted at once at least
        ``deleted_data_grace_time`` seconds ago whose removal was never confirmed,
        and confirm it; ``(removed, failed)`` counts."""
        return self._run('deleted', self.conf.deleted_data_grace_time,
                         self._remove_unconfirmed,
                         'deleted images swept')

    def _run(self, status, older_than, work, done):
        succeeded = 0
        tried, failed = set(), []
        lease = self.conf.scrub_lease_time
        with _Leases(self.registry, self.owner, lease) as held, \
                concurrent.futures.ThreadPoolExecutor(
                    self.conf.scrub_pool_size,
                    thread_name_prefix='scrub') as pool:
            while True:
                claimed = [image for image in self.registry.claim_scrub(
                    SERVICE_IDENTITY, self.owner, lease, older_than, CLAIM_BATCH,
                    status=status) if image['id'] not in tried]
                if not claimed:
                    # Nothing new: what is left failed in this run (still ours
                    # until the lease runs out, or the next run of this scrubber).
                    break
                for image in claimed:
                    tried.add(image['id'])
                    held.hold(image['id'])
                for image, ok in zip(claimed, pool.map(
                        lambda image: work(image, held), claimed)):
                    succeeded += ok
                    if not ok:
                        failed.append(image['id'])
                self._progress('%d %s so far, %d failed'
                               % (succeeded, done, len(failed)))
        # The claim that found nothing new took this scrubber's failed images
        # again (its own leases are free to it): let them go for the next run.
        for image_id in failed:
            self._give_up(image_id)
        return succeeded, len(failed)

    def _scrub(self, image, held):
        """Delete one claimed image's data, then mark it deleted; whether it is."""
        image_id = image['id']
        try:
            if not self._delete_data(image, image['locations'],
                                     'it stays pending_delete'):
                return False
            self.registry.finish_scrub(SERVICE_IDENTITY, image_id, self.owner)
        except registry_errors.RegistryError as exc:
            LOG.error('image %s: not scrubbed: %s', image_id, exc)
            return False
        finally:
            held.release(image_id)
        LOG.info('image %s: data deleted, image deleted (scrubbed by %s)', image_id,
                 self.owner)
        return True

    def _remove_unconfirmed(self, image, held):
        """Remove one claimed deleted image's data, then confirm it; whether it
        is."""
        image_id = image['id']
        try:
            with self.app.app_context():
                # Those need the owner's token (multi-tenant Swift), which no
                # sweep has: trying again would fail for ever.
                unreachable = {url for _, url in store_data.stores_holding(
                    image['locations'], lambda store: store.acts_as_caller)}
            if unreachable:
                LOG.error('image %s: data left at %s: its store acts as the image '
                          'owner, whose token this sweep does not have; remove it '
                          'by hand', image_id, ', '.join(sorted(unreachable)))
            locations = [location for location in image['locations']
                         if location['url'] not in unreachable]
            if not self._delete_data(image, locations,
                                     'its removal stays unconfirmed'):
                return False
            self.registry.confirm_data_removed(SERVICE_IDENTITY, image_id, self.owner)
        except registry_errors.RegistryError as exc:
            LOG.error('image %s: data removal not confirmed: %s', image_id, exc)
            return False
        finally:
            held.release(image_id)
        if unreachable:
            LOG.info('image %s: removal confirmed, the data its owner\'s token would '
                     'remove left (swept by %s)', image_id, self.owner)
        else:
            LOG.info('image %s: data deleted, removal confirmed (swept by %s)',
                     image_id, self.owner)
        return True

    def _delete_data(self, image, locations, staying):
        """Delete the data at ``locations`` of the claimed ``image``; whether all of
        it is gone (if not, ``staying`` says what that leaves)."""
        image_id = image['id']
        with self.app.app_context():
            left = store_data.delete_data(locations, image_id)
        if left:
            LOG.error('image %s: data left at %s; %s and is tried again on the next '
                      'run', image_id, ', '.join(left), staying)
            return False
        return True

    def _give_up(self, image_id):
        """Let the lease on ``image_id`` run out now, so that the next run of any
        scrubber tries again at once (a pending_delete image stays claimed: never
        restored)."""
        try:
            self.registry.renew_scrub_lease(SERVICE_IDENTITY, image_id, self.owner, 0)
        except registry_errors.RegistryError as exc:
            LOG.warning('image %s: could not give up the scrub lease: %s', image_id,
                        exc)

    def run_forever(self, stop):
        """Run (and sweep) every ``wakeup_time`` seconds until ``stop`` is set."""
        while not stop.is_set():
            for run in (self.run_once, self.sweep_deleted):
                try:
                    run()
                except registry_errors.RegistryError as exc:
                    LOG.error('scrub run failed, trying again in %ds: %s',
                              self.conf.wakeup_time, exc)
            stop.wait(self.conf.wakeup_time)


def restore(registry, image_id):
    """``--restore``: bring ``image_id`` back; the exit status."""
    try:
        registry.restore_image(SERVICE_IDENTITY, image_id)
    except registry_errors.RegistryError as exc:
        print('glance-scrubber: cannot restore image %s: %s' % (image_id, exc.message),
              file=sys.stderr)
        return 1
    print('Image %s restored: its status is active again.' % image_id)
    return 0
