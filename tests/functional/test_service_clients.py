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

import glanceclient
import pytest

from tests.fixtures import deployment


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
