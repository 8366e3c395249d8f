"""Property protections (``glance_api.access.protections``), roles format: who may
create, read, update and delete which properties, through the API application."""

import logging
import time

import pytest
from oslo_config import cfg

from glance_api import opts
from glance_api.access import policy, protections
from tests.fixtures.inprocess import caller

RULES = """
[^x_owner_.*]
create = admin,member
read = admin,member
update = admin
delete = admin

[^x_secret_.*]
create = admin
read = admin
update = admin
delete = admin

[.*]
create = @
read = @
update = @
delete = @
"""
MEMBER = caller('project', roles=('member', 'reader'))
ADMIN = caller('project', roles=('admin', 'member', 'reader'), user='the-admin')
V21 = 'application/openstack-images-v2.1-json-patch'


@pytest.fixture
def protected(make_deployment, tmp_path):
    path = tmp_path / 'protections.conf'
    path.write_text(RULES)
    return make_deployment(api={'property_protection_file': str(path)})


@pytest.fixture
def image(protected):
    response = protected.request('POST', '/v2/images', ADMIN, {
        'name': 'p', 'x_owner_a': 'one', 'x_secret_b': 'two', 'free': 'three'})
    assert response.status_code == 201, response.json
    return response.json['id']


def test_a_property_the_caller_may_not_read_does_not_exist_for_it(protected, image):
    shown = protected.request('GET', '/v2/images/%s' % image, MEMBER).json
    assert shown['x_owner_a'] == 'one' and shown['free'] == 'three'
    assert 'x_secret_b' not in shown
    assert protected.request('GET', '/v2/images/%s' % image,
                             ADMIN).json['x_secret_b'] == 'two'


def test_a_list_filter_on_an_unreadable_property_matches_nothing(protected, image):
    listed = protected.request('GET', '/v2/images?x_secret_b=two', MEMBER).json
    assert listed['images'] == []
    listed = protected.request('GET', '/v2/images?x_secret_b=two', ADMIN).json
    assert [i['id'] for i in listed['images']] == [image]


@pytest.mark.parametrize('op,path,value,status', [
    ('replace', '/x_owner_a', 'changed', 403),     # update: admin only
    ('remove', '/x_owner_a', None, 403),            # delete: admin only
    ('add', '/x_owner_new', 'v', 200),              # create: member may
    ('replace', '/x_owner_a', 'one', 403),          # the same value is an update too
    ('replace', '/x_secret_b', 'x', 409),           # unreadable: does not exist for it
    ('add', '/x_secret_c', 'v', 403),               # create: admin only
    ('replace', '/free', 'changed', 200),
])
def test_what_a_member_may_change(protected, image, op, path, value, status):
    change = {'op': op, 'path': path}
    if value is not None:
        change['value'] = value
    response = protected.request('PATCH', '/v2/images/%s' % image, MEMBER, [change],
                                 content_type=V21)
    assert response.status_code == status, response.json
    after = protected.request('GET', '/v2/images/%s' % image, ADMIN).json
    if status != 200:
        assert after['x_owner_a'] == 'one' and after['x_secret_b'] == 'two'


def test_an_admin_may_change_every_property(protected, image):
    response = protected.request('PATCH', '/v2/images/%s' % image, ADMIN, [
        {'op': 'replace', 'path': '/x_secret_b', 'value': 'new'},
        {'op': 'remove', 'path': '/x_owner_a'}], content_type=V21)
    assert response.status_code == 200
    assert response.json['x_secret_b'] == 'new' and 'x_owner_a' not in response.json


# The first section backtracks 2 ** 59 steps on Python's re for this name (0.8 s at
# 24 characters, twice that for each more): sections are matched by RE2.
CATASTROPHIC_RULES = """
[^(x+)+$]
create = admin
read = admin
update = admin
delete = admin

[^(?!x_).*]
create = @
read = @
update = @
delete = @
"""
LONG_NAME = 'x' * 59 + '!'


@pytest.fixture
def catastrophic(make_deployment, tmp_path):
    path = tmp_path / 'protections.conf'
    path.write_text(CATASTROPHIC_RULES)
    return make_deployment(api={'property_protection_file': str(path)})


def test_a_catastrophic_section_answers_a_long_property_name_at_once(catastrophic):
    started = time.monotonic()
    response = catastrophic.request('POST', '/v2/images', MEMBER,
                                    {'name': 'p', LONG_NAME: 'v'})
    assert response.status_code == 201, response.json
    image = response.json['id']
    listed = catastrophic.request('GET', '/v2/images', MEMBER).json['images']
    assert [i[LONG_NAME] for i in listed] == ['v']
    assert time.monotonic() - started < 5
    # The sections still decide as before: 'xxx' is the admin's.
    response = catastrophic.request('PATCH', '/v2/images/%s' % image, MEMBER,
                                    [{'op': 'add', 'path': '/xxx', 'value': 'v'}],
                                    content_type=V21)
    assert response.status_code == 403, response.json
    assert 'xxx' not in catastrophic.request('GET', '/v2/images/%s' % image,
                                             ADMIN).json


def test_a_section_re2_cannot_evaluate_still_decides_and_is_named_in_a_warning(
        catastrophic, tmp_path, caplog):
    image = catastrophic.request('POST', '/v2/images', MEMBER,
                                 {'name': 'p', 'x_ok': 'v'})
    assert image.status_code == 403, image.json    # no section grants x_ok
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], project='glance', default_config_files=[])
    path = tmp_path / 'protections.conf'
    conf.set_override('property_protection_file', str(path))
    rules = protections.PropertyProtections.from_config(conf,
                                                        policy.new_enforcer(conf))
    assert rules.backtracking == ['^(?!x_).*']
    with caplog.at_level(logging.WARNING):
        rules.warn_backtracking(logging.getLogger('test'))
    # Only what was said to that logger: another test may have left INFO on.
    assert [record.getMessage() for record in caplog.records
            if record.name == 'test'] == [
        "property protection section [^(?!x_).*] is evaluated by a backtracking "
        "engine (Python's re), not RE2, which cannot express it with the same "
        "meaning: a tenant's property name may hold an API thread for seconds."]
