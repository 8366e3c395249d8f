"""Tasks in the registry: created with the image's import lock, leased to one
worker, taken over when that worker dies, finished with the image's new state in the
same transaction, visible to their project until they expire."""

import time
import uuid

import pytest

from glance_registry.client import Lease
from glance_registry.client import errors
from glance_registry.client import identity

RAW = {'disk_format': 'raw', 'container_format': 'bare'}
LOCK = 'os_glance_import_task'
#: The API's own identity, with which it finishes imports.
SERVICE = identity.Identity(None, None, ('admin',), is_admin=True)


def new_task(image_id=None):
    return {'id': str(uuid.uuid4()), 'type': 'api_image_import',
            'input': {'import_req': {'method': {'name': 'web-download'}},
                      'image_id': image_id}}


def start_import(client, caller, image, lease, from_status='queued',
                 to_status='importing'):
    return client.create_task(
        caller, new_task(image['id']), ttl=3600, lease=lease,
        image={'id': image['id'], 'from': from_status, 'to': to_status,
               'properties': {'os_glance_importing_to_stores': 'file'}})


def test_an_import_takes_the_lock_and_moves_the_image(client, project, make_image):
    owner = project()
    image = make_image(owner, **RAW)
    lease = Lease(owner='worker-1', seconds=60)
    created = start_import(client, owner, image, lease)
    task = created['task']
    assert task['status'] == 'pending'
    assert task['owner'] == owner.project_id
    assert task['image_id'] == image['id']
    assert task['input']['import_req']['method']['name'] == 'web-download'
    assert created['image']['status'] == 'importing'
    assert created['image']['properties'][LOCK] == task['id']
    assert client.get_task(owner, task['id'])['lease_owner'] == 'worker-1'


def test_a_second_import_is_refused_while_the_first_runs(client, project,
                                                         make_image):
    owner = project()
    image = make_image(owner, **RAW)
    first = start_import(client, owner, image, Lease('worker-1', 60))['task']
    with pytest.raises(errors.Conflict) as refused:
        client.create_task(owner, new_task(image['id']), ttl=3600,
                           lease=Lease('worker-2', 60), image={'id': image['id']})
    assert refused.value.reason == 'import_locked'
    assert refused.value.details['task_id'] == first['id']
    # Nothing of the refused task was written.
    assert [t['id'] for t in client.list_tasks(owner, [('image_id', image['id'])])[0]] \
        == [first['id']]


def test_a_stale_lock_is_taken_over_and_its_task_fails(client, project, make_image):
    owner = project()
    image = make_image(owner, **RAW)
    first = start_import(client, owner, image, Lease('worker-1', 1))['task']
    time.sleep(1.2)   # its worker died
    second = client.create_task(owner, new_task(image['id']), ttl=3600,
                                lease=Lease('worker-2', 60),
                                image={'id': image['id']})
    assert second['image']['properties'][LOCK] == second['task']['id']
    dead = client.get_task(owner, first['id'])
    assert dead['status'] == 'failure'
    assert 'stopped' in dead['message']


def test_a_dead_workers_task_is_taken_over_once(client, project, make_image, race):
    owner = project()
    image = make_image(owner, **RAW)
    task = start_import(client, owner, image, Lease('worker-1', 1))['task']
    with pytest.raises(errors.Conflict) as refused:
        client.claim_task(owner, task['id'], Lease('worker-2', 60))
    assert refused.value.reason == 'task_leased'
    time.sleep(1.2)
    outcomes = race([lambda n=n: client.claim_task(owner, task['id'],
                                                   Lease('worker-%d' % n, 60))
                     for n in (3, 4)])
    won = [o for o in outcomes if isinstance(o, dict)]
    assert len(won) == 1 and won[0]['attempts'] == 2
    lost = [o for o in outcomes if not isinstance(o, dict)]
    assert lost[0].reason == 'task_leased'


def test_a_task_is_pending_until_its_worker_starts_it(client, project, make_image):
    # Upstream's transitions: pending -> processing -> success | failure, and a
    # task that never started may only fail.
    owner = project()
    image = make_image(owner, **RAW)
    lease = Lease('worker-1', 60)
    task = start_import(client, owner, image, lease)['task']
    assert client.get_task(owner, task['id'])['status'] == 'pending'
    with pytest.raises(errors.Conflict) as refused:
        client.finish_task(SERVICE, task['id'], lease, 'success',
                           image={'from': 'importing', 'to': 'active'})
    assert refused.value.reason == 'task_not_started'
    assert client.get_task(owner, task['id'])['status'] == 'pending'
    assert client.get_image(owner, image['id'])['status'] == 'importing'
    started = client.claim_task(owner, task['id'], lease)
    assert (started['status'], started['attempts']) == ('processing', 1)
    never_started = start_import(client, owner, make_image(owner, **RAW),
                                 lease)['task']
    assert client.finish_task(SERVICE, never_started['id'], lease,
                              'failure')['task']['status'] == 'failure'


def test_the_worker_renews_and_reports_progress(client, project, make_image):
    owner = project()
    image = make_image(owner, **RAW)
    lease = Lease('worker-1', 60)
    task = start_import(client, owner, image, lease)['task']
    renewed = client.claim_task(owner, task['id'], lease, message='Copied 1 MiB')
    assert renewed['message'] == 'Copied 1 MiB'
    assert renewed['attempts'] == 1


def test_the_lease_of_a_deleted_images_task_is_not_renewed(client, project,
                                                           make_image):
    # Its worker stops at its next renewal, and can still record the failure.
    owner = project()
    image = make_image(owner, **RAW)
    lease = Lease('worker-1', 60)
    task = start_import(client, owner, image, lease)['task']
    client.claim_task(owner, task['id'], lease)
    client.delete_image(owner, image['id'])
    with pytest.raises(errors.Conflict) as refused:
        client.claim_task(SERVICE, task['id'], lease, message='Copied 1 MiB')
    assert refused.value.reason == 'image_deleted'
    assert client.get_task(owner, task['id'])['message'] != 'Copied 1 MiB'
    failed = client.finish_task(SERVICE, task['id'], lease, 'failure',
                                message='Image was deleted during the import.')
    assert failed['task']['status'] == 'failure'


def test_a_deleted_images_task_whose_worker_died_is_taken_over_to_fail_it(
        client, project, make_image):
    owner = project()
    image = make_image(owner, **RAW)
    task = start_import(client, owner, image, Lease('worker-1', 1))['task']
    client.delete_image(owner, image['id'])
    time.sleep(1.2)
    lease = Lease('worker-2', 60)
    assert client.claim_task(SERVICE, task['id'], lease)['status'] == 'processing'
    failed = client.finish_task(SERVICE, task['id'], lease, 'failure',
                                message='Image was deleted during the import.')
    assert failed['task']['status'] == 'failure'


def test_only_a_deleted_images_task_whose_lease_ran_out_is_orphaned(
        client, project, make_image):
    # The sweep that fails orphaned tasks takes over only those: never one whose
    # worker still renews it (its image deleted or not), nor a live image's,
    # which it would import again.
    owner = project()
    running, dead, orphan = (start_import(client, owner, make_image(owner, **RAW),
                                          Lease('worker-1', seconds))['task']
                             for seconds in (60, 1, 1))
    for task in (running, orphan):
        client.delete_image(owner, task['image_id'])
    time.sleep(1.2)
    ids = {task['id'] for task in (running, dead, orphan)}
    assert [task['id'] for task in client.list_orphaned_tasks(SERVICE, 1000)
            if task['id'] in ids] == [orphan['id']]
    with pytest.raises(errors.Forbidden):
        client.list_orphaned_tasks(owner, 10)
    for task in (running, dead):
        with pytest.raises(errors.Conflict) as refused:
            client.claim_task(SERVICE, task['id'], Lease('sweep', 60),
                              orphaned=True)
        assert refused.value.reason == 'not_orphaned'
    with pytest.raises(errors.Forbidden):
        client.claim_task(owner, orphan['id'], Lease('sweep', 60), orphaned=True)
    lease = Lease('sweep', 60)
    assert client.claim_task(SERVICE, orphan['id'], lease,
                             orphaned=True)['attempts'] == 2
    # Its new holder fails it (renewing it, it learns the image is deleted).
    with pytest.raises(errors.Conflict) as refused:
        client.claim_task(SERVICE, orphan['id'], lease)
    assert refused.value.reason == 'image_deleted'
    client.finish_task(SERVICE, orphan['id'], lease, 'failure', message='gone')
    assert orphan['id'] not in {task['id']
                                for task in client.list_orphaned_tasks(SERVICE, 1000)}
    for task in (running, dead):
        assert client.get_task(owner, task['id'])['lease_owner'] == 'worker-1'


def test_finishing_activates_the_image_and_releases_the_lock(client, project,
                                                             make_image):
    owner = project()
    image = make_image(owner, **RAW)
    lease = Lease('worker-1', 60)
    task = start_import(client, owner, image, lease)['task']
    client.claim_task(owner, task['id'], lease)
    done = client.finish_task(
        SERVICE, task['id'], lease, 'success', result={'image_id': image['id']},
        ttl=3600, image={'from': 'importing', 'to': 'active',
                         'values': {'size': 3, 'checksum': 'c' * 32},
                         'locations': [{'url': 'file:///x/%s' % image['id'],
                                        'metadata': {}, 'status': 'active'}],
                         'properties': {'os_glance_importing_to_stores': ''}})
    assert done['task']['status'] == 'success'
    assert done['task']['expires_at'] is not None
    assert done['task']['lease_owner'] is None
    assert done['image']['status'] == 'active'
    assert done['image']['size'] == 3
    assert LOCK not in done['image']['properties']
    assert done['image']['properties']['os_glance_importing_to_stores'] == ''
    with pytest.raises(errors.Conflict) as refused:
        client.finish_task(SERVICE, task['id'], lease, 'failure')
    assert refused.value.reason == 'task_finished'


def test_finishing_a_copy_adds_its_locations_to_those_the_image_has_then(
        client, project, make_image, file_url):
    # A copy leaves its image active: the locations added and removed while it
    # ran stay as those requests left them.
    owner = project()
    image = make_image(owner, **RAW)
    client.transition_status(owner, image['id'], 'queued', 'saving')
    client.transition_status(owner, image['id'], 'saving', 'active', values={'size': 5},
                             locations=[{'url': file_url('a')}, {'url': file_url('b')}])
    lease = Lease('worker-1', 60)
    task = client.create_task(owner, new_task(image['id']), ttl=3600, lease=lease,
                              image={'id': image['id']})['task']
    client.claim_task(owner, task['id'], lease)
    client.add_location(owner, image['id'], file_url('added'))
    client.remove_location(owner, image['id'], file_url('b'))
    done = client.finish_task(
        SERVICE, task['id'], lease, 'success', ttl=3600, image={'add_locations': [
            {'url': file_url('copy'), 'metadata': {'store': 'root'}},
            # One the image has already (a retried finish) stays as it is.
            {'url': file_url('a'), 'metadata': {'store': 'root'}}]})
    assert [(location['url'], location['metadata'])
            for location in done['image']['locations']] == [
        (file_url('a'), {}), (file_url('added'), {}),
        (file_url('copy'), {'store': 'root'})]
    assert LOCK not in done['image']['properties']
    assert client.get_image(owner, image['id']) == done['image']


def test_a_worker_that_lost_its_task_cannot_finish_it(client, project, make_image):
    owner = project()
    image = make_image(owner, **RAW)
    task = start_import(client, owner, image, Lease('worker-1', 1))['task']
    time.sleep(1.2)
    client.claim_task(owner, task['id'], Lease('worker-2', 60))
    with pytest.raises(errors.Conflict) as refused:
        client.finish_task(SERVICE, task['id'], Lease('worker-1', 1), 'success',
                           image={'from': 'importing', 'to': 'active'})
    assert refused.value.reason == 'taken_over'
    assert client.get_image(owner, image['id'])['status'] == 'importing'


def test_tasks_are_their_projects_and_expire(client, project, make_image):
    owner, other = project(), project()
    admin = project(admin=True)
    image = make_image(owner, **RAW)
    lease = Lease('worker-1', 60)
    task = start_import(client, owner, image, lease)['task']
    with pytest.raises(errors.NotFound) as hidden:
        client.get_task(other, task['id'])
    assert hidden.value.reason == 'task_not_found'
    assert client.list_tasks(other, [('image_id', image['id'])])[0] == []
    assert client.get_task(admin, task['id'])['id'] == task['id']
    client.finish_task(SERVICE, task['id'], lease, 'failure', message='no', ttl=1,
                       image={'from': 'importing', 'to': 'queued'})
    assert client.get_task(owner, task['id'])['status'] == 'failure'
    time.sleep(1.2)
    with pytest.raises(errors.NotFound):
        client.get_task(owner, task['id'])


def test_tasks_list_in_pages(client, project):
    owner = project()
    ids = [client.create_task(owner, new_task(), ttl=60)['task']['id']
           for _ in range(3)]
    page, marker = client.list_tasks(owner, [('limit', '2'), ('sort_key', 'id'),
                                             ('sort_dir', 'asc')])
    rest, end = client.list_tasks(owner, [('limit', '2'), ('sort_key', 'id'),
                                          ('sort_dir', 'asc'), ('marker', marker)])
    assert [t['id'] for t in page + rest] == sorted(ids)
    assert end is None
    assert all(t['status'] == 'pending' for t in page)


@pytest.mark.parametrize('sort_dir', ['asc', 'desc'])
def test_tasks_list_in_pages_by_expiry_running_ones_included(client, project,
                                                             sort_dir):
    # A task has no expires_at until it finishes: pages by expires_at left out
    # (or repeated) the running ones, whose NULL no comparison with a marker's
    # time matched, and each database put them at another end.
    owner = project()
    ids = set()
    for finished in (True, False, True, False, True):
        lease = Lease('worker-1', 60)
        task = client.create_task(owner, new_task(), ttl=3600, lease=lease)['task']
        if finished:
            client.finish_task(SERVICE, task['id'], lease, 'failure', ttl=3600)
        ids.add(task['id'])
    params = [('sort_key', 'expires_at'), ('sort_dir', sort_dir), ('limit', '2')]
    listed, marker = client.list_tasks(owner, params)
    while marker is not None:
        page, marker = client.list_tasks(owner, params + [('marker', marker)])
        listed += page
    assert sorted(t['id'] for t in listed) == sorted(ids)
    whole = client.list_tasks(owner, params[:2])[0]
    assert [t['id'] for t in listed] == [t['id'] for t in whole]
    running = [t['expires_at'] is None for t in whole]
    # Running tasks (no expiry yet) sort as the latest, as on PostgreSQL.
    assert running == ([False] * 3 + [True] * 2 if sort_dir == 'asc'
                       else [True] * 2 + [False] * 3)


def test_a_stage_keeps_the_image_uploading_once_its_data_is_staged(client, project,
                                                                   make_image):
    owner = project()
    image = make_image(owner, **RAW)
    client.transition_status(owner, image['id'], 'queued', 'uploading', lease=60,
                             upload_id='stage-1')
    with pytest.raises(errors.Conflict):
        client.transition_status(owner, image['id'], 'queued', 'uploading', lease=60,
                                 upload_id='stage-2')
    staged = client.transition_status(
        owner, image['id'], 'uploading', 'uploading', upload_id='stage-1',
        locations=[{'url': 'file:///staging/%s' % image['id'],
                    'metadata': {'store': 'os_glance_staging_store'},
                    'status': 'staged'}])
    assert staged['status'] == 'uploading'
    assert staged['locations'][0]['status'] == 'staged'
    # Staged: no stage can take it over, however long ago the lease was given.
    with pytest.raises(errors.Conflict):
        client.transition_status(owner, image['id'], 'queued', 'uploading', lease=60,
                                 upload_id='stage-3')


def test_a_dead_stage_is_taken_over(client, project, make_image):
    owner = project()
    image = make_image(owner, **RAW)
    client.transition_status(owner, image['id'], 'queued', 'uploading', lease=1,
                             upload_id='stage-1')
    time.sleep(1.2)
    taken = client.transition_status(owner, image['id'], 'queued', 'uploading',
                                     lease=60, upload_id='stage-2')
    assert taken['status'] == 'uploading'
    with pytest.raises(errors.Conflict) as refused:
        client.transition_status(owner, image['id'], 'uploading', 'uploading',
                                 upload_id='stage-1', locations=[])
    assert refused.value.reason == 'taken_over'


def test_finishing_over_the_storage_quota_changes_nothing(client, project,
                                                          make_image):
    owner = project()
    image = make_image(owner, **RAW)
    lease = Lease('worker-1', 60)
    task = start_import(client, owner, image, lease)['task']
    client.claim_task(owner, task['id'], lease)
    with pytest.raises(errors.TooLarge) as refused:
        client.finish_task(SERVICE, task['id'], lease, 'success', image={
            'from': 'importing', 'to': 'active', 'values': {'size': 100},
            'locations': [{'url': 'file:///x/%s' % image['id'], 'metadata': {}}],
            'max_storage': 99})
    assert refused.value.details['limit'] == 'max_storage'
    assert client.get_image(owner, image['id'])['status'] == 'importing'
    assert client.get_task(owner, task['id'])['status'] == 'processing'


def test_only_the_image_service_writes_an_imports_result(client, project,
                                                         make_image):
    # A caller holding the secret (or a service token) could otherwise activate an
    # image with any location, past every rule of glance_registry.guard.
    owner = project()
    image = make_image(owner, **RAW)
    lease = Lease('worker-1', 60)
    task = start_import(client, owner, image, lease)['task']
    with pytest.raises(errors.Forbidden) as refused:
        client.finish_task(owner, task['id'], lease, 'success', image={
            'from': 'importing', 'to': 'active', 'values': {'size': 3},
            'locations': [{'url': 'file:///x/%s' % image['id'], 'metadata': {},
                           'status': 'active'}]})
    assert refused.value.reason == 'admin_only'
    assert client.get_image(owner, image['id'])['status'] == 'importing'
    # Without an image change, a task's own end is the caller's to write.
    assert client.finish_task(owner, task['id'], lease, 'failure')['task'][
        'status'] == 'failure'


def test_a_task_sets_only_the_imports_own_properties(client, project, make_image):
    owner = project()
    image = make_image(owner, **RAW)
    with pytest.raises(errors.Forbidden) as refused:
        client.create_task(owner, new_task(image['id']), ttl=60,
                           lease=Lease('worker-1', 60),
                           image={'id': image['id'], 'from': 'queued',
                                  'to': 'importing',
                                  'properties': {'x_admin_key': 'mine'}})
    assert refused.value.reason == 'not_permitted'
    assert client.get_image(owner, image['id'])['status'] == 'queued'


def test_only_an_admin_creates_a_task_for_another_project(client, project):
    # Tasks are their owner project's to read: another project's member must not
    # put one in its list.
    owner, other = project(), project()
    admin = project(admin=True)
    task = dict(new_task(), owner=other.project_id)
    with pytest.raises(errors.Forbidden) as refused:
        client.create_task(owner, task, ttl=60)
    assert refused.value.reason == 'not_owner'
    assert client.list_tasks(other)[0] == []
    assert client.create_task(owner, dict(task, owner=owner.project_id),
                              ttl=60)['task']['owner'] == owner.project_id
    assert client.create_task(admin, dict(new_task(), owner=other.project_id),
                              ttl=60)['task']['owner'] == other.project_id
