"""The cache's background work: the prefetcher, the pruner, the cleaner and the
report of this node's copies to the registry.

In the API, one worker per node runs them every ``cache_prefetcher_interval``
seconds: each worker tries to take an ``flock`` on ``<image_cache_dir>/
housekeeping.lock``, the one that gets it keeps it for its life and does the work,
and when it dies the kernel releases the lock and another worker takes over at its
next try. The ``glance-cache-*`` commands run the same passes once, for cron-driven
deployments. Passes running at once on one node are safe, only wasteful: fills
reserve their image in the index, evictions lock the file.

- ``prefetch``: caches the images of the registry's queue that this node has not
  fetched for their ``queued_at``; forgets entries whose image is gone.
- ``prune``: evicts least-recently-used images until the cache fits its cap (it
  always does, unless ``image_cache_max_size`` was lowered).
- ``clean``: removes what dead fills left (``ImageCache.clean``: with unindexed
  copies and upstream's ``invalid/`` files), and the copies of deleted images.
- ``report_copies``: replaces this node's set of cached copies in the registry
  with what its index holds (``GET /v2/cache/nodes/{image_id}``), healing any
  report of a commit or removal that was lost (``copies``).
"""

import logging
import os

from oslo_config import cfg

from glance_api.access.context import SERVICE_IDENTITY
from glance_api.data import download
from glance_api.data import node_duty
from glance_api.images import documents
from glance_api.services import services
from glance_registry.client import errors as registry_errors

LOG = logging.getLogger(__name__)

LOCK_NAME = 'housekeeping.lock'

housekeeping_opts = [
    cfg.IntOpt('cache_prefetcher_interval', default=300, min=1,
               help='Seconds between two runs of the cache prefetcher (and of the '
                    'pruner and cleaner) in the API workers of a node with '
                    'image_cache_dir; one worker per node runs them.'),
]


def register_opts(conf):
    conf.register_opts(housekeeping_opts)


def start(app):
    """Run the passes in a thread of this worker whenever it holds the node's lock,
    the report of the node's copies also as soon as it takes the lock."""
    cache = app.extensions['glance'].cache
    started = []

    def run_passes_in_app():
        with app.app_context():
            if started:
                run_passes()
                return
            started.append(True)
            # The registry may not know this node's copies: they were cached
            # before an upgrade brought cache_copies, or under another node name,
            # or their reports were lost as the node stopped. Report them now
            # rather than one whole interval later; the other passes wait.
            try:
                report_copies()
            except Exception as exc:   # noqa: BLE001 -- the first cycle reports again
                LOG.warning('image cache: could not report this node\'s copies at '
                            'start (the prefetcher\'s first cycle reports them): %s',
                            exc)

    node_duty.start(
        'cache-housekeeping',
        lambda: node_duty.try_lock_file(os.path.join(cache.directory, LOCK_NAME),
                                        'runs the image cache passes'),
        run_passes_in_app, app.extensions['glance'].conf.cache_prefetcher_interval,
        at_once=True,
        holding='this worker runs the image cache prefetcher, pruner and cleaner '
                'of this node')


def run_passes():
    """Prefetch, prune, clean and report once; a failing pass does not stop the
    others."""
    for one_pass in (prefetch, prune, clean, report_copies):
        try:
            one_pass()
        except Exception:   # noqa: BLE001 -- the next run retries
            node_duty.log_failure(LOG, 'image cache %s' % one_pass.__name__)


def prefetch(progress=None):
    """Cache the queued images this node has not fetched; ``(cached, failed)``.

    ``progress(message)`` is told about each image (the command prints it).
    """
    progress = progress or (lambda message: LOG.debug('cache prefetcher: %s', message))
    registry, cache = services().registry, services().cache
    queue = registry.list_cache_queue(SERVICE_IDENTITY)
    cached_ids = {entry['image_id'] for entry in cache.index.cached()}
    todo = unfetched(cache, queue)
    cache.index.forget_prefetched({entry['image_id'] for entry in queue})
    cached = failed = 0
    for number, entry in enumerate(todo, 1):
        image_id = entry['image_id']
        step = '(%d/%d) %s' % (number, len(todo), image_id)
        if image_id in cached_ids:
            cache.index.mark_prefetched(image_id, entry['queued_at'])
            progress('%s: cached already' % step)
            continue
        try:
            record = registry.get_image(SERVICE_IDENTITY, image_id)
        except registry_errors.NotFound:
            registry.dequeue_from_cache(SERVICE_IDENTITY, image_id)
            progress('%s: the image is gone; removed from the queue' % step)
            continue
        if record['status'] == 'active' and not record['size']:
            # No byte to cache (a volume-backed server's snapshot, say): done, or
            # every pass would count it as failed again.
            cache.index.mark_prefetched(image_id, entry['queued_at'])
            progress('%s: nothing to cache: the image is empty' % step)
            continue
        outcome = _fetch(cache, record)
        if outcome is True:
            cached += 1
            cache.index.mark_prefetched(image_id, entry['queued_at'])
            progress('%s: cached (%d bytes)' % (step, record['size']))
        else:
            failed += 1
            progress('%s: not cached: %s' % (step, outcome))
    return cached, failed


def unfetched(cache, queue):
    """The entries of the registry's ``queue`` this node has not prefetched for
    their ``queued_at``."""
    done = cache.index.prefetched()
    return [entry for entry in queue if done.get(entry['image_id']) != entry['queued_at']]


def queued_here(cache, queue):
    """The ids of the queued images this node has not cached yet (upstream's
    ``queued_images``)."""
    cached = {entry['image_id'] for entry in cache.index.cached()}
    return [entry['image_id'] for entry in unfetched(cache, queue)
            if entry['image_id'] not in cached]


def _fetch(cache, record):
    """True once ``record``'s data is cached, else why not."""
    if record['status'] != 'active':
        return 'the image is %s' % record['status']
    locations = documents.active_locations(record)
    if not locations:
        return 'the image has no data'
    fill = cache.start_fill(record,
                            download.resumer(download.preferred_order(locations)))
    if fill is None:
        if record['size'] > cache.max_size:
            return 'larger than image_cache_max_size'
        return 'being cached by a download, or no room'
    fill.detach()   # its thread reads the whole image from the store
    return True if fill.wait() else 'its data could not be read, written or verified'


def prune(progress=None):
    """Evict least-recently-used images until the cache fits; ``(files, bytes)``."""
    files, size = services().cache.prune()
    if progress or files:
        (progress or LOG.info)('pruned %d cached image(s), %d bytes' % (files, size))
    return files, size


def clean(progress=None):
    """Remove dead fills' files and the copies of images deleted or no longer
    active; the number of files removed."""
    registry, cache = services().registry, services().cache
    removed = cache.clean()
    for entry in cache.index.cached():
        try:
            record = registry.get_image(SERVICE_IDENTITY, entry['image_id'])
        except registry_errors.NotFound:
            record = None
        if record is None or record['status'] not in ('active', 'deactivated'):
            try:
                removed += cache.delete(entry['image_id'])
            except OSError as exc:
                # Still indexed (ImageCache.delete): the next pass tries again.
                LOG.warning('the cached copy of image %s could not be removed: %s',
                            entry['image_id'], exc)
    if progress or removed:
        (progress or LOG.info)('cleaned %d file(s) from the image cache' % removed)
    return removed


def report_copies(progress=None):
    """Tell the registry that this node holds exactly the copies its index lists
    (last, so that it reflects the other passes); ``{"added", "removed"}``."""
    cache = services().cache
    if cache.reports is None:
        return {'added': 0, 'removed': 0}
    held = [entry['image_id'] for entry in cache.index.cached()]
    changed = cache.reports.replace(held)
    if progress or changed['added'] or changed['removed']:
        (progress or LOG.info)(
            'reported %d cached image(s) to the registry as %s (%d added, %d '
            'removed)' % (len(held), cache.reports.node, changed['added'],
                          changed['removed']))
    return changed
