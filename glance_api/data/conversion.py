"""Converting imported data to ``[image_conversion] output_format`` with qemu-img
(upstream's ``image_conversion`` import plugin, on when ``[image_import_opts]
image_import_plugins`` lists it).

The staged data is inspected first (``glance_api.data.inspection``: a qcow2 with a
backing or external data file, a VMDK naming other files, never reach qemu-img),
and qemu-img is always told the input format that inspection found (``-f``), never
left to probe it: a probe is what turns a crafted image into a host file read
(CVE-2015-1850, CVE-2022-47951, CVE-2024-32498). It runs with resource limits
(address space and CPU time, ``prlimit``-style ``setrlimit`` in the child) and a
timeout. The converted file is written beside the staged one, in the staging
store, and is inspected again as the output format when it is copied into the
stores; its size is known before the first byte is copied (``Converted.size``),
so a small image of a huge virtual size is refused against the size cap and the
project's quota before it fills a store.

As upstream, an ISO is never converted (``disk_format`` ``iso`` is imported as it
is; ISO content declared otherwise is refused), an AMI, a kernel or a ramdisk
(``ami``, ``aki``, ``ari``) in a ``bare`` container fails the import (no qemu-img
format is theirs: converting one relabelled a kernel ``raw``), a partitioned disk
is raw to qemu-img, and qemu-img is told its own names for the formats (``vpc``
for vhd).
"""

import dataclasses
import logging
import os
import resource
import subprocess
import uuid

from oslo_config import cfg

from glance_api.data import inspection
from glance_api.option_types import BracketedListOpt

LOG = logging.getLogger(__name__)

import_plugin_opts = [
    BracketedListOpt('image_import_plugins', default=['no_op'],
                     help='Import plugins run on imported data: '
                          'image_decompression (a gzip or zip of one file is '
                          'imported decompressed; it runs first), '
                          'image_conversion, inject_image_metadata, and no_op '
                          '(does nothing).'),
]
conversion_opts = [
    cfg.StrOpt('output_format', default='raw', choices=['qcow2', 'raw', 'vmdk'],
               help='Disk format imported images are converted to (with the '
                    'image_conversion import plugin).'),
]

#: qemu-img's limits: upstream's (``QEMU_IMG_PROC_LIMITS``: 1 GiB of address
#: space, 30 s of CPU per inspection), with more CPU for a whole conversion.
ADDRESS_SPACE = 1024 * 1024 * 1024
CPU_SECONDS = 600
TIMEOUT = 1800
#: Disk formats qemu-img has no name for: upstream's plugin refuses to convert
#: them ("Unable to convert from format ...").
UNCONVERTIBLE = ('ami', 'aki', 'ari')


def register_opts(conf):
    conf.register_opts(import_plugin_opts, group='image_import_opts')
    conf.register_opts(conversion_opts, group='image_conversion')


def list_opts():
    return [('image_import_opts', import_plugin_opts),
            ('image_conversion', conversion_opts)]


class ConversionFailed(Exception):
    """The data could not be converted (the message is for the task)."""


@dataclasses.dataclass(frozen=True)
class Converted:
    url: str
    disk_format: str
    #: Bytes of the converted file.
    size: int


# What qemu-img calls the formats the inspectors find; a partitioned disk (gpt) is
# raw bytes to it (upstream's rule too).
_QEMU_FORMATS = {'vhd': 'vpc', 'gpt': 'raw'}


#: The import plugins this service runs (all of upstream's).
PLUGINS = ('image_conversion', 'image_decompression', 'inject_image_metadata',
           'no_op')


def warn_unknown_plugins(conf, log):
    """Log, at WARNING on ``log``, each name ``image_import_plugins`` lists that
    is no plugin at all (a typo: ``image_convertion``): without a word, the plugin
    the operator meant would not run."""
    for name in conf.image_import_opts.image_import_plugins:
        if name not in PLUGINS:
            log.warning('[image_import_opts] image_import_plugins lists %r, which '
                        'is no import plugin (%s): not run.', name,
                        ', '.join(PLUGINS))


def enabled(conf):
    return 'image_conversion' in conf.image_import_opts.image_import_plugins


def needed(conf, record):
    """Whether the data of ``record`` is converted on import."""
    return enabled(conf) and record.get('container_format') == 'bare' and \
        record.get('disk_format') != conf.image_conversion.output_format


def check_convertible(conf, record):
    """``ConversionFailed`` if ``record`` needs a conversion that cannot read its
    disk format (checked before its data is fetched)."""
    if needed(conf, record) and record['disk_format'] in UNCONVERTIBLE:
        raise ConversionFailed(
            'Unable to convert from format %s. An AMI, a kernel or a ramdisk is '
            'imported in its own container format (ami, aki, ari), which is not '
            'converted.' % record['disk_format'])


def convert(conf, staging, source_url, record, image_id):
    """Convert the staged data at ``source_url`` (of image ``record``) into a new
    staged file; a ``Converted``, or None when no conversion is configured or
    needed. ``ConversionFailed`` when inspection refuses the data or qemu-img
    fails."""
    if not needed(conf, record):
        return None
    check_convertible(conf, record)
    output = conf.image_conversion.output_format
    # The staging store resolves the URL to a file in its directory, or refuses.
    source = staging.canonical(source_url)[len('file://'):]
    verdict = _inspected(conf, staging, source_url, record)
    found = verdict.format or record['disk_format']
    if found == 'iso':
        if record['disk_format'] == 'iso':
            # Upstream keeps an ISO as it is: there is no disk in it to convert.
            return None
        raise ConversionFailed('Image content is iso but its disk_format is %s: an '
                               'ISO is imported as disk_format iso, never '
                               'converted; refused.' % record['disk_format'])
    if output == 'raw' and (verdict.virtual_size or 0) > conf.image_size_cap:
        # The raw output is the virtual size: refused before qemu-img writes it.
        raise ConversionFailed(_too_large(verdict.virtual_size, conf.image_size_cap))
    input_format = _QEMU_FORMATS.get(found, found)
    target = os.path.join(staging.datadir, '%s.converted-%s' % (image_id,
                                                                uuid.uuid4().hex))
    command = ['qemu-img', 'convert', '-f', input_format, '-O', output, source,
               target]
    LOG.info('image %s: converting %s to %s', image_id, input_format, output)
    try:
        result = subprocess.run(command, capture_output=True, timeout=TIMEOUT,
                                preexec_fn=_limit_resources, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _remove(target)
        LOG.error('image %s: qemu-img failed: %s', image_id, exc)
        raise ConversionFailed('The image could not be converted to %s.' % output)
    if result.returncode != 0:
        _remove(target)
        LOG.error('image %s: qemu-img failed (%d): %s', image_id, result.returncode,
                  result.stderr.decode(errors='replace')[:2000])
        raise ConversionFailed('The image could not be converted to %s.' % output)
    size = os.stat(target).st_size
    if size > conf.image_size_cap:
        _remove(target)
        raise ConversionFailed(_too_large(size, conf.image_size_cap))
    return Converted('file://' + target, output, size)


def _too_large(size, cap):
    return ('The image converted would be %d bytes, larger than the image size cap '
            'of %d bytes.' % (size, cap))


def _inspected(conf, staging, url, record):
    """The ``Verdict`` on the staged data (``ConversionFailed`` for what
    inspection refuses)."""
    content = inspection.Inspection.for_image(record, inspection.Rules.from_conf(conf))
    try:
        with staging.open_reader(url) as reader:
            for chunk in reader:
                content.feed(chunk)
        return content.finish()
    except inspection.ContentRefused as exc:
        raise ConversionFailed(str(exc))


def _limit_resources():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
