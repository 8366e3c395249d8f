"""/v2/tasks documents against the schemas the API serves, which
python-glanceclient validates every task it receives with."""

import jsonschema
import pytest


def test_a_task_created_by_an_admin_without_a_project_fits_the_schemas(deployment):
    # The embedded default's caller (no identity headers) is upstream's
    # unauthenticated context: an admin with no project, so the task has no owner.
    response = deployment.request('POST', '/v2/tasks', body={
        'type': 'import', 'input': {
            'import_from': 'http://127.0.0.1:1/x.raw', 'import_from_format': 'raw',
            'image_properties': {'disk_format': 'raw', 'container_format': 'bare'}}})
    assert response.status_code == 201, response.get_data(as_text=True)
    task = response.get_json()
    assert task['owner'] is None
    jsonschema.validate(task, deployment.request('GET', '/v2/schemas/task').get_json())
    listed = deployment.request('GET', '/v2/tasks').get_json()
    assert task['id'] in [t['id'] for t in listed['tasks']]
    jsonschema.validate(listed,
                        deployment.request('GET', '/v2/schemas/tasks').get_json())


def _create_task(deployment):
    response = deployment.request('POST', '/v2/tasks', body={
        'type': 'import', 'input': {
            'import_from': 'http://127.0.0.1:1/x.raw', 'import_from_format': 'raw',
            'image_properties': {'disk_format': 'raw', 'container_format': 'bare'}}})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()['id']


def test_a_task_list_holds_at_most_api_limit_max_whatever_the_limit(make_deployment):
    # Upstream caps the limit at api_limit_max; a limit past 32 bits (as the
    # catalog's and images' lists take it) was refused as 'not a positive integer'.
    deployment = make_deployment(api={'api_limit_max': 2})
    created = [_create_task(deployment) for _ in range(3)]
    for limit in ('3', '1000', '99999999999999999999999'):
        response = deployment.request('GET', '/v2/tasks?limit=' + limit)
        assert response.status_code == 200, response.get_data(as_text=True)
        listed = response.get_json()
        assert len(listed['tasks']) == 2
        assert listed['first'] == '/v2/tasks?limit=' + limit
        rest = deployment.request('GET', listed['next']).get_json()
        assert ({task['id'] for task in listed['tasks'] + rest['tasks']}
                == set(created))
    assert len(deployment.request('GET', '/v2/tasks').get_json()['tasks']) == 2


def test_a_bad_task_list_limit_says_what_is_wrong_in_upstreams_words(deployment):
    for limit, message in (('abc', 'limit param must be an integer'),
                           ('1.5', 'limit param must be an integer'),
                           ('-1', 'limit param must be positive')):
        response = deployment.request('GET', '/v2/tasks?limit=' + limit)
        assert response.status_code == 400
        assert response.get_json()['message'] == message
    assert deployment.request('GET', '/v2/tasks?limit=0').get_json()['tasks'] == []


@pytest.mark.parametrize('query', [
    'status=failure&status=bogus', 'type=import&type=api_image_import',
    'sort_key=status&sort_key=type', 'sort_dir=asc&sort_dir=desc',
    'limit=1&limit=2', 'marker=a&marker=b',
])
def test_a_task_list_parameter_given_twice_is_refused(deployment, query):
    # Which of the two was meant? Upstream reads the first of some parameters and
    # the last of others; refused, as the image list refuses it.
    response = deployment.request('GET', '/v2/tasks?' + query)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()['message'] == (
        "Parameter '%s' may be given only once" % query.split('=')[0])


def test_polling_a_running_import_reads_its_task_once(deployment, monkeypatch):
    # Clients poll GET /v2/tasks/{id} while an import runs: the task it loaded
    # tells whether its worker's lease ran out; reading it again to know cost a
    # registry call each poll.
    import uuid

    from glance_api.access.context import SERVICE_IDENTITY
    from glance_registry.client import Lease
    response = deployment.request('POST', '/v2/images', body={
        'disk_format': 'raw', 'container_format': 'bare'})
    image_id = response.get_json()['id']
    task_id = str(uuid.uuid4())
    deployment.registry.create_task(
        SERVICE_IDENTITY, {'id': task_id, 'type': 'api_image_import', 'input': {},
                           'request_id': 'req-x', 'user_id': None},
        ttl=3600, lease=Lease(owner='a-live-worker', seconds=600),
        image={'id': image_id, 'properties': {}})
    reads = []
    get_task = deployment.registry.get_task
    monkeypatch.setattr(deployment.registry, 'get_task',
                        lambda *args, **kwargs: reads.append(args[1]) or
                        get_task(*args, **kwargs))
    shown = deployment.request('GET', '/v2/tasks/%s' % task_id)
    assert shown.status_code == 200, shown.get_data(as_text=True)
    assert reads == [task_id]
