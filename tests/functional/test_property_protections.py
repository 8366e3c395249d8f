"""Property protections in both upstream formats (roles and policies)."""

import uuid

import pytest

from tests.fixtures import deployment, processes

ROLES_RULES = """
[^x_owner_.*]
create = admin,member
read = admin,member,reader
update = admin,member
delete = admin,member

[^x_admin_.*]
create = admin
read = admin
update = admin
delete = admin

[^x_readonly_.*]
create = admin
read = @
update = !
delete = admin

[^x_nothing_.*]
create = @
read = @

[.*]
create = @
read = @
update = @
delete = @
"""

POLICIES_RULES = """
[^x_admin_.*]
create = context_is_admin
read = context_is_admin
update = context_is_admin
delete = context_is_admin

[.*]
create = @
read = @
update = @
delete = @
"""


def protected_deployment(tmp_path, rules, rule_format):
    path = tmp_path / 'protections.conf'
    path.write_text(rules)
    return deployment.running(tmp_path, api_extra={'DEFAULT': {
        'property_protection_file': str(path),
        'property_protection_rule_format': rule_format}})


@pytest.fixture(scope='module')
def protected(tmp_path_factory):
    with protected_deployment(tmp_path_factory.mktemp('roles'), ROLES_RULES,
                              'roles') as glance:
        yield glance


@pytest.fixture
def clients(protected):
    project = deployment.new_project()
    member = protected.client(project, roles=('member', 'reader'))
    reader = protected.client(project, roles=('reader',))
    admin = protected.client()
    yield member, reader, admin
    for client in (member, reader, admin):
        client.close()


def replace(name, value):
    return [{'op': 'replace', 'path': '/' + name, 'value': value}]


def test_create_checks_each_property(clients):
    member, _, admin = clients
    assert member.post('/v2/images', json={'x_admin_key': 'v'}).status_code == 403
    assert member.post('/v2/images', json={'x_owner_key': 'v'}).status_code == 201
    assert admin.post('/v2/images', json={'x_admin_key': 'v'}).status_code == 201


def test_unreadable_properties_are_hidden_in_show_and_list(clients):
    member, reader, admin = clients
    image = admin.create_image(owner=member.project, x_admin_secret='s',
                               x_owner_note='n')
    shown = member.image(image['id'])
    assert 'x_admin_secret' not in shown and shown['x_owner_note'] == 'n'
    listed = member.get('/v2/images?owner=%s' % member.project).json()['images']
    assert all('x_admin_secret' not in i for i in listed)
    assert admin.image(image['id'])['x_admin_secret'] == 's'
    assert reader.image(image['id'])['x_owner_note'] == 'n'


def test_list_filters_reveal_no_unreadable_property(clients):
    member, reader, admin = clients
    secret, note = 'secret-%s' % uuid.uuid4(), 'note-%s' % uuid.uuid4()
    image = admin.create_image(owner=member.project, x_admin_secret=secret,
                               x_owner_note=note)
    for client in (member, reader):
        for value in (secret, 'wrong'):
            listed = client.get('/v2/images?x_admin_secret=%s' % value).json()
            assert listed['images'] == []
        listed = client.get('/v2/images?x_owner_note=%s' % note).json()['images']
        assert [i['id'] for i in listed] == [image['id']]
    assert [i['id'] for i in admin.get('/v2/images?x_admin_secret=%s' % secret)
            .json()['images']] == [image['id']]


def test_a_hidden_property_cannot_be_changed_or_removed(clients):
    member, _, admin = clients
    image = admin.create_image(owner=member.project, x_admin_secret='s')
    assert member.patch_image(image['id'],
                              replace('x_admin_secret', 'mine')).status_code == 409
    assert member.patch_image(image['id'], [
        {'op': 'remove', 'path': '/x_admin_secret'}]).status_code == 409
    assert admin.image(image['id'])['x_admin_secret'] == 's'


def test_update_and_delete_rules(clients):
    member, _, admin = clients
    image = admin.create_image(owner=member.project, x_readonly_id='42',
                               x_nothing_here='a')
    assert member.patch_image(image['id'],
                              replace('x_readonly_id', '43')).status_code == 403
    # Setting the value it has is an update too, as upstream.
    assert member.patch_image(image['id'],
                              replace('x_readonly_id', '42')).status_code == 403
    assert member.patch_image(image['id'], [
        {'op': 'remove', 'path': '/x_readonly_id'}]).status_code == 403
    # an operation the section leaves out is allowed to no one
    assert member.patch_image(image['id'],
                              replace('x_nothing_here', 'b')).status_code == 403
    assert admin.patch_image(image['id'], [
        {'op': 'remove', 'path': '/x_readonly_id'}]).status_code == 200
    assert member.image(image['id']).get('x_readonly_id') is None


def test_policies_format_uses_policy_rules(tmp_path):
    with protected_deployment(tmp_path, POLICIES_RULES, 'policies') as glance:
        with glance.client(deployment.new_project()) as member, \
                glance.client() as admin:
            assert member.post('/v2/images',
                               json={'x_admin_key': 'v'}).status_code == 403
            image = admin.create_image(owner=member.project, x_admin_key='v')
            assert 'x_admin_key' not in member.image(image['id'])


@pytest.mark.parametrize('rules, rule_format', [
    ('[(unclosed]\ncreate = @\n', 'roles'),
    ('[.*]\ncreate = @\nexecute = @\n', 'roles'),
    ('[.*]\ncreate = no_such_policy\n', 'policies'),
])
def test_a_malformed_protection_file_stops_the_api_at_start(tmp_path, rules,
                                                            rule_format):
    path = tmp_path / 'protections.conf'
    path.write_text(rules)
    database_url = 'sqlite:///%s' % (tmp_path / 'db.sqlite')
    deployment.db_sync(str(tmp_path), database_url)
    api = processes.api_daemon(str(tmp_path), processes.free_port(),
                               processes.new_secret(),
                               str(tmp_path / 'images'), extra={'DEFAULT': {
                                   'property_protection_file': str(path),
                                   'property_protection_rule_format': rule_format}})
    with pytest.raises(RuntimeError, match='property protection'):
        api.start(timeout=20)
