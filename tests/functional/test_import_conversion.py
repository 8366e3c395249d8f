"""Import with the image_conversion plugin: data is inspected before qemu-img sees
it, converted with its format named, and the image becomes the output format; a
malicious image never reaches qemu-img and leaves nothing behind; an ISO is kept as
it is; what the conversion makes is measured against the size cap and the
project's quota before a store receives a byte of it."""

import os

import pytest

from tests.fixtures import deployment
from tests.fixtures import import_tasks
from tests.fixtures import disk_images
from tests.fixtures import web_files
from tests.fixtures.import_tasks import finished, imported

MiB = 1024 * 1024


@pytest.fixture(scope='module')
def web():
    with web_files.running() as server:
        yield server


@pytest.fixture(scope='module')
def glance(tmp_path_factory, web, qemu_img_binary):
    with deployment.running(tmp_path_factory.mktemp('import-conversion'), api_extra={
            'DEFAULT': {'image_size_cap': 64 * MiB, 'user_storage_quota': '40MB'},
            'image_import_opts': {'image_import_plugins': '[image_conversion]'},
            'image_conversion': {'output_format': 'raw'},
            'import_filtering_opts': {'allowed_ports': web.port,
                                      'allowed_hosts': '127.0.0.1'}}
    ) as glance:
        yield glance


@pytest.fixture
def tenant(glance):
    with glance.client(deployment.new_project()) as client:
        yield client


def staging_files(glance):
    return os.listdir(os.path.join(glance.workdir, 'staging'))


def qcow2_of(qemu_img, raw):
    """The bytes of a qcow2 image whose disk holds ``raw`` (``qemu-img convert``)."""
    raw_path = os.path.join(qemu_img.directory, 'disk.raw')
    with open(raw_path, 'wb') as f:
        f.write(raw)
    qcow2_path = os.path.join(qemu_img.directory, 'disk.qcow2')
    qemu_img.run('convert', '-f', 'raw', '-O', 'qcow2', raw_path, qcow2_path)
    with open(qcow2_path, 'rb') as f:
        return f.read()


@pytest.mark.parametrize('method', ['glance-direct', 'web-download'])
def test_a_qcow2_import_becomes_raw(glance, tenant, web, qemu_img, method):
    raw = disk_images.raw(2 * MiB)
    qcow2 = qcow2_of(qemu_img, raw)
    image = tenant.create_image(name='converted', disk_format='qcow2')
    task = imported(tenant, web, image, qcow2, method)
    assert task['status'] == 'success', task
    done = tenant.image(image['id'])
    assert done['status'] == 'active'
    assert done['disk_format'] == 'raw'
    assert done['size'] == done['virtual_size'] == len(raw)
    assert tenant.get('/v2/images/%s/file' % image['id']).content == raw
    # Neither the staged (or downloaded) qcow2 nor the converted file is left.
    assert not import_tasks.staged_files(glance, image['id'])


@pytest.mark.parametrize('name, content', [
    ('backing file', disk_images.qcow2(64 * MiB, backing_file='/etc/shadow')),
    ('data file', disk_images.qcow2(64 * MiB, data_file='/etc/shadow')),
])
def test_a_malicious_qcow2_never_reaches_qemu_img(glance, tenant, web, name,
                                                  content):
    uri = web.serve('/evil.qcow2', content)
    image = tenant.create_image(name='evil', disk_format='qcow2')
    before = glance.stored_files()
    tenant.post('/v2/images/%s/import' % image['id'], json={
        'method': {'name': 'web-download', 'uri': uri}})
    task = finished(tenant, image['id'])
    assert task['status'] == 'failure'
    assert 'refused' in task['message'] and name.split()[0] in task['message']
    after = tenant.image(image['id'])
    assert (after['status'], after['disk_format']) == ('queued', 'qcow2')
    assert glance.stored_files() == before
    assert not import_tasks.staged_files(glance, image['id'])


@pytest.mark.parametrize('method', ['glance-direct', 'web-download'])
def test_an_iso_is_imported_as_it_is(glance, tenant, web, method):
    # As upstream: an ISO has no disk in it to convert.
    content = disk_images.iso(blocks=64)
    image = tenant.create_image(name='iso', disk_format='iso')
    task = imported(tenant, web, image, content, method)
    assert task['status'] == 'success', task
    done = tenant.image(image['id'])
    assert (done['status'], done['disk_format']) == ('active', 'iso')
    assert tenant.get('/v2/images/%s/file' % image['id']).content == content
    assert not import_tasks.staged_files(glance, image['id'])


@pytest.mark.parametrize('virtual_size, method, message', [
    # 256 KiB of qcow2, a raw gigabyte once converted: refused before qemu-img
    # writes it.
    (1024 * MiB, 'web-download',
     'The image converted would be 1073741824 bytes, larger than the image size '
     'cap of 67108864 bytes.'),
    # Under the cap, over the 40 MiB the project may store: refused before a store
    # is written (upstream checks the quota against the converted size too).
    (48 * MiB, 'glance-direct',
     "The image converted is 50331648 bytes, more than the 41943040 bytes the "
     "project's storage quota has left."),
])
def test_what_a_conversion_would_make_too_large_is_refused_before_it_is_stored(
        glance, tenant, web, virtual_size, method, message):
    image = tenant.create_image(name='bomb', disk_format='qcow2')
    before = glance.stored_files()
    task = imported(tenant, web, image, disk_images.qcow2(virtual_size), method)
    assert (task['status'], task['message']) == ('failure', message)
    after = tenant.image(image['id'])
    assert (after['status'], after['disk_format']) == ('queued', 'qcow2')
    assert glance.stored_files() == before
    assert not import_tasks.staged_files(glance, image['id'])


@pytest.mark.parametrize('disk_format', ['ami', 'aki', 'ari'])
def test_an_ami_kernel_or_ramdisk_in_a_bare_container_is_not_converted(
        glance, tenant, web, disk_format):
    # As upstream: no qemu-img format is theirs ("Unable to convert from format");
    # a kernel was relabelled raw. Refused before the URL is read.
    image = tenant.create_image(name=disk_format, disk_format=disk_format)
    before = glance.stored_files()
    task = imported(tenant, web, image, disk_images.raw(MiB), 'web-download')
    assert (task['status'], task['message']) == (
        'failure', 'Unable to convert from format %s. An AMI, a kernel or a ramdisk '
        'is imported in its own container format (ami, aki, ari), which is not '
        'converted.' % disk_format)
    after = tenant.image(image['id'])
    assert (after['status'], after['disk_format']) == ('queued', disk_format)
    assert glance.stored_files() == before
    assert not import_tasks.staged_files(glance, image['id'])
    # In its own container format it is imported as it is.
    kernel = tenant.create_image(name=disk_format, disk_format=disk_format,
                                 container_format=disk_format)
    task = imported(tenant, web, kernel, disk_images.raw(MiB), 'glance-direct')
    assert task['status'] == 'success', task
    assert tenant.image(kernel['id'])['disk_format'] == disk_format


def test_a_web_download_to_convert_replaces_what_a_dead_worker_downloaded(
        glance, tenant, web, qemu_img):
    raw = disk_images.raw(2 * MiB)
    qcow2 = qcow2_of(qemu_img, raw)
    image = tenant.create_image(name='downloaded-before', disk_format='qcow2')
    # As a worker killed after committing the download and before converting it
    # leaves it (the one taking the import over, or any later import, downloads
    # again): no staged location records it.
    left = os.path.join(glance.workdir, 'staging', image['id'])
    with open(left, 'wb') as f:
        f.write(b'what the dead worker downloaded')
    task = imported(tenant, web, image, qcow2, 'web-download')
    assert task['status'] == 'success', task
    assert tenant.get('/v2/images/%s/file' % image['id']).content == raw
    assert not import_tasks.staged_files(glance, image['id'])


#: The task lease of ``slow_glance``, and how long its qemu-img takes: longer.
LEASE = 3
SLOW = 2 * LEASE + 1


@pytest.fixture(scope='module')
def slow_qemu_img(tmp_path_factory, qemu_img_binary):
    """A directory whose ``qemu-img`` waits ``SLOW`` seconds before running the
    real one, as a large image's conversion takes minutes; each run is logged
    in its ``runs`` file."""
    directory = tmp_path_factory.mktemp('slow-qemu-img')
    script = directory / 'qemu-img'
    script.write_text('#!/bin/sh\necho "$@" >> %s\nsleep %d\nexec %s "$@"\n'
                      % (directory / 'runs', SLOW, qemu_img_binary))
    script.chmod(0o755)
    return directory


@pytest.fixture(scope='module')
def slow_glance(tmp_path_factory, slow_qemu_img):
    """One API worker with two task threads (room to take an import over) and a
    task lease shorter than its conversions."""
    with deployment.running(tmp_path_factory.mktemp('slow-conversion'), api_extra={
            'DEFAULT': {'workers': 1, 'task_pool_threads': 2,
                        'task_lease_time': LEASE},
            'image_import_opts': {'image_import_plugins': '[image_conversion]'}},
            api_env={'PATH': '%s:%s' % (slow_qemu_img, os.environ['PATH'])}
    ) as glance:
        yield glance


def test_a_conversion_longer_than_the_lease_runs_once(slow_glance, slow_qemu_img,
                                                      qemu_img):
    raw = disk_images.raw(MiB)
    with slow_glance.client(deployment.new_project()) as tenant:
        image = tenant.create_image(name='slowly-converted', disk_format='qcow2')
        assert tenant.put('/v2/images/%s/stage' % image['id'],
                          data=qcow2_of(qemu_img, raw), headers={
                              'Content-Type': 'application/octet-stream'}
                          ).status_code == 204
        assert tenant.post('/v2/images/%s/import' % image['id'], json={
            'method': {'name': 'glance-direct'}}).status_code == 202
        # A task taken over would run the conversion again.
        tenant.polls_importing(image['id'], SLOW - 1)
        assert tenant.settled(image['id'])['status'] == 'active'
        assert finished(tenant, image['id'])['status'] == 'success'
        assert tenant.get('/v2/images/%s/file' % image['id']).content == raw
    assert len((slow_qemu_img / 'runs').read_text().splitlines()) == 1
