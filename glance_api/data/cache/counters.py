"""What the cache did since the process started: the hook for metrics.

``ImageCache.counters`` is one ``Counters`` per process; a metrics exporter reads
``snapshot()`` (a plain dict of monotonically increasing integers) whenever it
scrapes. The same events are logged at debug level as they happen.
"""

import threading

NAMES = ('hits', 'misses', 'fills', 'fills_abandoned', 'evictions', 'bytes_evicted',
         'bytes_served', 'bytes_filled', 'uncacheable')


class Counters:
    """Thread-safe event counters of one process's cache."""

    def __init__(self):
        self._lock = threading.Lock()
        self._values = dict.fromkeys(NAMES, 0)

    def add(self, name, amount=1):
        with self._lock:
            self._values[name] += amount

    def snapshot(self):
        """``{name: count}`` of every counter in ``NAMES``."""
        with self._lock:
            return dict(self._values)
