"""The data of images deleted at once is removed for certain: a delete whose data
the API could not remove (a store that failed, a worker killed after the registry's
commit) leaves it recorded as still to remove, and the sweep (``glance-scrubber``,
and an API worker per node) removes it once ``deleted_data_grace_time`` has passed,
once, and never where another live image uses it. Real daemons, file store and
SQLite database."""

import os
import sqlite3
import time

import pytest

from glance_registry.client import RegistryClient
from tests.fixtures import deployment as deployment_fixture
from tests.fixtures import scrubber
from tests.fixtures import tools
from tests.unit.registry.conftest import ADMIN

#: The grace period of the deployment whose API sweeps by itself.
GRACE = 4


@pytest.fixture(scope='module')
def glance(tmp_path_factory):
    """A deployment with the default options: its API never sweeps during these
    tests (an hour's grace), so each test's sweeps are its scrubbers'."""
    with deployment_fixture.running(tmp_path_factory.mktemp('deleted-data')) as glance:
        yield glance


@pytest.fixture
def tenant(glance):
    with glance.client(deployment_fixture.new_project()) as client:
        yield client


def _registry(glance):
    return RegistryClient(glance.registry.url,
                          glance.registry.config['DEFAULT']['registry_auth_secret'],
                          timeout=30)


def _uploaded(tenant, data=b'doomed bytes'):
    image = tenant.create_image(name='doomed')
    assert tenant.upload(image['id'], data).status_code == 204
    return image['id']


def _path(glance, image_id):
    return os.path.join(glance.datadir, image_id)


def _location_statuses(glance, image_id):
    with sqlite3.connect(glance.database_url[len('sqlite:///'):]) as conn:
        return [status for status, in conn.execute(
            'SELECT status FROM image_locations WHERE image_id = ?', (image_id,))]


def _deleted_by_a_killed_api(glance, image_ids):
    """Delete ``image_ids`` in the registry as the API does, and stop there: an API
    worker killed (or its registry call timed out) after the registry committed,
    before it removed the data."""
    registry = _registry(glance)
    try:
        for image_id in image_ids:
            assert registry.delete_image(ADMIN, image_id)['delayed'] is False
    finally:
        registry.close()


def _sweep(glance, grace=0, **options):
    return scrubber.run(glance, deleted_data_grace_time=grace, **options)


def test_data_a_failing_store_kept_is_swept_after_the_grace_period_once(glance,
                                                                       tenant):
    image_id = _uploaded(tenant)
    # Immutable, the file cannot be unlinked, even by root: the store fails.
    with tools.immutable(_path(glance, image_id)):
        assert tenant.delete('/v2/images/%s' % image_id).status_code == 204
        assert tenant.get('/v2/images/%s' % image_id).status_code == 404
        assert os.path.exists(_path(glance, image_id))
        assert _location_statuses(glance, image_id) == ['pending_delete']
        failing = _sweep(glance)
        assert failing.returncode == 1
        assert image_id not in scrubber.swept_ids(failing.stderr)
        assert 'data left at file://%s' % _path(glance, image_id) in failing.stderr
    assert _location_statuses(glance, image_id) == ['pending_delete']
    held = _sweep(glance, grace=3600)
    assert held.returncode == 0, held.stderr
    assert image_id not in scrubber.swept_ids(held.stderr)
    assert os.path.exists(_path(glance, image_id))
    swept = _sweep(glance)
    assert swept.returncode == 0, swept.stderr
    assert scrubber.swept_ids(swept.stderr).count(image_id) == 1
    assert 'deleted images swept' in swept.stdout
    assert not os.path.exists(_path(glance, image_id))
    assert _location_statuses(glance, image_id) == ['deleted']
    again = _sweep(glance)
    assert again.returncode == 0, again.stderr
    assert image_id not in scrubber.swept_ids(again.stderr)


def test_a_delete_confirms_at_once_and_the_sweep_finds_nothing(glance, tenant):
    image_id = _uploaded(tenant)
    assert tenant.delete('/v2/images/%s' % image_id).status_code == 204
    assert not os.path.exists(_path(glance, image_id))
    assert _location_statuses(glance, image_id) == ['deleted']
    swept = _sweep(glance)
    assert swept.returncode == 0, swept.stderr
    assert image_id not in scrubber.swept_ids(swept.stderr)


def test_data_another_live_image_uses_is_kept(glance, tenant):
    """Upstream lets images share a location (and data migrated from it may): the
    public API and the registry refuse to make such a pair, so the database gets it
    as a migration would."""
    data = b'shared bytes'
    image_id, other_id = _uploaded(tenant, data), _uploaded(tenant, data)
    with sqlite3.connect(glance.database_url[len('sqlite:///'):]) as conn:
        conn.execute('UPDATE image_locations SET url = ? WHERE image_id = ?',
                     ('file://' + _path(glance, image_id), other_id))
    _deleted_by_a_killed_api(glance, [image_id])
    swept = _sweep(glance)
    assert swept.returncode == 0, swept.stderr
    assert scrubber.swept_ids(swept.stderr).count(image_id) == 1
    assert 'keeping the data at file://%s, used by image(s) %s' % (
        _path(glance, image_id), other_id) in swept.stderr
    assert _location_statuses(glance, image_id) == ['deleted']
    with open(_path(glance, image_id), 'rb') as f:
        assert f.read() == data
    assert tenant.get('/v2/images/%s/file' % other_id).content == data


def test_several_sweeps_at_once_remove_each_images_data_once(glance, tenant):
    image_ids = [_uploaded(tenant, b'%d' % n) for n in range(24)]
    _deleted_by_a_killed_api(glance, image_ids)
    assert all(os.path.exists(_path(glance, image_id)) for image_id in image_ids)
    runs = [scrubber.start(glance, deleted_data_grace_time=0, scrub_pool_size=3)
            for _ in range(3)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    swept = [image_id for _out, err in outputs
             for image_id in scrubber.swept_ids(err) if image_id in image_ids]
    assert sorted(swept) == sorted(image_ids)   # each exactly once
    assert not any(os.path.exists(_path(glance, image_id)) for image_id in image_ids)
    assert {status for image_id in image_ids
            for status in _location_statuses(glance, image_id)} == {'deleted'}


def test_an_api_worker_sweeps_by_itself(tmp_path_factory):
    """With no scrubber at all: one API worker per node sweeps."""
    with deployment_fixture.running(
            tmp_path_factory.mktemp('deleted-data-api'),
            api_extra={'DEFAULT': {'deleted_data_grace_time': GRACE,
                                   'deleted_data_sweep_interval': 1}}) as glance:
        with glance.client(deployment_fixture.new_project()) as tenant:
            image_id = _uploaded(tenant)
        _deleted_by_a_killed_api(glance, [image_id])
        time.sleep(GRACE - 1.5)   # still within the grace period
        assert os.path.exists(_path(glance, image_id))
        deadline = time.monotonic() + 30
        while os.path.exists(_path(glance, image_id)):
            assert time.monotonic() < deadline, 'the API never swept'
            time.sleep(0.2)
        assert _location_statuses(glance, image_id) == ['deleted']
        with open(glance.api.log_path) as log:
            text = log.read()
        assert scrubber.swept_ids(text) == [image_id]
        assert 'swept by api-' in text
