"""Interoperable image import against real processes: stage and glance-direct,
web-download from a loopback server the test starts, the tasks that run them, and
the standard clients' import commands unchanged."""

import hashlib
import json
import os
import pty
import subprocess
import sys
import time
import uuid

import openstack
import pytest

from tests.fixtures import deployment as deployment_fixture
from tests.fixtures import disk_images
from tests.fixtures import import_tasks
from tests.fixtures import web_files
from tests.fixtures.mounts import Mounts


BIN = os.path.dirname(sys.executable)
DATA = disk_images.raw(3 * 1024 * 1024 + 5)


@pytest.fixture(scope='module')
def web():
    """Two loopback HTTP servers: ``allowed`` (its port allowed for import),
    ``refused`` (not)."""
    with web_files.running() as allowed, web_files.running() as refused:
        yield {'allowed': allowed, 'refused': refused}


@pytest.fixture(scope='module')
def glance(tmp_path_factory, web):
    port = web['allowed'].port
    with deployment_fixture.running(
            tmp_path_factory.mktemp('glance-import'),
            api_extra={'DEFAULT': {'image_size_cap': 8 * 1024 * 1024,
                                   'task_lease_time': 6},
                       'import_filtering_opts': {'allowed_ports': '[%s]' % port,
                                                 'allowed_hosts': '[127.0.0.1]'}}
    ) as deployment:
        yield deployment


@pytest.fixture
def tenant(glance):
    with glance.client(deployment_fixture.new_project()) as client:
        yield client


def staging_files(glance):
    return sorted(os.listdir(os.path.join(glance.workdir, 'staging')))


def wait_for(tenant, image_id, statuses=('active', 'queued'), timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        image = tenant.image(image_id)
        if image['status'] in statuses or time.monotonic() > deadline:
            return image
        time.sleep(0.2)


def image_tasks(tenant, image_id):
    response = tenant.get('/v2/images/%s/tasks' % image_id)
    assert response.status_code == 200, response.text
    return response.json()['tasks']


def test_import_methods_are_discoverable(tenant):
    info = tenant.get('/v2/info/import')
    assert info.status_code == 200
    assert info.json()['import-methods']['value'] == ['glance-direct', 'web-download',
                                                     'copy-image']
    created = tenant.post('/v2/images', json={'name': 'x', 'disk_format': 'raw',
                                              'container_format': 'bare'})
    assert created.headers['OpenStack-image-import-methods'] == \
        'glance-direct,web-download,copy-image'


def test_stage_then_glance_direct_import(glance, tenant):
    image = tenant.create_image(name='staged')
    staged = tenant.put('/v2/images/%s/stage' % image['id'], data=DATA,
                        headers={'Content-Type': 'application/octet-stream'})
    assert staged.status_code == 204, staged.text
    assert tenant.image(image['id'])['status'] == 'uploading'
    assert staging_files(glance) == [image['id']]
    response = tenant.post('/v2/images/%s/import' % image['id'],
                           json={'method': {'name': 'glance-direct'}})
    assert response.status_code == 202, response.text
    done = wait_for(tenant, image['id'])
    assert done['status'] == 'active'
    assert done['checksum'] == hashlib.md5(DATA).hexdigest()
    assert done['os_hash_value'] == hashlib.sha512(DATA).hexdigest()
    assert done['size'] == len(DATA) and done['virtual_size'] == len(DATA)
    assert 'os_glance_import_task' not in done
    assert tenant.get('/v2/images/%s/file' % image['id']).content == DATA
    assert not import_tasks.staged_files(glance, image['id'])
    [task] = image_tasks(tenant, image['id'])
    assert task['status'] == 'success'
    assert task['type'] == 'api_image_import'
    assert task['image_id'] == image['id']
    assert task['expires_at']


def stage(tenant, data, **attributes):
    image = tenant.create_image(name='staged', **attributes)
    staged = tenant.put('/v2/images/%s/stage' % image['id'], data=data,
                        headers={'Content-Type': 'application/octet-stream'})
    assert staged.status_code == 204, staged.text
    return image


def glance_direct(tenant, image_id):
    response = tenant.post('/v2/images/%s/import' % image_id,
                           json={'method': {'name': 'glance-direct'}})
    assert response.status_code == 202, response.text
    return wait_for(tenant, image_id)


@pytest.mark.parametrize('naming', [
    {'json': {'stores': ['anywhere']}}, {'json': {'all_stores': True}},
    {'headers': {'X-Image-Meta-Store': 'anywhere'}}], ids=str)
def test_with_one_store_an_import_naming_stores_goes_to_it(tenant, naming):
    """As upstream without enabled_backends: the stores an import names are ignored
    (openstacksdk's create_image(stores=..., all_stores=True) names them, and would
    leave the image uploading on a refusal it does not read)."""
    image = stage(tenant, DATA)
    body = dict({'method': {'name': 'glance-direct'}}, **naming.get('json', {}))
    response = tenant.post('/v2/images/%s/import' % image['id'], json=body,
                           headers=naming.get('headers'))
    assert response.status_code == 202, response.text
    done = wait_for(tenant, image['id'])
    assert done['status'] == 'active'
    assert tenant.get('/v2/images/%s/file' % image['id']).content == DATA


def test_glance_direct_links_the_staged_file_into_the_store(glance, tenant):
    # Staging and the store share a file system: the file the stage wrote (and
    # hashed and inspected) becomes the image's data without a byte copied.
    image = stage(tenant, DATA)
    staged_inode = os.stat(os.path.join(glance.workdir, 'staging',
                                        image['id'])).st_ino
    done = glance_direct(tenant, image['id'])
    assert done['status'] == 'active'
    assert os.stat(os.path.join(glance.datadir, image['id'])).st_ino == staged_inode
    assert (done['size'], done['virtual_size']) == (len(DATA), len(DATA))
    assert done['checksum'] == hashlib.md5(DATA).hexdigest()
    assert done['os_hash_value'] == hashlib.sha512(DATA).hexdigest()
    assert tenant.get('/v2/images/%s/file' % image['id']).content == DATA
    assert not import_tasks.staged_files(glance, image['id'])


def test_staged_data_changed_after_the_stage_is_not_imported(glance, tenant):
    image = stage(tenant, DATA)
    before = glance.stored_files()
    with open(os.path.join(glance.workdir, 'staging', image['id']), 'r+b') as f:
        f.seek(len(DATA) // 2)
        f.write(b'changed')
    done = glance_direct(tenant, image['id'])
    assert done['status'] == 'queued'
    [task] = image_tasks(tenant, image['id'])
    assert task['status'] == 'failure'
    assert 'changed after it was staged' in task['message']
    assert glance.stored_files() == before
    assert not import_tasks.staged_files(glance, image['id'])


def test_a_staged_file_only_touched_is_checked_again_and_imported(glance, tenant):
    # Not the file the stage wrote as far as its times say: read, inspected and
    # hashed again, and imported because it still hashes as staged.
    image = stage(tenant, DATA)
    path = os.path.join(glance.workdir, 'staging', image['id'])
    staged_inode = os.stat(path).st_ino
    os.utime(path, (1, 1))
    done = glance_direct(tenant, image['id'])
    assert done['status'] == 'active', image_tasks(tenant, image['id'])
    assert os.stat(os.path.join(glance.datadir, image['id'])).st_ino != staged_inode
    assert done['os_hash_value'] == hashlib.sha512(DATA).hexdigest()
    assert tenant.get('/v2/images/%s/file' % image['id']).content == DATA


@pytest.fixture(scope='module')
def staging_apart(tmp_path_factory):
    """A deployment whose staging directory is on a file system of its own, and
    whose projects may store one DATA and a half."""
    workdir = tmp_path_factory.mktemp('staging-apart')
    with Mounts(workdir) as mounts:
        staging = mounts.tmpfs('staging', '64m')
        with deployment_fixture.running(workdir, api_extra={'DEFAULT': {
                'node_staging_uri': 'file://%s/' % staging,
                'user_storage_quota': str(len(DATA) * 3 // 2)}}) as deployment:
            deployment.staging = str(staging)
            yield deployment


def test_glance_direct_from_another_file_system_copies_once(staging_apart):
    # No link across file systems: the bytes are streamed into the store (and
    # count against the quota once), and must hash as they did when staged.
    with staging_apart.client(deployment_fixture.new_project()) as tenant:
        image = stage(tenant, DATA)
        assert os.listdir(staging_apart.staging) == [image['id']]
        done = glance_direct(tenant, image['id'])
        assert done['status'] == 'active', image_tasks(tenant, image['id'])
        assert done['os_hash_value'] == hashlib.sha512(DATA).hexdigest()
        assert done['virtual_size'] == len(DATA)
        assert tenant.get('/v2/images/%s/file' % image['id']).content == DATA
        assert os.listdir(staging_apart.staging) == []

    with staging_apart.client(deployment_fixture.new_project()) as tenant:
        changed = stage(tenant, DATA)
        before = staging_apart.stored_files()
        with open(os.path.join(staging_apart.staging, changed['id']), 'r+b') as f:
            f.write(b'changed')
        assert glance_direct(tenant, changed['id'])['status'] == 'queued'
        assert 'changed after it was staged' in \
            image_tasks(tenant, changed['id'])[0]['message']
        assert staging_apart.stored_files() == before
        assert os.listdir(staging_apart.staging) == []


def test_a_staged_file_left_by_a_dead_worker_does_not_block_the_next_stage(glance,
                                                                          tenant):
    # A worker that died after it committed a stage but before recording it, or
    # after a failed import but before removing the staged data, leaves a file
    # named after the image in staging that no location records: the next stage
    # replaces it (it was a 503 on every stage of the image, for ever).
    image = tenant.create_image(name='restaged')
    with open(os.path.join(glance.workdir, 'staging', image['id']), 'wb') as f:
        f.write(b'left by a dead worker')
    staged = tenant.put('/v2/images/%s/stage' % image['id'], data=DATA,
                        headers={'Content-Type': 'application/octet-stream'})
    assert staged.status_code == 204, staged.text
    done = glance_direct(tenant, image['id'])
    assert done['status'] == 'active', image_tasks(tenant, image['id'])
    assert tenant.get('/v2/images/%s/file' % image['id']).content == DATA
    assert not import_tasks.staged_files(glance, image['id'])


def test_a_staged_file_replaced_by_a_symbolic_link_is_not_followed(glance, tenant,
                                                                   tmp_path):
    image = stage(tenant, DATA)
    outside = tmp_path / 'outside'
    outside.write_bytes(DATA)
    path = os.path.join(glance.workdir, 'staging', image['id'])
    os.unlink(path)
    os.symlink(outside, path)
    before = glance.stored_files()
    done = glance_direct(tenant, image['id'])
    assert done['status'] == 'queued'
    [task] = image_tasks(tenant, image['id'])
    assert task['message'] == ('The staged data of image %s is not a file of the '
                               'staging directory.' % image['id'])
    assert glance.stored_files() == before
    assert outside.read_bytes() == DATA
    # The failed import removed the link (never its target): it stayed, and
    # every later stage of the image failed on the name it held.
    assert not os.path.lexists(path)
    again = tenant.put('/v2/images/%s/stage' % image['id'], data=DATA,
                       headers={'Content-Type': 'application/octet-stream'})
    assert again.status_code == 204, again.text
    assert glance_direct(tenant, image['id'])['status'] == 'active'


def test_deleting_an_image_whose_staged_name_is_a_link_removes_only_the_link(
        glance, tenant):
    # A link planted at an image's staged name, pointing at another image's
    # staged data: deleting the image removes the link (it stayed, refused or
    # followed), and the other image's data stays.
    victim, planted = stage(tenant, DATA), stage(tenant, b'planted')
    victim_path = os.path.join(glance.workdir, 'staging', victim['id'])
    path = os.path.join(glance.workdir, 'staging', planted['id'])
    os.unlink(path)
    os.symlink(victim_path, path)
    assert tenant.delete('/v2/images/%s' % planted['id']).status_code == 204
    assert not os.path.lexists(path)
    with open(victim_path, 'rb') as f:
        assert f.read() == DATA
    assert glance_direct(tenant, victim['id'])['status'] == 'active'
    assert tenant.get('/v2/images/%s/file' % victim['id']).content == DATA


def test_glance_direct_needs_staged_data(tenant):
    image = tenant.create_image(name='not-staged')
    response = tenant.post('/v2/images/%s/import' % image['id'],
                           json={'method': {'name': 'glance-direct'}})
    assert response.status_code == 409
    assert 'staged' in response.json()['message']
    assert tenant.image(image['id'])['status'] == 'queued'


def test_an_unknown_method_is_refused(tenant):
    image = tenant.create_image(name='m')
    response = tenant.post('/v2/images/%s/import' % image['id'],
                           json={'method': {'name': 'magic'}})
    assert response.status_code == 400
    assert 'magic' in response.json()['message']


def test_web_download_from_an_allowed_server(glance, tenant, web):
    uri = web['allowed'].serve('/disk.raw', DATA)
    image = tenant.create_image(name='web')
    response = tenant.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'web-download', 'uri': uri}})
    assert response.status_code == 202, response.text
    done = wait_for(tenant, image['id'])
    assert done['status'] == 'active', image_tasks(tenant, image['id'])
    assert tenant.get('/v2/images/%s/file' % image['id']).content == DATA
    assert not import_tasks.staged_files(glance, image['id'])


def test_web_download_from_a_refused_port_is_refused_before_any_task(glance, tenant,
                                                                     web):
    uri = web['refused'].serve('/disk.raw', DATA)
    image = tenant.create_image(name='refused')
    before = glance.stored_files()
    response = tenant.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'web-download', 'uri': uri}})
    # As upstream: the client is told, and no task is made.
    assert response.status_code == 400, response.text
    assert response.json()['message'] == (
        'URI for web-download does not pass filtering: %s' % uri)
    assert image_tasks(tenant, image['id']) == []
    after = tenant.image(image['id'])
    assert after['status'] == 'queued'
    assert 'os_glance_import_task' not in after
    assert glance.stored_files() == before
    assert not import_tasks.staged_files(glance, image['id'])


def test_web_download_of_content_that_is_not_its_format_fails(glance, tenant, web):
    uri = web['allowed'].serve('/fake.qcow2', DATA)
    image = tenant.create_image(name='fake', disk_format='qcow2')
    before = glance.stored_files()
    tenant.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'web-download', 'uri': uri}})
    done = wait_for(tenant, image['id'], statuses=('active',), timeout=5)
    [task] = image_tasks(tenant, image['id'])
    assert task['status'] == 'failure', task
    assert done['status'] == 'queued'
    assert 'refused' in task['message']
    assert glance.stored_files() == before
    assert not import_tasks.staged_files(glance, image['id'])


def test_web_download_over_the_size_cap_leaves_nothing(glance, tenant, web):
    # Its declared length is over the cap: refused before a byte is written.
    uri = web['allowed'].serve('/big.raw', disk_images.raw(8 * 1024 * 1024 + 1))
    image = tenant.create_image(name='too-big-web')
    before = glance.stored_files()
    assert tenant.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'web-download', 'uri': uri}}).status_code == 202
    done = wait_for(tenant, image['id'], statuses=('active', 'queued'))
    deadline = time.monotonic() + 30
    while image_tasks(tenant, image['id'])[0]['status'] != 'failure':
        assert time.monotonic() < deadline
        time.sleep(0.2)
    [task] = image_tasks(tenant, image['id'])
    # The cap is why, not a source that could not be read.
    assert task['message'] == \
        'The image is larger than the image size cap of %d bytes.' % (8 * 1024 * 1024)
    assert tenant.image(image['id'])['status'] == 'queued'
    assert done['status'] != 'active'
    assert glance.stored_files() == before
    assert not import_tasks.staged_files(glance, image['id'])


def test_a_second_import_while_one_runs_is_refused(tenant, web):
    image = tenant.create_image(name='twice')
    tenant.put('/v2/images/%s/stage' % image['id'], data=DATA,
               headers={'Content-Type': 'application/octet-stream'})
    first = tenant.post('/v2/images/%s/import' % image['id'],
                        json={'method': {'name': 'glance-direct'}})
    second = tenant.post('/v2/images/%s/import' % image['id'],
                         json={'method': {'name': 'glance-direct'}})
    assert first.status_code == 202
    assert second.status_code == 409
    assert wait_for(tenant, image['id'])['status'] == 'active'


def test_deleting_a_staged_image_removes_its_staged_data(glance, tenant):
    image = tenant.create_image(name='staged-then-deleted')
    tenant.put('/v2/images/%s/stage' % image['id'], data=DATA,
               headers={'Content-Type': 'application/octet-stream'})
    assert image['id'] in staging_files(glance)
    assert tenant.delete('/v2/images/%s' % image['id']).status_code == 204
    assert not import_tasks.staged_files(glance, image['id'])


def test_tasks_api(glance, tenant):
    admin = glance.client()
    image = tenant.create_image(name='tasks')
    tenant.put('/v2/images/%s/stage' % image['id'], data=DATA,
               headers={'Content-Type': 'application/octet-stream'})
    tenant.post('/v2/images/%s/import' % image['id'],
                json={'method': {'name': 'glance-direct'}})
    wait_for(tenant, image['id'])
    [task] = image_tasks(tenant, image['id'])
    # Upstream's members (its task rows, whole).
    assert set(task) == {'id', 'image_id', 'request_id', 'user_id', 'type', 'status',
                         'owner', 'expires_at', 'created_at', 'updated_at',
                         'deleted_at', 'deleted', 'input', 'result', 'message'}
    assert (task['deleted'], task['deleted_at']) == (False, None)
    # Admin only by default, as upstream.
    assert tenant.get('/v2/tasks/%s' % task['id']).status_code == 403
    shown = admin.get('/v2/tasks/%s' % task['id'])
    assert shown.status_code == 200
    assert shown.json()['self'] == '/v2/tasks/%s' % task['id']
    assert shown.json()['status'] == 'success'
    listed = admin.get('/v2/tasks', params={'limit': 1000}).json()
    assert task['id'] in [t['id'] for t in listed['tasks']]
    assert listed['schema'] == '/v2/schemas/tasks'
    assert admin.delete('/v2/tasks/%s' % task['id']).status_code == 405
    assert admin.get('/v2/schemas/task').json()['name'] == 'task'


def test_an_images_tasks_are_shown_to_its_owner_and_admins_only(glance, tenant, web):
    # A task's input is its owner's request (a web-download URL may carry a
    # signature or credentials), with its user's id: the projects the image is
    # shared with, or every project for a community image, see the image but not
    # what its owner did with it (upstream's database driver shows them all).
    uri = web['allowed'].serve('/disk.raw', DATA)
    image = tenant.create_image(name='tasks-of-others', visibility='community')
    assert tenant.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'web-download', 'uri': uri}}).status_code == 202
    assert wait_for(tenant, image['id'])['status'] == 'active'
    [task] = image_tasks(tenant, image['id'])
    assert task['input']['import_req']['method']['uri'] == uri
    assert [t['id'] for t in image_tasks(glance.client(), image['id'])] == [task['id']]
    with glance.client(deployment_fixture.new_project()) as stranger:
        assert stranger.image(image['id'])['status'] == 'active'
        assert image_tasks(stranger, image['id']) == []


def test_legacy_import_task(glance, web):
    uri = web['allowed'].serve('/legacy.raw', DATA)
    admin = glance.client()
    response = admin.post('/v2/tasks', json={'type': 'import', 'input': {
        'import_from': uri, 'import_from_format': 'raw',
        'image_properties': {'name': 'legacy', 'container_format': 'bare'}}})
    assert response.status_code == 201, response.text
    task = response.json()
    assert response.headers['Location'] == '/v2/tasks/%s' % task['id']
    assert task['input']['import_from'] == uri
    assert task['type'] == 'import'
    deadline = time.monotonic() + 30
    while admin.get('/v2/tasks/%s' % task['id']).json()['status'] != 'success':
        assert time.monotonic() < deadline
        time.sleep(0.2)
    image_id = admin.get('/v2/tasks/%s' % task['id']).json()['image_id']
    assert admin.get('/v2/images/%s/file' % image_id).content == DATA


def test_a_legacy_import_task_shows_the_input_its_client_sent(glance, web):
    # As upstream: the input is echoed as sent (the service's own request for the
    # import is not shown); the image the task created is its result.
    uri = web['allowed'].serve('/echoed.raw', DATA)
    sent = {'import_from': uri, 'import_from_format': 'raw',
            'image_properties': {'name': 'echoed', 'container_format': 'bare'},
            'backend': 'the client\'s own member'}
    admin = glance.client()
    response = admin.post('/v2/tasks', json={'type': 'import', 'input': sent})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created['input'] == sent
    task_url = '/v2/tasks/%s' % created['id']
    assert admin.get(task_url).json()['input'] == sent
    deadline = time.monotonic() + 30
    while (task := admin.get(task_url).json())['status'] != 'success':
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert task['input'] == sent
    assert task['result'] == {'image_id': created['image_id']}
    [listed] = image_tasks(admin, created['image_id'])
    assert listed['input'] == sent
    assert admin.image(created['image_id'])['status'] == 'active'


def test_a_failed_legacy_import_task_deletes_its_image(glance, web):
    admin = glance.client()
    response = admin.post('/v2/tasks', json={'type': 'import', 'input': {
        'import_from': web['allowed'].url + '/nothing-here.raw',
        'import_from_format': 'raw',
        'image_properties': {'name': 'legacy-failed', 'container_format': 'bare'}}})
    assert response.status_code == 201, response.text
    task_url = '/v2/tasks/%s' % response.json()['id']
    deadline = time.monotonic() + 30
    while admin.get(task_url).json()['status'] != 'failure':
        assert time.monotonic() < deadline
        time.sleep(0.2)
    task = admin.get(task_url).json()
    assert task['message']
    # As upstream's revert: the image the task created for the import is gone.
    assert admin.get('/v2/images/%s' % task['image_id']).status_code == 404
    listed = admin.get('/v2/images', params={'name': 'legacy-failed'})
    assert listed.json()['images'] == []


def test_a_legacy_import_task_creates_the_image_its_properties_describe(glance,
                                                                       web):
    # As upstream's task: image_properties are what POST /v2/images takes, an id
    # and (for an admin) an owner included.
    uri = web['allowed'].serve('/described.raw', DATA)
    image_id, project = str(uuid.uuid4()), deployment_fixture.new_project()
    admin = glance.client()
    response = admin.post('/v2/tasks', json={'type': 'import', 'input': {
        'import_from': uri, 'import_from_format': 'raw', 'image_properties': {
            'id': image_id, 'owner': project, 'container_format': 'bare'}}})
    assert response.status_code == 201, response.text
    assert response.json()['image_id'] == image_id
    assert wait_for(admin, image_id)['status'] == 'active'
    assert admin.image(image_id)['owner'] == project


def test_task_list_links_repeat_the_parameters_and_types_are_checked(glance, web):
    admin = glance.client()
    for _ in range(2):
        admin.post('/v2/tasks', json={'type': 'import', 'input': {
            'import_from': web['allowed'].url + '/nothing-here.raw',
            'import_from_format': 'raw', 'image_properties': {
                'container_format': 'bare'}}})
    query = 'type=import&limit=1&sort_dir=asc'
    listed = admin.get('/v2/tasks?' + query).json()
    assert listed['first'] == '/v2/tasks?' + query
    assert listed['next'] == '/v2/tasks?%s&marker=%s' % (query,
                                                         listed['tasks'][0]['id'])
    assert admin.get('/v2/tasks').json()['first'] == '/v2/tasks'
    response = admin.get('/v2/tasks', params={'type': 'bogus'})
    assert response.status_code == 400
    assert response.json()['message'] == 'Invalid type value: bogus'


def test_a_refused_legacy_import_task_leaves_no_image(glance, web):
    uri = web['allowed'].serve('/refused.raw', DATA)
    admin = glance.client()
    # No container_format: the import cannot start, after the task's image was
    # created for it.
    response = admin.post('/v2/tasks', json={'type': 'import', 'input': {
        'import_from': uri, 'import_from_format': 'raw',
        'image_properties': {'name': 'legacy-refused'}}})
    assert response.status_code == 400, response.text
    assert 'container_format' in response.json()['message']
    listed = admin.get('/v2/images', params={'name': 'legacy-refused'})
    assert listed.json()['images'] == []


def run(command, env):
    # A terminal on stdin: glance's import commands read a pipe as the image data.
    terminal, stdin = pty.openpty()
    try:
        result = subprocess.run(command, env=dict(os.environ, **env), stdin=stdin,
                                capture_output=True, text=True, timeout=120)
    finally:
        os.close(terminal)
        os.close(stdin)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def disk(tmp_path):
    path = tmp_path / 'disk.raw'
    path.write_bytes(DATA)
    return path


def test_openstackclient_image_create_import(glance, disk):
    env = {'OS_AUTH_TYPE': 'none', 'OS_ENDPOINT': glance.url,
           'OS_IMAGE_API_VERSION': '2'}
    created = json.loads(run([os.path.join(BIN, 'openstack'), 'image', 'create',
                              '--import', '--file', str(disk), '--disk-format', 'raw',
                              '--container-format', 'bare', 'osc-import', '-f',
                              'json'], env))
    admin = glance.client()
    done = wait_for(admin, created['id'])
    assert done['status'] == 'active'
    assert admin.get('/v2/images/%s/file' % created['id']).content == DATA


def test_glance_image_create_via_import(glance, disk, web):
    env = {'OS_IMAGE_URL': glance.url, 'OS_AUTH_TOKEN': 'none'}
    glance_cli = [os.path.join(BIN, 'glance')]
    out = run(glance_cli + ['image-create-via-import', '--name', 'gc-direct',
                            '--disk-format', 'raw', '--container-format', 'bare',
                            '--import-method', 'glance-direct', '--file', str(disk)],
              env)
    image_id = _row(out, 'id')
    admin = glance.client()
    assert wait_for(admin, image_id)['status'] == 'active'
    assert admin.get('/v2/images/%s/file' % image_id).content == DATA

    uri = web['allowed'].serve('/gc.raw', DATA)
    out = run(glance_cli + ['image-create-via-import', '--name', 'gc-web',
                            '--disk-format', 'raw', '--container-format', 'bare',
                            '--import-method', 'web-download', '--uri', uri], env)
    image_id = _row(out, 'id')
    assert wait_for(admin, image_id)['status'] == 'active'
    assert admin.get('/v2/images/%s/file' % image_id).content == DATA


def test_glance_task_create_and_openstack_image_task_show_a_legacy_task(glance,
                                                                          web):
    # The clients validate each task against /v2/schemas/task and print its input
    # and result as the API gives them: the client's input, the image as result.
    uri = web['allowed'].serve('/cli-task.raw', DATA)
    sent = {'import_from': uri, 'import_from_format': 'raw',
            'image_properties': {'name': 'cli-task', 'container_format': 'bare'}}
    glance_env = {'OS_IMAGE_URL': glance.url, 'OS_AUTH_TOKEN': 'none'}
    out = run([os.path.join(BIN, 'glance'), 'task-create', '--type', 'import',
               '--input', json.dumps(sent)], glance_env)
    task_id = _row(out, 'id')
    assert _row(out, 'status') == 'pending'
    assert json.loads(_wrapped_row(out, 'input')) == sent
    admin = glance.client()
    deadline = time.monotonic() + 30
    while admin.get('/v2/tasks/%s' % task_id).json()['status'] != 'success':
        assert time.monotonic() < deadline
        time.sleep(0.2)
    out = run([os.path.join(BIN, 'glance'), 'task-show', task_id], glance_env)
    assert _row(out, 'status') == 'success'
    assert json.loads(_wrapped_row(out, 'input')) == sent
    image_id = json.loads(_wrapped_row(out, 'result'))['image_id']
    assert admin.image(image_id)['name'] == 'cli-task'

    osc_env = {'OS_AUTH_TYPE': 'none', 'OS_ENDPOINT': glance.url}
    shown = json.loads(run([os.path.join(BIN, 'openstack'), 'image', 'task', 'show',
                            task_id, '-f', 'json'], osc_env))
    assert (shown['status'], shown['input'], shown['result']) == (
        'success', sent, {'image_id': image_id})
    listed = json.loads(run([os.path.join(BIN, 'openstack'), 'image', 'task', 'list',
                             '-f', 'json'], osc_env))
    assert task_id in [task['ID'] for task in listed]


def _wrapped_row(output, name):
    # glance's table wraps a long value onto rows with an empty first cell.
    value = None
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip('|').split('|')]
        if len(cells) != 2:
            continue
        if cells[0] == name:
            value = cells[1]
        elif value is not None and cells[0] == '':
            value += ' ' + cells[1]
        elif value is not None:
            return value
    raise AssertionError('no %s in:\n%s' % (name, output))


def _row(output, name):
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip('|').split('|')]
        if len(cells) == 2 and cells[0] == name:
            return cells[1]
    raise AssertionError('no %s in:\n%s' % (name, output))


def test_openstacksdk_create_image_use_import(glance, disk):
    conn = openstack.connect(auth_type='none', load_envvars=False,
                             image_endpoint_override=glance.url)
    image = conn.image.create_image(name='sdk-import', filename=str(disk),
                                    disk_format='raw', container_format='bare',
                                    use_import=True)
    admin = glance.client()
    done = wait_for(admin, image.id)
    assert done['status'] == 'active'
    assert admin.get('/v2/images/%s/file' % image.id).content == DATA





def test_staged_content_that_is_not_its_format_is_refused_at_once(glance, tenant):
    image = tenant.create_image(name='fake-qcow2', disk_format='qcow2')
    staged = tenant.put('/v2/images/%s/stage' % image['id'], data=DATA,
                        headers={'Content-Type': 'application/octet-stream'})
    assert staged.status_code == 400
    assert 'disk_format is qcow2' in staged.json()['message']
    assert tenant.image(image['id'])['status'] == 'queued'
    assert not import_tasks.staged_files(glance, image['id'])


def test_staging_over_the_size_cap_is_refused(glance, tenant):
    image = tenant.create_image(name='too-big')
    staged = tenant.put('/v2/images/%s/stage' % image['id'],
                        data=disk_images.raw(8 * 1024 * 1024 + 1),
                        headers={'Content-Type': 'application/octet-stream'})
    assert staged.status_code == 413
    assert tenant.image(image['id'])['status'] == 'queued'
    assert not import_tasks.staged_files(glance, image['id'])


def test_a_stage_over_the_storage_quota_is_refused_and_leaves_nothing(
        tmp_path_factory):
    with deployment_fixture.running(tmp_path_factory.mktemp('import-quota'),
                                    api_extra={'DEFAULT': {
                                        'user_storage_quota': str(len(DATA) - 1)}}
                                    ) as small:
        with small.client(deployment_fixture.new_project()) as tenant:
            image = tenant.create_image(name='over-quota')
            # Staging reserves the bytes it receives, as an upload: refused at once.
            staged = tenant.put('/v2/images/%s/stage' % image['id'], data=DATA,
                                headers={'Content-Type': 'application/octet-stream'})
            assert staged.status_code == 413
            assert tenant.image(image['id'])['status'] == 'queued'
            assert small.stored_files() == []


def test_an_import_over_the_storage_quota_at_its_end_leaves_nothing(
        tmp_path_factory):
    # Staged within the quota, which an upload then uses: the import is refused
    # as the staged file is linked into the store; the link and the staged file
    # go.
    with deployment_fixture.running(tmp_path_factory.mktemp('import-quota-end'),
                                    api_extra={'DEFAULT': {
                                        'user_storage_quota': str(
                                            len(DATA) * 3 // 2)}}) as small:
        with small.client(deployment_fixture.new_project()) as tenant:
            image = stage(tenant, DATA)
            other = tenant.create_image(name='uses-the-quota')
            assert tenant.upload(other['id'], DATA).status_code == 204
            done = glance_direct(tenant, image['id'])
            assert done['status'] == 'queued'
            [task] = image_tasks(tenant, image['id'])
            assert "storage quota" in task['message']
            assert small.stored_files() == [other['id']]
            assert os.listdir(os.path.join(small.workdir, 'staging')) == []


def test_a_web_download_over_the_storage_quota_stops_at_the_quota(tmp_path_factory):
    # Its bytes are counted against what the quota has left as they arrive, as an
    # upload's are: the import stops there, instead of writing up to
    # image_size_cap (1 TiB by default) before the image would become active.
    with web_files.running() as web, deployment_fixture.running(
            tmp_path_factory.mktemp('web-download-quota'), api_extra={
                'DEFAULT': {'user_storage_quota': '1MB'},
                'import_filtering_opts': {'allowed_ports': '[%d]' % web.port,
                                          'allowed_hosts': '[127.0.0.1]'}}) as small:
        with small.client(deployment_fixture.new_project()) as tenant:
            image = tenant.create_image(name='over-quota-web')
            uri = web.serve('/big.raw', disk_images.raw(16 * 1024 * 1024))
            assert tenant.post('/v2/images/%s/import' % image['id'], json={
                'method': {'name': 'web-download', 'uri': uri}}).status_code == 202
            deadline = time.monotonic() + 30
            while image_tasks(tenant, image['id'])[0]['status'] != 'failure':
                assert time.monotonic() < deadline, image_tasks(tenant, image['id'])
                time.sleep(0.2)
            [task] = image_tasks(tenant, image['id'])
            assert task['message'] == ("The image does not fit in the 1048576 bytes "
                                       "the project's storage quota has left.")
            assert tenant.image(image['id'])['status'] == 'queued'
            assert small.stored_files() == []


@pytest.mark.parametrize('make, disk_format, reason', [
    pytest.param(make, disk_format, reason, id=name)
    for name, make, disk_format, reason in disk_images.REFUSED])
def test_every_malicious_image_is_refused_on_every_import_path(
        glance, tenant, web, make, disk_format, reason):
    content = make()
    before = glance.stored_files()
    # glance-direct: the stage inspects the bytes as they arrive and refuses them.
    staged_image = tenant.create_image(name='staged', disk_format=disk_format)
    staged = tenant.put('/v2/images/%s/stage' % staged_image['id'], data=content,
                        headers={'Content-Type': 'application/octet-stream'})
    assert staged.status_code == 400, staged.text
    assert reason in staged.json()['message']
    # web-download: the task inspects what it fetches and fails.
    fetched = tenant.create_image(name='fetched', disk_format=disk_format)
    uri = web['allowed'].serve('/%s' % fetched['id'], content)
    assert tenant.post('/v2/images/%s/import' % fetched['id'], json={
        'method': {'name': 'web-download', 'uri': uri}}).status_code == 202
    deadline = time.monotonic() + 30
    while image_tasks(tenant, fetched['id'])[0]['status'] not in ('success',
                                                                   'failure'):
        assert time.monotonic() < deadline, 'the import did not end'
        time.sleep(0.2)
    [task] = image_tasks(tenant, fetched['id'])
    assert task['status'] == 'failure', task
    assert 'refused' in task['message']
    for image in (staged_image, fetched):
        assert tenant.image(image['id'])['status'] == 'queued'
        assert not import_tasks.staged_files(glance, image['id'])
    assert glance.stored_files() == before
