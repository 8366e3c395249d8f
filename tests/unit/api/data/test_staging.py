"""The staging store's configuration, and when an import may rely on what the
stage verified."""

import os
import stat

import pytest
from oslo_config import cfg

import stores
from glance_api.data import inspection, staging
from stores.base import StoredImage
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


def test_a_symbolic_link_of_another_user_to_a_directory_of_ours_is_refused(tmp_path):
    # Its owner could point it anywhere once the service has started.
    if os.geteuid() != 0:
        skips.unavailable('root', 'to give a directory to another user')
    mine = tmp_path / 'mine'
    mine.mkdir(mode=0o700)
    planted = tmp_path / 'staged'
    planted.symlink_to(mine)
    os.lchown(planted, 65534, 65534)
    conf = staging_conf(tmp_path, node_staging_uri='file://%s' % planted)
    with pytest.raises(stores.errors.BadConfiguration) as refused:
        staging.from_conf(conf, strict=False)
    assert 'symbolic link that belongs to user id 65534' in str(refused.value)


def test_an_existing_staging_directory_of_this_user_is_used_as_it_is(tmp_path):
    mine = tmp_path / 'staged'
    mine.mkdir(mode=0o750)
    conf = staging_conf(tmp_path, node_staging_uri='file://%s' % mine)
    assert staging.from_conf(conf).datadir == str(mine)
    assert stat.S_IMODE(os.stat(mine).st_mode) == 0o750


RULES = inspection.Rules()
RECORD = {'id': 'i', 'disk_format': 'raw', 'container_format': 'bare'}


def staged_location(**changes):
    stored = StoredImage(url='file:///staging/i', size=5, checksum='md5',
                         multihash='sha512', identity='1-5-2-3')
    facts = staging.stage_facts(RECORD, stored, inspection.Verdict('raw', 5), RULES,
                                'sha512')
    facts.update(changes)
    return staging.location(stored, facts)


def test_the_stage_facts_are_kept_in_the_staged_location():
    location = staged_location()
    assert location['status'] == 'staged'
    assert staging.verified_facts(RECORD, location, RULES, 'sha512') == {
        'size': 5, 'checksum': 'md5', 'os_hash_algo': 'sha512',
        'os_hash_value': 'sha512', 'virtual_size': 5, 'disk_format': 'raw',
        'container_format': 'bare', 'rules': RULES.as_json(),
        'identity': '1-5-2-3'}


@pytest.mark.parametrize('record, location, rules, algorithm', [
    pytest.param(RECORD, {'url': 'file:///staging/i', 'metadata': {
        'store': 'os_glance_staging_store'}, 'status': 'staged'}, RULES, 'sha512',
        id='staged before facts were recorded'),
    pytest.param(dict(RECORD, disk_format='qcow2'), staged_location(), RULES,
                 'sha512', id='another disk_format'),
    pytest.param(dict(RECORD, container_format='ovf'), staged_location(), RULES,
                 'sha512', id='another container_format'),
    pytest.param(RECORD, staged_location(), inspection.Rules(
        vmdk_allowed_types=('streamOptimized',)), 'sha512', id='other rules'),
    pytest.param(RECORD, staged_location(), RULES, 'sha256',
                 id='another hashing algorithm'),
    pytest.param(RECORD, staged_location(identity=None), RULES, 'sha512',
                 id='a store that cannot tell a rewrite'),
    pytest.param(RECORD, staged_location(size='5'), RULES, 'sha512',
                 id='a size that is no number'),
    # Staged before the inspection last learnt to refuse more.
    pytest.param(RECORD, staged_location(rules=RULES.as_json()[:3]), RULES, 'sha512',
                 id='an older inspection'),
])
def test_the_stage_facts_are_not_relied_on(record, location, rules, algorithm):
    assert staging.verified_facts(record, location, rules, algorithm) is None
