"""The memory driver: image bytes in this process's memory, for tests of the API.

Built in code only, never from configuration; see docs/stores.rst.
"""

import re
import threading
import types
import urllib.parse

from stores import base, errors

SCHEME = 'memory'
#: What a store holds at most unless told otherwise, in bytes: committed objects and
#: the bytes of writers still open.
DEFAULT_CAPACITY = 256 * 1024 * 1024

_STORE_ID = re.compile(r'[A-Za-z0-9_.-]+')


class MemoryStore(base.Store):
    """Objects in a dict of this process, at ``memory://<store id>/<image id>``.

    For unit tests: build one and put it in a set with ``StoreSet.of(store)``. It is
    deliberately not a type that ``enabled_backends`` or ``default_store`` can name
    (it is not in ``stores._DRIVERS``): everything it holds is lost when the process
    ends, which no operator should get by a typo in a config file.

    ``capacity`` bounds the bytes held, committed or still being written: a write
    beyond it raises ``errors.StoreFull``. ``chunk_size`` is the most a reader yields
    at a time. ``description`` and ``weight`` are what ``/v2/info/stores`` shows and
    how downloads rank the store in a multi-store set. Safe to use from many threads.
    """

    driver = 'memory'
    schemes = (SCHEME,)

    def __init__(self, store_id='memory', *, capacity=DEFAULT_CAPACITY,
                 chunk_size=base.CHUNK_SIZE, description='', weight=0):
        if not _STORE_ID.fullmatch(store_id):
            raise ValueError('a memory store id is letters, digits, "_", "." and "-", '
                             'not %r' % store_id)
        if chunk_size < 1:
            raise ValueError('chunk_size must be positive')
        super().__init__(conf=None, group=None, store_id=store_id)
        self.capacity = capacity
        self.chunk_size = chunk_size
        self._options = types.SimpleNamespace(store_description=description,
                                              weight=weight)
        self._lock = threading.Lock()
        self._objects = {}       # image id -> bytes
        self._writers = set()    # writers neither committed nor cancelled
        self._used = 0           # bytes of the objects and of the open writers

    @property
    def options(self):
        """``store_description`` and ``weight``, as given to the constructor."""
        return self._options

    # -- what tests look at ---------------------------------------------------------

    def names(self):
        """The image ids of the objects held, sorted."""
        with self._lock:
            return sorted(self._objects)

    def writing(self):
        """The image ids of the writers neither committed nor cancelled, sorted."""
        with self._lock:
            return sorted(writer.image_id for writer in self._writers)

    @property
    def used(self):
        """Bytes held: the objects', and those written by open writers."""
        with self._lock:
            return self._used

    # -- the Store interface ----------------------------------------------------------

    def check_location(self, url):
        self._name(url)

    def canonical(self, url):
        return self.location(self._name(url))

    def location(self, image_id):
        """The URL of the object of ``image_id``."""
        return '%s://%s/%s' % (SCHEME, self.store_id, image_id)

    def open_writer(self, image_id, hashing_algorithm='sha512', size=None,
                    credentials=None):
        if not image_id or '/' in image_id:
            raise errors.BadLocation('invalid object name %r' % image_id)
        with self._lock:
            if image_id in self._objects:
                raise errors.Duplicate('image data for %s already exists' % image_id)
            writer = _MemoryWriter(self, image_id, hashing_algorithm)
            self._writers.add(writer)
        return writer

    def open_reader(self, url, offset=0, length=None, credentials=None):
        return _MemoryReader(self._get(url), offset, length, self.chunk_size)

    def stat(self, url, credentials=None):
        return len(self._get(url))

    def delete(self, url, credentials=None):
        name = self._name(url)
        with self._lock:
            try:
                data = self._objects.pop(name)
            except KeyError:
                raise errors.NotFound('no image data at %s' % url) from None
            self._used -= len(data)

    def discard_object(self, image_id, credentials=None):
        try:
            self.delete(self.location(image_id))
        except errors.NotFound:
            pass

    def describe(self):
        return {'capacity': self.capacity, 'used': self.used}

    # -- for the writer ---------------------------------------------------------------

    def _reserve(self, count):
        """Count ``count`` more bytes held; StoreFull beyond the capacity."""
        with self._lock:
            if self._used + count > self.capacity:
                raise errors.StoreFull('memory store %s holds at most %d bytes'
                                       % (self.store_id, self.capacity))
            self._used += count

    def _publish(self, writer, data):
        """Make ``data`` (the bytes ``writer`` held) the object of its image, unless
        one exists: then the bytes are dropped and StoreError raised."""
        with self._lock:
            self._writers.discard(writer)
            if writer.image_id in self._objects:
                self._used -= len(data)
                raise errors.Duplicate('image data for %s already exists'
                                        % writer.image_id)
            self._objects[writer.image_id] = data

    def _discard(self, writer, count):
        """Forget ``writer`` and the ``count`` bytes it had written."""
        with self._lock:
            self._writers.discard(writer)
            self._used -= count

    def _name(self, url):
        try:
            parsed = urllib.parse.urlsplit(url)
        except ValueError as exc:   # e.g. an unclosed IPv6 bracket
            raise errors.BadLocation('not a memory location: %s (%s)' % (url, exc))
        name = parsed.path[1:]
        if (parsed.scheme != SCHEME or parsed.netloc != self.store_id
                or not parsed.path.startswith('/') or not name or '/' in name
                or parsed.query or parsed.fragment):
            raise errors.BadLocation('not a location of memory store %s: %s'
                                     % (self.store_id, url))
        return name

    def _get(self, url):
        name = self._name(url)
        with self._lock:
            try:
                return self._objects[name]
            except KeyError:
                raise errors.NotFound('no image data at %s' % url) from None


class _MemoryWriter(base.Writer):

    def __init__(self, store, image_id, hashing_algorithm):
        super().__init__(hashing_algorithm)
        self.image_id = image_id
        self._store = store
        self._chunks = []
        self._held = 0   # bytes counted against the store's capacity

    def _write(self, chunk):
        self._store._reserve(len(chunk))
        self._held += len(chunk)
        self._chunks.append(chunk)

    def _commit(self):
        data, self._chunks = b''.join(self._chunks), []
        self._held = 0   # the store's now: the object's bytes, or dropped
        self._store._publish(self, data)
        return self._store.location(self.image_id), {}

    def _cancel(self):
        self._chunks = []
        held, self._held = self._held, 0
        self._store._discard(self, held)


class _MemoryReader(base.Reader):

    def __init__(self, data, offset, length, chunk_size):
        super().__init__(len(data), offset, length)
        self._data = data
        self._position = offset
        self._end = offset + self.length
        self._chunk_size = chunk_size

    def __next__(self):
        if self._position >= self._end:
            raise StopIteration
        end = min(self._position + self._chunk_size, self._end)
        chunk = self._data[self._position:end]
        self._position = end
        return chunk
