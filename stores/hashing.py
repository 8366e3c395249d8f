"""Checksums computed while the bytes flow, each digest on a thread of its own.

hashlib releases the GIL for buffers over 2 KiB, so md5 and sha512 fed from two
threads run on two cores while the writer's own thread does the I/O: measured on a
2-core machine, about 355 MB/s against 160 MB/s for both digests in the writer's
thread. Each thread takes chunks from a small bounded queue, so memory stays at a few
chunks whatever the image size.
"""

import hashlib

from stores.queue_thread import QueueThread

_QUEUE_CHUNKS = 8


class ParallelHasher:
    """md5 (the legacy ``checksum``) and the multihash of one stream of bytes.

    ``md5=False`` leaves md5 to a backend that computes it anyway (a single Swift
    object's etag); ``hexdigests`` then gives None in its place.
    """

    def __init__(self, hashing_algorithm, md5=True):
        self._md5 = md5
        self._digests = ((hashlib.md5(usedforsecurity=False),) if md5 else ()) + (
            hashlib.new(hashing_algorithm),)
        self._threads = None

    def update(self, chunk):
        if self._threads is None:
            self._threads = [QueueThread('hash-%s' % digest.name, digest.update,
                                         maxsize=_QUEUE_CHUNKS)
                             for digest in self._digests]
        for thread in self._threads:
            thread.put(chunk)

    def hexdigests(self):
        """``(md5, multihash)`` of everything updated so far; ends the threads."""
        for thread in self._stop():
            if thread.error is not None:
                raise thread.error
        digests = tuple(digest.hexdigest() for digest in self._digests)
        return digests if self._md5 else (None,) + digests

    def close(self):
        """End the threads without needing the digests (an aborted write)."""
        self._stop()

    def _stop(self):
        threads, self._threads = self._threads or (), None
        for thread in threads:
            thread.stop()
        return threads
