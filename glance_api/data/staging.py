"""The staging store: where staged data (``PUT /v2/images/{id}/stage``) and
web-downloaded data wait for their import, reachable from every API node.

Upstream stages on the local disk of the node that received the stage and must
proxy the import to that node (``os_glance_stage_host``). Here the staging area
is a file store every API node mounts (shared storage): upstream's reserved
``[os_glance_staging_store]`` with its ``filesystem_store_datadir``, or, when that
is unset, the directory of upstream's ``node_staging_uri``. Staged data is a
location of its image with status ``staged`` (never shown to clients, never
counted as storage), so every worker finds it, and deleting the image removes it.
"""

import logging
import os
import urllib.parse

from oslo_config import cfg

import stores
from stores import errors as store_errors

LOG = logging.getLogger(__name__)

GROUP = 'os_glance_staging_store'
STAGED = 'staged'

staging_opts = [
    cfg.StrOpt('node_staging_uri', default='file:///tmp/staging/',
               help='file:// URL of the directory where staged image data waits '
                    'for its import, when [os_glance_staging_store] '
                    'filesystem_store_datadir is unset. Put it on storage every API '
                    'node shares: an import may run on any node.'),
]


def register_opts(conf):
    conf.register_opts(staging_opts)
    conf.register_opts(stores.driver_class('file').option_list(), group=GROUP)


def list_opts():
    return [('DEFAULT', staging_opts),
            (GROUP, [opt for opt in stores.driver_class('file').option_list()
                     if opt.name == 'filesystem_store_datadir'])]


def from_conf(conf, probe=True, prepare=True, strict=True):
    """The staging store (a file store, id ``os_glance_staging_store``);
    ``prepare`` and ``strict`` as ``stores.StoreSet.from_config`` takes them."""
    register_opts(conf)
    group = getattr(conf, GROUP)
    if 'filesystem_store_datadir' not in _set_in_files(conf):
        parsed = urllib.parse.urlparse(conf.node_staging_uri)
        if parsed.scheme != 'file' or not parsed.path:
            raise store_errors.BadConfiguration(
                'node_staging_uri must be a file:// URL, not %r'
                % conf.node_staging_uri)
        conf.set_override('filesystem_store_datadir', parsed.path, group=GROUP)
    store = stores.driver_class('file')(conf, GROUP, GROUP)
    if not prepare:
        store.load()
        return store
    try:
        _private_directory(group.filesystem_store_datadir)
        store.configure()
        if probe:
            store.probe()
    except store_errors.StoreError as exc:
        if strict or isinstance(exc, _NotOurs):
            raise
        LOG.error('the staging store cannot be prepared: %s; stages and imports '
                  'fail until it is repaired', exc)
    LOG.debug('staging in %s', group.filesystem_store_datadir)
    return store


class _NotOurs(store_errors.BadConfiguration):
    """A staging directory another user owns: never used, whenever found."""


def _private_directory(path):
    """Create the staging directory readable by this user only; refuse one that
    another user owns. Upstream's default, ``/tmp/staging``, is in a directory
    every local user can write: whoever creates it first would read (or replace)
    every tenant's staged bytes."""
    parent = os.path.dirname(os.path.normpath(path))
    try:
        os.makedirs(parent, exist_ok=True)
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise store_errors.BadConfiguration('cannot create the staging directory '
                                            '%s: %s' % (path, exc.strerror))
    else:
        os.chmod(path, 0o700)   # mkdir's mode is masked by the umask
        return
    link = os.lstat(path)
    if link.st_uid != os.geteuid():
        # A symbolic link someone else planted at the name (in /tmp, say) may point
        # at a directory of ours now and at one of theirs later: the store resolves
        # it on every use.
        raise _NotOurs(
            'the staging directory %s is a symbolic link that belongs to user id %d, '
            'not to this service (user id %d): another user could point it '
            'elsewhere; remove it or set node_staging_uri to a directory of this '
            'service' % (path, link.st_uid, os.geteuid()))
    status = os.stat(path)
    if status.st_uid != os.geteuid():
        raise _NotOurs(
            'the staging directory %s belongs to user id %d, not to this service '
            '(user id %d): another user could read or replace staged images; '
            'remove it or set node_staging_uri to a directory of this service'
            % (path, status.st_uid, os.geteuid()))
    if status.st_mode & 0o077:
        LOG.warning('the staging directory %s is open to other users (mode %o): '
                    'staged images may be read by them; chmod 700 it', path,
                    status.st_mode & 0o777)


def check_apart(staging, store_set):
    """``BadConfiguration`` if the staging directory is a file store's data
    directory: staged data is named after its image, as the image's own data."""
    for store in store_set:
        if getattr(store, 'datadir', None) == getattr(staging, 'datadir', ()):
            raise store_errors.BadConfiguration(
                'the staging directory %s is the data directory of store %s: give '
                'staging a directory of its own' % (staging.datadir, store.store_id))


def _set_in_files(conf):
    """The options of the staging group that the config files set."""
    found = set()
    for name in ('filesystem_store_datadir',):
        location = conf.get_location(name, GROUP)
        if location is not None and location.location != cfg.Locations.opt_default:
            found.add(name)
    return found


def location(stored, facts=None):
    """The image location of data ``stored`` in the staging store; ``facts``
    (``stage_facts``) are kept in its metadata for the import."""
    metadata = {'store': GROUP}
    if facts is not None:
        metadata[FACTS] = facts
    return {'url': stored.url, 'metadata': metadata, 'status': STAGED}


#: The staged location's metadata member holding what the stage found.
FACTS = 'stage'


def stage_facts(record, stored, verdict, rules, hashing_algorithm):
    """What a stage verified of the bytes it wrote: their size and hashes, the
    inspection's verdict, against which formats and rules, and the staged file's
    identity (``StoredImage.identity``). Recorded in the staged location (never
    shown to clients), so that the import need not read the bytes again."""
    return {'size': stored.size, 'checksum': stored.checksum,
            'os_hash_algo': hashing_algorithm, 'os_hash_value': stored.multihash,
            'virtual_size': verdict.virtual_size,
            'disk_format': record.get('disk_format'),
            'container_format': record.get('container_format'),
            'rules': rules.as_json(), 'identity': stored.identity}


def verified_facts(record, staged, rules, hashing_algorithm):
    """The stage's facts about the staged location ``staged`` of ``record``, if
    the import may rely on them: recorded by a stage, for the image's formats as
    they are now, under the same inspection ``rules`` and hashing algorithm (a
    worker configured otherwise inspects and hashes again). None otherwise (data
    staged before facts were recorded, or by another configuration)."""
    facts = (staged.get('metadata') or {}).get(FACTS)
    if not isinstance(facts, dict):
        return None
    if facts.get('os_hash_algo') != hashing_algorithm or \
            facts.get('rules') != rules.as_json() or \
            facts.get('disk_format') != record.get('disk_format') or \
            facts.get('container_format') != record.get('container_format') or \
            not all(facts.get(key) for key in ('checksum', 'os_hash_value',
                                               'identity')) or \
            not isinstance(facts.get('size'), int):
        return None
    return facts


def staged_locations(record):
    """The image's staged data (at most one)."""
    return [loc for loc in record.get('locations') or []
            if loc.get('status') == STAGED]


def other_locations(record):
    """The image's locations that are not staged data, as a location write takes
    them."""
    return [{'url': loc['url'], 'metadata': loc.get('metadata') or {},
             'status': loc.get('status') or 'active'}
            for loc in record.get('locations') or [] if loc.get('status') != STAGED]


def discard_leftover(staging, record):
    """Remove a staged file of ``record`` that no staged location records, before a
    stage writes the image's: what a worker left when it died between committing
    a stage and recording it, or between an import's end and its removal of the
    staged data. The staging directory is the service's own and names files after
    image ids, so such a file is no one's (it made every stage of the image fail)."""
    if staged_locations(record):
        return
    try:
        staging.delete(staging.location(record['id']))
    except store_errors.NotFound:
        return
    except store_errors.StoreError as exc:
        LOG.error('image %s: staged data that no location records could not be '
                  'removed: %s', record['id'], exc)
        return
    LOG.warning('image %s: removed staged data that no location recorded (left by '
                'a worker that stopped)', record['id'])


def discard(staging, record):
    """Remove the staged data of ``record`` from the staging store (best effort)."""
    for loc in staged_locations(record):
        try:
            staging.delete(loc['url'])
        except store_errors.NotFound:
            pass
        except store_errors.StoreError as exc:
            LOG.error('image %s: staged data at %s could not be removed: %s',
                      record.get('id'), loc['url'], exc)

