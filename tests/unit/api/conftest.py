"""The API application in this process (``tests.fixtures.inprocess``)."""

import pytest

from tests.fixtures.inprocess import InProcessDeployment


@pytest.fixture
def deployment(tmp_path):
    """The API with default options over a registry on SQLite and a memory store."""
    return InProcessDeployment(str(tmp_path))


@pytest.fixture
def make_deployment(tmp_path_factory):
    """``make_deployment(api={...}, registry={...})``: one with options changed."""
    def make(**options):
        return InProcessDeployment(str(tmp_path_factory.mktemp('deployment')), **options)
    return make
