"""Every number a client sends to the API, with thousands of digits (past Python's
int-string limit of 4,300): a 4xx that says so, never a 500. The Range and
Content-Range headers and location indexes are in tests/functional
(test_image_data.py, test_locations.py) against the real processes."""

import pytest

from tests.fixtures.inprocess import caller

HUGE = '9' * 5000
OWNER = caller('numbers-project')


def _image(deployment):
    response = deployment.request('POST', '/v2/images', OWNER, {
        'disk_format': 'raw', 'container_format': 'bare'})
    assert response.status_code == 201
    return response.json['id']


@pytest.mark.parametrize('what', ['images limit', 'image size header',
                                  'namespaces limit', 'range', 'content-range'])
def test_a_number_of_thousands_of_digits_is_a_client_error(deployment, what):
    image_id = _image(deployment)
    if what in ('range', 'content-range'):
        assert deployment.request('PUT', '/v2/images/%s/file' % image_id, OWNER,
                                  b'0123456789', content_type='application/'
                                  'octet-stream').status_code == 204
    request = {
        'images limit': ('GET', '/v2/images?limit=' + HUGE, None),
        'image size header': ('PUT', '/v2/images/%s/file' % image_id,
                              {'x-openstack-image-size': HUGE}),
        'namespaces limit': ('GET', '/v2/metadefs/namespaces?limit=' + HUGE, None),
        'range': ('GET', '/v2/images/%s/file' % image_id,
                  {'Range': 'bytes=%s-' % HUGE}),
        'content-range': ('GET', '/v2/images/%s/file' % image_id,
                          {'Content-Range': 'bytes %s-1/*' % HUGE}),
    }[what]
    method, path, headers = request
    body = b'data' if method == 'PUT' else None
    response = deployment.request(method, path, OWNER, body, headers=headers,
                                  content_type='application/octet-stream')
    assert response.status_code in (400, 416), response.data
    assert response.status_code == (416 if 'range' in what else 400)
