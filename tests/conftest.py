"""Session fixtures shared by every test package: the real services and tools the
suite starts or installs.

They live here, once, so that a whole run starts at most one Keystone and one Swift,
and installs qemu-img at most once.
"""

from tests.fixtures.disk_images import qemu_img, qemu_img_binary  # noqa: F401
from tests.fixtures.keystone import keystone  # noqa: F401  (session fixture)
from tests.fixtures.swift import swift_service  # noqa: F401  (session fixture)
