"""The Swift driver with Keystone v3 credentials, against a real Keystone and a Swift
proxy that takes Keystone tokens (same servers as the tempauth one)."""

import uuid

import pytest
import requests
import swiftclient

from stores import Credentials, errors
from tests.fixtures.keystone import REGION
from tests.fixtures.swift import keystone_proxy
from tests.unit.stores.conftest import build_store, payload, write_image

pytestmark = [pytest.mark.swift, pytest.mark.keystone]

SEGMENT = 256 * 1024   # swift_store_large_object_chunk_size below


@pytest.fixture(scope='module')
def object_store(swift_service, keystone):  # noqa: F811
    """Swift in Keystone's catalog: internal endpoints work, public ones refuse."""
    url = keystone_proxy(swift_service, keystone)
    # Nothing listens on port 9 of 127.0.0.1: a store using the public endpoint fails.
    with keystone.service_endpoints('object-store', 'swift', {
            'internal': url + '/v1/AUTH_$(project_id)s',
            'public': 'http://127.0.0.1:9/v1/AUTH_$(project_id)s'}):
        yield url


def reference_file(tmp_path, keystone, **credentials):  # noqa: F811
    lines = ['[ref1]', 'auth_address = %s' % keystone.url]   # unversioned: /v3 added
    lines += ['%s = %s' % item for item in credentials.items()]
    path = tmp_path / 'glance-swift.conf'
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def keystone_store(config_file, **options):
    options = {'swift_store_config_file': config_file,
               'swift_store_container': 'glance-%s' % uuid.uuid4().hex[:8],
               'swift_store_create_container_on_put': True,
               'swift_store_endpoint_type': 'internalURL',
               'swift_store_region': REGION,
               'swift_store_large_object_size': 1.0,
               'swift_store_large_object_chunk_size': 0.25, **options}
    return build_store('swift', options)


def round_trip(store):
    """Write a one-PUT and a segmented image, read ranges, delete them; then what the
    container holds (it should be nothing), and drop the container."""
    small, large = payload(1000, seed=1), payload(700 * 1024, seed=2)
    stored_small = write_image(store, small, size=len(small))
    stored_large = write_image(store, large)
    assert b''.join(store.open_reader(stored_small.url)) == small
    across = store.open_reader(stored_large.url, 262140, 10)
    assert b''.join(across) == large[262140:262150]
    store.delete(stored_small.url)
    store.delete(stored_large.url)
    container = store.options.swift_store_container
    with store._reference_account(store.reference).connection() as conn:
        left = conn.get_container(container)[1]
        conn.delete_container(container)
    return left


def test_password_credentials_store_in_the_project_account(
        object_store, keystone, tmp_path):  # noqa: F811
    glance = keystone.personas['glance']
    config = reference_file(tmp_path, keystone, auth_version=3,
                            user='%s:%s' % (glance.project, glance.name),
                            key=glance.password, user_domain_name=glance.user_domain,
                            project_domain_name=glance.project_domain)
    store = keystone_store(config)
    assert round_trip(store) == []
    with store._reference_account(store.reference).connection() as conn:
        assert conn.url == '%s/v1/AUTH_%s' % (object_store, glance.project_id)


def test_application_credential_works_like_the_password(
        object_store, keystone, tmp_path):  # noqa: F811
    glance = keystone.personas['glance']
    response = requests.post(
        '%s/users/%s/application_credentials' % (keystone.auth_url, glance.user_id),
        headers={'X-Auth-Token': keystone.token_for('glance')}, timeout=30,
        json={'application_credential': {'name': 'glance-swift-%s' % uuid.uuid4().hex}})
    assert response.status_code == 201, response.text
    credential = response.json()['application_credential']
    config = reference_file(tmp_path, keystone,
                            application_credential_id=credential['id'],
                            application_credential_secret=credential['secret'])
    assert round_trip(keystone_store(config)) == []


def test_endpoint_type_selects_the_catalog_endpoint(object_store, keystone,  # noqa: F811
                                                    tmp_path):
    glance = keystone.personas['glance']
    config = reference_file(tmp_path, keystone, user='%s:%s' % (glance.project,
                                                                glance.name),
                            key=glance.password)
    with pytest.raises(errors.StoreUnavailable):
        keystone_store(config, swift_store_endpoint_type='publicURL')


def test_wrong_password_is_unavailable(object_store, keystone, tmp_path):  # noqa: F811
    glance = keystone.personas['glance']
    config = reference_file(tmp_path, keystone, user='%s:%s' % (glance.project,
                                                                glance.name),
                            key='wrong')
    with pytest.raises(errors.StoreUnavailable):
        keystone_store(config)


def test_keystone_token_is_refused_by_tempauth_proxy(
        swift_service, keystone):  # noqa: F811
    # The two proxies really check different credentials (the test above could not
    # pass by accident through the tempauth one).
    conn = swiftclient.Connection(preauthurl=swift_service.storage_url,
                                  preauthtoken=keystone.token_for('glance'), retries=0)
    with pytest.raises(swiftclient.ClientException) as caught:
        conn.head_account()
    assert caught.value.http_status == 401


def test_a_segmented_upload_renews_a_token_near_expiry_before_the_next_segment(
        object_store, keystone, tmp_path):  # noqa: F811
    """swift_store_expire_soon_interval, as upstream's single-tenant driver: each
    segment's PUT carries a token that outlives it. With the interval longer than a
    token lives, every token is near its expiry: revoking the one the upload
    started with must not stop it."""
    glance = keystone.personas['glance']
    config = reference_file(tmp_path, keystone, user='%s:%s' % (glance.project,
                                                                glance.name),
                            key=glance.password)
    store = keystone_store(config, swift_store_expire_soon_interval=10 ** 6)
    data = payload(700 * 1024, seed=3)
    writer = store.open_writer(str(uuid.uuid4()))
    with writer:
        writer.write(data[:SEGMENT])   # the first segment is written, none is started
        keystone.revoke(writer._conn.token)
        writer.write(data[SEGMENT:])
        stored = writer.commit()
    assert b''.join(store.open_reader(stored.url)) == data
    store.delete(stored.url)


@pytest.fixture
def trusting_store(object_store, keystone):  # noqa: F811
    """A multi-tenant store whose trustee is the ``glance`` persona (upstream's
    main-config spelling), renewing every token before each request (the interval
    is longer than a token lives)."""
    glance = keystone.personas['glance']
    return build_store('swift', {
        'swift_store_multi_tenant': True, 'swift_store_endpoint_type': 'internalURL',
        'swift_store_region': REGION, 'swift_store_large_object_size': 1.0,
        'swift_store_large_object_chunk_size': 0.25,
        'swift_store_expire_soon_interval': 10 ** 6,
        'swift_store_auth_address': keystone.auth_url,
        'swift_store_user': '%s:%s' % (glance.project, glance.name),
        'swift_store_key': glance.password})


def caller(keystone, persona):  # noqa: F811
    """A fresh token of ``persona`` as the API hands it to a store."""
    token, body = keystone.issue_token(persona)
    return token, Credentials(
        auth_token=token, project_id=body['token']['project']['id'],
        user_id=body['token']['user']['id'],
        roles=tuple(role['name'] for role in body['token']['roles']),
        service_catalog=tuple(body['token']['catalog']))


def trusts_from(keystone, persona):  # noqa: F811
    return keystone.admin_api('GET', '/OS-TRUST/trusts?trustor_user_id=%s'
                              % keystone.personas[persona].user_id)['trusts']


def test_a_trust_scoped_token_near_expiry_is_renewed_before_the_next_segment(
        trusting_store, keystone):  # noqa: F811
    """Neither the caller's token nor the trust-scoped token the upload started
    with is needed to finish it."""
    token, credentials = caller(keystone, 'beta-member')
    data = payload(700 * 1024, seed=4)
    writer = trusting_store.open_writer(str(uuid.uuid4()), credentials=credentials)
    with writer:
        writer.write(data[:SEGMENT])
        assert len(trusts_from(keystone, 'beta-member')) == 1
        keystone.revoke(token)
        keystone.revoke(writer._conn.token)
        writer.write(data[SEGMENT:])
        stored = writer.commit()
    assert trusts_from(keystone, 'beta-member') == []
    _, reader_credentials = caller(keystone, 'beta-member')
    assert b''.join(trusting_store.open_reader(
        stored.url, credentials=reader_credentials)) == data
    trusting_store.delete(stored.url, credentials=reader_credentials)


def test_a_download_that_may_resume_holds_a_trust_until_it_is_closed(
        trusting_store, keystone):  # noqa: F811
    _, credentials = caller(keystone, 'beta-member')
    data = payload(1000, seed=5)
    writer = trusting_store.open_writer(str(uuid.uuid4()), size=len(data),
                                        credentials=credentials)
    with writer:   # one PUT: no trust, as upstream
        writer.write(data)
        assert trusts_from(keystone, 'beta-member') == []
        stored = writer.commit()
    trusting_store.conf.set_override('swift_store_retry_get_count', 1,
                                     trusting_store.group)
    reader = trusting_store.open_reader(stored.url, credentials=credentials)
    try:
        assert len(trusts_from(keystone, 'beta-member')) == 1
        assert b''.join(reader) == data
    finally:
        reader.close()
    assert trusts_from(keystone, 'beta-member') == []
    trusting_store.delete(stored.url, credentials=credentials)


def test_a_trustee_keystone_refuses_fails_at_start(object_store, keystone):  # noqa: F811
    glance = keystone.personas['glance']
    with pytest.raises(errors.StoreUnavailable, match='swift_store_use_trusts'):
        build_store('swift', {
            'swift_store_multi_tenant': True,
            'swift_store_auth_address': keystone.auth_url,
            'swift_store_user': '%s:%s' % (glance.project, glance.name),
            'swift_store_key': 'wrong'})
