"""Decompressing imported data (upstream's ``image_decompression`` import plugin,
on when ``[image_import_opts] image_import_plugins`` lists it).

As upstream, the staged data is recognised by its first bytes (a zip's local file
header ``PK\\x03\\x04``, gzip's ``\\x1f\\x8b\\x08``, an LHA header's ``-lh`` at
offset 2) whatever the image's formats say, an image whose ``container_format``
is ``compressed`` is never decompressed (its creator meant it so), a zip must
hold one file, and anything else passes through as it is. The decompressed bytes
go to a new file beside the staged one, in the staging store, and are inspected
as the image's ``disk_format`` when they are copied into the stores (or converted
first: decompression runs before ``image_conversion``, whatever the order of the
list, as upstream's documentation requires of that order).

Where upstream is weak (ours):

- the output stops at ``image_size_cap``: a small archive of a huge file (a
  decompression bomb) fails the import with nothing written, where upstream
  writes it all to the staging directory;
- the one member of a zip is streamed by its entry, never extracted to a path
  its name makes (upstream's ``extract`` puts it under the staging directory by
  its name), and a zip of several files fails with a message saying so;
- LHA is refused with a message: the one library for it (``lhafile``) reads a
  member whole into memory, so its output cannot be bounded; upstream fails such
  an import too when that optional library is missing.

A stage of data to be decompressed (``stage_inspection``) does not hold compressed
bytes to the ``disk_format``: a gzip of a qcow2 is no qcow2 until it is
decompressed, and it is inspected then.
"""

import dataclasses
import gzip
import logging
import lzma
import os
import uuid
import zipfile
import zlib

from glance_api.data import inspection
from stores import errors as store_errors

LOG = logging.getLogger(__name__)

#: (offset, magic, kind) of the archives upstream recognises.
MAGIC = ((0, b'PK\x03\x04', 'zip'),
         (0, b'\x1f\x8b\x08', 'gzip'),
         (2, b'-lh', 'lha'))
#: Bytes of the stream that decide whether it is compressed.
HEADER = max(offset + len(magic) for offset, magic, _ in MAGIC)
CHUNK = 1024 * 1024

# What the libraries raise on a corrupt, truncated, encrypted or unsupported
# archive (gzip.BadGzipFile is an OSError).
_ARCHIVE_ERRORS = (OSError, EOFError, zlib.error, zipfile.BadZipFile, RuntimeError,
                   NotImplementedError, ValueError, lzma.LZMAError)


class DecompressionFailed(Exception):
    """The data could not be decompressed (the message is for the task)."""


@dataclasses.dataclass(frozen=True)
class Decompressed:
    url: str
    #: What the data was (``zip``, ``gzip``).
    kind: str
    #: Bytes of the decompressed file.
    size: int


def enabled(conf):
    return 'image_decompression' in conf.image_import_opts.image_import_plugins


def needed(conf, record):
    """Whether the data of ``record`` is decompressed on import when it is
    compressed."""
    return enabled(conf) and record.get('container_format') != 'compressed'


def kind_of(head):
    """The archive ``head`` (the data's first ``HEADER`` bytes) begins, or None."""
    for offset, magic, kind in MAGIC:
        if head.startswith(magic, offset):
            return kind
    return None


def warn_order(conf, log):
    """Log, at WARNING on ``log``, that decompression runs first when
    ``image_import_plugins`` lists it after ``image_conversion``: upstream runs
    them in the listed order, and would convert compressed bytes."""
    plugins = list(conf.image_import_opts.image_import_plugins)
    if 'image_decompression' in plugins and 'image_conversion' in plugins and \
            plugins.index('image_decompression') > plugins.index('image_conversion'):
        log.warning('[image_import_opts] image_import_plugins lists '
                    'image_decompression after image_conversion: imported data is '
                    'decompressed first all the same (converting compressed bytes '
                    'would make no disk).')


def decompress(conf, staging, source_url, record, image_id, moved):
    """Decompress the staged data at ``source_url`` (of image ``record``) into a
    new staged file; a ``Decompressed``, or None when decompression is not
    configured, not wanted (``container_format`` ``compressed``) or the data is
    not compressed. ``moved(n)`` is called for each ``n`` bytes written (the
    import's heartbeat; it may raise to stop). ``DecompressionFailed`` for an
    archive refused, corrupt, or larger decompressed than ``image_size_cap``;
    nothing it wrote is left then."""
    if not needed(conf, record):
        return None
    try:
        # The staging store resolves the URL to a file in its directory, or refuses.
        source = staging.canonical(source_url)[len('file://'):]
        with open(source, 'rb') as f:
            kind = kind_of(f.read(HEADER))
    except (OSError, store_errors.StoreError) as exc:
        LOG.error('image %s: cannot read its staged data: %s', image_id, exc)
        raise DecompressionFailed('The staged data of image %s cannot be read.'
                                  % image_id)
    if kind is None:
        return None
    if kind == 'lha':
        raise DecompressionFailed(
            'The image data is an LHA archive, which this service does not '
            'decompress: import it uncompressed, or as gzip or zip.')
    target = os.path.join(staging.datadir, '%s.decompressed-%s'
                          % (image_id, uuid.uuid4().hex))
    LOG.info('image %s: decompressing %s data', image_id, kind)
    try:
        size = _write(_members[kind](source), target, conf.image_size_cap, moved)
    except BaseException:
        _remove(target)
        raise
    return Decompressed('file://' + target, kind, size)


def _write(chunks, target, cap, moved):
    """Write ``chunks`` to a new file ``target``, at most ``cap`` bytes; its
    size."""
    size = 0
    # O_EXCL | O_NOFOLLOW: a name no one else uses, never a link's target.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, 'wb') as out:
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except _ARCHIVE_ERRORS as exc:
                LOG.warning('cannot decompress %s: %s', target, exc)
                raise DecompressionFailed('The image data could not be '
                                          'decompressed: %s' % _why(exc))
            size += len(chunk)
            if size > cap:
                raise DecompressionFailed(
                    'The image decompressed is larger than the image size cap of '
                    '%d bytes.' % cap)
            out.write(chunk)
            moved(len(chunk))
    return size


def _gzip(source):
    with gzip.open(source, 'rb') as f:
        # read(n) returns at most n bytes, however much they decompress from.
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                return
            yield chunk


def _zip(source):
    with zipfile.ZipFile(source) as archive:
        files = [info for info in archive.infolist() if not info.is_dir()]
        if len(files) != 1:
            raise DecompressionFailed(
                'The zip archive holds %d files: an image is imported from an '
                'archive of one file.' % len(files))
        # Read by its entry: the member's name never becomes a path.
        with archive.open(files[0]) as member:
            while True:
                chunk = member.read(CHUNK)
                if not chunk:
                    return
                yield chunk


_members = {'gzip': _gzip, 'zip': _zip}


def _why(exc):
    return str(exc) or type(exc).__name__


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def stage_inspection(conf, record, rules):
    """The inspection of data staged (or downloaded) for an import of ``record``:
    ``inspection.Inspection``'s, or, when the import would decompress the data,
    one that lets compressed data through uninspected (``held_back``)."""
    content = inspection.Inspection.for_image(record, rules)
    if not needed(conf, record) or not content.inspected:
        return content
    return _UntilDecompressed(content)


def held_back(content):
    """Whether ``content`` (a ``stage_inspection``) let compressed data through
    uninspected: its verdict says nothing of the image, so the stage records no
    facts for the import to trust."""
    return isinstance(content, _UntilDecompressed) and content.compressed


class _UntilDecompressed:
    """An ``Inspection`` of data that may be compressed: once its first bytes
    show an archive, the rest is not inspected (the import inspects what it
    decompresses); otherwise all of it is, as the image's ``disk_format``."""

    def __init__(self, content):
        self._content = content
        self.rules = content.rules
        self.compressed = None    # decided by the first HEADER bytes
        self._head = bytearray()

    @property
    def verdict(self):
        return inspection.Verdict() if self.compressed else self._content.verdict

    def feed(self, chunk):
        if self.compressed is None:
            self._head += chunk
            if len(self._head) < HEADER:
                return
            chunk = self._decide()
        if not self.compressed:
            self._content.feed(chunk)

    def finish(self):
        if self.compressed is None:
            head = self._decide()
            if not self.compressed and head:
                self._content.feed(head)
        if self.compressed:
            return self.verdict
        return self._content.finish()

    def _decide(self):
        head, self._head = bytes(self._head), None
        self.compressed = kind_of(head) is not None
        return head
