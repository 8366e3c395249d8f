"""The import request's rules, one by one: what is refused before any task exists,
and what the deployment says it offers."""

import pytest

from tests.fixtures.inprocess import caller

OWNER = caller('owner-project')


def new_image(deployment, **values):
    body = dict({'disk_format': 'raw', 'container_format': 'bare'}, **values)
    response = deployment.request('POST', '/v2/images', OWNER, body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


@pytest.mark.parametrize('body, status, words', [
    ({}, 400, "needs 'method'"),
    ({'method': 'glance-direct'}, 400, "needs 'method'"),
    ({'method': {'name': 'magic'}}, 400, "'magic' is not valid"),
    ({'method': {'name': 'glance-download'}}, 400, "'glance-download' is not valid"),
    ({'method': {'name': 'web-download'}}, 400, "needs a 'uri'"),
    # As upstream: a URI [import_filtering_opts] refuses is a 400, not a task.
    ({'method': {'name': 'web-download', 'uri': 'file:///etc/passwd'}}, 400,
     'URI for web-download does not pass filtering: file:///etc/passwd'),
    ({'method': {'name': 'web-download', 'uri': 'ftp://example.com/disk'}}, 400,
     'does not pass filtering'),
    ({'method': {'name': 'web-download', 'uri': 'http://example.com:8080/d'}}, 400,
     'does not pass filtering'),
    ({'method': {'name': 'web-download', 'uri': 'http://127.0.0.1/disk'}}, 400,
     'does not pass filtering'),
    ({'method': {'name': 'glance-direct'}}, 409, 'needs to be staged'),
    ({'method': {'name': 'copy-image'}, 'stores': ['x']}, 400,
     'Multiple stores are not configured'),
    ({'method': {'name': 'glance-direct'}, 'all_stores': 'yes'}, 400,
     "'all_stores' must be a boolean"),
    ({'method': {'name': 'glance-direct'}, 'all_stores_must_succeed': 1}, 400,
     "'all_stores_must_succeed' must be a boolean"),
    # As upstream: partial success means nothing without several stores.
    ({'method': {'name': 'web-download', 'uri': 'http://example.com/disk'},
      'all_stores_must_succeed': False}, 400,
     'All_stores_must_succeed can only be set with enabled_backends'),
    ({'method': {'name': 'copy-image'}}, 400, "needs 'stores' or 'all_stores'"),
], ids=lambda value: str(value)[:40])
def test_an_import_request_is_checked_before_any_task(deployment, body, status,
                                                      words):
    image = new_image(deployment)
    response = deployment.request('POST', '/v2/images/%s/import' % image['id'],
                                  caller('owner-project', ('admin',)) if
                                  body.get('method', {}) == {'name': 'copy-image'}
                                  else OWNER, body)
    assert response.status_code == status, response.get_data(as_text=True)
    assert words in response.get_json()['message']
    tasks = deployment.request('GET', '/v2/images/%s/tasks' % image['id'], OWNER)
    assert tasks.get_json()['tasks'] == []
    assert deployment.request('GET', '/v2/images/%s' % image['id'],
                              OWNER).get_json()['status'] == 'queued'


def test_only_the_owner_imports(deployment):
    image = new_image(deployment, visibility='community')
    response = deployment.request('POST', '/v2/images/%s/import' % image['id'],
                                  caller('another-project'),
                                  {'method': {'name': 'web-download',
                                              'uri': 'http://example.com/x'}})
    assert response.status_code == 403


def test_the_offered_methods_follow_the_configuration(make_deployment):
    deployment = make_deployment(api={'enabled_import_methods': ['web-download']})
    info = deployment.request('GET', '/v2/info/import', OWNER).get_json()
    assert info == {'import-methods': {'description': 'Import methods available.',
                                       'type': 'array', 'value': ['web-download']}}
    created = deployment.request('POST', '/v2/images', OWNER,
                                 {'disk_format': 'raw', 'container_format': 'bare'})
    assert created.headers['OpenStack-image-import-methods'] == 'web-download'
    image = created.get_json()
    staged = deployment.request('PUT', '/v2/images/%s/stage' % image['id'], OWNER,
                                b'data', content_type='application/octet-stream')
    assert staged.status_code == 404
    refused = deployment.request('POST', '/v2/images/%s/import' % image['id'], OWNER,
                                 {'method': {'name': 'glance-direct'}})
    assert refused.status_code == 400


def test_without_import_no_header_is_sent(make_deployment):
    deployment = make_deployment(api={'enabled_import_methods': []})
    created = deployment.request('POST', '/v2/images', OWNER,
                                 {'disk_format': 'raw', 'container_format': 'bare'})
    assert 'OpenStack-image-import-methods' not in created.headers
    assert deployment.request('GET', '/v2/info/import', OWNER).get_json()[
        'import-methods']['value'] == []


def test_a_stage_puts_the_data_in_the_staging_store(deployment):
    image = new_image(deployment)
    staged = deployment.request('PUT', '/v2/images/%s/stage' % image['id'], OWNER,
                                b'x' * 1000, content_type='application/octet-stream')
    assert staged.status_code == 204, staged.get_data(as_text=True)
    shown = deployment.request('GET', '/v2/images/%s' % image['id'], OWNER).get_json()
    assert shown['status'] == 'uploading'
    assert 'locations' not in shown and 'stores' not in shown
    again = deployment.request('PUT', '/v2/images/%s/stage' % image['id'], OWNER,
                               b'y', content_type='application/octet-stream')
    assert again.status_code == 409
    # Not "being uploaded": the data is staged and waits for its import.
    assert again.get_json()['message'] == (
        "Image %s is staged already: import it (method 'glance-direct'), or delete "
        "it to stage other data." % image['id'])


@pytest.mark.parametrize('values, missing', [
    ({'disk_format': 'raw'}, 'container_format'),
    ({'container_format': 'bare'}, 'disk_format'),
    ({}, 'container_format'),
])
def test_an_image_without_its_formats_cannot_be_imported(deployment, values, missing):
    # As upstream: a conflict with the image's state (it can still be given the
    # format), naming the format missing (container_format first).
    response = deployment.request('POST', '/v2/images', OWNER, values)
    image = response.get_json()
    response = deployment.request('POST', '/v2/images/%s/import' % image['id'], OWNER,
                                  {'method': {'name': 'web-download',
                                              'uri': 'http://example.com/disk'}})
    assert response.status_code == 409, response.get_data(as_text=True)
    assert response.get_json()['message'] == (
        "'%s' needs to be set before import" % missing)
    assert deployment.request('GET', '/v2/images/%s/tasks' % image['id'],
                              OWNER).get_json()['tasks'] == []
    assert deployment.request('GET', '/v2/images/%s' % image['id'],
                              OWNER).get_json()['status'] == 'queued'


@pytest.mark.parametrize('remote_id', ['x/file', '../other', 'not-a-uuid'])
def test_glance_download_refuses_a_remote_id_that_is_no_uuid(make_deployment,
                                                             remote_id):
    # As upstream: the id is put into the other region's URLs, so it must be one.
    deployment = make_deployment(api={'enabled_import_methods': ['glance-download']})
    image = new_image(deployment)
    response = deployment.request('POST', '/v2/images/%s/import' % image['id'], OWNER,
                                  {'method': {'name': 'glance-download',
                                              'glance_image_id': remote_id,
                                              'glance_region': 'RegionTwo'}})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()['message'] == (
        'Remote image id does not look like a UUID: %s' % remote_id)
    assert deployment.request('GET', '/v2/images/%s' % image['id'],
                              OWNER).get_json()['status'] == 'queued'
