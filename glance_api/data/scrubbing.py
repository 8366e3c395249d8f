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
               help='Images glance-scrubber deletes the data of at once.'),
    cfg.IntOpt('wakeup_time', default=300, min=0,
               help='Seconds glance-scrubber --daemon sleeps between two runs.'),
    cfg.IntOpt('scrub_lease_time', default=300, min=1,
               max=vocabulary.MAX_LEASE_SECONDS,
               help='Seconds a scrubber holds an image it is deleting the data of '
                    'without renewing; it renews every third of that. Another '
                    'scrubber takes the image over once this has run out (the first '
                    'one died).'),
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
    """One scrubber process: its name in the registry's leases, and its runs."""

    def __init__(self, conf, app, registry):
        self.conf = conf
        self.app = app   # the API's Flask app: stores and registry, as handlers see
        self.registry = registry
        self.owner = 'scrubber-%s-%d-%s' % (socket.gethostname()[:32], os.getpid(),
                                            secrets.token_hex(4))

    def run_once(self):
        """Scrub every image due; ``(scrubbed, failed)`` counts."""
        scrubbed = failed = 0
        tried = set()
        lease = self.conf.scrub_lease_time
        with _Leases(self.registry, self.owner, lease) as held, \
                concurrent.futures.ThreadPoolExecutor(
                    self.conf.scrub_pool_size,
                    thread_name_prefix='scrub') as pool:
            while True:
                claimed = [image for image in self.registry.claim_scrub(
                    SERVICE_IDENTITY, self.owner, lease, self.conf.scrub_time,
                    CLAIM_BATCH) if image['id'] not in tried]
                if not claimed:
                    # Nothing new: what is left failed in this run (still ours
                    # until the lease runs out, or the next run of this scrubber).
                    break
                for image in claimed:
                    tried.add(image['id'])
                    held.hold(image['id'])
                for ok in pool.map(lambda image: self._scrub(image, held), claimed):
                    scrubbed += ok
                    failed += not ok
                print('glance-scrubber: %d images scrubbed so far, %d failed'
                      % (scrubbed, failed), flush=True)
        return scrubbed, failed

    def _scrub(self, image, held):
        """Delete one claimed image's data, then mark it deleted; whether it is."""
        image_id = image['id']
        try:
            with self.app.app_context():
                left = store_data.delete_data(image['locations'], image_id)
            if left:
                LOG.error('image %s: data left at %s; it stays pending_delete and '
                          'is tried again on the next run', image_id, ', '.join(left))
                held.release(image_id)
                self._give_up(image_id)
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

    def _give_up(self, image_id):
        """Let the lease on ``image_id`` run out now, so that the next run of any
        scrubber tries again at once (it stays claimed: never restored)."""
        try:
            self.registry.renew_scrub_lease(SERVICE_IDENTITY, image_id, self.owner, 0)
        except registry_errors.RegistryError as exc:
            LOG.warning('image %s: could not give up the scrub lease: %s', image_id,
                        exc)

    def run_forever(self, stop):
        """Run every ``wakeup_time`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.run_once()
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
