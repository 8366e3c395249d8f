"""Each API worker sweeps its writable stores from time to time."""

import os
import time

from glance_api.data import store_data
from tests.unit.stores.conftest import build_store


def test_the_sweeper_removes_temporary_files_of_dead_uploads(tmp_path):
    store = build_store('file', {'filesystem_store_datadir': str(tmp_path)})
    orphan = tmp_path / '.image.0123.tmp'
    orphan.write_bytes(b'left by a killed worker')
    hour_ago = time.time() - 3600
    os.utime(orphan, (hour_ago, hour_ago))
    store_data.start_sweeper([store], interval=0.05)
    deadline = time.monotonic() + 10
    while orphan.exists():
        assert time.monotonic() < deadline, 'never swept'
        time.sleep(0.05)
