"""Delayed delete and ``glance-scrubber`` against the real daemons and file store."""

import os
import signal
import sqlite3
import subprocess
import time
import uuid

import pytest

from glance_registry import client as client_module
from tests.fixtures import deployment as deployment_fixture
from tests.fixtures import scrubber
from tests.fixtures import tools
from tests.unit.registry.conftest import ADMIN


@pytest.fixture(scope='module')
def glance(tmp_path_factory):
    with deployment_fixture.running(
            tmp_path_factory.mktemp('scrubbed'),
            api_extra={'DEFAULT': {'delayed_delete': True}}) as deployment:
        yield deployment


@pytest.fixture
def tenant(glance):
    with glance.client(deployment_fixture.new_project()) as client:
        yield client


def _stored(glance, image_id):
    return os.path.exists(os.path.join(glance.datadir, image_id))


def _status(glance, image_id):
    with sqlite3.connect(glance.database_url[len('sqlite:///'):]) as conn:
        return conn.execute('SELECT status, deleted FROM images WHERE id = ?',
                            (image_id,)).fetchone()


def _deleted_image(tenant, data=b'scrub me'):
    image = tenant.create_image(name='doomed')
    assert tenant.upload(image['id'], data).status_code == 204
    assert tenant.delete('/v2/images/%s' % image['id']).status_code == 204
    return image['id']


def test_a_delayed_delete_keeps_the_data_until_the_scrubber_runs(glance, tenant):
    image_id = _deleted_image(tenant)
    assert tenant.get('/v2/images/%s' % image_id).status_code == 404
    assert image_id not in [image['id'] for image in tenant.get('/v2/images').json()
                            ['images']]
    assert _status(glance, image_id) == ('pending_delete', 1)
    assert _stored(glance, image_id)
    result = scrubber.run(glance)
    assert result.returncode == 0, result.stderr
    assert image_id in scrubber.scrubbed_ids(result.stderr)
    assert 'images scrubbed so far' in result.stdout
    assert not _stored(glance, image_id)
    assert _status(glance, image_id) == ('deleted', 1)


def test_an_image_without_data_is_deleted_at_once(glance, tenant):
    image = tenant.create_image(name='empty')
    assert tenant.delete('/v2/images/%s' % image['id']).status_code == 204
    assert _status(glance, image['id']) == ('deleted', 1)


def test_the_scrubber_waits_scrub_time(glance, tenant):
    image_id = _deleted_image(tenant)
    result = scrubber.run(glance, scrub_time=3600)
    assert result.returncode == 0, result.stderr
    assert image_id not in scrubber.scrubbed_ids(result.stderr)
    assert _stored(glance, image_id)
    assert _status(glance, image_id) == ('pending_delete', 1)
    scrubber.run(glance)
    assert not _stored(glance, image_id)


def test_restore_brings_the_image_back_with_its_data(glance, tenant):
    image_id = _deleted_image(tenant, b'keep me')
    result = scrubber.run(glance, '--restore', image_id)
    assert result.returncode == 0, result.stderr
    assert 'restored' in result.stdout
    assert tenant.image(image_id)['status'] == 'active'
    assert tenant.get('/v2/images/%s/file' % image_id).content == b'keep me'
    again = scrubber.run(glance, '--restore', image_id)
    assert again.returncode == 1
    assert "status is 'active', not 'pending_delete'" in again.stderr


def test_restore_refuses_an_unknown_image_and_the_daemon_option(glance):
    unknown = scrubber.run(glance, '--restore', str(uuid.uuid4()))
    assert unknown.returncode == 1 and 'No image with id' in unknown.stderr
    both = scrubber.run(glance, '--restore', str(uuid.uuid4()), '--daemon')
    assert both.returncode == 2
    assert 'restore and daemon options should not be set together' in both.stderr


@pytest.mark.parametrize('given', ['', 'no-such-image', 'a/b/../c'],
                         ids=['empty', 'no-uuid', 'slashes'])
def test_restore_of_what_is_no_image_id_is_refused_and_scrubs_nothing(
        glance, tenant, given):
    # "--restore $IMAGE_ID" with the variable unset must not become a scrub run
    # deleting the data of every image pending delete.
    image_id = _deleted_image(tenant)
    refused = scrubber.run(glance, '--restore', given)
    assert refused.returncode == 2
    assert '--restore needs an image id' in refused.stderr
    assert 'Traceback' not in refused.stderr
    assert 'scrubbed' not in refused.stdout
    assert _status(glance, image_id) == ('pending_delete', 1)
    assert _stored(glance, image_id)


def test_an_image_a_store_failed_on_is_scrubbed_by_the_next_run(glance, tenant):
    image_id = _deleted_image(tenant)
    # Immutable, the file cannot be unlinked, even by root: the store fails.
    with tools.immutable(os.path.join(glance.datadir, image_id)):
        failed = scrubber.run(glance)
        assert failed.returncode == 1
        assert image_id not in scrubber.scrubbed_ids(failed.stderr)
        assert _stored(glance, image_id)
        assert _status(glance, image_id) == ('pending_delete', 1)
    # At once: the failed run let its lease on the image go.
    again = scrubber.run(glance)
    assert again.returncode == 0, again.stderr
    assert image_id in scrubber.scrubbed_ids(again.stderr)
    assert not _stored(glance, image_id)
    assert _status(glance, image_id) == ('deleted', 1)


def test_an_image_a_dead_scrubber_held_is_taken_over_and_never_restored(glance,
                                                                        tenant):
    image_id = _deleted_image(tenant)
    registry = client_module.RegistryClient(
        glance.registry.url, glance.registry.config['DEFAULT']['registry_auth_secret'])
    lease = 8
    try:
        # A scrubber that claims the image and dies before deleting anything.
        claimed_at = time.monotonic()
        assert [image['id'] for image in registry.claim_scrub(
            ADMIN, 'dead-scrubber', lease, 0, 1000)].count(image_id) == 1
    finally:
        registry.close()
    refused = scrubber.run(glance, '--restore', image_id)
    assert refused.returncode == 1 and 'started deleting its data' in refused.stderr
    held = scrubber.run(glance)
    assert time.monotonic() - claimed_at < lease, 'too slow to test the lease'
    assert image_id not in scrubber.scrubbed_ids(held.stderr)
    assert _stored(glance, image_id)
    time.sleep(max(0, claimed_at + lease + 0.2 - time.monotonic()))
    taken = scrubber.run(glance)
    assert image_id in scrubber.scrubbed_ids(taken.stderr)
    assert not _stored(glance, image_id)


def test_several_scrubbers_at_once_delete_each_image_once(glance, tenant):
    image_ids = {_deleted_image(tenant, b'%d' % n) for n in range(24)}
    runs = [scrubber.start(glance, scrub_pool_size=3) for _ in range(3)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    scrubbed = [image_id for _out, err in outputs
                for image_id in scrubber.scrubbed_ids(err) if image_id in image_ids]
    assert sorted(scrubbed) == sorted(image_ids)   # each exactly once
    assert not any(_stored(glance, image_id) for image_id in image_ids)
    assert {_status(glance, image_id) for image_id in image_ids} == {('deleted', 1)}


def test_the_daemon_scrubs_every_wakeup_time_until_stopped(glance, tenant):
    daemon = scrubber.start(glance, '--daemon', wakeup_time=1)
    try:
        image_id = _deleted_image(tenant)
        deadline = time.monotonic() + 30
        while _stored(glance, image_id) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _stored(glance, image_id)
        assert daemon.poll() is None
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            _out, err = daemon.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            raise
    assert daemon.returncode == 0, err
    assert image_id in scrubber.scrubbed_ids(err)

