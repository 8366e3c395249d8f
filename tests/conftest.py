"""Session fixtures shared by every test package: the real services and tools the
suite starts or installs; and the suite's skip policy (``tests/fixtures/skips.py``).

They live here, once, so that each test process (``tox`` runs the files on one per
core, ``pytest-xdist``) starts at most one Keystone and one Swift, and the run
installs each of them and qemu-img at most once (the installs take a file lock).
"""

from tests.fixtures import skips
from tests.fixtures.disk_images import qemu_img, qemu_img_binary  # noqa: F401
from tests.fixtures.keystone import keystone  # noqa: F401  (session fixture)
from tests.fixtures.swift import swift_service  # noqa: F401  (session fixture)


def pytest_configure(config):
    # Every skip is seen: under CI=true one not allowed fails the run, and a run
    # elsewhere ends by counting what was skipped for a missing service.
    config.pluginmanager.register(skips.SkipLedger(skips.ci()), 'skip-ledger')
