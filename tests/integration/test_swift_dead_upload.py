"""A Swift object that a dead upload left under its image's name goes when the image
is taken over or deleted.

An upload that committed its bytes and then could not publish them (the registry
did not answer: ``_give_back`` in glance_api/data/upload.py keeps them), or whose
worker died between the two, leaves the image ``saving`` and its object, a single
object or an SLO manifest with segments, in the image's container. Here the upload
is started through the API, its worker is killed, and the object is committed with
the Swift driver as that upload's writer would have; what is in Swift is checked
with python-swiftclient. Own deployment: one API worker (so the one killed is the
one uploading) and a short lease.
"""

import hashlib
import os
import signal
import time
import uuid

import pytest

from tests.fixtures import deployment
from tests.fixtures import disk_images
from tests.fixtures.raw_http import RawUpload
from tests.integration.swift_helpers import (MiB, api_workers, objects_of,
                                             swift_store_options, wait_until)
from tests.unit.stores.conftest import build_store, payload, write_image

pytestmark = pytest.mark.swift

LEASE = 5
SEGMENT = 256 * 1024
# A single PUT (its size given, under the 0.25 MB large object size), and an SLO
# of three segments and a manifest (its size unknown, as a chunked upload's is).
LEFTOVERS = {'object': (200 * 1024, True), 'slo': (2 * SEGMENT + 1000, False)}


class DeadUploads:
    """The deployment, the container its Swift store writes to, and that store's
    driver as the test process builds it (the same options and account)."""

    def __init__(self, glance, swift, container, store):
        self.glance = glance
        self.container = container
        self.store = store
        self.conn = swift.connection()

    def objects_of(self, image_id):
        return objects_of(self.conn, self.container, image_id)

    def leave_dead_upload(self, image_id, leftover):
        """Start an upload of ``image_id``, kill its worker, and commit the object
        that upload would have committed; when the worker was killed."""
        (worker,) = api_workers(self.glance)
        raw = RawUpload(self.glance.url, image_id)
        try:
            assert raw.send(disk_images.raw(MiB))
            with self.glance.client() as admin:
                wait_until(lambda: admin.image(image_id)['status'] == 'saving', 10,
                           message='the upload to claim the image')
            os.kill(worker, signal.SIGKILL)
            killed_at = time.monotonic()
        finally:
            raw.close()
        wait_until(lambda: api_workers(self.glance) not in ([], [worker]), 30,
                   message='gunicorn to start a new worker')
        size, declared = LEFTOVERS[leftover]
        write_image(self.store, payload(size, seed=7), image_id=image_id,
                    size=size if declared else None)
        # Besides the segments the killed upload had written.
        assert image_id in self.objects_of(image_id)
        return killed_at


@pytest.fixture(scope='module')
def dead_uploads(swift_service, tmp_path_factory):
    workdir = tmp_path_factory.mktemp('swift-dead-upload')
    container = 'glance-%s' % uuid.uuid4().hex[:8]
    options = swift_store_options(swift_service, workdir, container, SEGMENT)
    store = build_store('swift', options)
    with deployment.running(workdir, api_extra={
            'DEFAULT': {'workers': 1, 'upload_lease_time': LEASE},
            'glance_store': dict(options, default_store='swift')}) as glance:
        yield DeadUploads(glance, swift_service, container, store)


@pytest.mark.parametrize('leftover', sorted(LEFTOVERS))
def test_an_upload_takes_over_an_image_whose_dead_upload_left_its_object(
        dead_uploads, leftover):
    with dead_uploads.glance.client(deployment.new_project()) as tenant:
        image = tenant.create_image()
        killed_at = dead_uploads.leave_dead_upload(image['id'], leftover)
        wait_until(lambda: time.monotonic() - killed_at > LEASE, LEASE + 1)
        assert tenant.image(image['id'])['status'] == 'saving'

        data = disk_images.raw(100 * 1024)
        response = tenant.upload(image['id'], data,
                                 **{'x-openstack-image-size': str(len(data))})
        assert response.status_code == 204, response.text
        shown = tenant.image(image['id'])
        assert (shown['status'], shown['size'], shown['checksum']) == (
            'active', len(data), hashlib.md5(data).hexdigest())
        assert tenant.get('/v2/images/%s/file' % image['id']).content == data
        # The new upload's single object; nothing of the dead one's is left.
        assert dead_uploads.objects_of(image['id']) == [image['id']]
        headers = dead_uploads.conn.head_object(dead_uploads.container, image['id'])
        assert headers['etag'] == hashlib.md5(data).hexdigest()


@pytest.mark.parametrize('leftover', sorted(LEFTOVERS))
def test_deleting_a_saving_image_removes_the_object_its_dead_upload_left(
        dead_uploads, leftover):
    with dead_uploads.glance.client(deployment.new_project()) as tenant:
        image = tenant.create_image()
        dead_uploads.leave_dead_upload(image['id'], leftover)
        # The lease still runs: deleting needs no wait.
        assert tenant.image(image['id'])['status'] == 'saving'
        assert tenant.delete('/v2/images/%s' % image['id']).status_code == 204
        assert tenant.get('/v2/images/%s' % image['id']).status_code == 404
        assert dead_uploads.objects_of(image['id']) == []
