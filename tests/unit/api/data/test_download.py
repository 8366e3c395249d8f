"""Opening a download with the node's cache on: a file store's miss goes out
zero-copy while the cache fills from a second reader of its own; and a store file
shorter than its image is not sent as if it were whole."""

import os
import time

import pytest

from glance_api.data.cache import image_cache
from glance_api.data.cache import index as cache_index
from stores import errors as store_errors
from tests.fixtures.inprocess import InProcessDeployment
from tests.unit.stores.conftest import build_store

DATA = os.urandom(200 * 1024)


@pytest.fixture
def cached_file_store(tmp_path):
    """An in-process API over a file store, with the image cache on, and one
    active image in it."""
    store = build_store('file', {'filesystem_store_datadir': str(tmp_path / 'images')})
    deployment = InProcessDeployment(
        str(tmp_path), api={'image_cache_dir': str(tmp_path / 'cache')}, store=store)
    created = deployment.request('POST', '/v2/images', body={
        'name': 'cached', 'disk_format': 'raw', 'container_format': 'bare'})
    assert created.status_code == 201, created.data
    image_id = created.get_json()['id']
    uploaded = deployment.request('PUT', '/v2/images/%s/file' % image_id, body=DATA,
                                  content_type='application/octet-stream')
    assert uploaded.status_code == 204, uploaded.data
    deployment.image_id = image_id
    deployment.cache = deployment.app.extensions['glance'].cache
    return deployment


def _download(deployment):
    response = deployment.request('GET', '/v2/images/%s/file' % deployment.image_id)
    body = response.get_data()
    response.close()
    return response.status_code, body


def _wait_cached(deployment, timeout=10):
    path = deployment.cache.path_for(deployment.image_id)
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_miss_is_sent_from_the_store_file_and_cached_from_a_reader_of_its_own(
        cached_file_store):
    assert _download(cached_file_store) == (200, DATA)
    assert _wait_cached(cached_file_store)
    with open(cached_file_store.cache.path_for(cached_file_store.image_id), 'rb') as f:
        assert f.read() == DATA


def test_a_fill_whose_own_reader_cannot_open_is_aborted_and_the_download_goes_on(
        cached_file_store, monkeypatch):
    store = cached_file_store.store
    real_open = store.open_reader
    opened = []

    def second_open_fails(url, *args, **kwargs):
        # The file going between the download's open and the fill's: a race that
        # cannot be timed from outside.
        opened.append(url)
        if len(opened) == 2:
            raise store_errors.NotFound('gone between two opens')
        return real_open(url, *args, **kwargs)

    monkeypatch.setattr(store, 'open_reader', second_open_fails)
    assert _download(cached_file_store) == (200, DATA)
    assert len(opened) == 2
    incomplete = os.path.join(cached_file_store.cache.directory,
                              image_cache.INCOMPLETE)
    index = cached_file_store.cache.index
    deadline = time.monotonic() + 10
    # The fill's thread ends it: its file and its reservation go.
    while os.listdir(incomplete) or index.entries(cache_index.FILLING):
        assert time.monotonic() < deadline, 'the aborted fill was not ended'
        time.sleep(0.05)
    assert not os.path.exists(
        cached_file_store.cache.path_for(cached_file_store.image_id))

    # Its reservation is gone with it: the next miss fills the cache.
    monkeypatch.setattr(store, 'open_reader', real_open)
    assert _download(cached_file_store) == (200, DATA)
    assert _wait_cached(cached_file_store)


@pytest.fixture
def file_store_image(tmp_path):
    """An in-process API over a file store, cache off, with one active image."""
    store = build_store('file', {'filesystem_store_datadir': str(tmp_path / 'images')})
    deployment = InProcessDeployment(str(tmp_path), store=store)
    created = deployment.request('POST', '/v2/images', body={
        'name': 'short', 'disk_format': 'raw', 'container_format': 'bare'})
    image_id = created.get_json()['id']
    uploaded = deployment.request('PUT', '/v2/images/%s/file' % image_id, body=DATA,
                                  content_type='application/octet-stream')
    assert uploaded.status_code == 204, uploaded.data
    deployment.image_id = image_id
    deployment.path = str(tmp_path / 'images' / image_id)
    return deployment


@pytest.mark.parametrize('headers, status, body', [
    ({}, 503, None),
    ({'Range': 'bytes=1000-'}, 503, None),
    ({'Range': 'bytes=%d-%d' % (len(DATA) // 2 - 10, len(DATA) // 2 + 10)}, 503, None),
    # What the file still holds is sent.
    ({'Range': 'bytes=0-9'}, 206, DATA[:10]),
], ids=['whole', 'from 1000', 'across the end', 'within'])
def test_a_store_file_shorter_than_the_image_is_not_sent_as_if_whole(
        file_store_image, headers, status, body):
    # A file cut short behind the service's back (a full disk, an operator): a
    # response with the image's Content-Length and fewer bytes would leave the
    # client waiting for the rest until its own timeout.
    os.truncate(file_store_image.path, len(DATA) // 2)
    response = file_store_image.request(
        'GET', '/v2/images/%s/file' % file_store_image.image_id, headers=headers)
    received = response.get_data()
    response.close()
    assert response.status_code == status, received[:200]
    if body is None:
        assert response.get_json()['message'] == (
            'Image data is temporarily unavailable.')
    else:
        assert received == body
        assert int(response.headers['Content-Length']) == len(body)
    shown = file_store_image.request(
        'GET', '/v2/images/%s' % file_store_image.image_id).get_json()
    assert (shown['status'], shown['size']) == ('active', len(DATA))
    assert os.path.getsize(file_store_image.path) == len(DATA) // 2
