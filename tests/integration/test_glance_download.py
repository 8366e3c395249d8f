"""glance-download against real Keystone: an image of "another region's" image
service (this deployment, registered in the catalog under a second region) is
imported with the caller's token, its formats and chosen properties included."""

import time

import pytest

from tests.fixtures import deployment
from tests.fixtures import disk_images
from tests.integration.conftest import persona_session

pytestmark = pytest.mark.keystone

REMOTE_REGION = 'RegionImportTest'
DATA = disk_images.raw(2 * 1024 * 1024 + 9)


@pytest.fixture(scope='module')
def federated(keystone, tmp_path_factory):
    """A Keystone-authenticated deployment that is also the image service of
    ``REMOTE_REGION`` in the catalog (web addresses on any port allowed)."""
    with deployment.running(
            tmp_path_factory.mktemp('glance-download'),
            api_extra={'DEFAULT': {'auth_strategy': 'keystone',
                                   'enabled_import_methods':
                                       '[glance-direct,web-download,copy-image,'
                                       'glance-download]'},
                       'import_filtering_opts': {'allowed_ports': '[]',
                                                 'allowed_hosts': '[127.0.0.1]'},
                       'keystone_authtoken': keystone.authtoken_config()}) as glance:
        keystone.admin_api('POST', '/regions', {'region': {'id': REMOTE_REGION}},
                           expect=(201, 409))
        service = keystone.admin_api('POST', '/services', {'service': {
            'type': 'image', 'name': 'glance-remote'}})['service']['id']
        try:
            keystone.admin_api('POST', '/endpoints', {'endpoint': {
                'service_id': service, 'interface': 'public', 'url': glance.url,
                'region_id': REMOTE_REGION}})
            yield glance
        finally:
            keystone.admin_api('DELETE', '/services/%s' % service)


def wait_active(session, url, image_id, timeout=60):
    """The image once active, or with its failed task."""
    deadline = time.monotonic() + timeout
    while True:
        image = session.get('%s/v2/images/%s' % (url, image_id)).json()
        if image['status'] == 'active':
            return image
        tasks = session.get('%s/v2/images/%s/tasks' % (url, image_id)).json()['tasks']
        if tasks and tasks[0]['status'] == 'failure':
            return dict(image, task=tasks[0])
        assert time.monotonic() < deadline, (image, tasks)
        time.sleep(0.2)


def test_glance_download_imports_the_remote_image(federated, keystone):
    token = keystone.token_for('alpha-member', fresh=True)   # with the new catalog
    session = persona_session(keystone, None)
    session.headers['X-Auth-Token'] = token
    url = federated.url
    remote = session.post(url + '/v2/images', json={
        'name': 'remote', 'disk_format': 'raw', 'container_format': 'bare',
        'os_distro': 'cirros', 'hw_disk_bus': 'scsi', 'not_copied': 'x'}).json()
    assert session.put('%s/v2/images/%s/file' % (url, remote['id']), data=DATA,
                       headers={'Content-Type': 'application/octet-stream'}
                       ).status_code == 204
    local = session.post(url + '/v2/images', json={'name': 'local'}).json()
    response = session.post('%s/v2/images/%s/import' % (url, local['id']), json={
        'method': {'name': 'glance-download', 'glance_image_id': remote['id'],
                   'glance_region': REMOTE_REGION}})
    assert response.status_code == 202, response.text
    done = wait_active(session, url, local['id'])
    assert done['status'] == 'active', done
    assert (done['disk_format'], done['container_format']) == ('raw', 'bare')
    assert (done['os_distro'], done['hw_disk_bus']) == ('cirros', 'scsi')
    assert 'not_copied' not in done
    assert session.get('%s/v2/images/%s/file' % (url, local['id'])).content == DATA


def test_glance_download_from_a_region_not_in_the_catalog_is_refused(federated,
                                                                      keystone):
    session = persona_session(keystone, 'alpha-member')
    local = session.post(federated.url + '/v2/images', json={'name': 'l'}).json()
    response = session.post('%s/v2/images/%s/import' % (federated.url, local['id']),
                            json={'method': {'name': 'glance-download',
                                             'glance_image_id': local['id'],
                                             'glance_region': 'Nowhere'}})
    assert response.status_code == 400
    assert 'region Nowhere' in response.json()['message']
