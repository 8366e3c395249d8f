"""The driver interface: what every store offers the API, and the records it returns.

docs/stores.rst specifies the contract; tests/unit/stores/test_conformance.py checks
every driver against it."""

import abc
import dataclasses
import uuid

from stores import errors, hashing

CHUNK_SIZE = 64 * 1024


@dataclasses.dataclass(frozen=True)
class Credentials:
    """Who a data operation is for, as a store acting as the caller needs it."""

    auth_token: str | None
    project_id: str | None
    user_id: str | None = None
    #: The names of the token's roles on the project (what a Keystone trust made for
    #: the caller delegates).
    roles: tuple = ()
    #: Keystone v3 catalog entries (``[{"type", "endpoints": [...]}, ...]``).
    service_catalog: tuple = ()


@dataclasses.dataclass(frozen=True)
class StoredImage:
    """What a committed write produced: where the bytes are and what they hash to."""

    url: str
    size: int
    checksum: str
    multihash: str
    metadata: dict = dataclasses.field(default_factory=dict)
    #: What tells these bytes from a later rewrite of them, where the driver can
    #: say (the file store: the file's inode, size, mtime and ctime); else None.
    #: The import compares it before it takes staged data in without reading it.
    identity: str | None = None


class Writer(abc.ABC):
    """Receives an image's bytes in order; ``commit`` publishes them, ``cancel`` discards.

    Subclasses implement ``_write``, ``_commit`` (returning url and metadata) and
    ``_cancel``; this base class does the hashing and size accounting.
    """

    def __init__(self, hashing_algorithm='sha512', md5=True):
        self._hasher = hashing.ParallelHasher(hashing_algorithm, md5=md5)
        self._digests = None
        #: With ``md5=False``, ``_commit`` sets this to the backend's md5 (hex).
        self.stored_md5 = None
        #: ``_commit`` may set this to the committed object's ``identity``.
        self.identity = None
        self.size = 0
        self._done = False

    def write(self, chunk):
        """Append ``chunk`` (a bytes-like object) to the object being written.

        Drivers may hold on to ``chunk`` until it is stored (queues feeding a thread),
        so the caller must not change it afterwards.
        """
        if self._done:
            raise errors.StoreError('write after commit or cancel')
        self._hasher.update(chunk)
        self.size += len(chunk)
        self._write(chunk)

    def commit(self):
        """Make the object durable and visible; returns a ``StoredImage``.

        Raises ``errors.StoreError`` if data for the image exists: of two writers for
        one image, the first to commit wins and the other removes only its own bytes.
        """
        if self._done:
            raise errors.StoreError('commit after commit or cancel')
        if self._digests is None:
            self._digests = self._hasher.hexdigests()
        url, metadata = self._commit()
        self._done = True
        checksum, multihash = self._digests
        if checksum is None:
            checksum = self.stored_md5
        return StoredImage(url=url, size=self.size, checksum=checksum,
                           multihash=multihash, metadata=metadata or {},
                           identity=self.identity)

    def cancel(self):
        """Discard everything written; safe to call more than once."""
        if self._done:
            return
        self._done = True
        self._hasher.close()
        self._cancel()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.cancel()
        return False

    @abc.abstractmethod
    def _write(self, chunk):
        """Store ``chunk``."""

    @abc.abstractmethod
    def _commit(self):
        """Publish the object; return ``(url, metadata)``."""

    @abc.abstractmethod
    def _cancel(self):
        """Remove whatever was written."""


class Reader(abc.ABC):
    """An iterator over a byte range of a stored object.

    ``size`` is the size of the whole object; ``length`` that of the range being read.
    ``fileobj`` is a real file positioned at the range's start when the driver can offer
    one (the API then lets the server send it with sendfile), else None.
    """

    fileobj = None

    def __init__(self, size, offset, length):
        """``length`` None reads to the end; a range past the end stops there."""
        available = max(size - offset, 0)
        self.size = size
        self.offset = offset
        self.length = available if length is None else min(length, available)

    def __iter__(self):
        return self

    @abc.abstractmethod
    def __next__(self):
        """The next chunk of bytes; StopIteration at the end of the range."""

    def close(self):
        """Release what the reader holds; WSGI servers call this when done."""

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False


class Store(abc.ABC):
    """A place where image bytes live. Drivers that operators may configure are
    registered by type name in ``_DRIVERS`` (``stores/__init__.py``)."""

    #: The driver's type name as operators write it in ``enabled_backends``.
    driver = None
    #: URL schemes the driver's locations use.
    schemes = ()
    #: Whether ``open_writer`` and ``delete`` are available.
    writable = True
    #: Whether the store acts as the caller (data operations need ``credentials``),
    #: so it cannot be probed at start-up and keeps access lists (``set_acls``).
    acts_as_caller = False
    #: Drivers that read web URLs (http) read only what this ``stores.web.UrlPolicy``
    #: allows; ``StoreSet.from_config`` sets the API's (``[import_filtering_opts]``).
    url_policy = None

    def __init__(self, conf, group, store_id):
        """``conf`` is an oslo.config object with ``option_list()`` registered in
        ``group``."""
        self.conf = conf
        self.group = group
        self.store_id = store_id

    @property
    def options(self):
        """This store's option values (its config group)."""
        return getattr(self.conf, self.group)

    @classmethod
    def option_list(cls):
        """The oslo.config options the driver reads; registered in its store's group."""
        return []

    def load(self):
        """Validate options and read the files they name, touching nothing else:
        enough to tell which locations the store holds (``owns``, ``canonical``)
        without the backend being reachable. Raises ``errors.BadConfiguration``."""

    def configure(self):
        """``load``, then prepare the backend (create directories, containers,
        ...). Raises ``errors.BadConfiguration``; called once at start-up.
        """
        self.load()

    def probe(self):
        """Write, read back and delete a random object; raise if any step fails."""
        if not self.writable or self.acts_as_caller:
            return
        payload = uuid.uuid4().bytes * 16
        # Shaped like an image id: drivers may place objects by the id's characters
        # (Swift's swift_store_multiple_containers_seed), and the probe must land
        # where real images do.
        probe_id = str(uuid.uuid4())
        writer = self.open_writer(probe_id)
        with writer:
            writer.write(payload)
            stored = writer.commit()
        try:
            with self.open_reader(stored.url) as reader:
                data = b''.join(reader)
            if data != payload:
                raise errors.BadConfiguration(
                    'store %s returned different bytes than were written'
                    % self.store_id)
        finally:
            self.delete(stored.url)

    def open_writer(self, image_id, hashing_algorithm='sha512', size=None,
                    credentials=None):
        """A ``Writer`` for a new object named after ``image_id``.

        ``size`` is the expected size when the client said it, else None.
        """
        raise errors.ReadOnly('store %s is read-only' % self.store_id)

    @abc.abstractmethod
    def open_reader(self, url, offset=0, length=None, credentials=None):
        """A ``Reader`` for bytes ``[offset, offset+length)`` of the object at ``url``.

        Raises ``errors.NotFound`` for a missing object.
        """

    def link_in(self, pinned, image_id):
        """Make the file ``pinned`` (a ``stores.file.PinnedFile`` of another file
        store, its bytes already checked by the caller) the data of ``image_id`` in
        this store without copying it; the new location, or None when this store
        cannot (another driver, another file system): the caller then streams it.
        Raises ``errors.StoreError`` when data for the image exists."""
        return None

    def delete(self, url, credentials=None):
        """Remove the object at ``url``; raises ``errors.NotFound`` if it is missing."""
        raise errors.ReadOnly('store %s is read-only' % self.store_id)

    @abc.abstractmethod
    def stat(self, url, credentials=None):
        """The object's size in bytes; ``errors.NotFound`` if it is missing."""

    def discard_abandoned(self, image_id, credentials=None):
        """Remove what an upload of ``image_id`` that died mid-way left behind
        (temporary files, segments); the caller has made sure it is dead. Best
        effort: raises ``errors.StoreError`` only for the caller to log."""

    def discard_object(self, image_id, credentials=None):
        """Remove the object this store names after ``image_id`` (where
        ``open_writer(image_id)`` commits), with what it uses, if there is one;
        its absence is no error. The caller has made sure that no image uses it:
        the image is ``saving`` and its upload dead (one that committed and then
        could not publish keeps its bytes for this). Unlike ``discard_abandoned``
        it deletes committed data, so it is never for a staging store.
        Raises ``errors.StoreError``."""
        raise errors.ReadOnly('store %s is read-only' % self.store_id)

    def sweep(self):
        """Remove what uploads that died left behind, whatever the image (run from
        time to time). Best effort, as ``discard_abandoned``."""

    def set_acls(self, url, public, read_projects=(), credentials=None):
        """Let everyone (``public``) or the projects ``read_projects`` read the object
        at ``url``; only stores that ``act_as_caller`` keep such lists."""

    def owns(self, url):
        """Whether ``url`` is a location of this store."""
        try:
            self.check_location(url)
        except errors.BadLocation:
            return False
        return True

    def writes_at(self, url):
        """Whether ``url`` is where this store puts the data it writes, not merely a
        location it can read (``owns``): a Swift store reads every container of its
        accounts, but writes only to its own. A location recorded without its
        store (before ``enabled_backends``) belongs to a store that writes there
        rather than to one that only reads it (``StoreSet.store_of``)."""
        return self.writable and self.owns(url)

    def check_location(self, url):
        """Raise ``errors.BadLocation`` unless ``url`` is a location of this store.

        Checks the scheme against ``schemes``; a driver whose locations say more (a
        directory, an account) checks that too, and ``owns`` follows.
        """
        if url.split(':', 1)[0] not in self.schemes:
            raise errors.BadLocation('not a location of store %s: %s'
                                     % (self.store_id, url))

    def canonical(self, url):
        """The one spelling of the location ``url`` (one this store owns): two URLs
        name the same object exactly when their canonical forms are equal, so a
        location is recorded in this form and compared in it."""
        return url

    def describe(self):
        """Driver-specific facts for ``/v2/info/stores/detail`` (``properties``)."""
        return {}
