"""The staging sweeper: removes the staged files that no import will use.

A staged file (``<image id>``, or ``<image id>.converted-<n>`` and
``<image id>.decompressed-<n>`` from the conversion and decompression plugins)
normally goes when its import ends or its image is deleted
(``staging.discard``). A worker that dies between an import's end and that removal,
or a removal that fails (a delete refused, a store error), leaves it for ever:
nothing else looks at the staging directory but the start-up removal of the
staging store's temporary files.

Upstream Glance (Xena and later, ``glance.housekeeping.StagingStoreCleaner``) scans
the staging directory once, as each API worker starts, and removes the files whose
image does not exist or is deleted. Here one worker per staging directory (the one
holding an ``flock`` on it, which a shared file system may or may not extend to
the other nodes: either way is safe) does it at start and
then every ``staging_sweep_interval`` seconds, and also removes the files of images
that exist in a status that cannot use them: only an ``uploading`` (staged, not yet
imported) or ``importing`` image reads its staged data. A file younger than
``staging_sweep_min_age`` (by its modification or change time) is never touched, so
that a file just written (a stage committing, an import ending) is left to the
request that wrote it. The registry is asked about the files' images in batches
(one list call with an ``id`` filter per batch, for hidden and for visible images),
not once per file. Names that are not an image id's are left alone, as upstream
does; a symbolic link at an image's name is removed itself, never its target.
"""

import logging
import os
import stat
import time

from oslo_config import cfg

from glance_api.access.context import SERVICE_IDENTITY
from glance_api.data import node_duty
from glance_registry.client import errors as registry_errors
from glance_registry.client import vocabulary

LOG = logging.getLogger(__name__)

#: The lock file, where the file system cannot lock the directory itself.
LOCK_NAME = '.sweeper.lock'
#: The statuses of an image whose staged data an import may still read.
USING = ('uploading', 'importing')
#: Images asked about in one list call: 100 ids make a request line of about 4 KB
#: (the registry takes up to 8 KB).
BATCH = 100

sweep_opts = [
    cfg.IntOpt('staging_sweep_interval', default=3600, min=0,
               help='Seconds between two sweeps of the staging directory, which '
                    'remove the staged files of images that do not exist, are '
                    'deleted, or are neither uploading nor importing (upstream '
                    'sweeps only when an API worker starts). One API worker per '
                    'staging directory sweeps, at its start and then at this '
                    'interval; 0: only at its start.'),
    cfg.IntOpt('staging_sweep_min_age', default=3600, min=0,
               help='Seconds a staged file is left alone after it was last '
                    'written or linked, whatever its image: the sweep never races '
                    'the request or import that is writing or removing it, on '
                    'this node or another sharing the staging directory.'),
]


def register_opts(conf):
    conf.register_opts(sweep_opts)


def start(app):
    """Sweep the staging directory from a thread of this worker whenever it holds
    the directory's lock: at once, then every ``staging_sweep_interval``
    seconds. A worker that does not get the lock tries again at each interval
    (the holder's death releases it). Returns the ``node_duty.Duty``."""
    svc = app.extensions['glance']
    return node_duty.start(
        'staging-sweeper', lambda: _try_lock(svc.staging.datadir),
        lambda: sweep(svc.staging, svc.registry, svc.conf.staging_sweep_min_age),
        svc.conf.staging_sweep_interval, at_once=True,
        holding='this worker sweeps the staging directory %s' % svc.staging.datadir)


def _try_lock(directory):
    """An open descriptor holding the staging directory's ``flock``, or None when
    another process holds it. The directory itself is locked, leaving no file in
    it; where the file system does not lock a directory (NFS emulates ``flock``
    with byte-range locks, which need a file open for writing), the file
    ``LOCK_NAME`` in it is locked instead; where it locks nothing, every worker
    sweeps (only wasteful: each removal happens once)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        LOG.warning('the staging directory %s cannot be swept: %s', directory,
                    exc.strerror)
        return None
    locked = node_duty.try_flock(fd)
    if locked is not None:
        if locked:
            return fd
        os.close(fd)
        return None
    os.close(fd)
    try:
        return node_duty.try_lock_file(os.path.join(directory, LOCK_NAME),
                                       'sweeps the staging directory')
    except OSError as exc:
        LOG.warning('the staging directory %s cannot be swept: %s', directory,
                    exc.strerror)
        return None


def image_id_of(name):
    """The id of the image a staging directory entry ``name`` belongs to, or
    None (a temporary file, the lock, anything not named after an image)."""
    candidate = name.split('.', 1)[0]
    return candidate if vocabulary.is_image_id(candidate) else None


def sweep(staging_store, registry, min_age, now=None):
    """Remove, from the staging store's directory, the staged files at least
    ``min_age`` seconds old whose image does not exist, is deleted, or is not in
    a status of ``USING``; and the store's temporary files of dead writers
    (``Store.sweep``, which logs them). The names of the staged files removed."""
    directory = staging_store.datadir
    now = time.time() if now is None else now
    candidates = {}
    for name in os.listdir(directory):
        image_id = image_id_of(name)
        if image_id is None:
            continue
        try:
            found = os.lstat(os.path.join(directory, name))
        except FileNotFoundError:
            continue
        if not (stat.S_ISREG(found.st_mode) or stat.S_ISLNK(found.st_mode)):
            continue
        if now - max(found.st_mtime, found.st_ctime) < min_age:
            continue
        candidates.setdefault(image_id, []).append((name, found))
    removed = []
    ids = sorted(candidates)
    for start in range(0, len(ids), BATCH):
        batch = ids[start:start + BATCH]
        try:
            statuses = image_statuses(registry, batch)
        except registry_errors.RegistryError as exc:
            LOG.warning('staging sweep: cannot read the status of %d image(s), '
                        'their staged files stay until the next sweep: %s',
                        len(batch), exc)
            continue
        for image_id in batch:
            status = statuses.get(image_id)
            if status in USING:
                continue
            for name, found in candidates[image_id]:
                if _remove_unchanged(directory, name, found):
                    removed.append(name)
                    LOG.info('staging sweep: removed %s (%s) of image %s: %s', name,
                             'a symbolic link' if stat.S_ISLNK(found.st_mode) else
                             '%d bytes' % found.st_size, image_id,
                             'the image is %s' % status if status else
                             'no such image, or deleted')
    staging_store.sweep()
    return removed


def image_statuses(registry, image_ids):
    """``{image id: status}`` of those of ``image_ids`` that exist and are not
    deleted, in one list call for visible and one for hidden images (a list shows
    only one kind), following the registry's pages."""
    statuses = {}
    for hidden in ('false', 'true'):
        params = [('id', 'in:' + ','.join(image_ids)), ('visibility', 'all'),
                  ('member_status', 'all'), ('os_hidden', hidden),
                  ('limit', str(len(image_ids)))]
        marker = None
        while True:
            page, marker = registry.list_images(
                SERVICE_IDENTITY, params + ([('marker', marker)] if marker else []))
            statuses.update((image['id'], image['status']) for image in page)
            if not marker:
                break
    return statuses


def _remove_unchanged(directory, name, found):
    """Remove ``name`` if it is still the entry ``found`` (``lstat``) was: a new
    stage of the image may have replaced it since the directory was listed."""
    path = os.path.join(directory, name)
    try:
        now = os.lstat(path)
        if (now.st_ino, now.st_ctime_ns) != (found.st_ino, found.st_ctime_ns):
            return False
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        LOG.error('staging sweep: could not remove %s: %s', path, exc.strerror)
        return False
    return True
