"""Multi-tenant Swift through the public API: every image in its owner's own account.

A real Keystone, a Swift proxy that takes Keystone tokens (over the suite's Swift) and
registered in the catalog as ``object-store``, and an API with ``auth_strategy =
keystone`` and ``swift_store_multi_tenant = True``. What is in Swift, and who Swift lets
read it, is checked with python-swiftclient and the personas' own tokens, never
through the store under test.
"""

import hashlib
import itertools
import uuid

import pytest
import requests
import swiftclient

from glance_registry.client import RegistryClient
from tests.fixtures import deployment
from tests.fixtures import scrubber
from tests.fixtures.raw_http import RawUpload
from tests.fixtures.swift import keystone_proxy
from tests.unit.registry.conftest import ADMIN
from tests.unit.stores.conftest import payload

pytestmark = [pytest.mark.swift, pytest.mark.keystone]

CONTAINER_PREFIX = 'glance'
SEGMENT = 256 * 1024


class Tenancy:
    """The deployment and a fresh token (carrying the catalog) per persona."""

    def __init__(self, glance, keystone, swift_url, admin_project):
        self.glance = glance
        self.keystone = keystone
        self.swift_url = swift_url
        self.admin_project = admin_project
        self._tokens = {}

    def token(self, persona):
        if persona not in self._tokens:
            self._tokens[persona] = self.keystone.issue_token(persona)[0]
        return self._tokens[persona]

    def client(self, persona):
        session = requests.Session()
        session.headers.update({'X-Auth-Token': self.token(persona),
                                'Accept': 'application/json'})
        return session

    def url(self, path):
        return self.glance.url + path

    def storage_url(self, project):
        return '%s/v1/AUTH_%s' % (self.swift_url, self.keystone.projects[project].id)

    def swift_as(self, persona, project):
        """A swiftclient connection to ``project``'s account with ``persona``'s token."""
        return swiftclient.Connection(preauthurl=self.storage_url(project),
                                      preauthtoken=self.token(persona), retries=0)


def api_config(keystone, **store_options):
    """The API's options: multi-tenant Swift with 256 KiB segments from 1 MiB, and
    (as upstream spells it in the main config) the service user that Keystone
    trusts delegate to (``swift_store_use_trusts``, true by default)."""
    glance = keystone.personas['glance']
    options = {'default_store': 'swift', 'swift_store_multi_tenant': True,
               'swift_store_container': CONTAINER_PREFIX,
               'swift_store_large_object_size': 1.0,
               'swift_store_large_object_chunk_size': SEGMENT / (1024 * 1024),
               'swift_store_admin_tenants': keystone.projects['admin'].id,
               'swift_store_auth_address': keystone.auth_url,
               'swift_store_user': '%s:%s' % (glance.project, glance.name),
               'swift_store_key': glance.password, **store_options}
    return {'DEFAULT': {'auth_strategy': 'keystone', 'show_image_direct_url': True},
            'keystone_authtoken': keystone.authtoken_config(),
            'glance_store': options}


@pytest.fixture(scope='module')
def tenancy(swift_service, keystone, tmp_path_factory):
    swift_url = keystone_proxy(swift_service, keystone)
    storage = swift_url + '/v1/AUTH_$(project_id)s'
    admin_project = keystone.projects['admin'].id
    workdir = tmp_path_factory.mktemp('swift-multi-tenant')
    with keystone.service_endpoints('object-store', 'swift', {
            'public': storage, 'internal': storage}), \
            deployment.running(workdir, api_extra=api_config(keystone)) as glance:
        yield Tenancy(glance, keystone, swift_url, admin_project)


@pytest.fixture(scope='module')
def without_trusts(tenancy, tmp_path_factory):
    """Another API on the same Swift and Keystone, with ``swift_store_use_trusts =
    false``."""
    workdir = tmp_path_factory.mktemp('swift-multi-tenant-without-trusts')
    with deployment.running(workdir, api_extra=api_config(
            tenancy.keystone, swift_store_use_trusts=False)) as glance:
        yield Tenancy(glance, tenancy.keystone, tenancy.swift_url,
                      tenancy.admin_project)


def create(client, tenancy, **attributes):
    body = {'disk_format': 'raw', 'container_format': 'bare', **attributes}
    response = client.post(tenancy.url('/v2/images'), json=body)
    assert response.status_code == 201, response.text
    return response.json()


def upload(client, tenancy, image_id, data, **headers):
    headers.setdefault('Content-Type', 'application/octet-stream')
    return client.put(tenancy.url('/v2/images/%s/file' % image_id), data=data,
                      headers=headers, timeout=120)


def download(client, tenancy, image_id, **headers):
    return client.get(tenancy.url('/v2/images/%s/file' % image_id), headers=headers,
                      timeout=120)


def container_of(image_id):
    return '%s_%s' % (CONTAINER_PREFIX, image_id)


def read_acl(tenancy, image_id):
    headers = tenancy.swift_as('alpha-member', 'alpha').head_container(
        container_of(image_id))
    return headers.get('x-container-read', '')


def owner_only(tenancy):
    """The read ACL of an image nobody else shares: its owner and the admin
    tenants."""
    return '%s:*,%s:*' % (tenancy.keystone.projects['alpha'].id, tenancy.admin_project)


@pytest.fixture
def owner(tenancy):
    return tenancy.client('alpha-member')


@pytest.fixture
def image_with_data(tenancy, owner):
    """A private image of project alpha with 1,000 bytes of data; ``(image, data)``."""
    data = payload(1000, seed=11)
    image = create(owner, tenancy, name='mt-%s' % uuid.uuid4().hex[:6])
    response = upload(owner, tenancy, image['id'], data,
                      **{'x-openstack-image-size': str(len(data))})
    assert response.status_code == 204, response.text
    return image, data


def test_an_upload_lands_in_the_owners_own_account(tenancy, owner, image_with_data):
    image, data = image_with_data
    alpha = tenancy.swift_as('alpha-member', 'alpha')
    headers, stored = alpha.get_object(container_of(image['id']), image['id'])
    assert stored == data
    shown = owner.get(tenancy.url('/v2/images/%s' % image['id'])).json()
    assert (shown['status'], shown['size'], shown['checksum']) == (
        'active', len(data), hashlib.md5(data).hexdigest())
    response = download(owner, tenancy, image['id'])
    assert response.status_code == 200 and response.content == data


def test_the_location_is_the_owners_storage_url(tenancy, owner, image_with_data):
    image, _ = image_with_data
    shown = owner.get(tenancy.url('/v2/images/%s' % image['id'])).json()
    assert shown['direct_url'] == 'swift+http://%s/%s/%s' % (
        tenancy.storage_url('alpha').split('://', 1)[1], container_of(image['id']),
        image['id'])


def test_segmented_upload_and_ranged_read_in_the_owners_account(tenancy, owner):
    data = payload(700 * 1024, seed=12)
    image = create(owner, tenancy)
    # Unknown size: written as 256 KiB segments under an SLO manifest.
    response = upload(owner, tenancy, image['id'], iter([data[:300000], data[300000:]]))
    assert response.status_code == 204, response.text
    alpha = tenancy.swift_as('alpha-member', 'alpha')
    names = [o['name'] for o in alpha.get_container(container_of(image['id']))[1]]
    assert image['id'] in names and len(names) == 1 + 3
    ranged = download(owner, tenancy, image['id'], Range='bytes=262140-262149')
    assert ranged.status_code == 206 and ranged.content == data[262140:262150]
    assert download(owner, tenancy, image['id']).content == data


def test_other_projects_cannot_read_a_private_images_data(tenancy, image_with_data):
    image, _ = image_with_data
    assert read_acl(tenancy, image['id']) == owner_only(tenancy)
    stranger = tenancy.swift_as('beta-member', 'alpha')
    with pytest.raises(swiftclient.ClientException) as refused:
        stranger.get_object(container_of(image['id']), image['id'])
    assert refused.value.http_status == 403


def test_members_read_with_their_own_token_until_removed(tenancy, owner):
    data = payload(2000, seed=13)
    image = create(owner, tenancy, visibility='shared')
    assert upload(owner, tenancy, image['id'], data).status_code == 204
    beta = tenancy.keystone.projects['beta'].id
    added = owner.post(tenancy.url('/v2/images/%s/members' % image['id']),
                       json={'member': beta})
    assert added.status_code == 200, added.text
    assert beta in read_acl(tenancy, image['id'])

    member = tenancy.client('beta-member')
    response = download(member, tenancy, image['id'])
    assert response.status_code == 200 and response.content == data
    direct = tenancy.swift_as('beta-member', 'alpha')
    assert direct.get_object(container_of(image['id']), image['id'])[1] == data

    removed = owner.delete(tenancy.url('/v2/images/%s/members/%s' % (image['id'],
                                                                     beta)))
    assert removed.status_code == 204
    assert beta not in read_acl(tenancy, image['id'])
    with pytest.raises(swiftclient.ClientException) as refused:
        direct.get_object(container_of(image['id']), image['id'])
    assert refused.value.http_status == 403



def test_members_of_an_image_made_private_read_it_only_while_it_is_shared(
        tenancy, owner):
    """The API hides a private image from its members; its data's access list
    does too (upstream's keeps them in it), until the image is shared again."""
    data = payload(1200, seed=17)
    image = create(owner, tenancy, visibility='shared')
    assert upload(owner, tenancy, image['id'], data).status_code == 204
    beta = tenancy.keystone.projects['beta'].id
    assert owner.post(tenancy.url('/v2/images/%s/members' % image['id']),
                      json={'member': beta}).status_code == 200
    direct = tenancy.swift_as('beta-member', 'alpha')
    assert direct.get_object(container_of(image['id']), image['id'])[1] == data

    def make(visibility):
        changed = owner.patch(
            tenancy.url('/v2/images/%s' % image['id']),
            json=[{'op': 'replace', 'path': '/visibility', 'value': visibility}],
            headers={'Content-Type': 'application/openstack-images-v2.1-json-patch'})
        assert changed.status_code == 200, changed.text

    make('private')
    assert read_acl(tenancy, image['id']) == owner_only(tenancy)
    with pytest.raises(swiftclient.ClientException) as refused:
        direct.get_object(container_of(image['id']), image['id'])
    assert refused.value.http_status == 403
    assert download(tenancy.client('beta-member'), tenancy,
                    image['id']).status_code == 404

    make('shared')
    assert beta in read_acl(tenancy, image['id'])
    assert direct.get_object(container_of(image['id']), image['id'])[1] == data

def test_members_added_before_the_upload_can_read_after_it(tenancy, owner):
    data = payload(1500, seed=14)
    image = create(owner, tenancy, visibility='shared')
    beta = tenancy.keystone.projects['beta'].id
    assert owner.post(tenancy.url('/v2/images/%s/members' % image['id']),
                      json={'member': beta}).status_code == 200
    assert upload(owner, tenancy, image['id'], data).status_code == 204
    response = download(tenancy.client('beta-member'), tenancy, image['id'])
    assert response.status_code == 200 and response.content == data


def test_community_images_are_readable_by_every_project(tenancy, owner,
                                                        image_with_data):
    image, data = image_with_data
    changed = owner.patch(tenancy.url('/v2/images/%s' % image['id']),
                          json=[{'op': 'replace', 'path': '/visibility',
                                 'value': 'community'}],
                          headers={'Content-Type':
                                   'application/openstack-images-v2.1-json-patch'})
    assert changed.status_code == 200, changed.text
    assert read_acl(tenancy, image['id']) == '*:*'
    response = download(tenancy.client('gamma-member'), tenancy, image['id'])
    assert response.status_code == 200 and response.content == data

    owner.patch(tenancy.url('/v2/images/%s' % image['id']),
                json=[{'op': 'replace', 'path': '/visibility', 'value': 'private'}],
                headers={'Content-Type': 'application/openstack-images-v2.1-json-patch'})
    assert read_acl(tenancy, image['id']) == owner_only(tenancy)


def test_admin_tenants_get_read_and_write_access(tenancy, image_with_data):
    image, data = image_with_data
    headers = tenancy.swift_as('alpha-member', 'alpha').head_container(
        container_of(image['id']))
    assert headers['x-container-write'] == '%s:*' % tenancy.admin_project
    assert '%s:*' % tenancy.admin_project in headers['x-container-read']
    response = download(tenancy.client('admin'), tenancy, image['id'])
    assert response.status_code == 200 and response.content == data


def test_deleting_the_image_removes_its_object_and_container(tenancy, owner):
    data = payload(600 * 1024, seed=15)
    image = create(owner, tenancy)
    assert upload(owner, tenancy, image['id'], data).status_code == 204
    assert owner.delete(tenancy.url('/v2/images/%s' % image['id'])).status_code == 204
    alpha = tenancy.swift_as('alpha-member', 'alpha')
    with pytest.raises(swiftclient.ClientException) as gone:
        alpha.head_container(container_of(image['id']))
    assert gone.value.http_status == 404


def test_a_failed_upload_leaves_no_container_behind(tenancy, owner):
    image = create(owner, tenancy)
    response = upload(owner, tenancy, image['id'], payload(500 * 1024, seed=16),
                      **{'x-openstack-image-size': '1000'})
    assert response.status_code == 400, response.text
    shown = owner.get(tenancy.url('/v2/images/%s' % image['id'])).json()
    assert shown['status'] == 'queued'
    alpha = tenancy.swift_as('alpha-member', 'alpha')
    with pytest.raises(swiftclient.ClientException) as gone:
        alpha.head_container(container_of(image['id']))
    assert gone.value.http_status == 404


PIECE = 64 * 1024


def pieces():
    """An upload's body, 64 KiB at a time; ``b''.join`` of the first n is what n
    pieces sent."""
    return (payload(PIECE, seed=n) for n in itertools.count())


def send_until_a_segment_is_stored(tenancy, raw, container, body):
    """Send pieces of ``body`` until Swift holds a segment; what was sent."""
    alpha = tenancy.swift_as('alpha-member', 'alpha')
    sent = []
    while not swift_objects(alpha, container):
        sent.append(next(body))
        assert raw.send(sent[-1]), 'answered before Swift held a segment'
    return sent


def trusts_from(keystone, persona):
    """The Keystone trusts whose trustor is ``persona`` (as Keystone's admin sees
    them), each with its roles."""
    user_id = keystone.personas[persona].user_id
    listed = keystone.admin_api('GET', '/OS-TRUST/trusts?trustor_user_id=%s'
                                % user_id)['trusts']
    return [keystone.admin_api('GET', '/OS-TRUST/trusts/%s' % trust['id'])['trust']
            for trust in listed]


def test_an_upload_outlives_the_callers_token_with_a_keystone_trust(tenancy, owner):
    """swift_store_use_trusts (the default): a segmented upload writes with the
    tokens of a trust from the caller to the service user, made for it and deleted
    after it, so the caller's token may end mid-upload (revoked here: the suite's
    tokens last hours)."""
    keystone = tenancy.keystone
    token, _ = keystone.issue_token('alpha-member')
    image = create(owner, tenancy)
    raw = RawUpload(tenancy.glance.url, image['id'], headers={'X-Auth-Token': token})
    try:
        body = pieces()
        sent = send_until_a_segment_is_stored(tenancy, raw, container_of(image['id']),
                                              body)
        [trust] = trusts_from(keystone, 'alpha-member')
        assert trust['trustee_user_id'] == keystone.personas['glance'].user_id
        assert trust['project_id'] == keystone.projects['alpha'].id
        assert trust['impersonation'] is True
        assert 'member' in {role['name'] for role in trust['roles']}
        keystone.revoke(token)
        for data in itertools.islice(body, 4 * SEGMENT // PIECE):
            assert raw.send(data), 'answered before the end of the body'
            sent.append(data)
        raw.end()
        status, _, response = raw.response()
    finally:
        raw.close()
    assert status == 204, response
    data = b''.join(sent)
    shown = owner.get(tenancy.url('/v2/images/%s' % image['id'])).json()
    assert (shown['status'], shown['size'], shown['checksum']) == (
        'active', len(data), hashlib.md5(data).hexdigest())
    assert download(owner, tenancy, image['id']).content == data
    assert trusts_from(keystone, 'alpha-member') == []


def test_a_failed_upload_removes_its_segments_after_the_callers_token_ended(
        tenancy, owner):
    """The trust outlives the caller's token until the upload has removed what it
    wrote: the image's container goes, the trust after it."""
    keystone = tenancy.keystone
    token, _ = keystone.issue_token('alpha-member')
    image = create(owner, tenancy)
    container = container_of(image['id'])
    declared = 4 * SEGMENT
    raw = RawUpload(tenancy.glance.url, image['id'], headers={
        'X-Auth-Token': token, 'x-openstack-image-size': str(declared)})
    try:
        body = pieces()
        send_until_a_segment_is_stored(tenancy, raw, container, body)
        keystone.revoke(token)
        for data in body:   # more than declared: refused
            if not raw.send(data):
                break
        status, _, response = raw.response()
    finally:
        raw.close()
    assert status == 400, response
    assert 'More data than x-openstack-image-size' in str(response)
    shown = owner.get(tenancy.url('/v2/images/%s' % image['id'])).json()
    assert shown['status'] == 'queued'
    alpha = tenancy.swift_as('alpha-member', 'alpha')
    with pytest.raises(swiftclient.ClientException) as gone:
        alpha.head_container(container)
    assert gone.value.http_status == 404
    assert trusts_from(keystone, 'alpha-member') == []


def test_without_trusts_an_upload_that_outlives_its_token_fails_and_its_segments_go_with_the_image(  # noqa: E501
        without_trusts):
    """swift_store_use_trusts = false: the caller's token is what writes to its
    account. When it ends mid-upload, the next segment is refused and the upload
    fails; the segments it wrote cannot be removed with that token, and go when the
    image is deleted."""
    tenancy = without_trusts
    owner = tenancy.client('alpha-member')
    token, _ = tenancy.keystone.issue_token('alpha-member')
    image = create(owner, tenancy)
    container = container_of(image['id'])
    alpha = tenancy.swift_as('alpha-member', 'alpha')
    raw = RawUpload(tenancy.glance.url, image['id'], headers={'X-Auth-Token': token})
    try:
        body = pieces()
        send_until_a_segment_is_stored(tenancy, raw, container, body)
        tenancy.keystone.revoke(token)
        for data in itertools.islice(body, 4 * SEGMENT // PIECE):
            if not raw.send(data):
                break
        else:
            raw.end()
        status, _, body = raw.response()
    finally:
        raw.close()
    assert status == 503, body
    assert body['code'] == '503 Service Unavailable'
    shown = owner.get(tenancy.url('/v2/images/%s' % image['id'])).json()
    assert shown['status'] == 'queued'
    # Segments only, no manifest: nothing reads them as the image.
    left = swift_objects(alpha, container)
    assert left and all(name.startswith(image['id'] + '-') for name in left), left

    data = payload(300 * 1024, seed=17)
    response = upload(owner, tenancy, image['id'], data)
    assert response.status_code == 204, response.text
    assert download(owner, tenancy, image['id']).content == data
    assert owner.delete(tenancy.url('/v2/images/%s' % image['id'])).status_code == 204
    assert swift_objects(alpha, container) == []


def swift_objects(conn, container):
    """The names in ``container`` (none if it does not exist)."""
    try:
        return [entry['name'] for entry in conn.get_container(container)[1]]
    except swiftclient.ClientException as exc:
        if exc.http_status == 404:
            return []
        raise


def test_data_a_delete_left_in_an_owners_account_is_reported_and_not_retried(
        tenancy, owner, image_with_data):
    """The sweep has no token of the owner's: it names the data for an operator
    and confirms, instead of failing at every sweep for ever."""
    image, _data = image_with_data
    registry = RegistryClient(
        tenancy.glance.registry.url,
        tenancy.glance.registry.config['DEFAULT']['registry_auth_secret'], timeout=30)
    try:
        # As the API deletes, stopping there: a worker killed before it removed
        # the data.
        registry.delete_image(ADMIN, image['id'])
    finally:
        registry.close()
    swept = scrubber.run(tenancy.glance, deleted_data_grace_time=0)
    assert swept.returncode == 0, swept.stderr
    left = [line for line in swept.stderr.splitlines()
            if 'image %s: data left at ' % image['id'] in line]
    assert len(left) == 1 and container_of(image['id']) in left[0], swept.stderr
    assert 'whose token this sweep does not have' in left[0]
    assert 'image %s: removal confirmed' % image['id'] in swept.stderr
    assert image['id'] not in scrubber.swept_ids(swept.stderr)
    # Still there, for the operator to remove.
    tenancy.swift_as('alpha-member', 'alpha').head_container(container_of(image['id']))
    again = scrubber.run(tenancy.glance, deleted_data_grace_time=0)
    assert again.returncode == 0, again.stderr
    assert image['id'] not in again.stderr
