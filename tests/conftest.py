"""Session fixtures shared by every test package: the real services the suite starts.

They live here, once, so that a whole run starts at most one Keystone and one Swift.
"""

from tests.fixtures.keystone import keystone  # noqa: F401  (session fixture)
from tests.fixtures.swift import swift_service  # noqa: F401  (session fixture)
