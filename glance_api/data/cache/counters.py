"""What the cache did since the process started.

``ImageCache.counters`` is one ``Counters`` per process: ``snapshot()`` (a plain
dict of monotonically increasing integers) for tests and tools; every event also
goes to the daemon's Prometheus metrics (``glance_registry.metrics``: lookups as
``glance_image_cache_requests``, the rest as ``glance_image_cache_events`` and
``glance_image_cache_bytes``). The same events are logged at debug level as they
happen.
"""

import threading

from glance_registry import metrics

NAMES = ('hits', 'misses', 'fills', 'fills_linked', 'fills_detached', 'fills_abandoned',
         'evictions', 'bytes_evicted', 'bytes_served', 'bytes_filled', 'uncacheable')


class Counters:
    """Thread-safe event counters of one process's cache."""

    def __init__(self):
        self._lock = threading.Lock()
        self._values = dict.fromkeys(NAMES, 0)

    def add(self, name, amount=1):
        with self._lock:
            self._values[name] += amount
        if name in ('hits', 'misses'):
            metrics.count_cache(name == 'hits')
        else:
            metrics.count_cache_event(name, amount)

    def snapshot(self):
        """``{name: count}`` of every counter in ``NAMES``."""
        with self._lock:
            return dict(self._values)
