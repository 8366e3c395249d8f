"""Upstream's configs load: list options it writes in brackets take both spellings."""

import os

import pytest
from oslo_config import cfg

from glance_api import opts
from glance_api.option_types import BracketedList
from tests.test_sample_configs import ETC

# Every option upstream (glance 33.0.0) declares with ``bounds=True``, with the value
# its documentation and sample configs show, and what it means.
UPSTREAM_BRACKETED = {
    ('import_filtering_opts', 'allowed_schemes'): ('[http,https]', ['http', 'https']),
    ('import_filtering_opts', 'disallowed_schemes'): ('[]', []),
    ('import_filtering_opts', 'allowed_hosts'): ('[]', []),
    ('import_filtering_opts', 'disallowed_hosts'): ('[]', []),
    ('import_filtering_opts', 'allowed_ports'): ('[80,443]', [80, 443]),
    ('import_filtering_opts', 'disallowed_ports'): ('[]', []),
    ('DEFAULT', 'enabled_import_methods'): (
        '[glance-direct,web-download,copy-image]',
        ['glance-direct', 'web-download', 'copy-image']),
    ('image_import_opts', 'image_import_plugins'): ('[no_op]', ['no_op']),
    ('glance_download_opts', 'extra_properties'): (
        '[hw_,trait:,os_distro,os_secure_boot,os_type]',
        ['hw_', 'trait:', 'os_distro', 'os_secure_boot', 'os_type']),
}

# Values an operator may have written, upstream's way and the plain way.
SPELLINGS = {
    ('import_filtering_opts', 'allowed_schemes'): [
        ('["https"]', ['https']), ('https, http', ['https', 'http'])],
    ('import_filtering_opts', 'allowed_hosts'): [
        ('[example.com,10.0.0.1]', ['example.com', '10.0.0.1']),
        ('example.com', ['example.com'])],
    ('import_filtering_opts', 'allowed_ports'): [
        ('[80, 443]', [80, 443]), ('8080,', [8080]), ('', [])],
}


def _declared():
    """``(group, name) -> opt`` for every option the API declares."""
    return {(group, opt.name): opt for group, group_opts in opts.list_opts()
            for opt in group_opts}


DECLARED_BRACKETED = sorted(set(UPSTREAM_BRACKETED) & set(_declared()))


def _load(tmp_path, group, name, value):
    config = tmp_path / 'glance-api.conf'
    config.write_text('[%s]\n%s = %s\n' % (group, name, value))
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf(['--config-file', str(config)])
    return getattr(conf if group == 'DEFAULT' else getattr(conf, group), name)


def test_every_option_upstream_writes_in_brackets_is_read_as_upstream_writes_it():
    declared = _declared()
    assert len(DECLARED_BRACKETED) >= 6
    for key in DECLARED_BRACKETED:
        assert isinstance(declared[key].type, BracketedList), key


@pytest.mark.parametrize('key', DECLARED_BRACKETED, ids='/'.join)
def test_upstreams_sample_value_loads(tmp_path, key):
    upstream, meaning = UPSTREAM_BRACKETED[key]
    assert _load(tmp_path, *key, upstream) == meaning
    plain = upstream[1:-1]
    assert _load(tmp_path, *key, plain) == meaning


@pytest.mark.parametrize('key, value, meaning', [
    (key, value, meaning) for key, values in SPELLINGS.items()
    for value, meaning in values], ids=str)
def test_an_operators_spelling_loads(tmp_path, key, value, meaning):
    assert _load(tmp_path, *key, value) == meaning


def test_a_bad_item_is_still_refused(tmp_path):
    with pytest.raises(cfg.ConfigFileValueError):
        _load(tmp_path, 'import_filtering_opts', 'allowed_ports', '[80,http]')


def test_the_sample_config_shows_upstreams_spelling():
    with open(os.path.join(ETC, 'glance-api.conf.sample')) as f:
        sample = f.read().splitlines()
    for group, name in DECLARED_BRACKETED:
        assert '#%s = %s' % (name, UPSTREAM_BRACKETED[group, name][0]) in sample, name
