"""Delayed delete and ``glance-scrubber`` with the Swift store: the segments and the
manifest of a large image stay until the scrubber runs, and come back with a
restore. What is in Swift is checked with python-swiftclient directly."""

import os
import signal
import uuid

import pytest

from tests.fixtures import deployment
from tests.fixtures import scrubber
from tests.integration.swift_helpers import (MiB, objects_of, swift_store_options,
                                             wait_until)

pytestmark = pytest.mark.swift

SEGMENT = 1 * MiB


@pytest.fixture(scope='module')
def swift(swift_service):
    return swift_service


@pytest.fixture(scope='module')
def swift_glance(swift_service, tmp_path_factory):
    workdir = tmp_path_factory.mktemp('swift-scrubbed')
    container = 'glance-%s' % uuid.uuid4().hex[:8]
    options = swift_store_options(swift_service, workdir, container, SEGMENT)
    options['default_store'] = 'swift'
    with deployment.running(workdir, api_extra={
            'glance_store': options, 'DEFAULT': {'delayed_delete': True}}) as glance:
        yield glance, swift_service.connection(), container


def _segmented_image(client, data):
    image = client.create_image(name='in-swift')
    assert client.upload(image['id'], data).status_code == 204
    return image['id']


def test_the_scrubber_deletes_a_segmented_image_from_swift(swift_glance):
    glance, conn, container = swift_glance
    with glance.client(deployment.new_project()) as client:
        image_id = _segmented_image(client, b'x' * (3 * MiB + 5))
        stored = objects_of(conn, container, image_id)
        assert len(stored) >= 4   # the manifest and its segments
        assert client.delete('/v2/images/%s' % image_id).status_code == 204
        assert objects_of(conn, container, image_id) == stored
        result = scrubber.run(glance)
        assert result.returncode == 0, result.stderr
        assert image_id in scrubber.scrubbed_ids(result.stderr)
        assert objects_of(conn, container, image_id) == []
        assert client.get('/v2/images/%s' % image_id).status_code == 404


def test_a_restored_image_reads_back_from_swift(swift_glance):
    glance, conn, container = swift_glance
    data = bytes(range(256)) * (8 * 1024 + 3)   # 2 MiB and a bit: segmented
    with glance.client(deployment.new_project()) as client:
        image_id = _segmented_image(client, data)
        assert client.delete('/v2/images/%s' % image_id).status_code == 204
        result = scrubber.run(glance, '--restore', image_id)
        assert result.returncode == 0, result.stderr
        assert client.image(image_id)['status'] == 'active'
        assert client.get('/v2/images/%s/file' % image_id).content == data
        # A later scrub leaves a restored image alone.
        scrubber.run(glance)
        assert objects_of(conn, container, image_id)


def test_a_swift_that_is_down_leaves_the_image_for_the_next_run(swift_glance, swift,
                                                               tmp_path):
    glance, conn, container = swift_glance
    log = tmp_path / 'scrubber.log'
    daemon = scrubber.start(glance, '--daemon', log=str(log), wakeup_time=1)
    try:
        wait_until(lambda: 'scrubbing every' in log.read_text(), 30,
                   message='the scrubber started')
        with glance.client(deployment.new_project()) as client:
            image_id = _segmented_image(client, b'y' * (2 * MiB))
            swift.stop_proxy()
            try:
                assert client.delete('/v2/images/%s' % image_id).status_code == 204
                wait_until(lambda: 'stays pending_delete' in log.read_text(), 30,
                           message='a failed scrub')
                refused = scrubber.run(glance, '--restore', image_id)
                assert refused.returncode == 1   # part of its data may be gone
            finally:
                swift.start_proxy()
        conn = swift.connection()   # the proxy's restart forgot the old token
        # The next run tries again: the failed one let its lease go.
        wait_until(lambda: not objects_of(conn, container, image_id), 60,
                   message='the image scrubbed')
        # Its line comes once the registry marked it deleted, just after.
        wait_until(lambda: image_id in scrubber.scrubbed_ids(log.read_text()), 30,
                   message='the scrub logged')
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(30)
    assert daemon.returncode == 0, log.read_text()


def test_a_scrubber_started_while_swift_is_down_runs_and_leaves_the_image(
        swift_glance, swift):
    """Swift down is no bad configuration (exit status 2): the run starts, the
    image stays pending_delete with all its data (status 1), and the next run
    scrubs it."""
    glance, conn, container = swift_glance
    with glance.client(deployment.new_project()) as client:
        image_id = _segmented_image(client, b'z' * (2 * MiB))
        stored = objects_of(conn, container, image_id)
        assert client.delete('/v2/images/%s' % image_id).status_code == 204
        swift.stop_proxy()
        try:
            result = scrubber.run(glance)
        finally:
            swift.start_proxy()
        assert result.returncode == 1, result.stderr
        assert 'stays pending_delete' in result.stderr
        conn = swift.connection()   # the proxy's restart forgot the old token
        assert objects_of(conn, container, image_id) == stored

        result = scrubber.run(glance)
        assert result.returncode == 0, result.stderr
        assert image_id in scrubber.scrubbed_ids(result.stderr)
        assert objects_of(conn, container, image_id) == []
