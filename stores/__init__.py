"""Image data stores: the driver interface, the drivers by name, and the configured set.

The API holds one ``StoreSet`` built by ``StoreSet.from_config(conf)`` (tests may build
one from stores made in code with ``StoreSet.of``) and never imports a driver module
itself. ``stores.base`` is the interface drivers implement; docs/stores.rst says what
each driver guarantees.
"""

import importlib
import logging

from oslo_config import cfg

from stores import errors
from stores.base import CHUNK_SIZE, Credentials, Reader, Store, StoredImage, Writer

__all__ = ['CHUNK_SIZE', 'Credentials', 'Reader', 'Store', 'StoreSet', 'StoredImage',
           'Writer', 'errors', 'driver_class', 'list_opts', 'list_order_opts']

LOG = logging.getLogger(__name__)

# The drivers operators may configure, by type name; imported only when configured.
# The memory driver (stores/memory.py) is left out on purpose: it loses everything
# at restart, so only code (tests) may build one.
_DRIVERS = {
    'file': 'stores.file:FileStore',
    'swift': 'stores.swift:SwiftStore',
    'http': 'stores.http:HttpStore',
}

#: Upstream's reserved store ids: the staging and tasks areas, each configured in
#: a section of its own (``glance_api.data.staging``), never in enabled_backends.
RESERVED_IDS = ('os_glance_staging_store', 'os_glance_tasks_store')

_common_opts = [
    cfg.DictOpt('enabled_backends',
                help='Multi-store: store ids and their types, e.g. '
                     '"fast:file, objects:swift". Each id gets a config section of '
                     'its own with that driver\'s options. Unset: one store, '
                     'configured in [glance_store].'),
]

# Upstream's, from glance (not glance_store): how a single store's image locations
# are ordered. With enabled_backends, upstream (2023.2+) orders them by weight.
_order_opts = [
    cfg.StrOpt('location_strategy', default='location_order',
               choices=('location_order', 'store_type'),
               help='Single-store mode: the order in which an image\'s locations '
                    'are read, shown and given as direct_url: as they were '
                    'recorded (location_order), or by the type of their store in '
                    'the order of [store_type_location_strategy] '
                    'store_type_preference (store_type), locations of other types '
                    'last. With enabled_backends, locations are ordered by their '
                    'store\'s weight, as upstream.'),
]

STORE_TYPE_GROUP = 'store_type_location_strategy'

_store_type_opts = [
    cfg.ListOpt('store_type_preference', default=[],
                help='With location_strategy = store_type: store types in the '
                     'order their locations are preferred, e.g. "file, http" '
                     '(upstream\'s names: filesystem means file). Empty: the '
                     'recorded order.'),
]

_glance_store_opts = [
    cfg.StrOpt('default_store', default='file',
               help='Single-store mode: the driver type of the only store.'),
    cfg.ListOpt('stores', default=[],
                help='Single-store mode: read-only stores beside default_store, as '
                     'in upstream\'s list of the stores images are read from (its '
                     'install guide\'s "file,http"): with "http", images whose data '
                     'is at a web URL are read, and such locations may be added. '
                     'Writable types other than default_store are not used (the log '
                     'says so): configure several stores with enabled_backends. '
                     'Unlike upstream (default "file,http"), empty by default: '
                     'default_store only.'),
    cfg.StrOpt('default_backend',
               help='Multi-store mode: the id (from enabled_backends) that uploads '
                    'go to when the client names none.'),
]

_backend_opts = [
    cfg.StrOpt('store_description', default='',
               help='A description shown to users in /v2/info/stores.'),
    cfg.IntOpt('weight', default=0,
               help='An image\'s locations in stores with a higher weight are '
                    'read (downloads, copies) and listed first, as upstream; '
                    'those of stores that weigh alike in the order recorded.'),
]


def driver_class(driver):
    """The ``Store`` subclass registered for a type name such as ``file``."""
    try:
        module_name, _, class_name = _DRIVERS[driver].partition(':')
    except KeyError:
        raise errors.BadConfiguration('unknown store type %r (known: %s)'
                                      % (driver, ', '.join(sorted(_DRIVERS))))
    return getattr(importlib.import_module(module_name), class_name)


def register_opts(conf):
    """Register the options that say which stores exist (not the drivers' own)."""
    conf.register_opts(_common_opts + _order_opts)
    conf.register_opts(_glance_store_opts, group='glance_store')
    conf.register_opts(_store_type_opts, group=STORE_TYPE_GROUP)


def list_opts():
    """For oslo-config-generator: the store-selection options and every driver's.

    In single-store mode the driver's options live in ``[glance_store]``; with
    ``enabled_backends`` each store's section takes its driver's options and
    ``store_description`` and ``weight``.
    """
    driver_opts = [opt for driver in sorted(_DRIVERS)
                   for opt in driver_class(driver).option_list()]
    return [('DEFAULT', _common_opts),
            ('glance_store', _glance_store_opts + driver_opts + _backend_opts)]


def list_order_opts():
    """For oslo-config-generator: the options that order an image's locations
    (``StoreSet.ordered``), which only the API reads."""
    return [('DEFAULT', _order_opts), (STORE_TYPE_GROUP, _store_type_opts)]


#: Upstream's spellings of the types in ``[glance_store] stores``.
_TYPE_ALIASES = {'filesystem': 'file', 'https': 'http', 'swift+http': 'swift',
                 'swift+https': 'swift', 'swift+config': 'swift'}


def _store_type(name):
    """The driver type of one of upstream's store names (``filesystem``,
    ``swift+config``, any case)."""
    name = name.strip().lower()
    return _TYPE_ALIASES.get(name, name)


def _readers_beside(listed, default_driver):
    """The read-only store types of upstream's ``[glance_store] stores`` list
    besides ``default_driver``; the others are logged as not used."""
    readers = []
    for name in listed:
        driver = _store_type(name)
        if not driver or driver == default_driver or driver in readers:
            continue
        if driver not in _DRIVERS:
            LOG.warning('[glance_store] stores lists %s, a store type this service '
                        'does not have: not used', name)
        elif driver_class(driver).writable:
            LOG.warning('[glance_store] stores lists %s: in single-store mode only '
                        'default_store (%s) is written and read; configure several '
                        'stores with enabled_backends', name, default_driver)
        else:
            readers.append(driver)
    return readers


def _check_datadirs_apart(stores):
    """``BadConfiguration`` if two stores (of ``{id: store}``) have one data
    directory: each names an image's file after the image, so a copy from one to
    the other finds it there already, and a location is either's."""
    seen = {}
    for store in stores.values():
        datadir = getattr(store, 'datadir', None)
        if datadir is None:
            continue
        if datadir in seen:
            raise errors.BadConfiguration(
                'stores %s and %s have one data directory, %s: give each a '
                'directory of its own' % (seen[datadir], store.store_id, datadir))
        seen[datadir] = store.store_id


class StoreSet:
    """The stores this process was configured with, by id."""

    def __init__(self, stores, default_id, multi, type_preference=None):
        self._stores = stores
        self.default_id = default_id
        self.multi = multi
        #: Single-store ``location_strategy = store_type``: the store types whose
        #: locations come first, in this order; None keeps the recorded order.
        self.type_preference = type_preference

    @classmethod
    def from_config(cls, conf, probe=True, url_policy=None, prepare=True,
                    strict=True, unreachable_ok=False):
        """Build, configure and (optionally) probe every configured store.

        ``prepare=False`` only loads each store's settings (``Store.load``): for
        a process that judges locations but never reads or writes data (the
        registry), so that a backend down or a lost mount there cannot fail
        writes that do not touch it. ``strict=False`` logs a store that cannot
        be prepared and keeps it, loaded, instead of raising: for a worker that
        starts after the checks at start-up, which one store failing since must
        not stop (requests that need that store fail until it is repaired).
        ``unreachable_ok`` does the same, even when ``strict``, for a store that
        cannot be reached (``StoreUnavailable``: a Swift that is down), while a
        misconfigured one (``BadConfiguration``) still raises: for a process
        whose work is retrying what a store failed to do (the scrubber).
        ``url_policy`` (a ``stores.web.UrlPolicy``) is what drivers that read
        web URLs may read; None keeps their default (upstream's import filters).
        """
        register_opts(conf)
        backends = conf.enabled_backends
        stores = {}
        if backends:
            for store_id, driver in backends.items():
                if store_id in RESERVED_IDS:
                    raise errors.BadConfiguration(
                        "%s is reserved (upstream's staging and tasks areas, each "
                        "configured in its own section): remove it from "
                        "enabled_backends" % store_id)
                store_cls = driver_class(driver.strip())
                conf.register_opts(_backend_opts + store_cls.option_list(),
                                   group=store_id)
                stores[store_id] = store_cls(conf, store_id, store_id)
            _check_datadirs_apart(stores)
            default_id = conf.glance_store.default_backend
            if default_id is None:
                raise errors.BadConfiguration(
                    '[glance_store] default_backend is not set: name one of '
                    'enabled_backends (%s)' % ', '.join(stores))
            if default_id not in stores:
                raise errors.BadConfiguration(
                    '[glance_store] default_backend must be one of enabled_backends '
                    '(%s), not %r' % (', '.join(stores), default_id))
        else:
            driver = _store_type(conf.glance_store.default_store)
            store_cls = driver_class(driver)
            conf.register_opts(store_cls.option_list(), group='glance_store')
            stores[driver] = store_cls(conf, 'glance_store', driver)
            default_id = driver
            for reader in _readers_beside(conf.glance_store.stores, driver):
                reader_cls = driver_class(reader)
                conf.register_opts(reader_cls.option_list(), group='glance_store')
                stores[reader] = reader_cls(conf, 'glance_store', reader)
        for store in stores.values():
            if url_policy is not None:
                store.url_policy = url_policy
            if not prepare:
                store.load()
                continue
            try:
                store.configure()
                if probe:
                    store.probe()
            except errors.StoreError as exc:
                if strict and not (unreachable_ok
                                   and isinstance(exc, errors.StoreUnavailable)):
                    raise
                LOG.error('store %s cannot be prepared: %s; requests that need it '
                          'fail until it is repaired', store.store_id, exc)
        preference = None
        if conf.location_strategy == 'store_type':
            preference = [_store_type(name) for name in
                          conf[STORE_TYPE_GROUP].store_type_preference
                          if name.strip()]
        return cls(stores, default_id, multi=bool(backends),
                   type_preference=preference)

    @classmethod
    def of(cls, *stores, default=None, multi=None):
        """A set of stores built in code, such as ``memory.MemoryStore`` for tests:
        nothing is registered, configured or probed.

        ``default`` is the id of the store uploads go to (None: the first store's).
        ``multi`` says whether the set behaves as one configured with
        ``enabled_backends`` (clients may choose a store, ``/v2/info/stores``
        answers); by default, when there is more than one store.
        """
        by_id = {}
        for store in stores:
            if store.store_id in by_id:
                raise ValueError('two stores have the id %r' % store.store_id)
            by_id[store.store_id] = store
        if not by_id:
            raise ValueError('a store set needs at least one store')
        default_id = stores[0].store_id if default is None else default
        if default_id not in by_id:
            raise ValueError('the default %r is none of the stores (%s)'
                             % (default_id, ', '.join(by_id)))
        return cls(by_id, default_id, len(by_id) > 1 if multi is None else multi)

    @property
    def default(self):
        """The store uploads go to unless the client names another."""
        return self._stores[self.default_id]

    def get(self, store_id):
        """The store with ``store_id``; ``KeyError`` if there is none."""
        return self._stores[store_id]

    def __contains__(self, store_id):
        return store_id in self._stores

    def __iter__(self):
        """Stores, highest weight first."""
        return iter(sorted(self._stores.values(), key=self._weight, reverse=True))

    def configured(self):
        """Stores in the order ``enabled_backends`` lists them (upstream lists
        them so in ``/v2/info/stores`` and copies to them so with
        ``all_stores``)."""
        return list(self._stores.values())

    def _weight(self, store):
        return store.options.weight if self.multi else 0

    def store_of(self, location):
        """The store that holds ``location`` (a dict with ``url`` and ``metadata``),
        or None if no configured store reads it.

        ``metadata.store`` names it when it is a configured store's id. A location
        recorded without it (uploaded before ``enabled_backends`` was set, or under
        a store id since renamed) belongs, as upstream maps such legacy locations,
        to the store whose own URLs it matches: one that writes there (a file
        store's data directory, a Swift store's account and container) before one
        that only reads it (an http store), and by weight among equals.
        """
        store_id = (location.get('metadata') or {}).get('store')
        if store_id in self._stores:
            return self._stores[store_id]
        url = location['url']
        readers = [store for store in self if store.owns(url)]
        return next((store for store in readers if store.writes_at(url)),
                    readers[0] if readers else None)

    def ordered(self, locations):
        """``locations`` in the order an image's locations are read and shown,
        as upstream orders them: with ``enabled_backends`` by their store's
        weight, highest first (a location no store reads weighs 0), else as
        ``location_strategy`` says (``type_preference``). Locations that rank
        alike keep their recorded order."""
        if self.multi:
            def rank(location):
                store = self.store_of(location)
                return -(store.options.weight if store is not None else 0)
        elif self.type_preference:
            preference = self.type_preference

            def rank(location):
                store = self.store_of(location)
                driver = store.driver if store is not None else None
                return (preference.index(driver) if driver in preference
                        else len(preference))
        else:
            return list(locations)
        return sorted(locations, key=rank)

    def store_id_of(self, location):
        """The id of ``store_of(location)``, or None."""
        store = self.store_of(location)
        return None if store is None else store.store_id

    def for_location(self, location):
        """``store_of(location)``; ``errors.BadLocation`` if no configured store
        reads it."""
        store = self.store_of(location)
        if store is None:
            raise errors.BadLocation('no configured store reads %s'
                                     % location['url'].split(':', 1)[0])
        return store

    def located(self, locations):
        """Copies of ``locations`` whose ``metadata.store`` names the configured
        store that holds each (``store_of``), in multi-store mode: how the API shows
        and uses legacy locations recorded without one. Locations that no store
        reads, those that are not active (staged data names the staging store),
        and every location in single-store mode are left as they are."""
        if not self.multi:
            return list(locations)
        mapped = []
        for location in locations:
            metadata = location.get('metadata') or {}
            if (location.get('status', 'active') == 'active'
                    and metadata.get('store') not in self._stores):
                store = self.store_of(location)
                if store is not None:
                    location = dict(location,
                                    metadata=dict(metadata, store=store.store_id))
            mapped.append(location)
        return mapped
