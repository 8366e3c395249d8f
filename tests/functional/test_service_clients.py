"""The image service's other users: OpenStack services, calling python-glanceclient
as they do (Nova: nova/image/glance.py; Cinder: cinder/image/glance.py; Ironic's
glance image service; Heat, Magnum and Octavia's image lookups), against the real
registry and API processes.

One deployment of its own: locations and ``direct_url`` shown, a location's data
hashed in the background (as a deployment serving Cinder's or Nova's RBD-style
locations is configured). Callers act as a project with identity headers, the
service ones with the ``service`` role as well, as a service token adds it.
"""

import hashlib
import io
import pathlib
import time
import uuid

import glanceclient
import glanceclient.exc
import pytest

from tests.fixtures import deployment
from tests.fixtures import disk_images


@pytest.fixture(scope='module')
def glance(tmp_path_factory):
    with deployment.running(tmp_path_factory.mktemp('services'), api_extra={
            'DEFAULT': {'show_multiple_locations': True,
                        'show_image_direct_url': True}}) as glance:
        yield glance


def client(glance, project, roles=('member', 'reader')):
    """glanceclient's v2 Client acting as ``project`` with ``roles``."""
    return glanceclient.Client('2', glance.url, token='none', identity_headers={
        'X-Project-Id': project, 'X-User-Id': 'user-of-%s' % project,
        'X-Roles': ','.join(roles)})


def settled(images, image_id, timeout=30):
    """The image once its location's data has been hashed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        image = images.get(image_id)
        if image['status'] != 'importing':
            return image
        time.sleep(0.1)
    raise AssertionError('image %s still importing' % image_id)


def test_nova_activates_a_volume_backed_snapshot_with_an_empty_upload(glance):
    # Nova's create() with size 0 and no data ("force_activate"): the snapshot of
    # a volume-backed server is an image with no data of its own, its disk_format
    # the schema's first preferred one (qcow2), activated by uploading nothing.
    glance_client = client(glance, deployment.new_project())
    image = glance_client.images.create(
        name='server-snapshot', disk_format='qcow2', container_format='bare',
        block_device_mapping='[{"boot_index": 0, "source_type": "snapshot"}]',
        root_device_name='/dev/vda', bdm_v2='True', image_type='snapshot')
    glance_client.images.upload(image['id'], '')
    image = glance_client.images.get(image['id'])
    assert (image['status'], image['size'], image['disk_format']) == (
        'active', 0, 'qcow2')
    assert image['os_hash_value'] == hashlib.sha512(b'').hexdigest()
    assert b''.join(glance_client.images.data(image['id'])) == b''


def test_cinder_adds_a_location_with_glanceclients_empty_validation_data(glance):
    # glanceclient's add_image_location sends "validation_data": {} unless told
    # otherwise (Cinder, 2024.2+): no values to check, so the data is hashed.
    project = deployment.new_project()
    owner = client(glance, project)
    cinder = client(glance, project, roles=('member', 'reader', 'service'))
    data = disk_images.raw(64 * 1024)
    path = pathlib.Path(glance.datadir) / ('volume-%s' % uuid.uuid4().hex)
    path.write_bytes(data)
    image = owner.images.create(name='from-volume', disk_format='raw',
                                container_format='bare')
    cinder.images.add_image_location(image['id'], 'file://%s' % path)
    image = settled(owner.images, image['id'])
    assert (image['status'], image['size'], image['os_hash_value']) == (
        'active', len(data), hashlib.sha512(data).hexdigest())
    locations = cinder.images.get_image_locations(image['id'])
    assert [location['url'] for location in locations] == ['file://%s' % path]
    assert b''.join(owner.images.data(image['id'])) == data



def test_cinder_uploads_an_encrypted_volume_as_raw_luks(glance):
    # Cinder's upload-to-image of an encrypted volume: the volume's bytes as they
    # are (a LUKS header, then ciphertext) declared raw, the key named by
    # cinder_encryption_key_id; a volume created from the image opens it with that
    # key.
    glance_client = client(glance, deployment.new_project())
    image = glance_client.images.create(
        name='encrypted-volume', disk_format='raw', container_format='bare',
        visibility='private', protected=False,
        cinder_encryption_key_id=str(uuid.uuid4()),
        cinder_encryption_key_deletion_policy='on_image_deletion')
    data = disk_images.luks()
    glance_client.images.upload(image['id'], io.BytesIO(data))
    image = glance_client.images.get(image['id'])
    assert (image['status'], image['size'], image['virtual_size']) == (
        'active', len(data), len(data))
    assert b''.join(glance_client.images.data(image['id'])) == data


def test_luks_declared_raw_without_an_encryption_key_is_refused(glance):
    glance_client = client(glance, deployment.new_project())
    image = glance_client.images.create(name='not-a-volume', disk_format='raw',
                                        container_format='bare')
    with pytest.raises(glanceclient.exc.HTTPBadRequest, match='content is luks'):
        glance_client.images.upload(image['id'], io.BytesIO(disk_images.luks()))
    assert glance_client.images.get(image['id'])['status'] == 'queued'

def test_nova_snapshot_is_created_updated_uploaded_and_verified_on_download(glance):
    # Nova's snapshot: create with the instance's properties, update them with
    # remove_props (purge_props), upload; a boot downloads it and glanceclient
    # checks the data against os_hash_algo/os_hash_value.
    glance_client = client(glance, deployment.new_project())
    image = glance_client.images.create(
        name='snap', disk_format='raw', container_format='bare', min_ram=512,
        min_disk=1, instance_uuid=str(uuid.uuid4()), image_type='snapshot',
        base_image_ref=str(uuid.uuid4()), image_state='available', os_hidden=False)
    glance_client.images.update(image['id'], remove_props=['image_state'],
                                os_type='linux')
    data = disk_images.raw(3 * 1024 * 1024 + 7)
    glance_client.images.upload(image['id'], io.BytesIO(data))
    image = glance_client.images.get(image['id'])
    assert 'image_state' not in image
    assert (image['status'], image['os_type'], image['min_ram']) == (
        'active', 'linux', 512)
    assert image['direct_url'] == image['locations'][0]['url']
    assert b''.join(glance_client.images.data(image['id'])) == data


def test_orchestrators_find_images_by_name_tag_property_and_hidden(glance):
    # Heat (name), Octavia (tag, active, owner, newest first), Magnum (os_distro),
    # and os_hidden images left out unless asked for.
    project = deployment.new_project()
    glance_client = client(glance, project)
    image = glance_client.images.create(name='amphora-x64', disk_format='raw',
                                        container_format='bare', tags=['amphora'],
                                        os_distro='fedora-coreos')
    glance_client.images.upload(image['id'], io.BytesIO(disk_images.raw(4096)))
    hidden = glance_client.images.create(name='amphora-x64', disk_format='raw',
                                         container_format='bare', os_hidden=True)

    def ids(**kwargs):
        return [found['id'] for found in glance_client.images.list(**kwargs)]

    assert ids(filters={'name': 'amphora-x64'}) == [image['id']]
    assert ids(filters={'tag': ['amphora'], 'status': 'active', 'owner': project},
               sort_key='created_at', sort_dir='desc', limit=2) == [image['id']]
    assert ids(filters={'os_distro': 'fedora-coreos'}) == [image['id']]
    assert ids(filters={'name': 'amphora-x64', 'os_hidden': True}) == [hidden['id']]
