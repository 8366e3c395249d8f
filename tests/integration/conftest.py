"""Fixtures for the integration tests: real services started by the suite."""

from tests.fixtures.keystone import keystone  # noqa: F401  (session fixture)
