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
``glance-scrubber``; the same sweep removes the data of locations taken off live
images whose removal was never confirmed (``location_removal``), each location
under a lease of its own.
"""

import concurrent.futures
import logging
import os
import secrets
import socket
import sys
import threading
import time

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
                    'over once this has run out (the first one died). A scrubber '
                    'whose renewals failed for half of it deletes nothing more '
                    'under that lease.'),
]

#: Images claimed per registry call.
CLAIM_BATCH = 20


class _Leases:
    """Renews this scrubber's leases on what it is working on (images, or
    removals of locations), every third of the lease, on a daemon thread:
    ``renew(key, seconds)`` renews one. ``secure(key)`` says whether its lease
    surely still runs for a while: a lease that could not be renewed may have run
    out, and whatever claimed it since (a location given back to its image) must
    not have its data deleted by this scrubber."""

    def __init__(self, renew, seconds):
        self._renew = renew
        self._seconds = seconds
        self._held = {}   # key -> when its lease last surely started (monotonic)
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

    def hold(self, key):
        """``key`` was just claimed (its lease began at the claim, just before)."""
        with self._lock:
            self._held[key] = time.monotonic()

    def release(self, key):
        with self._lock:
            self._held.pop(key, None)

    def secure(self, key):
        """Whether at least half of ``key``'s lease surely remains."""
        with self._lock:
            since = self._held.get(key)
        return since is not None and leases.surely_runs(since, self._seconds)

    def _renew_forever(self):
        while not self._stop.wait(self._seconds / leases.RENEWALS_PER_LEASE):
            with self._lock:
                held = list(self._held)
            for key in held:
                asked = time.monotonic()
                try:
                    self._renew(key, self._seconds)
                except registry_errors.RegistryError as exc:
                    # Marking it done will fail too: whoever holds it finishes.
                    LOG.warning('%s: could not renew the scrub lease: %s',
                                _named(key), exc)
                    continue
                with self._lock:
                    if key in self._held:
                        self._held[key] = asked


def _named(key):
    """How the log names what a lease holds: an image id, or an image's
    location."""
    if isinstance(key, tuple):
        return 'image %s, location %s' % key
    return 'image %s' % key


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
        return self._run(self._claimer('pending_delete', self.conf.scrub_time),
                         _image_key, self._scrub, self._renew_image,
                         'images scrubbed')

    def sweep_deleted(self):
        """Remove the data of every image deleted at once at least
        ``deleted_data_grace_time`` seconds ago whose removal was never confirmed,
        and of every location taken off a live image whose removal was never
        confirmed once its remover's lease has run out (``location_removal``),
        and confirm it; ``(removed, failed)`` counts (images and locations)."""
        images = self._run(
            self._claimer('deleted', self.conf.deleted_data_grace_time), _image_key,
            self._remove_unconfirmed, self._renew_image, 'deleted images swept')
        locations = self._run(
            lambda lease: self.registry.claim_removals(
                SERVICE_IDENTITY, self.owner, lease, CLAIM_BATCH),
            _removal_key, self._remove_taken_off, self._renew_removal,
            'locations taken off images swept')
        return images[0] + locations[0], images[1] + locations[1]

    def _claimer(self, status, older_than):
        return lambda lease: self.registry.claim_scrub(
            SERVICE_IDENTITY, self.owner, lease, older_than, CLAIM_BATCH,
            status=status)

    def _renew_image(self, image_id, seconds):
        self.registry.renew_scrub_lease(SERVICE_IDENTITY, image_id, self.owner,
                                        seconds)

    def _renew_removal(self, key, seconds):
        image_id, url = key
        self.registry.renew_removal_lease(SERVICE_IDENTITY, image_id, url,
                                          self.owner, seconds)

    def _run(self, claim, key, work, renew, done):
        """Claim batches (``claim(lease seconds)``) and ``work`` on each claimed
        item with the pool, holding its lease (``renew``, by ``key(item)``) until
        a claim finds nothing new; ``(succeeded, failed)`` counts."""
        succeeded = 0
        tried, failed = set(), []
        lease = self.conf.scrub_lease_time
        with _Leases(renew, lease) as held, \
                concurrent.futures.ThreadPoolExecutor(
                    self.conf.scrub_pool_size,
                    thread_name_prefix='scrub') as pool:
            while True:
                claimed = [item for item in claim(lease) if key(item) not in tried]
                if not claimed:
                    # Nothing new: what is left failed in this run (still ours
                    # until the lease runs out, or the next run of this scrubber).
                    break
                for item in claimed:
                    tried.add(key(item))
                    held.hold(key(item))
                for item, ok in zip(claimed, pool.map(
                        lambda item: work(item, held), claimed)):
                    succeeded += ok
                    if not ok:
                        failed.append(key(item))
                self._progress('%d %s so far, %d failed'
                               % (succeeded, done, len(failed)))
        # The claim that found nothing new took this scrubber's failed items
        # again (its own leases are free to it): let them go for the next run.
        for failed_key in failed:
            self._give_up(failed_key, renew)
        return succeeded, len(failed)

    def _scrub(self, image, held):
        """Delete one claimed image's data, then mark it deleted; whether it is."""
        image_id = image['id']
        try:
            if not self._delete_data(image, image['locations'],
                                     'it stays pending_delete', held, image_id):
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
                                     'its removal stays unconfirmed', held, image_id):
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

    def _remove_taken_off(self, removal, held):
        """Remove the data of one claimed location taken off a live image, then
        confirm it; whether it is."""
        key = _removal_key(removal)
        image_id, url = key
        location = {'url': url, 'metadata': removal.get('metadata') or {}}
        try:
            with self.app.app_context():
                unreachable = bool(store_data.stores_holding(
                    [location], lambda store: store.acts_as_caller))
            if unreachable:
                LOG.error('image %s: data left at %s: its store acts as the image '
                          'owner, whose token this sweep does not have; remove it '
                          'by hand', image_id, url)
            elif not self._delete_data({'id': image_id}, [location],
                                       'its removal stays unconfirmed', held, key):
                return False
            self.registry.confirm_location_removed(SERVICE_IDENTITY, image_id, url,
                                                   self.owner)
        except registry_errors.RegistryError as exc:
            LOG.error('image %s: removal of the data at %s not confirmed: %s',
                      image_id, url, exc)
            return False
        finally:
            held.release(key)
        LOG.info('image %s: data at %s, taken off the image, deleted, removal '
                 'confirmed (swept by %s)', image_id, url, self.owner)
        return True

    def _delete_data(self, image, locations, staying, held, key):
        """Delete the data at ``locations`` of the claimed ``image`` while its lease
        (``held``, by ``key``) surely runs; whether all of it is gone (if not,
        ``staying`` says what that leaves)."""
        image_id = image['id']
        if not held.secure(key):
            LOG.warning('%s: its scrub lease could not be renewed lately and may '
                        'have run out (another scrubber, or the image taking the '
                        'URL back, may hold it now): data left for the next run',
                        _named(key))
            return False
        with self.app.app_context():
            left = store_data.delete_data(locations, image_id)
        if left:
            LOG.error('image %s: data left at %s; %s and is tried again on the next '
                      'run', image_id, ', '.join(left), staying)
            return False
        return True

    def _give_up(self, key, renew):
        """Let the lease on ``key`` run out now, so that the next run of any
        scrubber tries again at once (a pending_delete image stays claimed: never
        restored)."""
        try:
            renew(key, 0)
        except registry_errors.RegistryError as exc:
            LOG.warning('%s: could not give up the scrub lease: %s', _named(key),
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


def _image_key(image):
    return image['id']


def _removal_key(removal):
    return removal['image_id'], removal['url']


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
