"""An uploaded image is on disk before it is active (README: "Durable uploads").

The file store writes the upload to a temporary file, fsyncs it, links it into place
and fsyncs the directory, and only then does the API make the image active. A power
cut can lose none of it, and none of it shows in a test that reads the bytes back:
so the test watches the API workers' system calls (strace) during a real upload.
"""

import os
import re

from tests.fixtures import disk_images
from tests.fixtures import syscalls
from tests.functional.test_image_data import assert_stored
from tests.integration.swift_helpers import api_workers

WATCHED = ['open', 'openat', 'write', 'pwrite64', 'writev', 'pwritev', 'pwritev2',
           'fsync', 'fdatasync', 'link', 'linkat', 'rename', 'renameat', 'renameat2',
           'sendto']
SYNCS = ('fsync', 'fdatasync')


def on(call, path):
    """Whether ``call``'s first argument is a descriptor of the file at ``path``."""
    return re.match(r'\d+<%s>' % re.escape(path), call.args) is not None


def test_upload_is_fsynced_linked_and_its_directory_fsynced_before_it_is_active(
        glance, tenant):
    image = tenant.create_image()
    data = disk_images.raw(3 * 1024 * 1024 + 5)
    with syscalls.traced(api_workers(glance), WATCHED) as trace:
        assert tenant.upload(image['id'], data).status_code == 204
    assert_stored(tenant, image['id'], data)
    final = os.path.join(glance.datadir, image['id'])

    created = [c for c in trace.named('open', 'openat') if c.ok
               and re.search(r'"%s/\.%s\.\w+\.tmp"' % (re.escape(glance.datadir),
                                                       image['id']), c.args)]
    assert len(created) == 1, trace.named('open', 'openat')
    temporary = re.search(r'"([^"]+)"', created[0].args).group(1)
    writes = [c for c in trace.named('write', 'pwrite64', 'writev', 'pwritev',
                                     'pwritev2') if on(c, temporary)]
    assert sum(int(c.result) for c in writes) >= len(data)
    assert all(c.ok for c in writes)

    # Every byte written, then synced to the disk ...
    file_syncs = [c for c in trace.named(*SYNCS) if on(c, temporary) and c.ok
                  and c.began > max(w.ended for w in writes)]
    assert file_syncs, 'no fsync of %s after its last write' % temporary
    # ... and only then linked into place (or renamed), by the same thread ...
    placed = [c for c in trace.named('link', 'linkat', 'rename', 'renameat',
                                     'renameat2')
              if '"%s"' % temporary in c.args and '"%s"' % final in c.args]
    assert len(placed) == 1 and placed[0].ok, placed
    link = placed[0]
    assert link.tid == file_syncs[0].tid and file_syncs[0].ended < link.began
    # ... then the directory synced, so that the new name survives too ...
    dir_syncs = [c for c in trace.named(*SYNCS) if on(c, glance.datadir) and c.ok
                 and c.began > link.ended]
    assert dir_syncs, 'no fsync of %s after the link' % glance.datadir
    # ... before the registry is asked to make the image active.
    activations = [c for c in trace.named('sendto') if 'PUT /v1/images/%s/status'
                   % image['id'] in c.args]
    assert activations, trace.named('sendto')
    assert dir_syncs[0].ended < activations[-1].began
