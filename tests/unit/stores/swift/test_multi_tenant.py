"""Multi-tenant Swift without a Swift: finding the caller's storage URL in a catalog,
parsing tenant locations, and refusing to act without a caller."""

import pytest

from stores import Credentials, errors
from stores.swift.accounts import storage_url_from_catalog
from tests.unit.stores.conftest import build_store

V3_CATALOG = (
    {'type': 'identity', 'endpoints': [
        {'interface': 'public', 'region': 'One', 'url': 'http://keystone'}]},
    {'type': 'object-store', 'endpoints': [
        {'interface': 'public', 'region': 'One', 'url': 'https://one/v1/AUTH_p'},
        {'interface': 'internal', 'region': 'One', 'url': 'http://one-int/v1/AUTH_p'},
        {'interface': 'public', 'region_id': 'Two', 'url': 'https://two/v1/AUTH_p'}]},
)
# What keystonemiddleware puts in X-Service-Catalog: v2-style endpoints per region.
V2_CATALOG = (
    {'type': 'object-store', 'name': 'swift', 'endpoints': [
        {'region': 'One', 'publicURL': 'https://one/v1/AUTH_p',
         'internalURL': 'http://one-int/v1/AUTH_p'},
        {'region': 'Two', 'publicURL': 'https://two/v1/AUTH_p'}]},
)


@pytest.mark.parametrize('catalog', [V3_CATALOG, V2_CATALOG], ids=['v3', 'v2'])
@pytest.mark.parametrize('endpoint_type, region, expected', [
    ('publicURL', None, 'https://one/v1/AUTH_p'),
    ('internalURL', None, 'http://one-int/v1/AUTH_p'),
    ('publicURL', 'Two', 'https://two/v1/AUTH_p'),
])
def test_the_storage_url_comes_from_the_catalog(catalog, endpoint_type, region,
                                                expected):
    assert storage_url_from_catalog(catalog, 'object-store', endpoint_type,
                                    region) == expected


@pytest.mark.parametrize('catalog, endpoint_type, region', [
    ((), 'publicURL', None),
    (V3_CATALOG, 'adminURL', None),
    (V2_CATALOG, 'internalURL', 'Two'),
])
def test_a_catalog_without_the_endpoint_is_unavailable(catalog, endpoint_type,
                                                       region):
    with pytest.raises(errors.StoreUnavailable, match='object-store'):
        storage_url_from_catalog(catalog, 'object-store', endpoint_type, region)


@pytest.fixture
def store():
    # Multi-tenant configuration reads nothing from Swift: there is no caller yet.
    return build_store('swift', {'swift_store_multi_tenant': True})


def test_a_multi_tenant_store_is_not_probed_and_acts_as_the_caller(store):
    assert store.acts_as_caller
    store.probe()   # nothing to do without a caller; must not try to reach Swift


def test_tenant_locations_belong_to_the_store(store):
    assert store.owns('swift+https://swift.example.com/v1/AUTH_p/glance_x/x')
    assert store.owns('swift+http://127.0.0.1:8080/v1/AUTH_p/glance_x/x')
    assert not store.owns('swift+https://swift.example.com/only-an-object')
    assert not store.owns('swift+config://ref1/glance/x')   # no such reference
    assert not store.owns('file:///var/lib/glance/images/x')


def test_without_a_token_nothing_is_written_or_read(store):
    catalog_only = Credentials(auth_token=None, project_id='p',
                               service_catalog=V3_CATALOG)
    with pytest.raises(errors.StoreUnavailable, match='token'):
        store.open_writer('0b9a2a4e-1d1c-4a6c-a1a0-5f3c1c0f3b1a',
                          credentials=catalog_only)
    with pytest.raises(errors.StoreUnavailable, match='token'):
        store.open_reader('swift+https://one/v1/AUTH_p/glance_x/x')

