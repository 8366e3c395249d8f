"""An API worker killed in the middle of an upload leaves no half image behind, and
neither does an upload whose client stalls.

The image stays ``saving`` while the dead upload's lease (``upload_lease_time``)
runs; then a new upload takes it over, removes the dead one's temporary file and
completes. A stalled upload that resumes after being taken over stops with 409. Uses its own deployment: one API worker (so the one killed is the one
uploading) and a short lease.
"""

import datetime
import hashlib
import os
import re
import signal
import time

import pytest

from tests.fixtures import deployment
from tests.fixtures import disk_images
from tests.fixtures.raw_http import RawUpload
from tests.integration.swift_helpers import api_workers, wait_until

LEASE = 5
MiB = 1024 * 1024


@pytest.fixture(scope='module')
def glance(tmp_path_factory):
    with deployment.running(tmp_path_factory.mktemp('killed-upload'), api_extra={
            'DEFAULT': {'workers': 1, 'upload_lease_time': LEASE}}) as glance:
        yield glance


def kill_worker_mid_upload(glance, image_id, content_length=None):
    """Start an upload to ``image_id`` (chunked, or declaring ``content_length``),
    SIGKILL the API worker once its temporary file exists, and wait for gunicorn's
    replacement worker; when it was killed."""
    (worker,) = api_workers(glance)
    upload = RawUpload(glance.url, image_id, content_length)
    try:
        assert upload.send(disk_images.raw(MiB))
        wait_until(lambda: any(image_id in name and name.endswith('.tmp')
                               for name in glance.stored_files()), 10,
                   message='the temporary file')
        os.kill(worker, signal.SIGKILL)
        killed_at = time.monotonic()
    finally:
        upload.close()
    wait_until(lambda: api_workers(glance) not in ([], [worker]), 30,
               message='gunicorn to start a new worker')
    return killed_at


def test_an_upload_cut_short_by_a_killed_worker_can_be_redone(glance):
    with glance.client(deployment.new_project()) as tenant:
        image = tenant.create_image()
        killed_at = kill_worker_mid_upload(glance, image['id'])

        data = disk_images.raw(3 * MiB + 7)
        early = tenant.upload(image['id'], data)
        if time.monotonic() - killed_at < LEASE - 1:
            # The dead upload's lease still runs: it might only be slow.
            assert early.status_code == 409, early.text
            assert 'the image is released when its lease runs out' in \
                early.json()['message']
        wait_until(lambda: time.monotonic() - killed_at > LEASE, LEASE + 1)

        response = tenant.upload(image['id'], data)
        assert response.status_code == 204, response.text
        shown = tenant.image(image['id'])
        assert (shown['status'], shown['size'], shown['checksum']) == (
            'active', len(data), hashlib.md5(data).hexdigest())
        # The dead upload's temporary file went with the takeover.
        assert glance.stored_files() == [image['id']]


def test_an_upload_that_stalls_past_its_lease_is_taken_over_and_stops(glance):
    with glance.client(deployment.new_project()) as tenant:
        image = tenant.create_image()
        first, second = disk_images.raw(MiB), disk_images.raw(MiB + 3)
        stalled = RawUpload(glance.url, image['id'])
        new = None
        try:
            assert stalled.send(disk_images.raw(MiB))
            wait_until(lambda: tenant.image(image['id'])['status'] == 'saving', 10,
                       message='the upload to start')
            time.sleep(LEASE + 1)   # its client sends nothing: nobody renews

            new = RawUpload(glance.url, image['id'])
            assert new.send(first)
            time.sleep(1)   # the new upload has claimed the image

            # The stalled client resumes: its upload finds it lost the image and
            # stops, leaving the new upload's claim and bytes alone.
            stalled.send(disk_images.raw(MiB))
            stalled.end()
            status, _, body = stalled.response()
            assert status == 409, body
            assert 'taken over by another upload' in body['message']

            assert new.send(second)
            new.end()
            status, _, body = new.response()
            assert status == 204, body
        finally:
            stalled.close()
            if new is not None:
                new.close()
        data = first + second
        shown = tenant.image(image['id'])
        assert (shown['status'], shown['size'], shown['checksum']) == (
            'active', len(data), hashlib.md5(data).hexdigest())
        assert tenant.get('/v2/images/%s/file' % image['id']).content == data
        # The stalled upload's temporary file went when it stopped.
        assert [name for name in glance.stored_files() if image['id'] in name] == [
            image['id']]


def test_deleting_an_image_removes_what_its_killed_upload_left(glance):
    with glance.client(deployment.new_project()) as tenant:
        image = tenant.create_image()
        kill_worker_mid_upload(glance, image['id'])
        # Within the start-up sweep's grace minute: only the delete removes it.
        assert tenant.delete('/v2/images/%s' % image['id']).status_code == 204
        assert not [name for name in glance.stored_files() if image['id'] in name]


LONG_LEASE = 15


@pytest.fixture(scope='module')
def glance_long_lease(tmp_path_factory):
    with deployment.running(tmp_path_factory.mktemp('killed-upload-long'), api_extra={
            'DEFAULT': {'workers': 1, 'upload_lease_time': LONG_LEASE}}) as glance:
        yield glance


def test_the_409_for_an_image_held_by_a_killed_upload_says_when_and_what_to_do(
        glance_long_lease):
    """It names the lease that stopped being renewed, when the image is released,
    and that deleting the image needs no wait."""
    glance = glance_long_lease
    with glance.client(deployment.new_project()) as tenant:
        image = tenant.create_image()
        killed_at = kill_worker_mid_upload(glance, image['id'])
        # Past the renewal the killed upload would have made (a third of the lease).
        stopped_for = LONG_LEASE / 3 + 2
        wait_until(lambda: time.monotonic() - killed_at > stopped_for, stopped_for)

        response = tenant.upload(image['id'], b'new data')
        assert time.monotonic() - killed_at < LONG_LEASE - 2, 'the lease ran out'
        assert response.status_code == 409, response.text
        message = response.json()['message']
        assert 'held by an upload that has not renewed its lease' in message, message
        expires = tenant.get('/v2/images/%s' % image['id']).json()['updated_at']
        match = re.search(r'released when its lease runs out, at (\S+) \(in (\d+) '
                          r'seconds\)', message)
        assert match, message
        released_at = datetime.datetime.fromisoformat(match.group(1).replace('Z', ''))
        started_at = datetime.datetime.fromisoformat(expires.replace('Z', ''))
        # The lease was last renewed when the upload started (status saving).
        assert abs((released_at - started_at).total_seconds() - LONG_LEASE) <= 1
        assert 0 < int(match.group(2)) <= LONG_LEASE - stopped_for
        assert 'Deleting the image works now.' in message

        assert tenant.delete('/v2/images/%s' % image['id']).status_code == 204
        assert tenant.get('/v2/images/%s' % image['id']).status_code == 404
        assert not [name for name in glance.stored_files() if image['id'] in name]
