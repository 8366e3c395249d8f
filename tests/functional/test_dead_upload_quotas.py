"""An upload that died (its API worker killed) or stalled past its lease stops
counting against its project's quotas when its lease runs out: the project may
use its storage and its upload slots again at once, and ``GET /v2/info/usage`` no
longer counts it. Upstream counts such an upload until its image is deleted.

A stalled upload whose client comes back after that is refused (409) before it
stores another byte, so it can never take the project over its quota. One API
worker (so the one killed is the one uploading), a short lease, a 4 MiB storage
quota and one upload at a time.
"""

import time

import pytest

from tests.fixtures import deployment
from tests.fixtures import disk_images
from tests.fixtures.raw_http import RawUpload
from tests.functional.test_killed_upload import kill_worker_mid_upload
from tests.integration.swift_helpers import wait_until

LEASE = 5
MiB = 1024 * 1024
QUOTA_MIB = 4


@pytest.fixture(scope='module')
def glance(tmp_path_factory):
    with deployment.running(tmp_path_factory.mktemp('dead-upload-quotas'), api_extra={
            'DEFAULT': {'workers': 1, 'upload_lease_time': LEASE,
                        'user_storage_quota': '%dMB' % QUOTA_MIB},
            'image_limits': {'image_count_uploading': 1}}) as glance:
        yield glance


def usage(tenant):
    """``(image_size_total MiB, image_count_uploading)`` as ``GET /v2/info/usage``
    reports them."""
    response = tenant.get('/v2/info/usage')
    assert response.status_code == 200, response.text
    found = response.json()['usage']
    return found['image_size_total']['usage'], found['image_count_uploading']['usage']


def test_a_project_at_its_quota_whose_upload_was_killed_can_upload_again(glance):
    with glance.client(deployment.new_project()) as tenant:
        dead, image = tenant.create_image(), tenant.create_image()
        started = time.monotonic()
        # Its declared size, the whole quota, is reserved before its first byte.
        killed_at = kill_worker_mid_upload(glance, dead['id'],
                                           content_length=QUOTA_MIB * MiB)
        data = disk_images.raw(QUOTA_MIB * MiB)
        if time.monotonic() - started < LEASE - 1:
            # The lease still runs (the upload might only be slow): it counts.
            assert usage(tenant) == (QUOTA_MIB, 1)
            assert tenant.upload(image['id'], data).status_code == 413
        wait_until(lambda: time.monotonic() - killed_at > LEASE, LEASE + 1)

        assert usage(tenant) == (0, 0)
        response = tenant.upload(image['id'], data)
        assert response.status_code == 204, response.text
        assert tenant.image(image['id'])['status'] == 'active'
        assert usage(tenant) == (QUOTA_MIB, 0)
        # The dead upload's image waits for a new upload or its deletion.
        assert tenant.image(dead['id'])['status'] == 'saving'


def test_an_upload_that_stalls_past_its_lease_cannot_take_its_project_over_quota(
        glance):
    with glance.client(deployment.new_project()) as tenant:
        stalled_image, other = tenant.create_image(), tenant.create_image()
        stalled = RawUpload(glance.url, stalled_image['id'], content_length=3 * MiB)
        try:
            assert stalled.send(disk_images.raw(MiB))
            wait_until(lambda: usage(tenant) == (3, 1), 10,
                       message='the upload to reserve its declared size')
            time.sleep(LEASE + 1)   # its client sends nothing: nobody renews

            # Its reservation and upload slot no longer count: another upload
            # fills the quota.
            assert usage(tenant) == (0, 0)
            response = tenant.upload(other['id'], disk_images.raw(QUOTA_MIB * MiB))
            assert response.status_code == 204, response.text

            # The stalled client resumes: its upload lost the image and stops
            # before it reserves or stores anything more.
            stalled.send(disk_images.raw(2 * MiB))
            status, _, body = stalled.response()
        finally:
            stalled.close()
        assert status == 409, body
        assert 'was released by this upload' in body['message'], body
        assert usage(tenant) == (QUOTA_MIB, 0)
        assert tenant.image(stalled_image['id'])['status'] == 'queued'
        assert not [name for name in glance.stored_files()
                    if stalled_image['id'] in name]
