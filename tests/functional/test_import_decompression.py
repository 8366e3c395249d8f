"""Import with the image_decompression plugin: a gzip or a zip of one file is
imported as the file it holds, inspected as the image's disk_format once
decompressed; what is not compressed, or is meant to stay so (container_format
compressed), is imported as it is; an archive that decompresses past the size cap,
holds several files, or is LHA, fails the import and leaves nothing behind."""

import gzip
import hashlib
import io
import os
import zipfile

import pytest

from tests.fixtures import deployment
from tests.fixtures import disk_images
from tests.fixtures import web_files
from tests.fixtures import import_tasks
from tests.fixtures.import_tasks import imported

MiB = 1024 * 1024
CAP = 16 * MiB


@pytest.fixture(scope='module')
def web():
    with web_files.running() as server:
        yield server


@pytest.fixture(scope='module')
def glance(tmp_path_factory, web):
    with deployment.running(tmp_path_factory.mktemp('import-decompression'),
                            api_extra={
            'DEFAULT': {'image_size_cap': CAP, 'user_storage_quota': '12MB'},
            'image_import_opts': {'image_import_plugins': '[image_decompression]'},
            'import_filtering_opts': {'allowed_ports': web.port,
                                      'allowed_hosts': '127.0.0.1'}}
    ) as glance:
        yield glance


@pytest.fixture
def tenant(glance):
    with glance.client(deployment.new_project()) as client:
        yield client


def gzipped(data):
    return gzip.compress(data)


def zipped(*members):
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


def assert_failed_leaving_nothing(glance, tenant, image, task, before, message):
    assert (task['status'], task['message']) == ('failure', message)
    after = tenant.image(image['id'])
    assert (after['status'], after['size'], after['checksum']) == \
        ('queued', None, None)
    assert glance.stored_files() == before
    assert not import_tasks.staged_files(glance, image['id'])


@pytest.mark.parametrize('method', ['glance-direct', 'web-download'])
@pytest.mark.parametrize('archive', ['gzip', 'zip'])
@pytest.mark.parametrize('disk_format', ['raw', 'qcow2'])
def test_a_compressed_image_is_imported_decompressed(glance, tenant, web, method,
                                                    archive, disk_format):
    disk = disk_images.raw(2 * MiB) if disk_format == 'raw' else \
        disk_images.qcow2(64 * MiB)
    content = gzipped(disk) if archive == 'gzip' else \
        zipped(('../../etc/disk.%s' % disk_format, disk))
    image = tenant.create_image(name='compressed', disk_format=disk_format)
    task = imported(tenant, web, image, content, method)
    assert task['status'] == 'success', task
    done = tenant.image(image['id'])
    assert (done['status'], done['disk_format'], done['container_format']) == \
        ('active', disk_format, 'bare')
    assert done['size'] == len(disk)
    assert done['virtual_size'] == (len(disk) if disk_format == 'raw'
                                    else 64 * MiB)
    assert done['checksum'] == hashlib.md5(disk).hexdigest()
    assert (done['os_hash_algo'], done['os_hash_value']) == \
        ('sha512', hashlib.sha512(disk).hexdigest())
    assert tenant.get('/v2/images/%s/file' % image['id']).content == disk
    # Neither the archive nor what was decompressed from it is left.
    assert not import_tasks.staged_files(glance, image['id'])


@pytest.mark.parametrize('method', ['glance-direct', 'web-download'])
def test_what_is_decompressed_is_inspected_as_the_disk_format(glance, tenant, web,
                                                             method):
    # The stage let the gzip through; its content is judged once decompressed.
    evil = disk_images.qcow2(64 * MiB, backing_file='/etc/shadow')
    image = tenant.create_image(name='evil', disk_format='qcow2')
    before = glance.stored_files()
    task = imported(tenant, web, image, gzipped(evil), method)
    assert task['status'] == 'failure'
    assert 'refused' in task['message'] and 'backing' in task['message'], task
    after = tenant.image(image['id'])
    assert after['status'] == 'queued'
    assert glance.stored_files() == before
    assert not import_tasks.staged_files(glance, image['id'])


@pytest.mark.parametrize('method', ['glance-direct', 'web-download'])
@pytest.mark.parametrize('archive', ['gzip', 'zip'])
def test_a_decompression_bomb_stops_at_the_size_cap(glance, tenant, web, method,
                                                   archive):
    # 1 GiB of zeros, about a MiB compressed: never written past the cap.
    zeros = bytes(MiB)
    if archive == 'gzip':
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode='wb') as f:
            for _ in range(1024):
                f.write(zeros)
        content = out.getvalue()
    else:
        out = io.BytesIO()
        with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as archive_file, \
                archive_file.open('disk.raw', 'w', force_zip64=True) as f:
            for _ in range(1024):
                f.write(zeros)
        content = out.getvalue()
    assert len(content) < 2 * MiB
    image = tenant.create_image(name='bomb')
    before = glance.stored_files()
    task = imported(tenant, web, image, content, method)
    assert_failed_leaving_nothing(
        glance, tenant, image, task, before,
        'The image decompressed is larger than the image size cap of %d bytes.'
        % CAP)


def test_a_zip_of_several_files_is_refused(glance, tenant, web):
    content = zipped(('disk.raw', disk_images.raw()), ('notes.txt', b'hello'))
    image = tenant.create_image(name='two files')
    before = glance.stored_files()
    task = imported(tenant, web, image, content, 'glance-direct')
    assert_failed_leaving_nothing(
        glance, tenant, image, task, before,
        'The zip archive holds 2 files: an image is imported from an archive of '
        'one file.')


def test_an_lha_archive_is_refused(glance, tenant, web):
    # A level-0 LHA header: its method id "-lh5-" at offset 2.
    content = b'\x22\x00-lh5-' + disk_images.raw()
    image = tenant.create_image(name='lha')
    before = glance.stored_files()
    task = imported(tenant, web, image, content, 'web-download')
    assert_failed_leaving_nothing(
        glance, tenant, image, task, before,
        'The image data is an LHA archive, which this service does not '
        'decompress: import it uncompressed, or as gzip or zip.')


def test_a_corrupt_gzip_fails_the_import(glance, tenant, web):
    content = gzipped(disk_images.raw(MiB))[:64 * 1024]
    image = tenant.create_image(name='cut short')
    before = glance.stored_files()
    task = imported(tenant, web, image, content, 'glance-direct')
    assert task['message'].startswith('The image data could not be decompressed: ')
    assert_failed_leaving_nothing(glance, tenant, image, task, before,
                                  task['message'])


def test_what_decompresses_past_the_quota_is_refused_before_it_is_stored(
        glance, tenant, web):
    # Under the cap, over the 12 MiB the project may store (staged, its gzip
    # fits).
    disk = disk_images.raw().ljust(14 * MiB, b'\0')
    image = tenant.create_image(name='over quota')
    before = glance.stored_files()
    task = imported(tenant, web, image, gzipped(disk), 'glance-direct')
    assert_failed_leaving_nothing(
        glance, tenant, image, task, before,
        "The image decompressed is %d bytes, more than the %d bytes the project's "
        "storage quota has left." % (len(disk), 12 * MiB))


@pytest.mark.parametrize('method', ['glance-direct', 'web-download'])
def test_uncompressed_data_is_imported_as_it_is(glance, tenant, web, method):
    disk = disk_images.raw(MiB)
    image = tenant.create_image(name='plain')
    task = imported(tenant, web, image, disk, method)
    assert task['status'] == 'success', task
    done = tenant.image(image['id'])
    assert (done['size'], done['checksum']) == (len(disk),
                                                hashlib.md5(disk).hexdigest())
    assert tenant.get('/v2/images/%s/file' % image['id']).content == disk
    assert not import_tasks.staged_files(glance, image['id'])


def test_a_compressed_container_is_not_decompressed(glance, tenant, web):
    # As upstream: the image's creator meant it compressed.
    content = gzipped(disk_images.raw(MiB))
    image = tenant.create_image(name='kept', container_format='compressed')
    task = imported(tenant, web, image, content, 'glance-direct')
    assert task['status'] == 'success', task
    done = tenant.image(image['id'])
    assert (done['size'], done['checksum']) == (len(content),
                                                hashlib.md5(content).hexdigest())
    assert tenant.get('/v2/images/%s/file' % image['id']).content == content


def test_an_upload_is_not_decompressed(glance, tenant):
    # As upstream: the plugin is the import's; PUT /file stores the bytes sent.
    content = gzipped(disk_images.raw(MiB))
    image = tenant.create_image(name='uploaded')
    assert tenant.upload(image['id'], content).status_code == 204
    done = tenant.image(image['id'])
    assert (done['status'], done['size']) == ('active', len(content))
    assert tenant.get('/v2/images/%s/file' % image['id']).content == content


@pytest.fixture(scope='module')
def converting(tmp_path_factory, qemu_img_binary):
    # Listed after image_conversion: decompression runs first all the same.
    with deployment.running(tmp_path_factory.mktemp('decompress-convert'), api_extra={
            'image_import_opts': {'image_import_plugins':
                                  '[image_conversion, image_decompression]'},
            'image_conversion': {'output_format': 'raw'}}) as glance:
        yield glance


@pytest.mark.parametrize('archive', ['gzip', 'zip'])
def test_a_compressed_qcow2_is_decompressed_then_converted(converting, qemu_img,
                                                           archive):
    raw = disk_images.raw(2 * MiB)
    raw_path = os.path.join(qemu_img.directory, 'disk.raw')
    qcow2_path = os.path.join(qemu_img.directory, 'disk.qcow2')
    with open(raw_path, 'wb') as f:
        f.write(raw)
    qemu_img.run('convert', '-f', 'raw', '-O', 'qcow2', raw_path, qcow2_path)
    with open(qcow2_path, 'rb') as f:
        qcow2 = f.read()
    content = gzipped(qcow2) if archive == 'gzip' else zipped(('disk.qcow2', qcow2))
    with converting.client(deployment.new_project()) as tenant:
        image = tenant.create_image(name='both', disk_format='qcow2')
        task = imported(tenant, None, image, content, 'glance-direct')
        assert task['status'] == 'success', task
        done = tenant.image(image['id'])
        assert (done['disk_format'], done['size'], done['checksum']) == \
            ('raw', len(raw), hashlib.md5(raw).hexdigest())
        assert tenant.get('/v2/images/%s/file' % image['id']).content == raw
        assert not import_tasks.staged_files(converting, image['id'])
    with open(converting.api.log_path) as f:
        assert 'image_decompression after image_conversion: imported data is ' \
            'decompressed first' in f.read()
