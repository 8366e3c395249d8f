"""StoreSet built from stores made in code (``StoreSet.of``), as API unit tests build
it; the configured path is in test_conformance.py."""

import pytest
from oslo_config import cfg

import stores
from stores import StoreSet, errors
from stores.memory import MemoryStore
from tests.unit.stores.conftest import write_image


def test_one_store_is_the_default_of_a_single_store_set():
    store = MemoryStore()
    store_set = StoreSet.of(store)
    assert (store_set.default, store_set.default_id, store_set.multi) == (
        store, 'memory', False)
    assert list(store_set) == [store]
    assert 'memory' in store_set and store_set.get('memory') is store


def test_several_stores_make_a_multi_store_set_with_the_first_as_default():
    fast, slow = MemoryStore('fast'), MemoryStore('slow')
    store_set = StoreSet.of(fast, slow)
    assert (store_set.default_id, store_set.multi) == ('fast', True)
    assert StoreSet.of(fast, slow, default='slow').default is slow


def test_multi_can_be_asked_for_with_one_store():
    assert StoreSet.of(MemoryStore(), multi=True).multi
    assert not StoreSet.of(MemoryStore('a'), MemoryStore('b'), multi=False).multi


def test_downloads_try_the_heaviest_store_first():
    light = MemoryStore('light', weight=1, description='backup')
    heavy = MemoryStore('heavy', weight=9)
    store_set = StoreSet.of(light, heavy)
    assert list(store_set) == [heavy, light]
    assert light.options.store_description == 'backup'


def test_a_location_finds_its_store():
    fast, slow = MemoryStore('fast'), MemoryStore('slow')
    store_set = StoreSet.of(fast, slow)
    url = write_image(slow, b'data').url
    assert store_set.for_location({'url': url, 'metadata': {}}) is slow
    assert store_set.for_location({'url': url, 'metadata': {'store': 'slow'}}) is slow
    with pytest.raises(errors.BadLocation):
        store_set.for_location({'url': 'file:///var/lib/glance/images/x'})


@pytest.mark.parametrize('stores, default', [
    ((), None),
    ((MemoryStore('a'), MemoryStore('a')), None),
    ((MemoryStore('a'),), 'b'),
])
def test_a_set_that_cannot_work_is_refused(stores, default):
    with pytest.raises(ValueError):
        StoreSet.of(*stores, default=default)


def _one_file_store_conf(tmp_path):
    conf = cfg.ConfigOpts()
    conf(args=[], default_config_files=[], default_config_dirs=[])
    stores.register_opts(conf)
    conf.set_override('enabled_backends', {'local': 'file'})
    conf.set_override('default_backend', 'local', 'glance_store')
    conf.register_opts(stores.driver_class('file').option_list(), group='local')
    conf.set_override('filesystem_store_datadir', str(tmp_path), 'local')
    return conf


@pytest.mark.parametrize('failure, kept', [
    (errors.StoreUnavailable('the backend is down'), True),
    (errors.BadConfiguration('the options are wrong'), False),
])
def test_unreachable_ok_keeps_a_store_that_is_down_but_not_a_misconfigured_one(
        tmp_path, monkeypatch, failure, kept):
    def configure(store):
        raise failure
    monkeypatch.setattr(stores.driver_class('file'), 'configure', configure)
    conf = _one_file_store_conf(tmp_path)
    with pytest.raises(type(failure)):
        StoreSet.from_config(conf, probe=False)
    if kept:
        store_set = StoreSet.from_config(conf, probe=False, unreachable_ok=True)
        assert store_set.default_id == 'local'
    else:
        with pytest.raises(errors.BadConfiguration):
            StoreSet.from_config(conf, probe=False, unreachable_ok=True)


@pytest.mark.parametrize('reserved', ['os_glance_staging_store',
                                      'os_glance_tasks_store'])
def test_a_reserved_store_listed_in_enabled_backends_is_refused_by_name(
        tmp_path, reserved):
    # As upstream: the staging and tasks areas are configured in sections of
    # their own and never listed; the refusal names the store, not a clash of
    # directories it leads to (which glance-status did not see at all).
    conf = _one_file_store_conf(tmp_path)
    conf.set_override('enabled_backends', {'local': 'file', reserved: 'file'})
    with pytest.raises(errors.BadConfiguration) as refused:
        StoreSet.from_config(conf, probe=False, prepare=False)
    assert str(refused.value) == (
        '%s is reserved (upstream\'s staging and tasks areas, each configured in '
        'its own section): remove it from enabled_backends' % reserved)


@pytest.mark.parametrize('default, says', [
    (None, '[glance_store] default_backend is not set: name one of enabled_backends '
           '(local, other)'),
    ('nosuch', "[glance_store] default_backend must be one of enabled_backends "
               "(local, other), not 'nosuch'"),
], ids=['unset', 'unknown'])
def test_a_default_backend_that_is_no_store_is_refused(tmp_path, default, says):
    conf = _one_file_store_conf(tmp_path)
    conf.set_override('enabled_backends', {'local': 'file', 'other': 'file'})
    conf.set_override('default_backend', default, 'glance_store')
    with pytest.raises(errors.BadConfiguration) as refused:
        StoreSet.from_config(conf, probe=False, prepare=False)
    assert str(refused.value) == says


def test_two_file_stores_with_one_data_directory_are_refused(tmp_path):
    # Both name an image's file after it: a copy from one to the other found the
    # file there already and failed, and a legacy location belonged to either.
    conf = _one_file_store_conf(tmp_path)
    conf.set_override('enabled_backends', {'local': 'file', 'other': 'file'})
    conf.register_opts(stores.driver_class('file').option_list(), group='other')
    conf.set_override('filesystem_store_datadir', '%s/' % tmp_path, 'other')
    with pytest.raises(errors.BadConfiguration) as refused:
        StoreSet.from_config(conf, probe=False, prepare=False)
    assert str(refused.value) == (
        'stores local and other have one data directory, %s: give each a '
        'directory of its own' % tmp_path)


# -- legacy locations: recorded without their store, before enabled_backends ---------

def _file_stores(tmp_path, *ids):
    """File stores configured as an operator would: ``enabled_backends``."""
    conf = cfg.ConfigOpts()
    conf(args=[], default_config_files=[], default_config_dirs=[])
    stores.register_opts(conf)
    conf.set_override('enabled_backends', {store_id: 'file' for store_id in ids})
    conf.set_override('default_backend', ids[0], 'glance_store')
    for store_id in ids:
        conf.register_opts(stores.driver_class('file').option_list(), group=store_id)
        conf.set_override('filesystem_store_datadir', str(tmp_path / store_id),
                          store_id)
    configured = StoreSet.from_config(conf, probe=False)
    return [configured.get(store_id) for store_id in ids]


def test_a_legacy_file_location_belongs_to_the_store_of_its_directory(tmp_path):
    local, other = _file_stores(tmp_path, 'local', 'other')
    store_set = StoreSet.of(other, local, default='local')
    url = write_image(local, b'old image').url
    legacy = {'url': url, 'metadata': {}}
    assert store_set.store_of(legacy) is local
    assert store_set.store_id_of(legacy) == 'local'
    assert store_set.located([legacy]) == [{'url': url,
                                            'metadata': {'store': 'local'}}]


def test_a_location_under_a_store_id_no_longer_configured_is_mapped_again(tmp_path):
    [renamed] = _file_stores(tmp_path, 'renamed')
    store_set = StoreSet.of(renamed, MemoryStore('spare'))
    url = write_image(renamed, b'data').url
    assert store_set.located([{'url': url, 'metadata': {'store': 'gone', 'k': 'v'}}]) \
        == [{'url': url, 'metadata': {'store': 'renamed', 'k': 'v'}}]


def test_mapping_keeps_recorded_stores_unknown_urls_and_staged_data(tmp_path):
    local, = _file_stores(tmp_path, 'local')
    store_set = StoreSet.of(local, MemoryStore('spare'))
    url = write_image(local, b'data').url
    recorded = {'url': url, 'metadata': {'store': 'spare'}}
    nobody = {'url': 'file:///elsewhere/x', 'metadata': {}}
    staged = {'url': url, 'metadata': {'store': 'os_glance_staging_store'},
              'status': 'staged'}
    assert store_set.located([recorded, nobody, staged]) == [recorded, nobody, staged]
    assert store_set.store_id_of(nobody) is None


def test_a_single_store_set_shows_locations_as_recorded(tmp_path):
    local, = _file_stores(tmp_path, 'file')
    store_set = StoreSet.of(local)
    url = write_image(local, b'data').url
    assert store_set.located([{'url': url, 'metadata': {}}]) == [
        {'url': url, 'metadata': {}}]
    assert store_set.store_id_of({'url': url, 'metadata': {}}) == 'file'


def test_a_store_that_writes_at_a_url_wins_over_one_that_only_reads_it(tmp_path):
    local, = _file_stores(tmp_path, 'local')

    class ReadsEveryFile(MemoryStore):
        """A store that can read any file URL but writes none of them."""
        schemes = ('file',)

        def check_location(self, url):
            if not url.startswith('file:'):
                raise errors.BadLocation(url)

        def writes_at(self, url):
            return False

    reader = ReadsEveryFile('reader', weight=9)
    store_set = StoreSet.of(local, reader)
    url = write_image(local, b'data').url
    assert list(store_set)[0] is reader and reader.owns(url)
    assert store_set.store_of({'url': url, 'metadata': {}}) is local
    assert store_set.store_of({'url': 'file:///elsewhere/x', 'metadata': {}}) is reader


# -- the order of an image's locations -----------------------------------------------

def test_multi_store_locations_are_ordered_by_weight_ties_as_recorded():
    # As upstream (2023.2+): a stable sort by the store's weight, highest first.
    first, second, heavy = (MemoryStore('first'), MemoryStore('second'),
                            MemoryStore('heavy', weight=5))
    store_set = StoreSet.of(first, second, heavy)
    locations = [{'url': write_image(store, b'data').url,
                  'metadata': {'store': store.store_id}}
                 for store in (second, first, heavy)]
    nobody = {'url': 'file:///elsewhere/x', 'metadata': {}}
    assert [loc['metadata'].get('store') for loc in
            store_set.ordered(locations + [nobody])] == [
        'heavy', 'second', 'first', None]


def _single_store_conf(tmp_path, strategy=None, preference=None):
    conf = cfg.ConfigOpts()
    conf(args=[], default_config_files=[], default_config_dirs=[])
    stores.register_opts(conf)
    conf.set_override('stores', ['file', 'http'], 'glance_store')
    if strategy:
        conf.set_override('location_strategy', strategy)
    if preference is not None:
        conf.set_override('store_type_preference', preference,
                          stores.STORE_TYPE_GROUP)
    conf.register_opts(stores.driver_class('file').option_list(), 'glance_store')
    conf.set_override('filesystem_store_datadir', str(tmp_path), 'glance_store')
    return StoreSet.from_config(conf, probe=False)


@pytest.mark.parametrize('strategy, preference, order', [
    (None, None, ['http', 'file']),                  # location_order: as recorded
    ('store_type', [], ['http', 'file']),
    ('store_type', ['filesystem', 'http'], ['file', 'http']),   # upstream's name
    ('store_type', ['file'], ['file', 'http']),     # the others after, as recorded
    ('store_type', ['http', 'file'], ['http', 'file']),
])
def test_a_single_store_orders_locations_by_location_strategy(tmp_path, strategy,
                                                              preference, order):
    store_set = _single_store_conf(tmp_path, strategy, preference)
    on_disk = {'url': write_image(store_set.get('file'), b'data').url,
               'metadata': {}}
    on_web = {'url': 'https://images.example.com/disk.img', 'metadata': {}}
    assert [store_set.store_id_of(loc) for loc in
            store_set.ordered([on_web, on_disk])] == order
