"""The staging store's configuration."""

import os
import stat

import pytest
from oslo_config import cfg

import stores
from glance_api.data import staging
from tests.fixtures import skips


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


def test_the_staging_directory_is_created_private_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        conf = staging_conf(tmp_path, node_staging_uri='file://%s/a/staged' % tmp_path)
        staging.from_conf(conf)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / 'a' / 'staged').st_mode) == 0o700


def test_a_staging_directory_of_another_user_is_refused(tmp_path):
    if os.geteuid() != 0:
        skips.unavailable('root', 'to give a directory to another user')
    planted = tmp_path / 'staged'
    planted.mkdir(mode=0o777)
    os.chown(planted, 65534, 65534)   # nobody: CI runs as root
    conf = staging_conf(tmp_path, node_staging_uri='file://%s' % planted)
    with pytest.raises(stores.errors.BadConfiguration) as refused:
        staging.from_conf(conf)
    assert 'belongs to user id 65534' in str(refused.value)


def test_an_existing_staging_directory_of_this_user_is_used_as_it_is(tmp_path):
    mine = tmp_path / 'staged'
    mine.mkdir(mode=0o750)
    conf = staging_conf(tmp_path, node_staging_uri='file://%s' % mine)
    assert staging.from_conf(conf).datadir == str(mine)
    assert stat.S_IMODE(os.stat(mine).st_mode) == 0o750
