"""The standard clients, unchanged, against the no-auth deployment.

python-openstackclient and python-glanceclient run as the command-line tools users
type; openstacksdk and glanceclient are also used as libraries.
"""

import hashlib
import io
import json
import os
import subprocess
import sys
import uuid

import glanceclient
import glanceclient.v2.client
import openstack
import pytest

from tests.fixtures import disk_images

BIN = os.path.dirname(sys.executable)


@pytest.fixture
def disk(tmp_path):
    path = tmp_path / 'disk.raw'
    path.write_bytes(disk_images.raw(1024 * 1024 + 3))
    return path


def run(command, env):
    result = subprocess.run(command, env=dict(os.environ, **env), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_openstackclient_image_lifecycle(glance, disk, tmp_path):
    env = {'OS_AUTH_TYPE': 'none', 'OS_ENDPOINT': glance.url,
           'OS_IMAGE_API_VERSION': '2'}
    openstack_cli = [os.path.join(BIN, 'openstack')]
    created = json.loads(run(openstack_cli + [
        'image', 'create', '--file', str(disk), '--disk-format', 'raw',
        '--container-format', 'bare', 'osc-cirros', '-f', 'json'], env))
    assert created['status'] == 'active'
    image_id = created['id']

    listed = json.loads(run(openstack_cli + ['image', 'list', '-f', 'json'], env))
    assert image_id in [image['ID'] for image in listed]

    run(openstack_cli + ['image', 'set', '--property', 'os_distro=cirros', image_id],
        env)
    shown = json.loads(run(openstack_cli + ['image', 'show', image_id, '-f', 'json'],
                           env))
    assert shown['properties']['os_distro'] == 'cirros'
    assert shown['checksum'] == hashlib.md5(disk.read_bytes()).hexdigest()

    out = tmp_path / 'out.qcow2'
    run(openstack_cli + ['image', 'save', '--file', str(out), image_id], env)
    assert out.read_bytes() == disk.read_bytes()

    run(openstack_cli + ['image', 'delete', image_id], env)
    listed = json.loads(run(openstack_cli + ['image', 'list', '-f', 'json'], env))
    assert image_id not in [image['ID'] for image in listed]


def table(output):
    """The ``| Property | Value |`` rows of a glance CLI table, as a dict."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip('|').split('|')]
        if len(cells) == 2 and line.startswith('|'):
            rows[cells[0]] = cells[1]
    return rows


def test_glance_cli_image_create_and_list(glance, disk, tmp_path):
    env = {'OS_IMAGE_URL': glance.url, 'OS_AUTH_TOKEN': 'none'}
    glance_cli = [os.path.join(BIN, 'glance')]
    created = table(run(glance_cli + [
        'image-create', '--name', 'cli-cirros', '--disk-format', 'raw',
        '--container-format', 'bare', '--file', str(disk)], env))
    data = disk.read_bytes()
    assert (created['status'], created['size'], created['checksum']) == (
        'active', str(len(data)), hashlib.md5(data).hexdigest())
    assert 'cli-cirros' in run(glance_cli + ['image-list'], env)
    out = tmp_path / 'out.qcow2'
    run(glance_cli + ['image-download', '--file', str(out), created['id']], env)
    assert out.read_bytes() == data


def test_glance_cli_reports_a_missing_image_clearly(glance):
    env = {'OS_IMAGE_URL': glance.url, 'OS_AUTH_TOKEN': 'none'}
    result = subprocess.run([os.path.join(BIN, 'glance'), 'image-show',
                             '00000000-0000-0000-0000-000000000000'],
                            env=dict(os.environ, **env), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert 'No image found with ID 00000000-0000-0000-0000-000000000000' in \
        result.stderr, result.stderr
    assert 'Traceback' not in result.stderr


def test_glanceclient_library_round_trip(glance):
    client = glanceclient.v2.client.Client(glance.url)
    data = disk_images.raw(300000)
    image = client.images.create(name='lib', disk_format='raw',
                                 container_format='bare', color='green')
    client.images.upload(image['id'], io.BytesIO(data))
    fetched = client.images.get(image['id'])
    assert fetched['status'] == 'active' and fetched['color'] == 'green'
    assert b''.join(client.images.data(image['id'])) == data
    client.images.update(image['id'], color='blue', remove_props=[])
    client.image_tags.update(image['id'], 'tagged')
    fetched = client.images.get(image['id'])
    assert fetched['color'] == 'blue' and fetched['tags'] == ['tagged']
    assert image['id'] in [i['id'] for i in client.images.list(filters={'tag': ['tagged']})]
    client.images.deactivate(image['id'])
    client.images.reactivate(image['id'])
    client.images.delete(image['id'])
    with pytest.raises(glanceclient.exc.HTTPNotFound):
        client.images.get(image['id'])


def test_openstacksdk_round_trip(glance, tmp_path):
    conn = openstack.connection.Connection(auth_type='none',
                                           image_endpoint_override=glance.url)
    data = disk_images.raw(200000)
    image = conn.image.create_image(name='sdk', data=data, disk_format='raw',
                                    container_format='bare', validate_checksum=True)
    assert image.status == 'active'
    assert image.checksum == hashlib.md5(data).hexdigest()
    conn.image.update_image(image, min_ram=256)
    assert conn.image.get_image(image.id).min_ram == 256
    assert image.id in [i.id for i in conn.image.images()]
    response = conn.image.download_image(image)
    assert response == data or getattr(response, 'content', None) == data
    conn.image.delete_image(image)
    assert conn.image.find_image(image.id) is None


IDENTITY = {'X-User-Id': 'alice', 'X-Roles': 'member,reader'}


def test_glanceclient_library_acts_as_a_project_with_identity_headers(glance):
    """What the README shows: glanceclient sends its identity_headers %-encoded
    ("member%2Creader"), and the API reads them as the roles they name."""
    project = uuid.uuid4().hex
    client = glanceclient.v2.client.Client(
        glance.url, token='none', identity_headers=dict(IDENTITY, **{
            'X-Project-Id': project}))
    image = client.images.create(name='as-a-project', disk_format='raw',
                                 container_format='bare')
    assert image['owner'] == project
    assert image['id'] in [i['id'] for i in client.images.list()]
    assert client.images.get(image['id'])['owner'] == project


def test_openstacksdk_acts_as_a_project_with_additional_headers(glance):
    project = uuid.uuid4().hex
    conn = openstack.connect(auth_type='none', load_envvars=False,
                             image_endpoint_override=glance.url)
    conn.session.additional_headers.update(dict(IDENTITY, **{
        'X-Project-Id': project}))
    image = conn.image.create_image(name='as-a-project', disk_format='raw',
                                    container_format='bare')
    assert image.owner == project
    assert conn.image.get_image(image.id).owner == project
