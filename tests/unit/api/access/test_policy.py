"""Upstream's default policy, as callers meet it: caller × image × operation, with the
status each gets (the API application in this process, noauth identity headers).

The registry hides images a caller may not see (404); policy decides what a caller
may do with an image it sees (403). One table, so the whole policy reads at once.
"""

import pytest
from oslo_config import cfg

from glance_api.access import context
from glance_api.access import policy
from tests.fixtures.inprocess import caller

OWNER = caller('owner-project')
READER = caller('owner-project', roles=('reader',), user='reader-user')
STRANGER = caller('stranger-project')
MEMBER = caller('member-project')
ADMIN = caller('admin-project', roles=('admin', 'member', 'reader'))


@pytest.fixture
def images(deployment):
    """One image of each visibility, owned by OWNER, shared with MEMBER (accepted)."""
    made = {}
    for visibility in ('private', 'shared', 'public', 'community'):
        who = ADMIN if visibility == 'public' else OWNER
        body = {'name': visibility, 'visibility': visibility, 'disk_format': 'raw',
                'container_format': 'bare'}
        if visibility == 'public':
            body['owner'] = 'owner-project'
        response = deployment.request('POST', '/v2/images', who, body)
        assert response.status_code == 201, response.json
        made[visibility] = response.json['id']
    shared = made['shared']
    assert deployment.request('POST', '/v2/images/%s/members' % shared, OWNER,
                              {'member': 'member-project'}).status_code == 200
    assert deployment.request(
        'PUT', '/v2/images/%s/members/member-project' % shared, MEMBER,
        {'status': 'accepted'}).status_code == 200
    return made


# caller, visibility: (show, rename, deactivate). Deactivating a queued image is
# refused whoever asks; who may ask at all is policy: 'status' means the policy let
# the caller through to the status check, 'policy' that it did not.
MATRIX = {
    ('owner', 'private'): (200, 200, 'status'),
    ('owner', 'shared'): (200, 200, 'status'),
    ('owner', 'public'): (200, 200, 'status'),
    ('owner', 'community'): (200, 200, 'status'),
    ('reader', 'private'): (200, 403, 'policy'),
    ('reader', 'public'): (200, 403, 'policy'),
    ('stranger', 'private'): (404, 404, 404),
    ('stranger', 'shared'): (404, 404, 404),
    ('stranger', 'public'): (200, 403, 'policy'),
    ('stranger', 'community'): (200, 403, 'policy'),
    ('member', 'shared'): (200, 403, 'policy'),
    ('member', 'private'): (404, 404, 404),
    ('admin', 'private'): (200, 200, 'status'),
    ('admin', 'shared'): (200, 200, 'status'),
}
CALLERS = {'owner': OWNER, 'reader': READER, 'stranger': STRANGER, 'member': MEMBER,
           'admin': ADMIN}


@pytest.mark.parametrize('who,visibility', sorted(MATRIX),
                         ids=['%s-%s' % key for key in sorted(MATRIX)])
def test_what_a_caller_may_do_with_an_image(deployment, images, who, visibility):
    image_id = images[visibility]
    show, rename, deactivate = MATRIX[who, visibility]
    headers = CALLERS[who]
    assert deployment.request('GET', '/v2/images/%s' % image_id,
                              headers).status_code == show
    response = deployment.request(
        'PATCH', '/v2/images/%s' % image_id, headers,
        [{'op': 'replace', 'path': '/name', 'value': 'renamed'}],
        content_type='application/openstack-images-v2.1-json-patch')
    assert response.status_code == rename, response.json
    if rename == 403:
        assert response.json['message'] == ('You are not authorized to complete '
                                            'modify_image action.')
    response = deployment.request(
        'POST', '/v2/images/%s/actions/deactivate' % image_id, headers)
    expected = {'status': (403, "Not allowed to deactivate image in status 'queued'"),
                'policy': (403, 'You are not authorized to complete deactivate '
                                'action.'),
                404: (404, 'No image found with ID %s' % image_id)}[deactivate]
    assert (response.status_code, response.json['message']) == expected


@pytest.mark.parametrize('visibility,status', [
    ('public', 403), ('community', 201), ('shared', 201), ('private', 201)])
def test_a_member_may_create_any_visibility_but_public(deployment, visibility,
                                                       status):
    response = deployment.request('POST', '/v2/images', OWNER, {
        'visibility': visibility})
    assert response.status_code == status
    if status == 403:
        assert response.json['message'] == ('You are not authorized to complete '
                                            'publicize_image action.')


def test_a_reader_may_not_create(deployment):
    response = deployment.request('POST', '/v2/images', READER, {'name': 'x'})
    assert response.status_code == 403
    assert response.json['message'] == ('You are not authorized to complete '
                                        'add_image action.')


def test_only_an_admin_creates_an_image_for_another_project(deployment):
    body = {'name': 'x', 'owner': 'stranger-project'}
    refused = deployment.request('POST', '/v2/images', OWNER, body)
    assert refused.status_code == 403
    assert refused.json['message'] == ("You are not permitted to create images owned "
                                       "by 'stranger-project'.")
    assert deployment.request('POST', '/v2/images', ADMIN, body).status_code == 201


def test_a_caller_without_a_project_owns_nothing(deployment, images):
    # oslo.policy compares str(): 'None' must not match an ownerless image.
    nobody = {'X-User-Id': 'no-project-user', 'X-Roles': 'member,reader'}
    response = deployment.request(
        'PATCH', '/v2/images/%s' % images['public'], nobody,
        [{'op': 'replace', 'path': '/name', 'value': 'mine'}],
        content_type='application/openstack-images-v2.1-json-patch')
    assert response.status_code == 403



# A caller who may not see an image (get_image: here the service role alone, without
# reader) is told 404 whatever it asks of it, as upstream's image policy answers
# (ImageAPIPolicy, and members through it), not 403: it learns nothing of the image.
# A caller who sees it but may not do the thing gets 403.
SERVICE = caller('service-project', roles=('service',), user='nova')
NOT_VISIBLE = [
    ('GET', '', None),
    ('PATCH', '', [{'op': 'replace', 'path': '/name', 'value': 'x'}]),
    ('DELETE', '', None),
    ('GET', '/file', None),
    ('PUT', '/tags/t', None),
    ('POST', '/actions/deactivate', None),
    ('GET', '/members', None),
    ('POST', '/members', {'member': 'service-project'}),
    ('GET', '/tasks', None),
]


@pytest.mark.parametrize('method, path, body', NOT_VISIBLE,
                         ids=['%s %s' % (m, p or '/') for m, p, _ in NOT_VISIBLE])
@pytest.mark.parametrize('visibility', ['public', 'community', 'shared'])
def test_a_caller_who_may_not_see_an_image_is_told_it_is_not_found(
        deployment, images, visibility, method, path, body):
    image_id = images[visibility]
    response = deployment.request(
        method, '/v2/images/%s%s' % (image_id, path), SERVICE, body,
        content_type='application/openstack-images-v2.1-json-patch'
        if method == 'PATCH' else 'application/json')
    assert (response.status_code, response.json['message']) == (
        404, 'No image found with ID %s' % image_id)
    assert deployment.request('GET', '/v2/images/%s' % image_id,
                              ADMIN).json['name'] == visibility


# -- the token's scope (Keystone): upstream's rules are for project-scoped tokens ------

def _keystone_context(**headers):
    return context.from_keystone_headers(headers, 'req-test')


@pytest.fixture
def enforcer():
    conf = cfg.ConfigOpts()
    policy.register_opts(conf)
    conf([], project='glance-test-none')
    return policy.new_enforcer(conf)


# keystonemiddleware's headers for each kind of token with the admin role: whatever
# its roles, a token scoped to the system or a domain is refused every image, task
# and metadef rule (oslo.policy's scope check; upstream answers 403), so a domain's
# admin does not become the cloud's. Only a project-scoped admin is one here.
SCOPES = {
    'project': {'X-Project-Id': 'admin-project'},
    'system': {'OpenStack-System-Scope': 'all'},
    'domain': {'X-Domain-Id': 'domain-b'},
}


@pytest.mark.parametrize('scope, allowed', [
    ('project', True), ('system', False), ('domain', False)])
@pytest.mark.parametrize('action', ['get_images', 'add_image', 'get_image',
                                    'delete_image', 'tasks_api_access',
                                    'get_metadef_namespaces'])
def test_only_a_project_scoped_token_is_an_admin_of_images(enforcer, scope, allowed,
                                                            action):
    ctx = _keystone_context(**{'X-User-Id': 'u', 'X-Roles': 'admin,member,reader'},
                            **SCOPES[scope])
    image = {'id': 'i', 'owner': 'some-project', 'visibility': 'private'}
    assert policy.allowed(enforcer, ctx, action, image) is allowed


# -- who is an admin: upstream's context_is_admin rule, as an operator writes it ------

CLOUD_ADMIN = caller('cloud-admin-project', roles=('cloud_admin',))


@pytest.fixture
def cloud_admins(make_deployment, tmp_path):
    """A deployment whose policy.yaml makes the cloud_admin role an admin."""
    policy_file = tmp_path / 'policy.yaml'
    policy_file.write_text('"context_is_admin": "role:admin or role:cloud_admin"\n')
    return make_deployment(api={'oslo_policy.policy_file': str(policy_file)})


def test_context_is_admin_says_who_sees_and_changes_every_project_s_images(
        cloud_admins):
    # Upstream's RequestContext is an admin when context_is_admin passes, and the
    # rules that are "admin only" say rule:context_is_admin: a cloud_admin listed
    # nothing but its own project's images and could not publicize one.
    image = cloud_admins.request('POST', '/v2/images', OWNER,
                                 {'name': 'private', 'visibility': 'private'}).json
    listed = cloud_admins.request('GET', '/v2/images', CLOUD_ADMIN).json['images']
    assert [i['id'] for i in listed] == [image['id']]
    published = cloud_admins.request(
        'PATCH', '/v2/images/%s' % image['id'], CLOUD_ADMIN,
        [{'op': 'replace', 'path': '/visibility', 'value': 'public'}],
        content_type='application/openstack-images-v2.1-json-patch')
    assert published.status_code == 200, published.json
    created = cloud_admins.request('POST', '/v2/images', CLOUD_ADMIN,
                                   {'name': 'theirs', 'owner': 'owner-project'})
    assert (created.status_code, created.json.get('owner')) == (201, 'owner-project')
    # Any other role is no admin: a stranger sees the public image only.
    assert [i['id'] for i in cloud_admins.request('GET', '/v2/images', STRANGER)
            .json['images']] == [image['id']]


def _policy_conf(tmp_path, rules):
    """Policy options reading a policy.yaml of ``rules``, and Keystone's headers."""
    policy_file = tmp_path / 'policy.yaml'
    policy_file.write_text(rules)
    conf = cfg.ConfigOpts()
    policy.register_opts(conf)
    conf.register_opt(cfg.StrOpt('auth_strategy', default='keystone'))
    conf([], project='glance-test-none')
    conf.set_override('policy_file', str(policy_file), group='oslo_policy')
    return conf


@pytest.mark.parametrize('action', ['publicize_image', 'copy_image', 'tasks_api_access',
                                    'delete_image_location', 'stores_info_detail'])
def test_admin_only_rules_follow_context_is_admin(tmp_path, action):
    enforcer = policy.new_enforcer(_policy_conf(tmp_path,
                                                '"context_is_admin": "role:cloud_admin"\n'))
    image = {'id': 'i', 'owner': 'some-project', 'visibility': 'private'}
    cloud_admin = _keystone_context(**{'X-Project-Id': 'p', 'X-Roles': 'cloud_admin'})
    assert policy.allowed(enforcer, cloud_admin, action, image)


@pytest.mark.parametrize('admin_project, is_admin', [('True', True), ('False', False)])
def test_context_is_admin_may_require_keystone_s_admin_project(tmp_path, admin_project,
                                                               is_admin):
    # The rule Keystone's docs give for an admin project: the admin role in any
    # other project (keystonemiddleware's X-Is-Admin-Project: False) is no admin.
    conf = _policy_conf(tmp_path,
                        '"context_is_admin": "role:admin and is_admin_project:True"\n')
    enforcer = policy.new_enforcer(conf)
    headers = {'X-Project-Id': 'p', 'X-User-Id': 'u', 'X-Roles': 'admin,member',
               'X-Is-Admin-Project': admin_project}
    ctx = context.context_for(headers, 'req-test', conf,
                              is_admin=lambda c: policy.passes_admin_rule(enforcer, c))
    assert ctx.is_admin is is_admin
    image = {'id': 'i', 'owner': 'some-project', 'visibility': 'private'}
    assert policy.allowed(enforcer, ctx, 'publicize_image', image) is is_admin


# YAML that parses, but not into rules: oslo.policy raises AttributeError or
# TypeError for these, not the ValueError of a file that does not parse.
_NOT_RULES = ['- "get_images": "role:admin"\n', 'get_images role:admin\n',
              '"get_images": 5\n']


@pytest.mark.parametrize('text', _NOT_RULES)
def test_a_policy_file_that_holds_no_rules_is_refused_at_start_in_one_line(
        tmp_path, text):
    enforcer = policy.new_enforcer(_policy_conf(tmp_path, text))
    with pytest.raises(ValueError, match='cannot read the policy file %s: '
                       % (tmp_path / 'policy.yaml')):
        policy.check_policy_file(enforcer, None)


@pytest.mark.parametrize('text', _NOT_RULES)
def test_a_policy_file_edited_into_no_rules_keeps_the_rules_in_force(
        tmp_path, monkeypatch, text):
    # Like one that does not parse: the AttributeError answered every request
    # 500, each request trying the file again.
    conf = _policy_conf(tmp_path, '"get_images": "role:admin"\n')
    enforcer = policy.new_enforcer(conf)
    member = _keystone_context(**{'X-Project-Id': 'p', 'X-Roles': 'member'})
    assert not policy.allowed(enforcer, member, 'get_images')
    (tmp_path / 'policy.yaml').write_text(text)
    monkeypatch.setattr(enforcer, '_next_reload', 0.0)
    for _ in range(2):
        assert not policy.allowed(enforcer, member, 'get_images')


def test_an_images_target_holds_its_attributes_and_properties_not_its_nones():
    image = {'id': 'i', 'owner': 'p', 'visibility': 'shared', 'member_status':
             'accepted', 'container_format': 'aki', 'protected': False,
             'virtual_size': None, 'properties': {'x_export_controlled': 'yes'}}
    member = _keystone_context(**{'X-Project-Id': 'm', 'X-Roles': 'member'})
    target = policy.image_target(member, image)
    assert dict(target) == {
        'id': 'i', 'image_id': 'i', 'owner': 'p', 'project_id': 'p',
        'visibility': 'shared', 'member_id': 'm', 'container_format': 'aki',
        'protected': False, 'x_export_controlled': 'yes'}
    assert '%(container_format)s %(protected)s' % target == 'aki False'
    # A key the image lacks matches nothing (oslo.policy's KeyError).
    with pytest.raises(KeyError):
        '%(virtual_size)s' % target


# -- what else oslo.context gives upstream's rules: domains and a service token ------

@pytest.mark.parametrize('rule, headers, allowed', [
    ('service_roles:service', {'X-Service-Roles': 'service,reader'}, True),
    ('service_roles:service', {'X-Service-Roles': 'reader'}, False),
    ('service_roles:service', {}, False),
    ('user_domain_id:default', {'X-User-Domain-Id': 'default'}, True),
    ('user_domain_id:default', {'X-User-Domain-Id': 'other'}, False),
    ('project_domain_id:%(owner)s', {'X-Project-Domain-Id': 'some-project'}, True),
    ('service_user_id:nova and service_project_id:services',
     {'X-Service-User-Id': 'nova', 'X-Service-Project-Id': 'services'}, True),
    ('service_user_domain_id:d and service_project_domain_id:d',
     {'X-Service-User-Domain-Id': 'd', 'X-Service-Project-Domain-Id': 'e'}, False),
])
def test_a_rule_may_name_the_domains_and_the_service_token(tmp_path, rule, headers,
                                                           allowed):
    """keystonemiddleware's X-*-Domain-Id and X-Service-* headers are the policy
    values oslo.context gives upstream's rules, by the same names: a rule that lets
    a service token's callers (``service_roles:service``) or a domain's users in
    keeps working here."""
    enforcer = policy.new_enforcer(_policy_conf(tmp_path, '"get_image": "%s"\n' % rule))
    ctx = _keystone_context(**{'X-Project-Id': 'p', 'X-User-Id': 'u',
                               'X-Roles': 'member'}, **headers)
    image = {'id': 'i', 'owner': 'some-project', 'visibility': 'private'}
    assert policy.allowed(enforcer, ctx, 'get_image', image) is allowed
