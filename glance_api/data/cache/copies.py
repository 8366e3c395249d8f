"""What this node tells the registry of its cached copies, so that any node can
answer ``GET /v2/cache/nodes/{image_id}`` (the registry's ``cache_copies``).

The cache reports a copy when its file is committed (``held``) and when it is
removed (``dropped``: delete, clear, eviction, prune, clean, a stale copy). The
reports are noted in memory and sent by a thread of this process, a batch per
registry call, so neither a download (which may evict to make room) nor a fill's
commit waits for the registry, and a registry that fails or is slow never fails a
download or a cache operation: the report is logged and lost. (The ``/v2/cache``
calls that remove copies wait a moment for their reports, ``flush``, so the
caller's next ``GET /v2/cache/nodes`` sees them.) The prefetcher's
cycle (``housekeeping.report_copies``) then replaces this node's whole set with what
its index holds, so a lost report, or one overtaken by another worker's, is healed
within ``cache_prefetcher_interval``.
"""

import logging
import os
import socket
import threading

from glance_api.access.context import SERVICE_IDENTITY

LOG = logging.getLogger(__name__)


def node_name(conf):
    """How this node is named: ``worker_self_reference_url`` or the host name."""
    return conf.worker_self_reference_url or socket.gethostname()


class CopyReports:
    """Sends this node's changes of cached copies to the registry, off the caller's
    thread; thread-safe, one per process (its thread starts at the first report,
    so after a fork, in the process that reports)."""

    def __init__(self, registry, node):
        self.registry = registry
        self.node = node
        self._changed = threading.Condition()
        # image id -> held (True) or dropped (False): the last report of each wins.
        self._pending = {}
        # Reports noted, and of those the ones sent (or failed): flush waits for
        # the count of its time, not for an idle moment a busy node never has.
        self._noted = self._done = 0
        self._pid = None

    def held(self, image_id):
        self._note(image_id, True)

    def dropped(self, image_id):
        self._note(image_id, False)

    def _note(self, image_id, held):
        with self._changed:
            if self._pid != os.getpid():
                # A forked child: the parent's notes and thread are the parent's.
                self._pending, self._pid = {}, os.getpid()
                self._noted = self._done = 0
                threading.Thread(target=self._send_forever, daemon=True,
                                 name='cache-copy-reports').start()
            self._pending[image_id] = held
            self._noted += 1
            self._changed.notify_all()

    def flush(self, timeout=None):
        """Wait until what was reported so far has been sent (or failed); False if
        ``timeout`` seconds passed first."""
        with self._changed:
            if self._pid != os.getpid():
                return True   # nothing reported by this process
            target = self._noted
            return self._changed.wait_for(lambda: self._done >= target, timeout)

    def replace(self, image_ids):
        """This node holds exactly ``image_ids`` (sent now, in the caller's thread);
        ``{"added", "removed"}``."""
        return self.registry.replace_cache_copies(SERVICE_IDENTITY, self.node,
                                                  image_ids)

    def _send_forever(self):
        taken = None
        while True:
            with self._changed:
                if taken is not None:
                    self._done = taken
                    self._changed.notify_all()
                self._changed.wait_for(lambda: self._pending)
                batch, self._pending, taken = self._pending, {}, self._noted
            held = [image_id for image_id, is_held in batch.items() if is_held]
            dropped = [image_id for image_id, is_held in batch.items() if not is_held]
            try:
                self.registry.report_cache_copies(SERVICE_IDENTITY, self.node,
                                                  held=held, dropped=dropped)
            except Exception as exc:   # noqa: BLE001 -- the next cycle heals it
                LOG.warning('cache: could not report %d held and %d dropped cached '
                            'cop(ies) to the registry (the prefetcher\'s next cycle '
                            'reports them): %s', len(held), len(dropped), exc)
