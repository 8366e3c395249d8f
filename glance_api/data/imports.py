"""Interoperable image import: the import methods, run as tasks on the worker's
bounded runner (``glance_api.data.runner``).

``start`` (``POST /v2/images/{id}/import``) creates the task in the registry, in
the same transaction taking the image's import lock (``os_glance_import_task``),
moving its status (``uploading -> importing`` for glance-direct, ``queued ->
importing`` for web-download; copy-image leaves an ``active`` image as it is) and
setting upstream's bookkeeping properties (``os_glance_importing_to_stores``,
``os_glance_failed_import``). The task is ``pending`` until a thread of the runner
runs the ``ImportJob``, which starts it (``processing``):

- web-download (and glance-download) streams the URL (``glance_api.data.fetch``)
  straight into each target store, inspecting (``glance_api.data.inspection``),
  capping and hashing it in the same pass, as ``PUT /file`` does;
- glance-direct takes the staged data (``glance_api.data.staging``), which its
  stage already hashed and inspected, into each target store in one pass or none:
  a file store on the staging file system links the staged file in, others are
  streamed it once, and the stage's hashes, verdict and virtual size are the
  image's (``ImportJob._import_staged`` says when they are not trusted);
- with ``image_decompression`` or ``image_conversion`` enabled
  (``glance_api.data.decompression``, ``glance_api.data.conversion``), the data is
  staged (web-download reads it into the staging store first), decompressed when
  it is compressed, then converted, and the file made is inspected and hashed as
  it is copied into each target store;
- copy-image copies the active data into each new store, checking that the bytes
  still have the image's hash.

The job ends with one registry call that finishes the task and changes the image in
the same transaction (``importing -> active`` with its new locations, or, when the
import fails, ``importing -> queued`` with nothing added), releases the lock and
records the stores that failed; the staged data is then removed. A failed import
leaves nothing in the staging store or any store. The task's lease is renewed every
third of ``task_lease_time`` by a heartbeat thread while the job is alive, with a
progress ``message`` ("Copied 15 MiB"): a source that pauses, or a long conversion,
keeps it, and a job that moves nothing for ``task_stall_time`` does not. If the
worker dies (or is stuck that long), the next read of the image or the task on any
worker takes it over (``resume_stalled``) and runs it again, at most
``MAX_ATTEMPTS`` times before failing it. The task of an image deleted meanwhile
is failed the same way, by whichever comes first: a read of it or the sweep of
deleted images' data (``fail_orphaned``).
"""

import contextlib
import dataclasses
import datetime
import logging
import uuid

from oslo_config import cfg

from glance_api.access.context import SERVICE_IDENTITY
from glance_api.data import (conversion, decompression, fetch, inject_metadata,
                             inspection, remote_glance, staging, task_events,
                             task_inputs)
from glance_api.option_types import BracketedListOpt
from glance_registry.client import Lease
from glance_registry.client import errors as registry_errors
from glance_registry.client import vocabulary
from glance_registry.client.leases import Heartbeat, Lost
from stores import errors as store_errors
from stores.base import StoredImage

LOG = logging.getLogger(__name__)

#: The methods this service runs, in upstream's order.
METHODS = ('glance-direct', 'web-download', 'copy-image', 'glance-download')
#: Those that read the data from a URL into the staging store first.
_DOWNLOADS = ('web-download', 'glance-download')
TASK_TYPE = 'api_image_import'
#: Upstream's legacy ``POST /v2/tasks`` import, which creates the image it imports.
LEGACY_TASK_TYPE = 'import'
LOCK = 'os_glance_import_task'
IMPORTING_TO = 'os_glance_importing_to_stores'
FAILED = 'os_glance_failed_import'
#: Workers that may claim one import before it fails.
MAX_ATTEMPTS = 3
_OVER_QUOTA = "The image does not fit in the project's storage quota."
_MiB = 1024 * 1024

import_opts = [
    BracketedListOpt('enabled_import_methods',
                     default=['glance-direct', 'web-download', 'copy-image'],
                     help='The import methods clients may use (upstream\'s): '
                          'glance-direct, web-download, copy-image. Empty: no '
                          'import, and PUT /stage answers 404.'),
    # Upstream reads it from [task]; an upstream config keeps its value.
    cfg.IntOpt('task_time_to_live', default=48, min=1,
               deprecated_opts=[cfg.DeprecatedOpt('task_time_to_live',
                                                  group='task')],
               help='Hours a finished task stays visible.'),
    cfg.IntOpt('task_lease_time', default=60, min=3,
               max=vocabulary.MAX_LEASE_SECONDS,
               help='Seconds an import task holds its image without renewing; it '
                    'renews every third of that while it works. When its API worker '
                    'dies (or is stuck for task_stall_time), the next read of the '
                    'image or the task takes it over once this has run out.'),
    cfg.IntOpt('task_stall_time', default=300, min=1,
               help='Seconds an import task (or the verification of an added '
                    'location) may go without moving a byte before its worker '
                    'stops renewing its lease, so that another worker takes it '
                    'over: longer than any read of a source or write to a store '
                    'may wait (a web source\'s reads wait up to 120 s). A '
                    'qemu-img conversion may take its timeout (1800 s) more.'),
]


def warn_unknown_methods(conf, log):
    """Log, at WARNING on ``log``, each name ``enabled_import_methods`` lists that
    is no import method (a typo: ``web_download``): it is not offered, and without
    a word the method the operator meant would be missing."""
    for name in conf.enabled_import_methods:
        if name not in METHODS:
            log.warning('[DEFAULT] enabled_import_methods lists %r, which is no '
                        'import method (%s): not offered.', name, ', '.join(METHODS))


def register_opts(conf):
    conf.register_opts(import_opts)
    conversion.register_opts(conf)
    inject_metadata.register_opts(conf)
    remote_glance.register_opts(conf)


class ImportFailed(Exception):
    """The import cannot succeed; the message is for the task (users read it)."""


class _LeaseLost(Exception):
    """Another worker took the task over, or it finished meanwhile."""


class _ImageDeleted(Exception):
    """The image was deleted during the import (the registry refused to renew
    the task's lease): the import stops, whichever store it was writing, and
    what it wrote goes."""


class _Unanswered(Exception):
    """The registry did not answer the task's success: the import may have been
    recorded, its data in use. The data stays: if it was not recorded, the task's
    lease runs out and the worker that takes it over removes it, as a dead
    worker's."""


@dataclasses.dataclass
class Request:
    """What the client asked: the method, its URI, the target stores."""

    method: str
    stores: list
    must_succeed: bool = True
    uri: str | None = None
    #: The method's other members (glance-download's remote image and region).
    details: dict = dataclasses.field(default_factory=dict)
    #: The properties the image gets when it becomes active
    #: (``glance_api.data.inject_metadata``), decided for the caller at the start.
    inject: dict = dataclasses.field(default_factory=dict)

    def input(self, image_id):
        """The task's ``input``, as upstream records an import request."""
        method = dict(self.details, name=self.method)
        if self.uri is not None:
            method['uri'] = self.uri
        task_input = {'image_id': image_id,
                      'import_req': {'method': method, 'stores': self.stores,
                                     'all_stores_must_succeed': self.must_succeed},
                      'backend': self.stores}
        if self.inject:
            task_input[task_inputs.INJECTED] = self.inject
        return task_input

    @classmethod
    def from_input(cls, task_input):
        request = task_input.get('import_req') or {}
        method = request.get('method') or {}
        details = {key: value for key, value in method.items()
                   if key not in ('name', 'uri')}
        return cls(method.get('name'), list(request.get('stores') or []),
                   request.get('all_stores_must_succeed', True), method.get('uri'),
                   details, dict(task_input.get(task_inputs.INJECTED) or {}))


_FROM_STATUS = {'glance-direct': 'uploading', 'web-download': 'queued',
                'glance-download': 'queued'}


def start(svc, identity, record, request, request_id, task_type=TASK_TYPE,
          credentials=None, task_input=None, token=None):
    """Create the import task of ``record`` and run it on the runner; the task.
    ``task_input`` (a legacy import task's) is kept in the task's ``input``,
    beside the request (``task_input.stored``);
    ``token`` (the caller's, for glance-download) only in this worker's memory.

    Raises ``runner.Busy`` (503) before anything is written when the runner is
    full, and the registry's errors (``Conflict`` ``import_locked`` while another
    import runs, or a lost status compare-and-swap).
    """
    if task_type == TASK_TYPE:
        request.inject = inject_metadata.properties_for(svc.conf, request.method,
                                                        identity.roles)
    slot = svc.runner.reserve('a new import')
    try:
        lease = Lease(owner=uuid.uuid4().hex, seconds=svc.conf.task_lease_time)
        from_status = _FROM_STATUS.get(request.method)
        properties = {IMPORTING_TO: ','.join(request.stores) if svc.stores.multi
                      else None, FAILED: '' if svc.stores.multi else None}
        image = {'id': record['id'], 'properties': properties}
        if from_status is not None:
            image.update({'from': from_status, 'to': 'importing'})
        task = {'id': str(uuid.uuid4()), 'type': task_type,
                'input': task_inputs.stored(request.input(record['id']),
                                            task_input),
                'request_id': request_id,
                'user_id': identity.user_id}
        created = svc.registry.create_task(identity, task, ttl=_ttl(svc.conf),
                                           lease=lease, image=image,
                                           request_id=request_id)
    except BaseException:
        slot.release()
        raise
    task_events.emit(svc, 'task.create', created['task'])
    job = ImportJob(svc, created['task'], request, lease, credentials, token)
    slot.run(job.run)
    return created['task']


def _ttl(conf):
    return conf.task_time_to_live * 3600


def resume_stalled(svc, record, request_id=None):
    """Take over the import of ``record`` if the worker running it died (its
    task's lease ran out): run it again here, or fail it after ``MAX_ATTEMPTS``.
    Errors are logged, never raised: the caller only reads."""
    task_id = (record.get('properties') or {}).get(LOCK)
    if not task_id:
        return
    try:
        task = svc.registry.get_task(SERVICE_IDENTITY, task_id, request_id=request_id)
    except registry_errors.RegistryError:
        return
    resume_task(svc, task, request_id)


def resume_task(svc, task, request_id=None, orphaned=False):
    """``resume_stalled`` for the import ``task`` (a record as the registry gave
    it): also the task of an image deleted since its worker died, which the job
    that takes it over fails (no worker would renew it, and a running task never
    expires). ``orphaned``: only such a task (the registry refuses any other).
    The task as claimed if this worker took it over, else None."""
    if task['status'] not in ('pending', 'processing') or not _expired(task):
        return
    task_id = task['id']
    slot = svc.runner.try_reserve()
    if slot is None:
        return
    lease = Lease(owner=uuid.uuid4().hex, seconds=svc.conf.task_lease_time)
    try:
        claimed = svc.registry.claim_task(SERVICE_IDENTITY, task_id, lease,
                                          message='Taken over by another worker.',
                                          request_id=request_id, orphaned=orphaned)
    except registry_errors.RegistryError as exc:
        slot.release()
        LOG.debug('task %s: not taking it over: %s', task_id, exc)
        return
    LOG.warning('task %s (image %s): taking it over (attempt %d): its worker stopped '
                'renewing its lease', task_id, claimed['image_id'],
                claimed['attempts'])
    job = ImportJob(svc, claimed, Request.from_input(claimed['input']), lease, None)
    job.taken_over = True
    slot.run(job.run, claimed['attempts'] > MAX_ATTEMPTS)
    return claimed


def fail_orphaned(svc):
    """Take over, to fail them, the import tasks whose worker is gone and whose
    image has been deleted, at most ``ORPHANED_BATCH`` (the next pass takes the
    rest): nothing else would end them, since no worker renews them and their
    image can no longer be read to take them over. The number taken over; the
    jobs fail them on the runner, as any takeover of a deleted image's task.
    Run by the sweep of deleted images' data (``deleted_data``)."""
    tasks = svc.registry.list_orphaned_tasks(SERVICE_IDENTITY, ORPHANED_BATCH)
    taken = 0
    for task in tasks:
        taken += resume_task(svc, task, orphaned=True) is not None
    return taken


#: The orphaned tasks one pass of ``fail_orphaned`` takes over at most.
ORPHANED_BATCH = 100


def _expired(task):
    expires = task.get('lease_expires_at')
    if not expires:
        return True
    return vocabulary.parse_timestamp(expires) <= datetime.datetime.now(
        datetime.timezone.utc)


class ImportJob:
    """One import task, run in a thread of the runner (never raises)."""

    def __init__(self, svc, task, request, lease, credentials, token=None):
        self.svc = svc
        self.conf = svc.conf
        self.registry = svc.registry
        self.task = task
        self.task_id = task['id']
        self.image_id = task['image_id']
        self.request_id = task.get('request_id')
        self.request = request
        self.lease = lease
        self.credentials = credentials
        self.token = token
        self.written = []      # (store, url) of new data, removed on failure
        #: Ids of the target stores that failed (os_glance_failed_import).
        self.failed_stores = []
        self.own_staging = []  # staged by this job (web-download, conversion)
        self.original_format = None   # set once conversion renamed the format
        self._heartbeat = Heartbeat(lease.seconds, svc.conf.task_stall_time,
                                    self._renew, name='task %s' % self.task_id)
        self._copied = 0
        self.quota = _StorageLeft(None)   # set once the image is read
        #: Run again after its worker died: what that worker was writing is left.
        self.taken_over = False
        #: The registry said another worker took the task over from this job: what
        #: this job wrote is that worker's to keep or remove (``_finish``).
        self.lost_task = False
        #: The task had finished when this job recorded its failure: ended by a
        #: worker that took it over (or by this job, the registry call retried).
        self.ended_elsewhere = False
        #: image.prepare was sent: the bytes started for the target stores.
        self.prepared = False
        #: The registry refused a renewal: the image has been deleted.
        self.image_deleted = False

    # -- running ---------------------------------------------------------------------

    def run(self, give_up=False):
        task_events.emit(self.svc, 'task.run', self.task)
        with self._heartbeat:
            self._run(give_up)

    def _run(self, give_up):
        try:
            if give_up:
                # As each takeover did: what the last worker left (it committed
                # before it lost the task, and leaves its objects to whoever holds
                # the task now) goes with the import.
                record = self.registry.get_image(SERVICE_IDENTITY, self.image_id,
                                                 request_id=self.request_id)
                self._discard_dead_workers(record, self._targets(record))
                raise ImportFailed('The import was interrupted %d times (its API '
                                   'worker stopped).' % MAX_ATTEMPTS)
            task_events.emit(self.svc, 'task.processing', self._begin())
            record = self.registry.get_image(SERVICE_IDENTITY, self.image_id,
                                             request_id=self.request_id)
            self.quota = self._storage_left(record)
            if self.request.method == 'copy-image':
                self._copy_image(record)
            else:
                self._import(record)
        except _LeaseLost:
            # Another worker took the task over (and removed what this one had
            # committed: it renews the lease before each commit) or ended it. The
            # objects this one wrote have the names that worker writes, and may
            # now be its recorded data: they are left to it, as in _finish.
            LOG.info('task %s: left to another worker', self.task_id)
            self.written = []
        except _Unanswered as exc:
            LOG.error('task %s: its success may have been recorded although the '
                      'registry did not answer: keeping its data: %s',
                      self.task_id, exc)
        except _ImageDeleted as exc:
            self._fail(str(exc), image_gone=True)
        except ImportFailed as exc:
            self._fail(str(exc))
        except registry_errors.NotFound:
            self._fail(str(self._deleted()), image_gone=True)
        except Exception as exc:   # noqa: BLE001 -- recorded on the task
            LOG.exception('task %s: import of image %s failed', self.task_id,
                          self.image_id)
            self._fail('The import failed: %s' % type(exc).__name__)

    def _import(self, record):
        if record['status'] != 'importing':
            raise ImportFailed('Image %s is %s, not importing.'
                               % (self.image_id, record['status']))
        targets = self._targets(record)
        if self.taken_over:
            self._discard_dead_workers(record, targets)
        record_format = record['disk_format']
        converted = None
        if self.request.method in _DOWNLOADS and \
                not conversion.needed(self.conf, record) and \
                not decompression.needed(self.conf, record):
            values, locations, failed = self._download_to_stores(record, targets)
        else:
            staged = None
            try:
                conversion.check_convertible(self.conf, record)
            except conversion.ConversionFailed as exc:
                raise ImportFailed(str(exc))
            if self.request.method in _DOWNLOADS:
                source = self._download(record)
            else:
                found = staging.staged_locations(record)
                if not found:
                    raise ImportFailed('Image %s has no staged data.' % self.image_id)
                staged, source = found[0], found[0]['url']
            try:
                decompressed = decompression.decompress(
                    self.conf, self.svc.staging, source, record, self.image_id,
                    self._moved)
            except decompression.DecompressionFailed as exc:
                raise ImportFailed(str(exc))
            if decompressed is not None:
                # New bytes, tracked as the conversion's are; the stage's facts
                # were of the archive.
                self.own_staging.append(decompressed.url)
                source, staged = decompressed.url, None
            try:
                with self._heartbeat.waiting(conversion.TIMEOUT):
                    converted = conversion.convert(self.conf, self.svc.staging,
                                                   source, record, self.image_id)
            except conversion.ConversionFailed as exc:
                raise ImportFailed(str(exc))
            self._prepare(record, targets)
            if converted is not None:
                # New bytes: inspected as the output format and hashed as they
                # are copied.
                # Tracked with the download it was made from: both go.
                self.own_staging.append(converted.url)
                self._check_new_bytes_fit_quota('converted', converted.size,
                                                len(targets))
                source = converted.url
                record = dict(record, disk_format=converted.disk_format)
                values, locations, failed = self._copy_to_stores(
                    record, self._staged_reader(source), targets, inspect=True)
            elif staged is not None:
                values, locations, failed = self._import_staged(record, staged,
                                                                targets)
            else:
                if decompressed is not None:
                    self._check_new_bytes_fit_quota('decompressed',
                                                    decompressed.size, len(targets))
                values, locations, failed = self._copy_to_stores(
                    record, self._staged_reader(source), targets, inspect=True)
        values['virtual_size'] = values.pop('_virtual_size', None)
        if converted is not None:
            # Before the image is active: never active with the old format's name.
            self.registry.update_image(SERVICE_IDENTITY, self.image_id,
                                       values={'disk_format': converted.disk_format},
                                       request_id=self.request_id)
            self.original_format = record_format
        finished = self._finish('success', 'Imported into %s.' % ', '.join(
            store.store_id for store, _ in locations), image={
            'from': 'importing', 'to': 'active', 'values': values,
            'locations': staging.other_locations(record) + [
                location for _, location in locations],
            'properties': dict(self._bookkeeping(failed, done=True),
                               **self.request.inject),
            'max_storage': self.svc.quotas.max_storage(record['owner'])})
        if finished is not None:
            staging.discard(self.svc.staging, record)
            self._discard_own_staging()

    def _import_staged(self, record, staged, targets):
        """glance-direct: the staged data into each target store, in one pass or
        none: ``(values, [(store, location)], [failed store ids])``.

        The stage hashed and inspected these bytes as they arrived and recorded
        what it found (``staging.stage_facts``). When the staged file is still the
        file it wrote (same identity: inode, size, mtime, ctime), those facts are
        the image's: a file store on the staging file system links the file in
        (``Store.link_in``: no byte read or written), any other store is streamed
        the bytes once, without inspecting them again, and what it hashed must be
        the stage's hash. Otherwise (no facts recorded, other rules, a file that
        changed) the bytes are inspected and hashed again, as new data, and must
        still hash as they did when staged."""
        facts = staging.verified_facts(record, staged,
                                       inspection.Rules.from_conf(self.conf),
                                       self.conf.hashing_algorithm)
        not_ours = 'The staged data of image %s is not a file of the staging ' \
            'directory.' % self.image_id
        if facts is None:
            try:
                self.svc.staging.check_location(staged['url'])
            except store_errors.BadLocation:
                raise ImportFailed(not_ours)
            return self._copy_to_stores(record, self._staged_reader(staged['url']),
                                        targets, inspect=True)
        try:
            pinned = self.svc.staging.pin(staged['url'])
        except store_errors.NotFound:
            raise ImportFailed('The staged data of image %s is gone.' % self.image_id)
        except store_errors.BadLocation:
            # Its name resolves outside the staging directory (a symbolic link).
            raise ImportFailed(not_ours)
        changed = 'The staged data of image %s changed after it was staged.' \
            % self.image_id
        with pinned:
            if pinned.identity != facts['identity']:
                LOG.warning('task %s: the staged file of image %s is not the one '
                            'staged (%s, staged as %s): inspecting it again',
                            self.task_id, self.image_id, pinned.identity,
                            facts['identity'])
                return self._copy_to_stores(record, pinned.reader, targets,
                                            inspect=True, expected=facts,
                                            mismatch=changed)

            def put(store):
                self._hold()
                url = store.link_in(pinned, self.image_id)
                if url is None:
                    return self._copy_one(pinned.reader, store, None)
                self.written.append((store, url))
                # Linked, not copied: it counts as a copy (removed if over).
                self.quota.spend(facts['size'])
                return StoredImage(url=url, size=facts['size'],
                                   checksum=facts['checksum'],
                                   multihash=facts['os_hash_value']), None

            values, done, failed = self._into_stores(targets, put, inspect=False,
                                                     expected=facts, mismatch=changed)
        if values:
            values['_virtual_size'] = facts.get('virtual_size')
        return values, done, failed

    def _copy_image(self, record):
        if record['status'] != 'active':
            raise ImportFailed('Image %s is %s: only an active image is copied.'
                               % (self.image_id, record['status']))
        # Legacy locations (recorded before enabled_backends) name no store: mapped
        # here, they count as held.
        record = dict(record, locations=self.svc.stores.located(
            record.get('locations') or []))
        held = {(loc.get('metadata') or {}).get('store') for loc in
                record['locations'] if loc.get('status', 'active') == 'active'}
        targets = [store for store in self._targets(record)
                   if store.store_id not in held]
        if self.taken_over:
            self._discard_dead_workers(record, targets)
        source = self._source_reader(self._active_sources(record))
        self._prepare(record, targets)
        _, locations, failed = self._copy_to_stores(record, source, targets,
                                                    inspect=False, expected=record)
        # Added to the locations the image has when the copy ends: the image
        # stays active meanwhile, and a location added or removed during the copy
        # (PATCH, DELETE /v2/stores) must stay as that request left it.
        self._finish('success', 'Copied to %s.' % (', '.join(
            store.store_id for store, _ in locations) or 'no new store'), image={
            'add_locations': [location for _, location in locations],
            'properties': self._bookkeeping(failed, done=True),
            'max_storage': self.svc.quotas.max_storage(record['owner'])})

    def _targets(self, record):
        store_set = self.svc.stores
        if not self.request.stores:
            return [store_set.default]
        return [store_set.get(store_id) for store_id in self.request.stores]

    def _active_sources(self, record):
        """The image's active locations, in the order downloads read them."""
        active = [loc for loc in self.svc.stores.ordered(record.get('locations') or [])
                  if loc.get('status', 'active') == 'active']
        if not active:
            raise ImportFailed('Image %s has no data to copy.' % self.image_id)
        return active

    # -- moving bytes ----------------------------------------------------------------

    def _download(self, record):
        """Read the web-download URL into the staging store (to be decompressed
        or converted); its staged URL."""
        staging_store = self.svc.staging
        # Inspected as it arrives, as an upload: a refusal certain from the first
        # chunk stops the download there.
        content = decompression.stage_inspection(
            self.conf, record, inspection.Rules.from_conf(self.conf))
        # What a worker killed between committing its download and the end of
        # the import left under the image's name (no staged location records
        # it): this import holds the image, and would meet it as a Duplicate.
        staging.discard_leftover(staging_store, record)
        try:
            with self._open_url() as response, staging_store.open_writer(
                        self.image_id, self.conf.hashing_algorithm) as writer:
                # The response stops at the cap (fetch.TooLarge).
                for chunk in response.iter_content(self.conf.upload_chunk_size):
                    self._inspect(content, chunk)
                    writer.write(chunk)
                    self._progress(len(chunk))
                self._inspect(content)
                self._hold()
                stored = writer.commit()
        except fetch.TooLarge:
            raise _over_cap(self.conf.image_size_cap)
        except (fetch.Refused, fetch.Failed) as exc:
            raise ImportFailed(str(exc))
        self.own_staging.append(stored.url)
        return stored.url

    def _download_to_stores(self, record, targets):
        """web-download (and glance-download) with no conversion: the URL's bytes
        straight into every target store, inspected, capped and hashed in the
        same pass, as ``PUT /file`` does; nothing is staged. A refusal (the
        content, the size cap, the fetch) cancels every writer, so no store keeps
        a byte. ``(values, [(store, location)], [failed store ids])``."""
        content = inspection.Inspection.for_image(
            record, inspection.Rules.from_conf(self.conf))
        failed, writers, done = [], [], []
        with contextlib.ExitStack() as stack:
            try:
                response = stack.enter_context(self._open_url())
                self._prepare(record, targets)
                for store in targets:
                    try:
                        writers.append((store, stack.enter_context(store.open_writer(
                            self.image_id, self.conf.hashing_algorithm,
                            credentials=self.credentials))))
                    except store_errors.StoreError as exc:
                        self._store_failed(store, exc, failed)
                # The response stops at the cap (fetch.TooLarge).
                for chunk in response.iter_content(self.conf.upload_chunk_size):
                    # Before any store sees the chunk: a refusal certain from the
                    # first chunk stops the download there.
                    self._inspect(content, chunk)
                    for store, writer in list(writers):
                        self.quota.spend(len(chunk))
                        try:
                            writer.write(chunk)
                        except store_errors.StoreError as exc:
                            writer.cancel()
                            writers.remove((store, writer))
                            self._store_failed(store, exc, failed)
                    if not writers:
                        raise ImportFailed('The image could not be imported into '
                                           'any store.')
                    self._progress(len(chunk))
                virtual_size = self._inspect(content)
            except fetch.TooLarge:
                raise _over_cap(self.conf.image_size_cap)
            except (fetch.Refused, fetch.Failed) as exc:
                raise ImportFailed(str(exc))
            self._hold()
            for store, writer in writers:
                try:
                    stored = writer.commit()
                except store_errors.StoreError as exc:
                    self._store_failed(store, exc, failed)
                    continue
                self.written.append((store, stored.url))
                done.append((store, stored))
        if not done:
            raise ImportFailed('The image could not be imported into any store.')
        stored = done[0][1]
        values = {'size': stored.size, 'checksum': stored.checksum,
                  'os_hash_algo': self.conf.hashing_algorithm,
                  'os_hash_value': stored.multihash, '_virtual_size': virtual_size}
        return values, [(store, self._location(store, stored))
                        for store, stored in done], failed

    def _open_url(self):
        """The response of the import's URL (``fetch``'s SSRF rules apply)."""
        limit = self.conf.image_size_cap
        if self.request.method == 'glance-download':
            if self.token is None:
                # Taken over from a dead worker: the caller's token died with it.
                raise ImportFailed('A glance-download import cannot be resumed by '
                                   'another worker: import the image again.')
            return remote_glance.open_data(self.conf, self.request.uri, self.token,
                                           max_bytes=limit)
        return fetch.open_url(self.conf, self.request.uri, max_bytes=limit)

    def _storage_left(self, record):
        """The bytes the owner's storage quota has left as the import begins."""
        limit = self.svc.quotas.max_storage(record['owner'])
        if limit < 0 or record['owner'] is None:
            return _StorageLeft(None)
        usage = self.registry.usage(SERVICE_IDENTITY, project_id=record['owner'],
                                    request_id=self.request_id)
        return _StorageLeft(max(limit - usage['image_size_total'], 0))

    def _check_new_bytes_fit_quota(self, made, size, copies):
        """Refuse new bytes (a conversion's, a decompression's: ``made``) that
        cannot fit in the owner's storage quota before any is copied."""
        if self.quota.left is not None and size * copies > self.quota.left:
            raise ImportFailed("The image %s is %d bytes, more than the %d "
                               "bytes the project's storage quota has left."
                               % (made, size, self.quota.left))

    def _store_failed(self, store, exc, failed):
        """A target store failed: the import fails if every store must succeed,
        else the store is noted in ``failed``."""
        LOG.warning('task %s: image %s not imported into %s: %s', self.task_id,
                    self.image_id, store.store_id, exc)
        self.failed_stores.append(store.store_id)
        if self.request.must_succeed:
            raise ImportFailed(_store_failure(store, exc))
        failed.append(store.store_id)

    def _location(self, store, stored):
        metadata = dict(stored.metadata)
        if self.svc.stores.multi:
            metadata['store'] = store.store_id
        return {'url': stored.url, 'metadata': metadata, 'status': 'active'}

    def _staged_reader(self, url):
        """Opens a reader of the staged data at ``url``."""
        return lambda: self.svc.staging.open_reader(url)

    def _source_reader(self, locations):
        """Opens a reader of the active data at the first of ``locations`` whose
        store opens it: as a download, and upstream's copy, a copy whose store
        is down or lost it is read from the next."""
        def open_source():
            for location in locations[:-1]:
                try:
                    return self.svc.stores.for_location(location).open_reader(
                        location['url'], credentials=self.credentials)
                except store_errors.StoreError as exc:
                    LOG.warning('task %s: cannot read image data at %s: %s',
                                self.task_id, location['url'], exc)
            return self.svc.stores.for_location(locations[-1]).open_reader(
                locations[-1]['url'], credentials=self.credentials)
        return open_source

    def _copy_to_stores(self, record, open_source, targets, inspect, expected=None,
                        mismatch=None):
        """Copy the data ``open_source()`` reads into each target store, inspected
        (``inspect``) and hashed: ``(values, [(store, location)], [failed store
        ids])``."""
        def put(store):
            content = inspection.Inspection.for_image(
                record, inspection.Rules.from_conf(self.conf)) if inspect else None
            return self._copy_one(open_source, store, content)
        return self._into_stores(targets, put, inspect, expected, mismatch)

    def _into_stores(self, targets, put, inspect, expected=None, mismatch=None):
        """``put(store)`` the data into each target store (``(StoredImage,
        virtual size)``); a store whose data does not hash as ``expected`` says
        so (``mismatch``) and fails the import."""
        done, failed, values = [], [], {}
        for store in targets:
            try:
                stored, virtual_size = put(store)
            except (ImportFailed, store_errors.StoreError) as exc:
                reason = str(exc) if isinstance(exc, ImportFailed) else \
                    _store_failure(store, exc)
                LOG.warning('task %s: image %s not imported into %s: %s',
                            self.task_id, self.image_id, store.store_id, exc)
                if isinstance(exc, ImportFailed) and inspect or \
                        isinstance(exc, _OverQuota) or self.request.must_succeed:
                    if isinstance(exc, store_errors.StoreError):
                        self.failed_stores.append(store.store_id)
                    raise ImportFailed(reason)
                failed.append(store.store_id)
                self.failed_stores.append(store.store_id)
                continue
            if expected is not None and expected.get('os_hash_value') and \
                    expected.get('os_hash_algo') == self.conf.hashing_algorithm and \
                    stored.multihash != expected['os_hash_value']:
                self._remove(store, stored.url)
                raise ImportFailed(mismatch or 'The data of image %s no longer has '
                                   'its hash.' % self.image_id)
            done.append((store, self._location(store, stored)))
            if not values:
                values = {'size': stored.size, 'checksum': stored.checksum,
                          'os_hash_algo': self.conf.hashing_algorithm,
                          'os_hash_value': stored.multihash,
                          '_virtual_size': virtual_size}
        if not done and targets:
            raise ImportFailed('The image could not be imported into any store.')
        return values, done, failed

    def _copy_one(self, open_source, store, content):
        limit = self.conf.image_size_cap
        with self._reading(open_source) as reader, \
                store.open_writer(self.image_id, self.conf.hashing_algorithm,
                                  credentials=self.credentials) as writer:
            for chunk in reader:
                if writer.size + len(chunk) > limit:
                    raise _over_cap(limit)
                if content is not None:
                    self._inspect(content, chunk)
                self.quota.spend(len(chunk))
                writer.write(chunk)
                self._progress(len(chunk))
            virtual_size = self._inspect(content) if content is not None else None
            self._hold()
            stored = writer.commit()
        self.written.append((store, stored.url))
        return stored, virtual_size

    @contextlib.contextmanager
    def _reading(self, open_source):
        """The chunks of ``open_source()``'s reader, a failure of the store it
        reads (a Swift that is down) raised as ``_SourceFailed``: the store being
        written to is not to blame, and the task must not name it."""
        def failed(exc):
            LOG.warning('task %s: reading the data of image %s failed: %s',
                        self.task_id, self.image_id, exc)
            return _SourceFailed('The data of image %s could not be read from the '
                                 'store that holds it.' % self.image_id)

        def chunks(reader):
            while True:
                try:
                    chunk = next(reader, None)
                except store_errors.StoreError as exc:
                    raise failed(exc) from exc
                if chunk is None:
                    return
                yield chunk

        try:
            reader = open_source()
        except store_errors.StoreError as exc:
            raise failed(exc) from exc
        with reader:
            yield chunks(iter(reader))

    @staticmethod
    def _inspect(content, chunk=None):
        try:
            if chunk is None:
                return content.finish().virtual_size
            content.feed(chunk)
        except inspection.ContentRefused as exc:
            raise ImportFailed(str(exc))
        return None

    def _begin(self):
        # As upstream's task, created pending: it is processing once a worker runs
        # it, not while it waits in the runner's queue.
        try:
            return self.registry.claim_task(SERVICE_IDENTITY, self.task_id,
                                            self.lease, request_id=self.request_id)
        except (registry_errors.Conflict, registry_errors.NotFound) as exc:
            if exc.reason == 'image_deleted':
                raise self._deleted()
            raise _LeaseLost()

    def _prepare(self, record, targets):
        """Announce ``image.prepare`` once per target store (naming it as
        ``backend`` with multiple stores), as the bytes start for them: as
        upstream's, before its store writes; not for a download that never
        started."""
        if self.prepared:
            return
        self.prepared = bool(targets)
        for store in targets:
            task_events.emit_image(
                self.svc, 'image.prepare', self.task, record,
                backend=store.store_id if self.svc.stores.multi else None)

    def _progress(self, size):
        """``size`` more bytes copied; ``_LeaseLost`` once the heartbeat found the
        task taken over (or ended) by another worker, ``_ImageDeleted`` once it
        found the image deleted."""
        self._copied += size
        self._moved()

    def _moved(self, size=0):
        """The job moved (``size`` bytes made, not yet copied); raises as
        ``_progress``."""
        self._heartbeat.moved()
        if self._heartbeat.lost:
            raise self._deleted() if self.image_deleted else _LeaseLost()

    def _renew(self):
        """Renew the task's lease (``Heartbeat``'s renewal)."""
        try:
            self.registry.claim_task(SERVICE_IDENTITY, self.task_id, self.lease,
                                     message='Copied %d MiB' % (self._copied // _MiB),
                                     request_id=self.request_id)
        except (registry_errors.Conflict, registry_errors.NotFound) as exc:
            self.image_deleted = exc.reason == 'image_deleted'
            raise Lost()

    def _deleted(self):
        if self.taken_over:
            # Its worker stopped renewing the task before this job took it over.
            return _ImageDeleted('Image %s was deleted while the worker running '
                                 'its import was gone.' % self.image_id)
        return _ImageDeleted('Image %s was deleted during the import.'
                             % self.image_id)

    # -- ending ----------------------------------------------------------------------

    def _hold(self):
        """Renew the task's lease now, before committing data to a store: a worker
        whose lease ran out (stuck past ``task_stall_time``, or cut off from the
        registry) may have been taken over meanwhile, and must stop here rather
        than commit an object under the name the worker holding the task now
        writes (as an upload's ``lease.keep(now=True)`` before its commit)."""
        try:
            self._renew()
        except Lost:
            raise self._deleted() if self.image_deleted else _LeaseLost()
        except registry_errors.RegistryError as exc:
            LOG.warning('task %s: could not renew its lease: %s', self.task_id, exc)

    def _bookkeeping(self, failed, done):
        if not self.svc.stores.multi:
            return {}
        return {IMPORTING_TO: '', FAILED: ','.join(failed)}

    def _finish(self, status, message, image=None):
        """Finish the task (and change the image); the registry's answer, or None
        when the task is no longer this job's."""
        try:
            finished = self.registry.finish_task(
                SERVICE_IDENTITY, self.task_id, self.lease, status, message=message,
                result={'image_id': self.image_id}, ttl=_ttl(self.conf), image=image,
                request_id=self.request_id)
        except registry_errors.TooLarge:
            raise ImportFailed(_OVER_QUOTA)
        except (registry_errors.Conflict, registry_errors.NotFound) as exc:
            if getattr(exc, 'reason', None) == 'taken_over':
                # Another worker holds the task: it removed what this one had left
                # when it took over, and writes the same objects (their names are
                # the image's), which it may have written already. Removing them
                # here could remove its data after it records it: they are its.
                LOG.info('task %s: taken over by another worker (%s); what this '
                         'worker wrote is left to it', self.task_id, exc)
                self.lost_task = True
                self.written = []
                return None
            if getattr(exc, 'reason', None) in ('task_finished', 'task_not_found'):
                if status == 'success' and self._recorded_already(exc):
                    return {}
                LOG.info('task %s: no longer this worker\'s: %s', self.task_id, exc)
                self._remove_written()
                return None
            if status == 'success' and isinstance(exc, registry_errors.NotFound):
                raise ImportFailed('Image %s was deleted during the import.'
                                   % self.image_id)
            if status == 'success':
                # The image changed meanwhile (its status): the import fails.
                raise ImportFailed('Image %s changed during the import: %s'
                                   % (self.image_id, exc.message))
            raise
        except registry_errors.Unavailable as exc:
            if status == 'success' and self.written:
                raise _Unanswered(exc) from exc
            raise
        except registry_errors.RegistryError as exc:
            # An answer (a 400: a value it does not keep): nothing was recorded.
            # Kept waiting as if unanswered, the task was taken over and failed
            # the same way, again and again, and the image stayed importing.
            if status == 'success':
                raise ImportFailed('The import could not be recorded: %s'
                                   % exc.message)
            raise
        LOG.info('task %s: %s: %s', self.task_id, status, message)
        if image is not None and self.prepared and finished.get('image'):
            # copy-image too (the image stays active: no image.activate).
            events = ['image.upload'] + (['image.activate']
                                         if image.get('to') == 'active' else [])
            for event in events:
                task_events.emit_image(self.svc, event, finished['task'],
                                       finished['image'])
        task_events.emit(self.svc, 'task.%s' % status, finished['task'])
        return finished

    def _fail(self, message, image_gone=False):
        if self.prepared:
            task_events.emit_import_failed(self.svc, self.task, message)
        image = None
        record = None
        if not image_gone:
            try:
                record = self.registry.get_image(SERVICE_IDENTITY, self.image_id,
                                                 request_id=self.request_id)
            except registry_errors.NotFound:
                record = None
        if record is not None and self.original_format is not None:
            self.registry.update_image(SERVICE_IDENTITY, self.image_id,
                                       values={'disk_format': self.original_format},
                                       request_id=self.request_id)
        if record is not None:
            # As upstream: the stores that failed, not those the import reverted
            # or never reached, nor any when no store is to blame (the source,
            # the content, the quota).
            image = {'properties': self._bookkeeping(
                list(dict.fromkeys(self.failed_stores)), done=False)}
            if record['status'] == 'importing':
                image.update({'from': 'importing', 'to': 'queued',
                              'values': dict.fromkeys(vocabulary.DATA_ATTRIBUTES),
                              'locations': staging.other_locations(record)})
        try:
            finished = self._finish_failure(message, image)
        except registry_errors.RegistryError as exc:
            # Unanswered, the task may have been taken over meanwhile, and what
            # this worker wrote be the new holder's recorded data (as in _finish).
            # Left: once the lease runs out, whoever takes the task over removes
            # it, as a dead worker's; so does deleting the image.
            LOG.error('task %s: could not record its failure (%s): %s; what it '
                      'wrote is left to the worker that takes the task over',
                      self.task_id, message, exc)
            return
        if self.lost_task:
            # Another worker holds the task now and writes the same objects (see
            # _finish): what this one wrote, and the staged data, are its.
            LOG.info('task %s: taken over by another worker; what this worker '
                     'wrote and the staged data are left to it', self.task_id)
            return
        if self.ended_elsewhere:
            self._forget_recorded()
        # Once the failure is recorded: the image no longer uses what was written.
        self._remove_written()
        self._discard_own_staging()
        if record is not None:
            staging.discard(self.svc.staging, record)
        if finished and image.get('to') == 'queued' and \
                self.task.get('type') == LEGACY_TASK_TYPE:
            self._delete_legacy_image(finished)

    def _delete_legacy_image(self, finished):
        # A legacy task created its image for the import alone: as upstream's
        # revert, a failed import deletes it rather than leave an empty image the
        # caller never asked for, counted against the project's quota.
        try:
            deleted = self.registry.delete_image(SERVICE_IDENTITY, self.image_id,
                                                 request_id=self.request_id)
        except registry_errors.RegistryError as exc:
            LOG.error('task %s: could not delete image %s: %s', self.task_id,
                      self.image_id, exc)
            return
        task_events.emit_image(self.svc, 'image.delete', finished['task'], deleted,
                               deleted=True)

    def _finish_failure(self, message, image):
        """Fail the task, changing ``image`` as it says in the same transaction if
        it still can; the finished task if ``image`` was changed, else None."""
        def fail(image):
            return self.registry.finish_task(
                SERVICE_IDENTITY, self.task_id, self.lease, 'failure',
                message=message, ttl=_ttl(self.conf), image=image,
                request_id=self.request_id)
        try:
            finished = fail(image)
        except (registry_errors.Conflict, registry_errors.NotFound) as exc:
            if exc.reason == 'taken_over':
                self.lost_task = True
            if exc.reason == 'task_finished':
                self.ended_elsewhere = True
            if exc.reason in ('taken_over', 'task_finished', 'task_not_found'):
                return None
            # The image moved on (or went) meanwhile: fail the task alone.
            image = None
            finished = fail(None)
        LOG.warning('task %s: image %s not imported: %s', self.task_id,
                    self.image_id, message)
        task_events.emit(self.svc, 'task.failure', finished['task'])
        return finished if image is not None else None

    def _discard_dead_workers(self, record, targets):
        """Remove what the dead worker left: its temporary files in the staging
        store and the targets (web-download writes straight into the stores), and
        the object it may have committed in a target store without recording it
        (killed between the two): nothing uses it, and the import would find it in
        its way. Never in a store the image has a location in, nor in the staging
        store (``discard_object``)."""
        urls = [loc['url'] for loc in record.get('locations') or []]
        leftovers = [(store, store.discard_abandoned)
                     for store in [self.svc.staging] + targets]
        leftovers += [(store, store.discard_object) for store in targets
                      if store is not self.svc.staging
                      and not any(store.owns(url) for url in urls)]
        for store, discard in leftovers:
            try:
                discard(self.image_id, credentials=self.credentials)
            except store_errors.StoreError as exc:
                LOG.warning('task %s: could not remove what the import left in '
                            'store %s: %s', self.task_id, store.store_id, exc)

    def _recorded_already(self, exc):
        """Whether the success that met ``exc`` (its task finished) was this
        job's own, made before: the registry client retries a call whose
        connection broke after the registry committed it. So it was if the image
        uses every object this job wrote."""
        if not self.written:
            return False
        try:
            record = self.registry.get_image(SERVICE_IDENTITY, self.image_id,
                                             request_id=self.request_id)
        except registry_errors.NotFound:
            return False
        except registry_errors.RegistryError as unanswered:
            raise _Unanswered(unanswered) from unanswered
        urls = {location['url'] for location in record.get('locations') or []}
        if not all(url in urls for _, url in self.written):
            return False
        LOG.warning('task %s: its success was answered with %s, but it was made: '
                    'the registry call was retried', self.task_id, exc)
        self.written = []
        return True

    def _forget_recorded(self):
        """Leave out of what this job removes the objects its image now uses: a
        worker that took the task over and finished it wrote and recorded objects
        of the same names (the image's), perhaps after it removed this job's."""
        try:
            record = self.registry.get_image(SERVICE_IDENTITY, self.image_id,
                                             request_id=self.request_id)
        except registry_errors.NotFound:
            return
        except registry_errors.RegistryError as exc:
            LOG.error('task %s: cannot tell whether its image uses what it wrote '
                      '(%s): keeping it', self.task_id, exc)
            self.written = []
            return
        urls = {location['url'] for location in record.get('locations') or []}
        self.written = [(store, url) for store, url in self.written
                        if url not in urls]

    def _remove_written(self):
        for store, url in self.written:
            self._remove(store, url)
        self.written = []

    def _remove(self, store, url):
        try:
            store.delete(url, credentials=self.credentials)
        except store_errors.NotFound:
            pass
        except store_errors.StoreError as exc:
            LOG.error('task %s: could not remove %s: %s', self.task_id, url, exc)

    def _discard_own_staging(self):
        for url in self.own_staging:
            self._remove(self.svc.staging, url)
        self.own_staging = []


class _OverQuota(ImportFailed):
    """The import's bytes do not fit in the owner's storage quota: no store is
    to blame, so the import fails whichever stores may fail."""


class _SourceFailed(ImportFailed):
    """The data being copied could not be read (its store failed): no target
    store is to blame."""


class _StorageLeft:
    """The owner's storage quota left when the import began (``left``, None: no
    quota), spent as bytes reach the stores (each store's copy counts, as each
    active location does): an import over it stops at its first byte too many
    instead of writing up to ``image_size_cap`` into the stores first. The check
    that makes the image active stays the authority (uploads and imports running
    side by side are judged there)."""

    def __init__(self, left):
        self.left = left
        self.spent = 0

    def spend(self, count):
        self.spent += count
        if self.left is not None and self.spent > self.left:
            raise _OverQuota("The image does not fit in the %d bytes the "
                             "project's storage quota has left." % self.left)


def _over_cap(limit):
    return ImportFailed('The image is larger than the image size cap of %d bytes.'
                        % limit)


def _store_failure(store, exc):
    """The task's message for a store that failed: a full store says so, as
    upstream's "Image storage media is full" does, since freeing space is what
    lets the import be retried; other failures keep their details (addresses,
    paths) in the log."""
    if isinstance(exc, store_errors.StoreFull):
        return 'the store %s failed: %s' % (store.store_id, exc)
    return 'the store %s failed' % store.store_id
