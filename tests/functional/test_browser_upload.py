"""A browser uploads an image from a page on another origin, as Horizon's "direct"
upload mode does: the image service answers the CORS preflights (``[cors]``)."""

import hashlib
import json

from tests.fixtures import browser
from tests.fixtures import deployment as deployment_fixture

SIZE = 300000

_UPLOAD = '''
const api = %(api)s;
const data = new Uint8Array(%(size)d);
for (let i = 0; i < data.length; i++) data[i] = i %% 251;
const token = {'X-Auth-Token': 'a-horizon-token'};

async function upload() {
    let response = await fetch(api + '/v2/images', {
        method: 'POST',
        headers: Object.assign({'Content-Type': 'application/json'}, token),
        body: JSON.stringify({name: %(name)s, disk_format: 'raw',
                              container_format: 'bare'})});
    if (response.status !== 201) throw new Error('create: ' + response.status);
    const image = await response.json();
    response = await fetch(api + image.file, {
        method: 'PUT',
        headers: Object.assign({'Content-Type': 'application/octet-stream'}, token),
        body: data});
    if (response.status !== 204) throw new Error('upload: ' + response.status);
    response = await fetch(api + image.self, {headers: token});
    const shown = await response.json();
    return {id: shown.id, status: shown.status, size: shown.size,
            checksum: shown.checksum,
            request_id: response.headers.get('X-OpenStack-Request-ID')};
}
upload().then(result => report(Object.assign({ok: true}, result)),
              error => report({ok: false, error: String(error)}));
'''


def _expected_data():
    return bytes(i % 251 for i in range(SIZE))


def _script(api_url, name):
    return _UPLOAD % {'api': json.dumps(api_url), 'size': SIZE,
                      'name': json.dumps(name)}


def test_browser_uploads_from_an_allowed_origin_only(tmp_path_factory):
    browser.chromium()
    allowed_page, refused_page = browser.PageServer(), browser.PageServer()
    try:
        with deployment_fixture.running(
                tmp_path_factory.mktemp('cors'),
                api_extra={'cors': {'allowed_origin': allowed_page.origin}}) as glance:
            allowed_page.script = _script(glance.url, 'from-browser')
            refused_page.script = _script(glance.url, 'from-elsewhere')

            result = browser.open_page(allowed_page)
            assert result['ok'], result
            data = _expected_data()
            assert (result['status'], result['size'], result['checksum']) == (
                'active', SIZE, hashlib.md5(data).hexdigest())
            # An exposed header the page could read.
            assert result['request_id'].startswith('req-')
            with glance.client() as admin:
                assert admin.get('/v2/images/%s/file' % result['id']).content == data

            refused = browser.open_page(refused_page)
            assert not refused['ok']
            assert 'Failed to fetch' in refused['error']
            with glance.client() as admin:
                images = admin.get('/v2/images').json()['images']
            assert [image['name'] for image in images] == ['from-browser']
    finally:
        allowed_page.close()
        refused_page.close()
