"""/v2/tasks documents against the schemas the API serves, which
python-glanceclient validates every task it receives with."""

import jsonschema


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
