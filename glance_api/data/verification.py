"""Verifying the data at a location added with API 2.17, in a background thread.

``start`` records the location as ``pending`` and moves the image ``queued ->
importing`` in one registry call (the caller's ``validation_data``, if any, becomes
the image's ``os_hash_algo``/``os_hash_value`` at the same time), then a thread of
this API worker reads the data through its store's reader, computing size, md5
checksum and multihash in one pass, and inspecting the content as an upload's is
(``glance_api.data.inspection``). It resumes a broken read from where it stopped, at
most ``http_retries`` times. Then, in one registry call each:

- the data matches the expected hash (or none was given) and its content is safe
  and of the image's ``disk_format``: ``importing -> active`` with size, virtual
  size, checksum and hash, the location ``active``;
- it does not, cannot be read, is larger than ``image_size_cap``, does not fit
  in the project's storage quota, or its content is refused: the location is
  removed, the hash values cleared and the image is ``queued`` again (its data,
  which this service did not write, is left where it is).

Nothing is kept in the process: the image's status and its pending location tell
the story to every worker and host. The verification runs on the worker's bounded
runner (``glance_api.data.runner``): when it is full, adding a location is refused
with 503 before anything is written. The thread holds a lease on the location
(``secure_hash_lease_time``), which a heartbeat renews while the read moves (or has
moved within ``task_stall_time``). If the worker dies or is stuck, the lease runs
out, and the next request that reads the image (``GET
/v2/images/{id}`` or ``GET /v2/images/{id}/locations``, on any worker) claims the
location and starts over (``resume_stalled``); after ``MAX_ATTEMPTS`` claims the
location is refused as above, so an image never stays ``importing`` for good.
"""

import logging
import time
import types
import uuid

from flask import g

from glance_api.access.context import SERVICE_IDENTITY
from glance_api.data import inspection
from glance_api.data.store_data import caller_credentials
from glance_api.images import notifications as payloads
from glance_api.services import services
from glance_registry.client import Lease
from glance_registry.client.leases import Heartbeat, Lost
from glance_registry.client import errors as registry_errors
from glance_registry.client import vocabulary
from stores import errors as store_errors
from stores import hashing

LOG = logging.getLogger(__name__)

PENDING = vocabulary.PENDING_LOCATION

#: Workers that may claim one location before it is refused.
MAX_ATTEMPTS = 3

# The data attributes verification sets, and clears when it refuses the data.
_DATA = ('size', 'virtual_size', 'checksum', 'os_hash_algo', 'os_hash_value')


def start(record, location, expected):
    """Add ``location`` (pending) to the queued image ``record`` and verify it in
    the background; ``expected`` holds the caller's ``os_hash_algo`` and
    ``os_hash_value``, or nothing.

    Returns the image as the registry answered (``importing``). Raises the
    registry's errors: ``Conflict`` if the image is no longer queued,
    ``TooLarge`` over ``image_location_quota``.
    """
    conf = services().conf
    verifier = Verifier.for_app(record['id'], location, g.request_id,
                                owner=record['owner'])
    # Before anything is written: a full runner refuses with nothing to undo.
    slot = services().runner.reserve('verifying a new location')
    try:
        added = services().registry.add_location(
            g.context.identity, record['id'], location['url'], location['metadata'],
            status=PENDING, transition=('queued', 'importing'), values=expected,
            max_locations=conf.image_location_quota, lease=verifier.lease,
            request_id=g.request_id)
    except BaseException:
        slot.release()
        raise
    verifier.spawn(added, slot)
    return added


def resume_stalled(record):
    """Take over the verification of ``record``'s pending locations whose lease
    ran out (a worker died): claim each, and verify it again, or refuse it after
    ``MAX_ATTEMPTS``. Errors are logged, never raised: the caller only reads."""
    if record.get('status') != 'importing':
        return
    for location in record.get('locations') or []:
        if location.get('status') != PENDING or not _expired(location):
            continue
        verifier = Verifier.for_app(record['id'], location, g.request_id,
                                    owner=record['owner'])
        slot = services().runner.try_reserve()
        if slot is None:
            return   # this worker is full: a later read resumes it
        try:
            claimed = services().registry.claim_location(
                SERVICE_IDENTITY, record['id'], location['url'], verifier.lease,
                request_id=g.request_id)
        except registry_errors.RegistryError as exc:
            slot.release()
            # Another worker was quicker, or the image is gone: nothing to do.
            LOG.debug('image %s: not resuming the verification of %s: %s',
                      record['id'], location['url'], exc)
            continue
        attempts = next((loc.get('attempts', 0) for loc in claimed['locations']
                         if loc['url'] == location['url']), 0)
        LOG.warning('image %s: resuming the verification of %s (attempt %d): the '
                    'worker that held it stopped renewing its claim', record['id'],
                    location['url'], attempts)
        verifier.spawn(claimed, slot, give_up=attempts > MAX_ATTEMPTS)


def _expired(location):
    # Counted by the registry on the database's clock: this host's may drift.
    if not location.get('lease_expires_at'):
        return True
    return location.get('lease_seconds_left', 0) <= 0


class _Refused(Exception):
    """The data at the location cannot become the image's."""


class _LeaseLost(Exception):
    """Another worker took the location over, or the image is gone."""


class Verifier:
    """Reads, hashes and judges the data at one pending location, in a thread."""

    def __init__(self, registry, store_set, image_id, location, hashing_algorithm,
                 retries, lease_time, stall_time, size_cap, max_storage=-1,
                 request_id=None,
                 credentials=None, rules=None, notifier=None):
        self.registry = registry
        self.store_set = store_set
        self.image_id = image_id
        self.url = location['url']
        self.metadata = location.get('metadata') or {}
        self.hashing_algorithm = hashing_algorithm
        self.retries = retries
        self.lease = Lease(owner=uuid.uuid4().hex, seconds=lease_time)
        self.size_cap = size_cap
        self.max_storage = max_storage
        self.request_id = request_id
        # The caller's, for stores that act as the caller; a verification taken
        # over from a dead worker has none.
        self.credentials = credentials
        # The ``[image_format]`` rules the content is inspected by (None: it is not).
        self.rules = rules
        #: Announces the image's new status (``image.update``); None: nothing.
        self.notifier = notifier
        self.content = None
        self._heartbeat = Heartbeat(lease_time, stall_time, self._renew,
                                    name='verification of %s' % image_id)

    @classmethod
    def for_app(cls, image_id, location, request_id, owner=None):
        """The verifier of ``location`` of the image ``image_id``, as this worker's
        configuration says."""
        conf = services().conf
        return cls(services().registry, services().stores, image_id, location,
                   conf.hashing_algorithm, conf.http_retries,
                   conf.secure_hash_lease_time, conf.task_stall_time,
                   conf.image_size_cap,
                   services().quotas.max_storage(owner), request_id,
                   credentials=caller_credentials(),
                   rules=inspection.Rules.from_conf(conf),
                   notifier=services().notifier)

    def spawn(self, record, slot, give_up=False):
        """Run in ``slot`` of this worker's runner (``glance_api.data.runner``);
        ``record`` is the image as the registry answered the claim on the location
        (its formats judge the content)."""
        if self.rules is not None:
            self.content = inspection.Inspection.for_image(record, self.rules)
        slot.run(self.run, give_up)

    def run(self, give_up=False):
        """Verify the location and activate or refuse it; never raises."""
        with self._heartbeat:
            self._run(give_up)

    def _run(self, give_up):
        try:
            if give_up:
                raise _Refused('its verification was interrupted %d times'
                               % MAX_ATTEMPTS)
            size, checksum, multihash = self._read()
            self._finish(size, checksum, multihash, self._judge_content())
        except _Refused as exc:
            self._refuse(str(exc))
        except _LeaseLost:
            LOG.info('image %s: verification of %s left to another worker',
                     self.image_id, self.url)
        except Exception:
            # The lease runs out and another worker tries again.
            LOG.exception('image %s: verification of %s failed (request %s)',
                          self.image_id, self.url, self.request_id)

    def _read(self):
        """``(size, md5, multihash)`` of the data, read once, resumed on failure."""
        try:
            store = self.store_set.for_location({'url': self.url,
                                                 'metadata': self.metadata})
        except store_errors.BadLocation as exc:
            raise _Refused(str(exc))
        hasher = hashing.ParallelHasher(self.hashing_algorithm)
        size = failures = 0
        try:
            while True:
                try:
                    with store.open_reader(self.url, size,
                                           credentials=self.credentials) as reader:
                        for chunk in reader:
                            size += len(chunk)
                            if size > self.size_cap:
                                raise _Refused('it is larger than image_size_cap (%d '
                                               'bytes)' % self.size_cap)
                            hasher.update(chunk)
                            self._inspect(chunk)
                            self._keep_lease()
                    checksum, multihash = hasher.hexdigests()
                    return size, checksum, multihash
                except (store_errors.NotFound, store_errors.BadLocation) as exc:
                    raise _Refused('there is no data: %s' % exc)
                except store_errors.StoreError as exc:
                    failures += 1
                    if failures > self.retries:
                        raise _Refused('reading it failed %d times, last: %s'
                                       % (failures, exc))
                    LOG.warning('image %s: reading %s failed after %d bytes (%s); '
                                'resuming', self.image_id, self.url, size, exc)
                    self._pause(min(failures, 5))
        finally:
            hasher.close()

    def _inspect(self, chunk):
        if self.content is None:
            return
        try:
            self.content.feed(chunk)
        except inspection.ContentRefused as exc:
            raise _Refused(exc.reason)

    def _judge_content(self):
        """The virtual size of the data read, if its content is accepted."""
        if self.content is None:
            return None
        try:
            return self.content.finish().virtual_size
        except inspection.ContentRefused as exc:
            raise _Refused(exc.reason)

    def _pause(self, seconds):
        """Wait before resuming a read, keeping the lease."""
        with self._heartbeat.waiting(seconds):
            time.sleep(seconds)
        self._keep_lease()

    def _keep_lease(self):
        """The read moved; ``_LeaseLost`` once the heartbeat found the location
        claimed by another worker (or the image gone)."""
        self._heartbeat.moved()
        if self._heartbeat.lost:
            raise _LeaseLost()

    def _renew(self):
        """Renew the claim on the location (``Heartbeat``'s renewal)."""
        try:
            self.registry.claim_location(SERVICE_IDENTITY, self.image_id, self.url,
                                         self.lease, request_id=self.request_id)
        except (registry_errors.Conflict, registry_errors.NotFound):
            raise Lost()

    def _finish(self, size, checksum, multihash, virtual_size):
        record = self._importing_record()
        if record is None:
            return
        expected = record.get('os_hash_value')
        if expected is not None and (record.get('os_hash_algo')
                                     != self.hashing_algorithm
                                     or expected.lower() != multihash):
            raise _Refused('its %s hash is %s, not the expected %s'
                           % (self.hashing_algorithm, multihash, expected))
        locations = [_stored(location, active=location['url'] == self.url)
                     for location in record['locations']]
        values = {'size': size, 'virtual_size': virtual_size, 'checksum': checksum,
                  'os_hash_algo': self.hashing_algorithm, 'os_hash_value': multihash}
        try:
            activated = self._transition('active', values, locations,
                                         quota={'max_storage': self.max_storage})
        except registry_errors.TooLarge:
            raise _Refused("it does not fit in the project's storage quota")
        if activated:
            LOG.info('image %s: the data at %s is verified (%d bytes); the image is '
                     'active', self.image_id, self.url, size)

    def _refuse(self, reason):
        record = self._importing_record()
        if record is None:
            return
        locations = [_stored(location) for location in record['locations']
                     if location['url'] != self.url]
        if self._transition('queued', dict.fromkeys(_DATA), locations):
            LOG.warning('image %s: the location %s is refused because %s; the image '
                        'is queued again', self.image_id, self.url, reason)

    def _importing_record(self):
        """The image, if it still waits for this location; else None."""
        try:
            record = self.registry.get_image(SERVICE_IDENTITY, self.image_id,
                                             request_id=self.request_id)
        except registry_errors.NotFound:
            return None
        pending = [location for location in record['locations']
                   if location['url'] == self.url and location['status'] == PENDING]
        if record['status'] != 'importing' or not pending:
            return None
        return record

    def _transition(self, to_status, values, locations, quota=None):
        try:
            changed = self.registry.transition_status(
                SERVICE_IDENTITY, self.image_id, 'importing', to_status, values=values,
                locations=locations, quota=quota, request_id=self.request_id)
        except (registry_errors.Conflict, registry_errors.NotFound) as exc:
            LOG.info('image %s changed while its location %s was verified: %s',
                     self.image_id, self.url, exc)
            return False
        if self.notifier is not None:
            # Outside any request: the request that added the location stands
            # for it.
            self.notifier.notify(
                types.SimpleNamespace(request_id=self.request_id),
                'image.update', payloads.image(changed))
        return True


def _stored(location, active=False):
    return {'url': location['url'], 'metadata': location.get('metadata') or {},
            'status': 'active' if active else location.get('status', 'active')}
