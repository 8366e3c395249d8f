"""Options that upstream Glance reads from another section than this service's
documented one: upstream's spelling is read too, so an operator's glance-api.conf
keeps its effect (unknown sections are otherwise ignored without a word)."""

import pytest

from glance_api import opts
from glance_registry import process


def _load(tmp_path, text):
    path = tmp_path / 'glance-api.conf'
    path.write_text(text)
    return process.load_config(['--config-file', str(path)], opts.register_opts)


@pytest.mark.parametrize('section, option, value, read_as', [
    # upstream: glance.common.config's wsgi_opts, in [wsgi]
    ('wsgi', 'task_pool_threads', '5', ('task_pool_threads', 5)),
    # upstream: task_opts, in [task]
    ('task', 'task_time_to_live', '12', ('task_time_to_live', 12)),
    # upstream read them from [DEFAULT] before [image_format], and still does
    ('DEFAULT', 'disk_formats', 'raw,qcow2', ('image_format.disk_formats',
                                              ['raw', 'qcow2'])),
    ('DEFAULT', 'container_formats', 'bare', ('image_format.container_formats',
                                              ['bare'])),
], ids=lambda value: value if isinstance(value, str) else None)
def test_upstreams_spelling_of_an_option_is_read(tmp_path, section, option, value,
                                                  read_as):
    conf = _load(tmp_path, '[%s]\n%s = %s\n' % (section, option, value))
    name, expected = read_as
    where = conf
    for part in name.split('.'):
        where = where[part]
    assert where == expected


def test_this_services_spelling_wins_over_upstreams(tmp_path):
    conf = _load(tmp_path, '[DEFAULT]\ntask_pool_threads = 7\n'
                           '[wsgi]\ntask_pool_threads = 5\n')
    assert conf.task_pool_threads == 7


def test_a_relative_property_protection_file_is_found_beside_the_config(tmp_path):
    # Upstream looks a relative property_protection_file up as oslo.config finds
    # files (beside the config files first): "property-protections.conf" next to
    # glance-api.conf.
    from glance_api.access import policy, protections
    (tmp_path / 'property-protections.conf').write_text(
        '[^x_.*]\ncreate = admin\nread = admin\nupdate = admin\ndelete = admin\n')
    conf = _load(tmp_path, '[DEFAULT]\nproperty_protection_file = '
                           'property-protections.conf\n')
    rules = protections.PropertyProtections.from_config(conf,
                                                        policy.new_enforcer(conf))
    assert rules is not None


def test_a_property_protection_file_found_nowhere_names_it(tmp_path):
    from glance_api.access import policy, protections
    conf = _load(tmp_path, '[DEFAULT]\nproperty_protection_file = missing.conf\n')
    with pytest.raises(protections.InvalidConfiguration,
                       match='cannot read property protection file missing.conf'):
        protections.PropertyProtections.from_config(conf, policy.new_enforcer(conf))


def test_a_relative_swift_store_config_file_is_found_beside_the_config(tmp_path):
    # As upstream's Swift driver finds it (oslo.config's find_file).
    import stores
    (tmp_path / 'glance-swift.conf').write_text(
        '[ref1]\nauth_version = 3\nauth_address = http://127.0.0.1:1/v3\n'
        'user = service:glance\nkey = secret\nuser_domain_id = default\n'
        'project_domain_id = default\n')
    conf = _load(tmp_path, '[glance_store]\ndefault_store = swift\n'
                           'swift_store_config_file = glance-swift.conf\n'
                           'default_swift_reference = ref1\n')
    store_set = stores.StoreSet.from_config(conf, prepare=False)
    assert 'ref1' in store_set.default._references


@pytest.mark.parametrize('spelling', ['filesystem', 'File'])
def test_upstreams_other_spellings_of_default_store(tmp_path, spelling):
    import stores
    conf = _load(tmp_path, '[glance_store]\ndefault_store = %s\n'
                           'filesystem_store_datadir = %s\n' % (spelling, tmp_path))
    store_set = stores.StoreSet.from_config(conf, prepare=False)
    assert store_set.default.driver == 'file'


@pytest.mark.parametrize('database, pool', [
    ('', 16),                                        # this service's default: threads
    ('max_pool_size = 5\n', 55),                     # upstream's 5 + overflow 50
    ('max_pool_size = 5\nmax_overflow = 0\n', 5),
    ('max_pool_size = 10\nmax_overflow = 20\n', 30),
])
def test_upstreams_pool_size_and_overflow_bound_the_registry_connections(
        tmp_path, database, pool):
    # Upstream's sample, uncommented, says max_pool_size = 5 and max_overflow = 50:
    # SQLAlchemy keeps 5 and opens up to 50 more under load. Taking 5 as the cap made
    # request threads queue for a connection.
    from glance_registry import app as registry_app
    from glance_registry import opts as registry_opts
    path = tmp_path / 'glance-registry.conf'
    path.write_text('[DEFAULT]\nthreads = 16\n[database]\n' + database)
    conf = process.load_config(['--config-file', str(path)],
                               registry_opts.register_opts)
    assert registry_app.pool_size(conf) == pool
