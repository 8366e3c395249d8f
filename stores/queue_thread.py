"""A thread fed by a queue: the shape of every background step of a stream.

The hashers (``stores.hashing``) and the file writers (``stores.file``) each take
the chunks of an upload or a download on a thread of their own, so that hashing, a
disk write and receiving the next chunk overlap. Each is a ``QueueThread``: items
go in with ``put`` and are handled in order; ``stop`` waits until every item put is
done. A bounded queue (``maxsize``) makes ``put`` wait while the thread is behind,
so memory stays at a few items whatever the stream's size.
"""

import queue
import threading

_STOP = object()


class QueueThread:
    """Hands each item ``put`` to ``handle(item)``, in order, on a thread named
    ``name`` (started by the first ``put``).

    The first exception ``handle`` raises is kept in ``error`` (the owner raises it
    where it fits: a write error from the next write). From then on, and after
    ``discard``, items are not handled but given to ``skip(item)``, as is the item
    whose ``handle`` raised; they are still taken from the queue, so ``put`` never
    waits for good. ``skip`` is where an item that must go back somewhere (a
    buffer) goes back.

    One owner thread calls ``put``, ``discard`` and ``stop``.
    """

    def __init__(self, name, handle, skip=None, maxsize=0):
        self.error = None
        self._name = name
        self._handle = handle
        self._skip = skip
        self._maxsize = maxsize
        self._discarded = False
        self._items = None
        self._thread = None

    def put(self, item):
        if self._thread is None:
            self._items = queue.Queue(self._maxsize)
            self._thread = threading.Thread(target=self._run, name=self._name,
                                            daemon=True)
            self._thread.start()
        self._items.put(item)

    def discard(self):
        """Handle nothing more: what is queued and what comes goes to ``skip``."""
        self._discarded = True

    def stop(self):
        """Return once every item put is handled (or skipped) and the thread has
        ended; a later ``put`` starts a new one."""
        if self._thread is not None:
            self._items.put(_STOP)
            self._thread.join()
            self._thread = self._items = None

    def _run(self):
        items = self._items
        while True:
            item = items.get()
            if item is _STOP:
                return
            if self.error is None and not self._discarded:
                try:
                    self._handle(item)
                    continue
                except Exception as exc:   # noqa: BLE001 -- the owner raises it
                    self.error = exc
            if self._skip is not None:
                self._skip(item)
