"""Fixtures for the integration tests: real services started by the suite."""

import pytest
import requests

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


def persona_session(keystone, persona):
    """A requests session asking for JSON as ``persona`` (a Keystone persona's
    name; None: anonymous, without a token)."""
    session = requests.Session()
    session.headers['Accept'] = 'application/json'
    if persona:
        session.headers['X-Auth-Token'] = keystone.token_for(persona)
    return session
