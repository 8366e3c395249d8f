import pytest

from tests.fixtures import deployment as deployment_fixture

# Small enough to test the cap by uploading just over it.
IMAGE_SIZE_CAP = 8 * 1024 * 1024


@pytest.fixture(scope='session')
def glance(tmp_path_factory):
    """One registry + API deployment shared by the functional tests."""
    with deployment_fixture.running(
            tmp_path_factory.mktemp('glance'),
            api_extra={'DEFAULT': {'image_size_cap': IMAGE_SIZE_CAP}}) as deployment:
        yield deployment


@pytest.fixture
def admin(glance):
    """The anonymous caller of a no-auth deployment: an admin without a project."""
    with glance.client() as client:
        yield client


@pytest.fixture
def tenant(glance):
    """A member of a fresh project."""
    with glance.client(deployment_fixture.new_project()) as client:
        yield client


@pytest.fixture
def other_tenant(glance):
    """A member of another fresh project."""
    with glance.client(deployment_fixture.new_project()) as client:
        yield client
