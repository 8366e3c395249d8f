"""A file store and a staging directory whose disk fills up, on real (tmpfs) file
systems of their own: the client gets upstream's 413, the image is queued again
with nothing left behind, and the next write once there is room works."""

import os

import pytest

from tests.fixtures import deployment as deployment_fixture
from tests.fixtures import disk_images
from tests.functional.test_import import image_tasks, wait_for
from tests.fixtures.mounts import Mounts

MIB = 1024 * 1024


@pytest.fixture(scope='module')
def small_disks(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('disk-full')
    with Mounts(workdir) as mounts:
        mounts.tmpfs('images', '8m')   # the deployment's file store
        staging = mounts.tmpfs('staging', '8m')
        with deployment_fixture.running(workdir, api_extra={'DEFAULT': {
                'node_staging_uri': 'file://%s/' % staging}}) as glance:
            glance.staging = str(staging)
            yield glance


@pytest.fixture
def admin(small_disks):
    with small_disks.client() as client:
        yield client


def _put(client, image_id, what, data):
    return client.put('/v2/images/%s/%s' % (image_id, what), data=data,
                      headers={'Content-Type': 'application/octet-stream'})


@pytest.mark.parametrize('what', ['file', 'stage'])
def test_a_write_that_fills_the_disk_is_413_and_leaves_nothing(small_disks, admin,
                                                                what):
    directory = small_disks.datadir if what == 'file' else small_disks.staging
    image = admin.create_image(name='too-big-for-the-disk')
    refused = _put(admin, image['id'], what, disk_images.raw(12 * MIB))
    assert refused.status_code == 413, refused.text
    assert 'no space left' in refused.json()['message']
    assert admin.image(image['id'])['status'] == 'queued'
    assert os.listdir(directory) == []   # no partial file, temporary or not
    # The space the refused write took is free again: the next one fits.
    data = disk_images.raw(3 * MIB)
    assert _put(admin, image['id'], what, data).status_code == 204
    assert admin.image(image['id'])['status'] == (
        'active' if what == 'file' else 'uploading')
    assert os.listdir(directory) == [image['id']]
    assert admin.delete('/v2/images/%s' % image['id']).status_code == 204
    assert os.listdir(directory) == []


def test_an_import_into_a_full_store_fails_saying_so_and_leaves_nothing(small_disks,
                                                                        admin):
    image = admin.create_image(name='imported-into-a-full-store')
    data = disk_images.raw(5 * MIB)
    assert _put(admin, image['id'], 'stage', data).status_code == 204
    filler = os.path.join(small_disks.datadir, 'filler')
    with open(filler, 'wb') as out:
        out.write(b'\0' * 4 * MIB)   # 4 MiB of the store's 8 left
    try:
        started = admin.post('/v2/images/%s/import' % image['id'],
                             json={'method': {'name': 'glance-direct'}})
        assert started.status_code == 202, started.text
        assert wait_for(admin, image['id'])['status'] == 'queued'
        [task] = image_tasks(admin, image['id'])
        assert task['status'] == 'failure'
        assert 'no space left in the file store' in task['message'], task
        assert os.listdir(small_disks.datadir) == ['filler']
    finally:
        os.unlink(filler)
    assert admin.delete('/v2/images/%s' % image['id']).status_code == 204
    assert os.listdir(small_disks.staging) == []
