"""The file driver beyond the conformance suite: containment, atomic writes, and what a
full or read-only file system turns into."""

import os
import uuid

import pytest

from stores import errors
from tests.stores.conftest import MiB, build_store, payload, write_image


def escapes(datadir, outside):
    """Locations that try to reach ``outside`` (a file next to the data directory)."""
    name = os.path.basename(outside)
    return [
        'file://' + outside,
        'file:///etc/passwd',
        'file://%s/../%s' % (datadir, name),
        'file://%s/sub/../../%s' % (datadir, name),
        'file://%s/%%2e%%2e/%s' % (datadir, name),
        'file://%s/./../%s' % (datadir, name),
        'file://localhost%s/../%s' % (datadir, name),
        'file://otherhost%s/image' % datadir,
    ]


@pytest.fixture
def outside(tmp_path):
    path = tmp_path / 'precious'
    path.write_bytes(b'not an image')
    return str(path)


def test_locations_outside_the_datadir_are_refused(file_harness, outside):
    store = file_harness.store
    for url in escapes(file_harness.datadir, outside):
        assert not store.owns(url), url
        for operation in (store.open_reader, store.stat, store.delete):
            with pytest.raises(errors.BadLocation):
                operation(url)
    assert open(outside, 'rb').read() == b'not an image'


def test_symlink_out_of_the_datadir_is_refused(file_harness, outside):
    link = os.path.join(file_harness.datadir, str(uuid.uuid4()))
    os.symlink(outside, link)
    url = 'file://' + link
    for operation in (file_harness.store.open_reader, file_harness.store.stat,
                      file_harness.store.delete):
        with pytest.raises(errors.BadLocation):
            operation(url)
    assert os.path.exists(outside)


def test_symlinked_datadir_itself_is_fine(tmp_path):
    real = tmp_path / 'real'
    real.mkdir()
    link = tmp_path / 'link'
    link.symlink_to(real)
    store = build_store('file', {'filesystem_store_datadir': str(link)})
    stored = write_image(store, b'ok')
    assert store.owns(stored.url)
    assert os.listdir(real) == [stored.url.rsplit('/', 1)[1]]


@pytest.mark.parametrize('image_id', ['../escape', 'a/b', '.hidden', '/abs'])
def test_image_ids_that_are_not_plain_names_are_refused(file_harness, image_id):
    with pytest.raises(errors.BadLocation):
        file_harness.store.open_writer(image_id)
    assert file_harness.backend_names() == []


def test_write_in_progress_is_only_a_hidden_temporary_file(file_harness):
    image_id = str(uuid.uuid4())
    writer = file_harness.store.open_writer(image_id)
    with writer:
        writer.write(payload(100000))
        names = file_harness.backend_names()
        assert len(names) == 1
        assert names[0].startswith('.%s.' % image_id) and names[0].endswith('.tmp')
        stored = writer.commit()
    assert file_harness.backend_names() == [image_id]
    assert stored.url == 'file://%s/%s' % (os.path.realpath(file_harness.datadir),
                                           image_id)


def test_reader_offers_the_open_file_for_sendfile(file_harness):
    data = payload(10000)
    stored = write_image(file_harness.store, data)
    with file_harness.store.open_reader(stored.url, offset=1234) as reader:
        assert reader.fileobj.tell() == 1234
        assert reader.fileobj.read() == data[1234:]


def test_file_permissions_option_is_applied(file_harness):
    store = file_harness.make_store(filesystem_store_file_perm=0o640)
    stored = write_image(store, b'x')
    assert os.stat(stored.url[len('file://'):]).st_mode & 0o777 == 0o640


def test_full_file_system_is_store_full_and_leaves_nothing(mounts):
    datadir = mounts.tmpfs('small', '1m')
    store = build_store('file', {'filesystem_store_datadir': str(datadir)})
    with pytest.raises(errors.StoreFull):
        write_image(store, payload(2 * MiB))
    assert os.listdir(datadir) == []
    # The space is back: a small image still fits.
    assert write_image(store, b'fits').size == 4


def test_read_only_file_system_is_unavailable(mounts):
    datadir = mounts.tmpfs('images', '1m')
    store = build_store('file', {'filesystem_store_datadir': str(datadir)})
    stored = write_image(store, b'kept')
    mounts.make_readonly(datadir)
    with pytest.raises(errors.StoreUnavailable):
        store.open_writer(str(uuid.uuid4()))
    with pytest.raises(errors.StoreUnavailable):
        store.delete(stored.url)
    with store.open_reader(stored.url) as reader:
        assert b''.join(reader) == b'kept'
    with pytest.raises(errors.BadConfiguration):
        build_store('file', {'filesystem_store_datadir': str(datadir)})
