"""The staging store's configuration."""

import pytest
from oslo_config import cfg

import stores
from glance_api.data import staging


def staging_conf(tmp_path, **options):
    conf = cfg.ConfigOpts()
    staging.register_opts(conf)
    conf([], project='glance', default_config_files=[])
    for name, value in options.items():
        conf.set_override(name, value)
    return conf


def test_node_staging_uri_names_the_directory(tmp_path):
    conf = staging_conf(tmp_path, node_staging_uri='file://%s/staged' % tmp_path)
    store = staging.from_conf(conf)
    assert store.datadir == str(tmp_path / 'staged')
    assert store.store_id == 'os_glance_staging_store'


def test_a_staging_uri_that_is_no_file_url_is_refused(tmp_path):
    conf = staging_conf(tmp_path, node_staging_uri='swift://somewhere/')
    with pytest.raises(stores.errors.BadConfiguration):
        staging.from_conf(conf)


def test_staging_in_a_file_stores_directory_is_refused(tmp_path):
    conf = staging_conf(tmp_path, node_staging_uri='file://%s' % tmp_path)
    store = staging.from_conf(conf)
    with pytest.raises(stores.errors.BadConfiguration) as refused:
        staging.check_apart(store, [store])
    assert 'directory of its own' in str(refused.value)
