"""The access lists of stores that keep them (multi-tenant Swift) follow the image."""

import pytest

from stores.memory import MemoryStore
from tests.fixtures.inprocess import InProcessDeployment, caller

PATCH = 'application/openstack-images-v2.1-json-patch'
OWNER = caller('owner')
ADMIN = caller('admin-project', roles=('admin', 'member', 'reader'))


class AclStore(MemoryStore):
    """A memory store that keeps access lists as multi-tenant Swift does; ``during``
    (a function) runs inside the next ``set_acls``, before it writes: what another
    request does meanwhile."""

    acts_as_caller = True

    def __init__(self):
        super().__init__('memory')
        self.acls = {}
        self.during = None

    def set_acls(self, url, public, read_projects=(), credentials=None):
        during, self.during = self.during, None
        if during is not None:
            during()
        self.acls[url] = (public, sorted(read_projects))


@pytest.fixture
def deployment(tmp_path):
    return InProcessDeployment(str(tmp_path), store=AclStore())


def set_visibility(deployment, who, image_id, visibility):
    response = deployment.request(
        'PATCH', '/v2/images/%s' % image_id, who, content_type=PATCH,
        body=[{'op': 'replace', 'path': '/visibility', 'value': visibility}])
    assert response.status_code == 200, response.json


def test_the_lists_follow_the_last_visibility_change_whichever_writes_them_last(
        deployment):
    """An admin makes a shared image public while its owner makes it shared again:
    the owner's request commits last but writes its lists first. The lists must
    end as the image is (shared: the owner and its members), not public."""
    store = deployment.store
    image = deployment.request('POST', '/v2/images', OWNER, {
        'name': 'racing', 'disk_format': 'raw', 'container_format': 'bare',
        'visibility': 'shared'}).json
    assert deployment.request('PUT', '/v2/images/%s/file' % image['id'], OWNER,
                              body=b'data', content_type='application/octet-stream'
                              ).status_code == 204
    deployment.request('POST', '/v2/images/%s/members' % image['id'], OWNER,
                       {'member': 'friend'})
    [url] = store.acls
    assert store.acls[url] == (False, ['friend', 'owner'])

    store.during = lambda: set_visibility(deployment, OWNER, image['id'], 'shared')
    set_visibility(deployment, ADMIN, image['id'], 'public')

    shown = deployment.request('GET', '/v2/images/%s' % image['id'], OWNER).json
    assert shown['visibility'] == 'shared'
    assert store.acls[url] == (False, ['friend', 'owner'])
