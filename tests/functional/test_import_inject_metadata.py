"""Upstream's inject_image_metadata import plugin: the operator's properties are
given to the images its users import, not to those of the roles it exempts."""

import time

import pytest

from tests.fixtures import deployment as deployment_fixture
from tests.fixtures import disk_images

DATA = disk_images.raw(64 * 1024)
INJECTED = {'licensed': 'true', 'support_level': 'community'}


@pytest.fixture(scope='module')
def glance(tmp_path_factory):
    with deployment_fixture.running(
            tmp_path_factory.mktemp('glance-inject'),
            api_extra={'image_import_opts': {
                           'image_import_plugins': "['inject_image_metadata']"},
                       'inject_metadata_properties': {
                           'inject': 'licensed:true,support_level:community',
                           'ignore_user_roles': 'admin,image_factory'}}
    ) as deployment:
        yield deployment


def staged_and_imported(client, **attributes):
    image = client.create_image(name='injected', **attributes)
    staged = client.put('/v2/images/%s/stage' % image['id'], data=DATA,
                        headers={'Content-Type': 'application/octet-stream'})
    assert staged.status_code == 204, staged.text
    response = client.post('/v2/images/%s/import' % image['id'],
                           json={'method': {'name': 'glance-direct'}})
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 60
    done = client.image(image['id'])
    while done['status'] == 'importing' and time.monotonic() < deadline:
        time.sleep(0.2)
        done = client.image(image['id'])
    assert done['status'] == 'active', done
    return done


def test_a_members_import_gets_the_injected_properties(glance):
    with glance.client(deployment_fixture.new_project()) as member:
        image = staged_and_imported(member, support_level='none', own='kept')
        assert {name: image.get(name) for name in INJECTED} == INJECTED
        assert image['own'] == 'kept'   # the operator's value over the user's
        [task] = member.get('/v2/images/%s/tasks' % image['id']).json()['tasks']
        # The service's decision, not part of the request the task shows.
        assert set(task['input']) == {'image_id', 'import_req', 'backend'}


@pytest.mark.parametrize('roles', [('admin',), ('member', 'reader', 'image_factory')])
def test_callers_with_an_ignored_role_import_without_them(glance, roles):
    with glance.client(deployment_fixture.new_project(), roles=roles) as caller:
        image = staged_and_imported(caller)
        assert not set(INJECTED) & set(image)


def test_an_image_that_is_not_imported_gets_nothing(glance):
    with glance.client(deployment_fixture.new_project()) as member:
        image = member.create_image(name='uploaded')
        response = member.put('/v2/images/%s/file' % image['id'], data=DATA,
                              headers={'Content-Type': 'application/octet-stream'})
        assert response.status_code == 204, response.text
        assert not set(INJECTED) & set(member.image(image['id']))


def test_an_import_whose_activation_the_registry_refuses_fails(tmp_path):
    # A value longer than the registry keeps (65535 characters) makes it refuse
    # the activation: that refusal is an answer, not a registry that did not
    # answer, so the import fails (the image back to queued, as any failed
    # import's) instead of staying importing while worker after worker took it
    # over.
    with deployment_fixture.running(
            tmp_path, api_extra={
                'image_import_opts': {
                    'image_import_plugins': "['inject_image_metadata']"},
                'inject_metadata_properties': {'inject': 'notes:' + 'x' * 65536}}
    ) as glance:
        with glance.client(deployment_fixture.new_project()) as member:
            image = member.create_image(name='refused')
            member.put('/v2/images/%s/stage' % image['id'], data=DATA,
                       headers={'Content-Type': 'application/octet-stream'})
            response = member.post('/v2/images/%s/import' % image['id'],
                                   json={'method': {'name': 'glance-direct'}})
            assert response.status_code == 202, response.text
            deadline = time.monotonic() + 30
            done = member.image(image['id'])
            while done['status'] == 'importing' and time.monotonic() < deadline:
                time.sleep(0.2)
                done = member.image(image['id'])
            assert done['status'] == 'queued', done
            tasks = member.get('/v2/images/%s/tasks' % image['id']).json()['tasks']
            assert [(task['status'], task['message']) for task in tasks] == [(
                'failure', "The import could not be recorded: 'notes' is longer "
                           "than 65535 characters")]
