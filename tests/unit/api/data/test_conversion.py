"""glance_api.data.conversion with Debian's qemu-img: the input format qemu-img is
told for what inspection found, the images never converted, and the size checked
before any byte is copied. The import tasks around it are in
tests/functional/test_import_conversion.py."""

import os

import pytest

from glance_api.data import conversion
from tests.fixtures import disk_images as images
from tests.unit.api.data import plugin_conf

MiB, GiB = images.MiB, images.GiB


def converter(tmp_path, output_format, image_size_cap=GiB):
    """(conf, staging store) of a deployment converting to ``output_format``."""
    conf, staging_store = plugin_conf.plugin_deployment(tmp_path, 'image_conversion',
                                                        image_size_cap)
    conf.set_override('output_format', output_format, group='image_conversion')
    return conf, staging_store


def staged(store, name, data):
    path = os.path.join(store.datadir, name)
    with open(path, 'wb') as f:
        f.write(data)
    return 'file://' + path


def record(disk_format):
    return {'disk_format': disk_format, 'container_format': 'bare'}


def test_a_partitioned_disk_is_converted_as_raw(tmp_path, qemu_img):
    # What the inspectors call gpt, qemu-img knows only as raw bytes.
    conf, store = converter(tmp_path, 'qcow2')
    disk = images.gpt(4 * MiB)
    converted = conversion.convert(conf, store, staged(store, 'img', disk),
                                   record('raw'), 'img')
    path = converted.url[len('file://'):]
    assert (converted.disk_format, converted.size) == ('qcow2', os.path.getsize(path))
    assert qemu_img.info(path, 'qcow2')['virtual-size'] == len(disk)


def test_a_vhd_is_converted_under_qemu_imgs_name_for_it(tmp_path, qemu_img):
    conf, store = converter(tmp_path, 'raw')
    vhd = qemu_img.create('disk.vhd', 'vpc', 8 * MiB)
    with open(vhd, 'rb') as f:
        url = staged(store, 'img', f.read())
    converted = conversion.convert(conf, store, url, record('vhd'), 'img')
    assert converted.size == qemu_img.info(vhd, 'vpc')['virtual-size']


def test_an_iso_is_not_converted(tmp_path, qemu_img_binary):
    conf, store = converter(tmp_path, 'raw')
    url = staged(store, 'img', images.iso(blocks=64))
    assert conversion.convert(conf, store, url, record('iso'), 'img') is None


def test_iso_content_declared_raw_is_refused(tmp_path, qemu_img_binary):
    conf, store = converter(tmp_path, 'qcow2')
    url = staged(store, 'img', images.iso(blocks=64))
    with pytest.raises(conversion.ConversionFailed) as refused:
        conversion.convert(conf, store, url, record('raw'), 'img')
    assert str(refused.value) == (
        'Image content is iso but its disk_format is raw: an ISO is imported as '
        'disk_format iso, never converted; refused.')
    assert os.listdir(store.datadir) == ['img']


@pytest.mark.parametrize('output_format', ['raw', 'qcow2'])
def test_an_image_converted_beyond_the_size_cap_is_refused_and_removed(
        tmp_path, qemu_img, output_format):
    # 256 KiB of qcow2 that is 1 GiB of disk: refused before qemu-img writes the
    # raw gigabyte; a qcow2 output is measured once written.
    conf, store = converter(tmp_path, output_format, image_size_cap=MiB)
    url = staged(store, 'img', images.qcow2(virtual_size=GiB)
                 if output_format == 'raw' else images.raw(2 * MiB))
    disk_format = 'qcow2' if output_format == 'raw' else 'raw'
    with pytest.raises(conversion.ConversionFailed) as refused:
        conversion.convert(conf, store, url, record(disk_format), 'img')
    assert 'larger than the image size cap of %d bytes' % MiB in str(refused.value)
    assert os.listdir(store.datadir) == ['img']
