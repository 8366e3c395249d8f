"""The staging sweep's rule, over the real registry in this process: which staged
files go (their image absent, deleted, or in a status no import reads from), which
stay, whatever the image's visibility, hiddenness or owner, and however the
registry pages its answers."""

import os
import time
import uuid

import pytest
from oslo_config import cfg

from glance_api.data import staging, staging_sweep
from glance_registry.client import RegistryClient
from tests.fixtures.inprocess import InProcessDeployment, WsgiTransport, caller


@pytest.fixture
def staging_store(tmp_path):
    conf = cfg.ConfigOpts()
    staging.register_opts(conf)
    conf([], project='glance', default_config_files=[])
    conf.set_override('node_staging_uri', 'file://%s' % (tmp_path / 'staging'))
    return staging.from_conf(conf, probe=False)


@pytest.fixture
def deployment(tmp_path):
    # Pages of one image: the sweep follows the registry's markers.
    (tmp_path / 'glance').mkdir()
    return InProcessDeployment(str(tmp_path / 'glance'),
                               registry={'api_limit_max': 1})


def new_image(deployment, project, **attributes):
    body = dict({'disk_format': 'raw', 'container_format': 'bare'}, **attributes)
    response = deployment.request('POST', '/v2/images', caller(project), body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()['id']


def staged(deployment, project, **attributes):
    image_id = new_image(deployment, project, **attributes)
    response = deployment.request('PUT', '/v2/images/%s/stage' % image_id,
                                  caller(project), b'staged bytes',
                                  content_type='application/octet-stream')
    assert response.status_code == 204, response.get_data(as_text=True)
    return image_id


def plant(store, name):
    with open(os.path.join(store.datadir, name), 'wb') as f:
        f.write(b'left behind')


@pytest.mark.parametrize('image_id, expected', [
    ('6f1e4a1c-7f0e-4a8e-9d1e-2b8c1d0e9f10', '6f1e4a1c-7f0e-4a8e-9d1e-2b8c1d0e9f10'),
    ('6f1e4a1c-7f0e-4a8e-9d1e-2b8c1d0e9f10.converted-ab12',
     '6f1e4a1c-7f0e-4a8e-9d1e-2b8c1d0e9f10'),
    ('.6f1e4a1c-7f0e-4a8e-9d1e-2b8c1d0e9f10.0123.tmp', None),
    ('.sweeper.lock', None),
    ('notes.txt', None),
    ('6f1e4a1c', None),
])
def test_which_names_belong_to_an_image(image_id, expected):
    assert staging_sweep.image_id_of(image_id) == expected


def test_files_of_images_that_cannot_use_them_go_the_others_stay(
        deployment, staging_store, monkeypatch):
    # Three ids per list call (four of the eight images are listed as not
    # hidden: one call, at least, has two of them), answered one image a page.
    monkeypatch.setattr(staging_sweep, 'BATCH', 3)
    owner, other = uuid.uuid4().hex, uuid.uuid4().hex
    using = [staged(deployment, owner), staged(deployment, owner, os_hidden=True),
             staged(deployment, other, visibility='community'),
             staged(deployment, other, visibility='shared'),
             staged(deployment, other, visibility='private', os_hidden=True)]
    queued = new_image(deployment, owner)
    deleted = new_image(deployment, owner)
    assert deployment.request('DELETE', '/v2/images/%s' % deleted,
                              caller(owner)).status_code == 204
    absent = str(uuid.uuid4())
    for image_id in using + [queued, deleted, absent]:
        plant(staging_store, image_id)
    plant(staging_store, '%s.converted-1' % absent)
    plant(staging_store, 'notes.txt')

    removed = staging_sweep.sweep(staging_store, deployment.registry, min_age=0)

    assert sorted(removed) == sorted([queued, deleted, absent,
                                      '%s.converted-1' % absent])
    assert sorted(os.listdir(staging_store.datadir)) == sorted(using + ['notes.txt'])


def test_files_younger_than_the_minimum_age_stay(deployment, staging_store):
    absent = str(uuid.uuid4())
    plant(staging_store, absent)
    assert staging_sweep.sweep(staging_store, deployment.registry, min_age=60) == []
    assert staging_sweep.sweep(staging_store, deployment.registry, min_age=60,
                               now=time.time() + 61) == [absent]


def test_nothing_goes_when_the_registry_cannot_answer(deployment, staging_store):
    absent = str(uuid.uuid4())
    plant(staging_store, absent)
    refused = RegistryClient('http://registry.invalid', 'not the registry secret',
                             transport=WsgiTransport(deployment.registry_app))
    assert staging_sweep.sweep(staging_store, refused, min_age=0) == []
    assert os.listdir(staging_store.datadir) == [absent]


def test_one_sweeper_holds_the_staging_directory_and_leaves_no_file(staging_store):
    holder = staging_sweep._try_lock(staging_store.datadir)
    try:
        assert holder is not None
        assert staging_sweep._try_lock(staging_store.datadir) is None
        assert os.listdir(staging_store.datadir) == []
    finally:
        os.close(holder)
    again = staging_sweep._try_lock(staging_store.datadir)
    assert again is not None
    os.close(again)
