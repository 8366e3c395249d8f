"""glance_api.data.decompression: what is recognised as compressed, what a stage
lets through uninspected, and what the decompression writes (bounded, a member
by its entry, nothing left on failure). The import tasks around it are in
tests/functional/test_import_decompression.py."""

import gzip
import io
import os
import zipfile

import pytest

from glance_api.data import decompression, inspection
from tests.fixtures import disk_images as images
from tests.unit.api.data import plugin_conf

MiB = images.MiB


def decompressor(tmp_path, image_size_cap=64 * MiB):
    return plugin_conf.plugin_deployment(tmp_path, 'image_decompression',
                                         image_size_cap)


def staged(store, data):
    path = os.path.join(store.datadir, 'img')
    with open(path, 'wb') as f:
        f.write(data)
    return 'file://' + path


BARE = {'disk_format': 'qcow2', 'container_format': 'bare'}


@pytest.mark.parametrize('head, kind', [
    (b'PK\x03\x04rest', 'zip'),
    (b'\x1f\x8b\x08\x00\x00', 'gzip'),
    (b'\x22\x00-lh5-', 'lha'),
    (b'QFI\xfb\x00', None),
    (b'\x1f\x8b\x07\x00\x00', None),   # gzip's magic, another method: not gzip
    (b'PK\x05\x06\x00', None),         # an empty zip: no member to import
])
def test_compressed_data_is_recognised_by_its_first_bytes(head, kind):
    assert decompression.kind_of(head) == kind


@pytest.mark.parametrize('chunk_size', [1, 3, 64 * 1024])
def test_a_stage_lets_compressed_bytes_through_uninspected(tmp_path, chunk_size):
    conf, _ = decompressor(tmp_path)
    content = decompression.stage_inspection(conf, BARE,
                                             inspection.Rules.from_conf(conf))
    data = gzip.compress(images.raw(256 * 1024))
    for start in range(0, len(data), chunk_size):
        content.feed(data[start:start + chunk_size])
    assert content.finish() == inspection.Verdict()
    assert decompression.held_back(content)


@pytest.mark.parametrize('data', [b'\x1f\x8b', images.raw()],
                         ids=['shorter than any header', 'raw'])
def test_a_stage_inspects_what_is_not_compressed(tmp_path, data):
    conf, _ = decompressor(tmp_path)
    content = decompression.stage_inspection(conf, BARE,
                                             inspection.Rules.from_conf(conf))
    content.feed(data[:2])
    content.feed(data[2:])
    with pytest.raises(inspection.ContentRefused):
        content.finish()
    assert not decompression.held_back(content)


def test_a_stage_without_the_plugin_is_the_plain_inspection(tmp_path):
    conf, _ = decompressor(tmp_path)
    conf.set_override('image_import_plugins', [], group='image_import_opts')
    content = decompression.stage_inspection(conf, BARE,
                                             inspection.Rules.from_conf(conf))
    assert isinstance(content, inspection.Inspection)


def test_a_zip_member_is_read_by_its_entry_never_by_its_name(tmp_path):
    conf, store = decompressor(tmp_path)
    disk = images.raw()
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w') as archive:
        archive.writestr('../../escaped', disk)
    moved = []
    done = decompression.decompress(conf, store, staged(store, out.getvalue()),
                                    BARE, 'img', moved.append)
    path = done.url[len('file://'):]
    assert os.path.dirname(path) == store.datadir
    with open(path, 'rb') as f:
        assert f.read() == disk
    assert (done.kind, done.size, sum(moved)) == ('zip', len(disk), len(disk))
    assert not os.path.exists(os.path.join(tmp_path, 'escaped'))


def test_output_past_the_cap_stops_there_and_is_removed(tmp_path):
    conf, store = decompressor(tmp_path, image_size_cap=MiB)
    moved = []
    url = staged(store, gzip.compress(bytes(8 * MiB)))
    with pytest.raises(decompression.DecompressionFailed) as refused:
        decompression.decompress(conf, store, url, BARE, 'img', moved.append)
    assert 'larger than the image size cap of 1048576 bytes' in str(refused.value)
    assert sum(moved) <= MiB
    assert os.listdir(store.datadir) == ['img']


def test_a_failure_of_the_heartbeat_removes_what_was_written(tmp_path):
    conf, store = decompressor(tmp_path)
    url = staged(store, gzip.compress(images.raw(4 * MiB)))

    def lost(size):
        raise KeyboardInterrupt   # what the job raises once its lease is lost

    with pytest.raises(KeyboardInterrupt):
        decompression.decompress(conf, store, url, BARE, 'img', lost)
    assert os.listdir(store.datadir) == ['img']


def test_uncompressed_or_compressed_container_data_is_left_alone(tmp_path):
    conf, store = decompressor(tmp_path)
    assert decompression.decompress(conf, store, staged(store, images.raw()), BARE,
                                    'img', None) is None
    url = staged(store, gzip.compress(images.raw()))
    assert decompression.decompress(conf, store, url, dict(
        BARE, container_format='compressed'), 'img', None) is None
    assert os.listdir(store.datadir) == ['img']
