"""The catalog's policy: upstream's defaults for each kind of caller, and operators'
``metadef_*`` overrides, which the registry applies in the same call as the
operation (and never beyond its own ownership rule)."""

import os
import subprocess
import sys
import time
import uuid

import pytest

from tests.fixtures import deployment

POLICY = ('"add_metadef_namespace": "role:member"\n'
          '"modify_metadef_namespace": "role:member and project_id:%(project_id)s"\n'
          '"add_metadef_tag": "role:member"\n'
          '"get_metadef_object": "!"\n')

CALLERS = ('owner', 'reader', 'other', 'admin')
# Upstream's defaults, with trusted headers (noauth): a member of the owning project,
# a reader of it, a member of another project, an admin. Namespace owned by the
# first, in each visibility.
#                     owner reader other admin
DEFAULTS = {
    ('show', 'public'):     '200   200    200   200',
    ('show', 'private'):    '200   200    404   200',
    ('add_tag', 'public'):  '403   403    403   201',
    ('add_tag', 'private'): '403   403    404   201',
    ('delete', 'public'):   '403   403    403   204',
    ('delete', 'private'):  '403   403    404   204',
}


def _callers(glance, project):
    return {
        'owner': glance.client(project, roles=('member', 'reader')),
        'reader': glance.client(project, roles=('reader',)),
        'other': glance.client(deployment.new_project(), roles=('member', 'reader')),
        'admin': glance.client(deployment.new_project(), roles=('admin',)),
    }


def _new_namespace(admin, project, visibility):
    name = 'Policy::%s' % uuid.uuid4().hex[:12]
    response = admin.post('/v2/metadefs/namespaces', json={
        'namespace': name, 'visibility': visibility, 'owner': project,
        'objects': [{'name': 'o'}], 'tags': [{'name': 't'}]})
    assert response.status_code == 201, response.text
    return '/v2/metadefs/namespaces/' + name


@pytest.mark.parametrize('operation, visibility', list(DEFAULTS))
def test_upstreams_defaults(glance, operation, visibility):
    project = deployment.new_project()
    callers = _callers(glance, project)
    expected = dict(zip(CALLERS, DEFAULTS[operation, visibility].split()))
    for caller in CALLERS:
        path = _new_namespace(callers['admin'], project, visibility)
        session = callers[caller]
        if operation == 'show':
            status = session.get(path).status_code
        elif operation == 'add_tag':
            status = session.post(path + '/tags/new').status_code
        else:
            status = session.delete(path).status_code
        assert str(status) == expected[caller], caller


def _admin(glance):
    # With trusted headers: the policy above wants a member to create namespaces.
    return glance.client(deployment.new_project(), roles=('admin', 'member', 'reader'))


@pytest.fixture(scope='module')
def governed(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('metadef-policy')
    policy_file = workdir / 'policy.yaml'
    policy_file.write_text(POLICY)
    with deployment.running(workdir, api_extra={
            'oslo_policy': {'policy_file': str(policy_file)}}) as glance:
        yield glance, policy_file


def test_members_may_manage_their_own_namespaces_when_policy_says_so(governed):
    glance, _ = governed
    project = deployment.new_project()
    with glance.client(project) as member:
        name = 'Mine::%s' % uuid.uuid4().hex[:12]
        response = member.post('/v2/metadefs/namespaces', json={
            'namespace': name, 'visibility': 'public'})
        assert response.status_code == 201, response.text
        assert response.json()['owner'] == project
        assert member.put('/v2/metadefs/namespaces/' + name, json={
            'namespace': name, 'visibility': 'public', 'display_name': 'x'}
        ).status_code == 200
        # Rules not overridden keep their defaults: deleting is for admins.
        assert member.delete('/v2/metadefs/namespaces/' + name).status_code == 403
        # Nor may a member give a namespace to another project, whatever the policy.
        response = member.post('/v2/metadefs/namespaces', json={
            'namespace': name + '::given', 'owner': deployment.new_project()})
        assert response.status_code == 403, response.text
    with glance.client(deployment.new_project()) as other:
        assert other.put('/v2/metadefs/namespaces/' + name, json={
            'namespace': name, 'visibility': 'public'}).status_code == 403


def test_the_registry_keeps_other_projects_out_whatever_the_policy(governed):
    """``add_metadef_tag`` lets any member tag any namespace it sees; the registry
    still refuses a public namespace of another project."""
    glance, _ = governed
    project = deployment.new_project()
    with glance.client(project) as member, \
            glance.client(deployment.new_project()) as other:
        name = 'Theirs::%s' % uuid.uuid4().hex[:12]
        member.post('/v2/metadefs/namespaces', json={'namespace': name,
                                                     'visibility': 'public'})
        path = '/v2/metadefs/namespaces/%s/tags/new' % name
        response = other.post(path)
        assert response.status_code == 403
        assert 'Only an admin or the owner' in response.json()['message']
        assert member.post(path).status_code == 201


def test_a_refused_item_rule_empties_the_list_and_refuses_the_item(governed):
    glance, _ = governed
    with _admin(glance) as admin:
        path = _new_namespace(admin, deployment.new_project(), 'public')
        assert admin.get(path + '/objects').json()['objects'] == []
        response = admin.get(path + '/objects/o')
        assert response.status_code == 403
        assert response.json()['message'] == ('You are not authorized to complete '
                                              'get_metadef_object action.')


def test_a_narrower_get_metadef_namespace_hides_namespaces_everywhere(governed):
    glance, policy_file = governed
    project = deployment.new_project()
    with _admin(glance) as admin, glance.client(deployment.new_project()) as other:
        path = _new_namespace(admin, project, 'public')
        name = path.rsplit('/', 1)[1]
        assert other.get(path).status_code == 200
        policy_file.write_text(POLICY + '"get_metadef_namespace": '
                                        '"role:reader and project_id:%(project_id)s"\n')
        try:
            deadline = time.monotonic() + 10
            while other.get(path).status_code != 404:
                assert time.monotonic() < deadline, 'the policy file was not reloaded'
                time.sleep(0.2)
            listed = other.get('/v2/metadefs/namespaces',
                               params={'limit': 1000}).json()['namespaces']
            assert name not in [n['namespace'] for n in listed]
            assert other.get(path + '/tags').status_code == 404
            assert other.post(path + '/tags/x').status_code == 404
        finally:
            policy_file.write_text(POLICY)
            time.sleep(1.5)


def test_oslopolicy_tools_document_the_metadef_rules():
    generator = os.path.join(os.path.dirname(sys.executable),
                             'oslopolicy-sample-generator')
    output = subprocess.run([generator, '--namespace', 'glance'], check=True,
                            capture_output=True, text=True).stdout
    assert '"metadef_admin": "rule:context_is_admin"' in output
    assert ('"get_metadef_namespace": "rule:context_is_admin or (role:reader and '
            '(project_id:%(project_id)s or \'public\':%(visibility)s))"') in output
    assert 'POST  /v2/metadefs/namespaces/{namespace}/tags/{tag_name}' in output
