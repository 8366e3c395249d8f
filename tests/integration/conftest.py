"""Fixtures for the integration tests: real services started by the suite."""

import pytest

from tests.fixtures import deployment


@pytest.fixture(scope='session')
def secured(keystone, tmp_path_factory):
    """A deployment with auth_strategy = keystone, registered in the catalog."""
    with deployment.running(
            tmp_path_factory.mktemp('secured'),
            api_extra={'DEFAULT': {'auth_strategy': 'keystone'},
                       'keystone_authtoken': keystone.authtoken_config()}) as glance:
        keystone.register_image_endpoint(glance.url)
        yield glance
