"""Image content inspection: what an image's bytes really are, and if they are safe.

One ``Inspection`` watches one stream of image bytes, chunk by chunk, in the same pass
as the hashing and the size accounting (the upload pipeline, the verification of an
added location): ``feed`` each chunk, then ``finish`` gives the ``Verdict`` (the
format found and the virtual size) or raises ``ContentRefused``, whose message says
what was found. The inspectors are given the stream's first MiB in one piece, as
qemu reads a VMDK descriptor, whatever the chunks it comes in; a refusal that is
then already certain (a qcow2 with a backing file, qcow2 bytes declared raw) is
raised by ``feed``, once that first MiB is in, so the rest of the image is never
written anywhere.

The inspectors are oslo.utils' (``oslo_utils.imageutils.format_inspector``), run side
by side as upstream Glance runs them. Each keeps only the regions of the stream its
format needs (a 512-byte header, 34 KiB of an ISO, 192 KiB of VHDX metadata, a VMDK
descriptor of at most 1 MiB, a VMDK footer), and an inspector is dropped as soon as
it has ruled its format out (for a raw image, after the first 256 KiB), so memory
does not grow with the image (``buffered_bytes``).

The rules, upstream Glance's (2025.1+, ``glance/location.py``) unless marked *ours*:

- Only images with ``container_format`` ``bare`` are inspected: other containers
  wrap the disk (a tar, a gzip stream) or are not inspected upstream either.
- The content is the one format whose inspector matched, or ``raw`` when none did.
  ISO and GPT matching together is an ISO (a hybrid ISO that boots as a disk too).
  Any other pair is one format hidden in another: refused (*ours*: even with
  ``require_image_format_match`` off).
- With ``[image_format] require_image_format_match`` (the default) the content must
  be the ``disk_format``; disk formats the inspectors do not know (``ami``, ``ari``,
  ``aki``, ``ploop``) take raw content only. ``raw`` takes a partitioned disk (GPT
  or MBR) and an ISO, both raw bytes to a hypervisor, but (*ours*: upstream lets it
  through) no qcow2, vmdk, vhd, vhdx, vdi, qed or luks, which a hypervisor probing
  the format would read as that format, backing files and all; luks is taken when
  the image has ``cinder_encryption_key_id``, Cinder's upload of an encrypted
  volume (its bytes as they are).
- The safety checks of the format found always apply (*ours*: also when a mismatch
  is let through): no qcow2 backing file, external data file or unknown
  incompatible feature; a VMDK only as a single-file sparse disk whose create-type
  ``vmdk_allowed_types`` lists (*ours*: upstream checks the list only when it
  converts an image) and whose descriptor names no other file, and never a bare
  descriptor file (*ours*: its data is always in other files); a sane MBR/GPT
  (checks named in ``gpt_safety_checks_nonfatal`` only warn; the ``mbr`` check
  never refuses ``aki`` or ``ari`` kernels and ramdisks); no qed.
- *Ours*: a stream shorter than the header it begins (under 1 KiB) is refused as
  the format its first bytes are: no inspector completes a header that short, but
  qemu reads on past the end as zeros and opens it as that format (a 300-byte qcow2
  header naming a backing file is a qcow2 with a backing file to qemu-img).
- ``virtual_size`` is the format's (the byte count for raw, and for GPT or ISO
  content declared raw); unknown for disk formats the inspectors do not know; one
  beyond 2^63 - 1 (what the API can record, more than any disk) is refused.
"""

import dataclasses
import logging

from oslo_config import cfg
from oslo_utils.imageutils import format_inspector

LOG = logging.getLogger(__name__)

GROUP = 'image_format'

inspection_opts = [
    cfg.BoolOpt('require_image_format_match', default=True,
                help='Refuse image data whose content is not the image\'s '
                     'disk_format: an upload answers 400 saying what the content '
                     'is, the data at an added location is refused. Turn it off '
                     'only for a false detection, which is a bug to report; the '
                     'safety checks (backing files, external data files, VMDK '
                     'extents, one format hidden in another) apply either way.'),
    cfg.ListOpt('vmdk_allowed_types', default=['streamOptimized', 'monolithicSparse'],
                help='VMDK create-types accepted (case-insensitive). Only the '
                     'single-file sparse types can be accepted at all: the others '
                     'keep their data in files the descriptor names (CVE-2022-47951). '
                     'Empty: no VMDK is accepted.'),
    cfg.ListOpt('gpt_safety_checks_nonfatal', default=[],
                help='Safety checks of GPT/MBR partition tables (content detected '
                     'as gpt) that only log a warning when they fail, for disks whose '
                     'protective MBR does not follow the GPT specification: "mbr".'),
]

#: Raised whenever the inspection comes to refuse content it accepted before: data
#: staged under an older revision is inspected again when it is imported (2: data
#: cut short in a header, the first MiB in one piece, a signature that does not
#: parse, virtual sizes beyond 2^63 - 1).
REVISION = 2

#: Container formats whose data is inspected (upstream's choice: the others wrap the
#: disk image in a tar or a compressed stream, or describe it).
INSPECTED_CONTAINERS = ('bare',)

# Content that is a disk image as it is: a hypervisor reads it raw.
_RAW_CONTENT = ('gpt', 'iso')
# The property Cinder gives the image of an encrypted volume (the key its bytes,
# a LUKS container, are encrypted with).
ENCRYPTION_KEY_PROPERTY = 'cinder_encryption_key_id'
# Kernels and ramdisks may carry an intentionally invalid MBR.
_MBR_EXEMPT = ('aki', 'ari')

# Longer than every header an inspector must see whole before it can match (LUKS
# needs 592 bytes, the others 512). A shorter stream never completes them, yet qemu
# reads past the end of a file as zeros: 300 bytes of qcow2 header naming a backing
# file are a qcow2 with a backing file to qemu-img, which follows it (ours).
_SHORT_STREAM = 1024

# The inspectors see the stream's first bytes in one piece at least this long: qemu
# reads a VMDK descriptor file's first MiB (less a byte) whole, and the library's
# inspector parses the descriptor in the first piece it is given, so in pieces of
# 64 KiB (a file store's) a createType line further on went unseen and a
# descriptor file naming /etc/passwd passed for raw (ours).
_HEAD = format_inspector.VMDKInspector.DESC_MAX_SIZE + 1

# The largest size the API can record (a signed 64-bit integer), and more than any
# disk format can address.
MAX_VIRTUAL_SIZE = 2 ** 63 - 1

# How a failed safety check reads in a refusal: "Image content is qcow2 <phrase>".
_CHECK_PHRASES = {
    'backing_file': 'with a backing file',
    'data_file': 'with an external data file',
    'unknown_features': 'with a version or features this service does not know '
                        '({reason})',
    'descriptor': 'with a descriptor that is not allowed ({reason})',
    'footer': 'with an invalid footer ({reason})',
    'mbr': 'with an invalid partition table ({reason})',
    'banned': ', a format that is not allowed',
}


def register_opts(conf):
    conf.register_opts(inspection_opts, group=GROUP)


class ContentRefused(Exception):
    """The content may not become an image's data: ``reason`` says what it is, and
    the message (for the client) that it is refused."""

    def __init__(self, reason):
        super().__init__('%s; refused.' % reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Rules:
    """The ``[image_format]`` options an inspection obeys."""

    require_format_match: bool = True
    vmdk_allowed_types: tuple = ('streamOptimized', 'monolithicSparse')
    gpt_nonfatal_checks: frozenset = frozenset()

    @classmethod
    def from_conf(cls, conf):
        group = getattr(conf, GROUP)
        return cls(group.require_image_format_match, tuple(group.vmdk_allowed_types),
                   frozenset(group.gpt_safety_checks_nonfatal))

    def as_json(self):
        """The rules as JSON values, to record with a verdict: a verdict reached
        under other rules, or by an inspection of another ``REVISION``, is not
        reused (``glance_api.data.staging``)."""
        return [self.require_format_match, list(self.vmdk_allowed_types),
                sorted(self.gpt_nonfatal_checks), REVISION]


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What accepted content is: its ``format`` (None when the container is not
    inspected) and ``virtual_size`` (None when unknown)."""

    format: str = None
    virtual_size: int = None


class Inspection:
    """Inspects one stream of image bytes declared ``disk_format`` in
    ``container_format``."""

    def __init__(self, disk_format, container_format, rules, encrypted_volume=False):
        self.disk_format = disk_format
        self.rules = rules
        # Cinder's upload of an encrypted volume: LUKS declared raw.
        self.encrypted_volume = encrypted_volume
        self.size = 0
        self.inspected = container_format in INSPECTED_CONTAINERS
        # The raw inspector is not run: raw is what remains when nothing matched.
        self._live = [inspector() for name, inspector
                      in format_inspector.ALL_FORMATS.items() if name != 'raw'
                      ] if self.inspected else []
        self._decided = False
        self._found = None      # the matching inspector, None for raw
        self._format = None
        # Where the virtual size comes from: 'inspector', 'bytes' or nowhere (None).
        self._size_from = None
        self._checked = False
        self.verdict = None
        # The stream's first bytes, held until there are _HEAD of them.
        self._unfed = bytearray()
        self._head_fed = False

    @classmethod
    def for_image(cls, record, rules):
        """An inspection of the data of the image ``record`` by ``rules``."""
        return cls(record.get('disk_format'), record.get('container_format'), rules,
                   ENCRYPTION_KEY_PROPERTY in (record.get('properties') or {}))

    @property
    def buffered_bytes(self):
        """Bytes of the stream the inspection holds now."""
        return len(self._unfed) + sum(sum(inspector.context_info.values())
                                      for inspector in self._live)

    def feed(self, chunk):
        """Inspect the next ``chunk``; ``ContentRefused`` once a refusal is
        certain."""
        self.size += len(chunk)
        if not self._live:
            return
        if not self._head_fed:
            self._unfed += chunk
            if len(self._unfed) < _HEAD:
                return
            self._head_fed = True
            chunk, self._unfed = bytes(self._unfed), bytearray()
        self._eat(chunk)

    def _eat(self, chunk):
        for inspector in tuple(self._live):
            try:
                inspector.eat_chunk(chunk)
            except Exception as exc:
                # The library's rule: an inspector that cannot parse the stream
                # says it is not its format.
                self._drop(inspector, exc)
        if self._decided:
            return
        # An inspector that has all it needs and did not match never will.
        self._live = [inspector for inspector in self._live
                      if not inspector.complete or self._matches(inspector)]
        if all(inspector.complete for inspector in self._live):
            self._decide(at_end=False)

    def finish(self):
        """The ``Verdict`` on the whole stream, or ``ContentRefused``."""
        if self.verdict is not None:
            return self.verdict
        if not self.inspected:
            self.verdict = Verdict()
            return self.verdict
        if self.size == 0:
            # No bytes are no disk format at all, and nothing a hypervisor could
            # follow: accepted whatever the disk_format declared. Nova activates the
            # snapshot of a volume-backed server so (an empty upload, disk_format
            # qcow2 when the schema offers it).
            self.verdict = Verdict('raw', None)
            return self.verdict
        head = None
        if not self._head_fed:
            # The whole stream was shorter than _HEAD: its inspection starts now.
            self._head_fed = True
            head, self._unfed = bytes(self._unfed), bytearray()
            if head:
                self._eat(head)
        for inspector in self._live:
            inspector.finish()
        if not self._decided:
            if self.size < _SHORT_STREAM:
                self._refuse_cut_short(head)
            # At the end of the stream, an inspector still waiting for data has
            # what it will ever get (the library's rule).
            self._decide(at_end=True)
        elif not self._checked:
            self._check_safety()
        self.verdict = Verdict(self._format, self._final_virtual_size())
        return self.verdict

    # -- deciding --------------------------------------------------------------------

    def _drop(self, inspector, exc):
        LOG.debug('the %s inspector gave up: %s', inspector, exc)
        self._live.remove(inspector)
        if inspector is self._found:
            # It matched, then found the rest of the stream malformed.
            self._unsure('the data looks like %s but is malformed (%s)'
                         % (inspector, exc))
            self._found = None
            self._size_from = None
        elif self._magic_matched(inspector):
            # Its format's signature, then a structure it cannot parse (a VMDK
            # header whose descriptor is not where it expects): qemu opens it as
            # that format all the same (ours: upstream takes it for raw).
            self._unsure('the data looks like %s but is malformed (%s)'
                         % (inspector, exc))

    @staticmethod
    def _magic_matched(inspector):
        try:
            return bool(inspector.format_match)
        except Exception:
            return False

    def _matches(self, inspector):
        try:
            return inspector.format_match
        except Exception as exc:
            # Half a structure the inspector cannot make sense of: upstream refuses
            # the stream, as one it could not inspect.
            self._unsure('the %s inspector failed (%s)' % (inspector, exc))
            return False

    def _decide(self, at_end):
        self._decided = True
        matches = [inspector for inspector in self._live if self._matches(inspector)]
        names = sorted(str(inspector) for inspector in matches)
        if names == ['gpt', 'iso']:
            matches = [inspector for inspector in matches if str(inspector) == 'iso']
        elif len(matches) > 1:
            raise ContentRefused('Image content is %s at once: one format hidden in '
                                 'another' % ' and '.join(names))
        self._found = matches[0] if matches else None
        self._live = list(matches)
        self._format = str(self._found) if self._found else 'raw'
        self._judge_format()
        # A format that needs the end of the stream (a VMDK footer) is checked
        # then.
        if at_end or self._found is None or self._found.complete:
            self._check_safety()
        if self._found is not None and self._found.complete:
            self._check_virtual_size()

    def _check_virtual_size(self):
        try:
            virtual_size = self._found.virtual_size
        except Exception:
            return      # judged by _final_virtual_size
        if virtual_size > MAX_VIRTUAL_SIZE:
            raise ContentRefused('Image content is %s with a virtual size of %d '
                                 'bytes, more than any disk can have (at most %d)'
                                 % (self._found, virtual_size, MAX_VIRTUAL_SIZE))

    def _refuse_cut_short(self, head):
        """Refuses a stream too short for a header that, read on as zeros past its
        end (as qemu reads a file), is a format no inspector could match on the
        stream itself: it cannot be inspected, and qemu would open it as that
        format, backing file and all."""
        seen = {str(inspector) for inspector in self._live
                if self._magic_matched(inspector)}
        padded = head.ljust(_SHORT_STREAM, b'\0')
        found = []
        for name, make in format_inspector.ALL_FORMATS.items():
            if name == 'raw' or name in seen:
                continue
            probe = make()
            try:
                probe.eat_chunk(padded)
            except Exception:
                pass    # a signature that does not parse is still that format
            if self._magic_matched(probe):
                found.append(name)
        if found:
            raise ContentRefused('Image content is %s cut short: %d bytes, too few '
                                 'for its header' % (' and '.join(sorted(found)),
                                                     self.size))

    def _judge_format(self):
        """Whether the content may be the declared disk format; sets where the
        virtual size comes from."""
        found, declared = self._format, self.disk_format
        if found == declared:
            self._size_from = 'inspector'
        elif found == 'raw' and declared not in format_inspector.ALL_FORMATS:
            # ami, ari, aki, ploop: nothing to inspect, nor a size to read.
            self._size_from = None
        elif declared == 'raw' and found in _RAW_CONTENT:
            self._size_from = 'bytes'
        elif declared == 'raw' and found == 'luks' and self.encrypted_volume:
            # The volume's bytes as they are, opened with the key the property
            # names; LUKS follows no file, so no hypervisor probing it can be led
            # to one.
            self._size_from = 'bytes'
        else:
            if found == 'raw':
                shown = 'raw (no known disk format)'
            else:
                shown = found
            self._mismatch('disk_format is %s but the image content is %s'
                           % (declared, shown))
            self._size_from = 'bytes' if declared == 'raw' else None

    def _check_safety(self):
        self._checked = True
        inspector = self._found
        if inspector is None:
            return
        name = str(inspector)
        if name == 'vmdk':
            self._check_vmdk(inspector)
        try:
            inspector.safety_check()
        except format_inspector.SafetyCheckFailed as exc:
            fatal = set(exc.failures)
            if name == 'gpt':
                fatal -= self.rules.gpt_nonfatal_checks
            if self.disk_format in _MBR_EXEMPT:
                fatal.discard('mbr')
            if fatal:
                raise ContentRefused(_refusal(name, {check: exc.failures[check]
                                                     for check in sorted(fatal)}))
            LOG.warning('image content is %s and fails checks made non-fatal: %s',
                        name, exc)
        except format_inspector.ImageFormatError as exc:
            # Truncated before its structure ends.
            self._unsure('the data looks like %s but is incomplete (%s)' % (name, exc))

    def _check_vmdk(self, inspector):
        if not inspector.has_region('header'):
            # A descriptor file without the sparse header: its data is in the files
            # its extents name, never in itself.
            raise ContentRefused('Image content is a VMDK descriptor file, whose data '
                                 'is in other files')
        create_type = getattr(inspector, 'vmdktype', None)
        allowed = {kind.lower(): kind for kind in self.rules.vmdk_allowed_types}
        if create_type is not None and create_type not in allowed:
            raise ContentRefused(
                'Image content is a VMDK of create-type %s, which '
                'vmdk_allowed_types (%s) does not allow'
                % (create_type, ', '.join(self.rules.vmdk_allowed_types) or 'empty'))

    def _final_virtual_size(self):
        if self._size_from == 'bytes':
            return self.size or None
        if self._size_from != 'inspector':
            return None
        if self._found is None:
            return self.size or None
        self._check_virtual_size()
        try:
            return self._found.virtual_size or None
        except Exception as exc:
            self._unsure('the virtual size of the %s data cannot be read (%s)'
                         % (self._found, exc))
            return None

    def _mismatch(self, reason):
        if self.rules.require_format_match:
            raise ContentRefused(reason)
        LOG.warning('accepted without require_image_format_match: %s', reason)

    def _unsure(self, reason):
        self._mismatch('The image content could not be inspected: %s' % reason)


def _refusal(name, failures):
    """The message of a refusal for the failed safety ``failures`` of format
    ``name``."""
    phrases = []
    for check, failure in failures.items():
        phrase = _CHECK_PHRASES.get(check, 'failing its %s check ({reason})' % check)
        phrases.append(phrase.format(reason=str(failure).rstrip('.')))
    joined = ' and '.join(phrases)
    separator = '' if joined.startswith(',') else ' '
    return 'Image content is %s%s%s' % (name, separator, joined)
