"""Every standard client shows the server's reason for a refused request.

Each client reads an error body its own way (``glance_api.http.errors``): the table
below runs the real ``openstack`` and ``glance`` commands, and openstacksdk, into a
400, 403, 404 and 409 from create, show, update, delete and upload, and looks for the
server's message in what the user sees. Where a client never shows the server's
message (it looks an image up itself first, or prints its own), the case is not
listed: see the notes at each table.
"""

import os
import subprocess
import sys
import uuid
import warnings

import openstack
import pytest

from tests.fixtures import deployment

BIN = os.path.dirname(sys.executable)
LONG_KEY = 'k' * 256

# The server's reasons, as each case's answer says them.
REASONS = {
    'create-400-schema': "does not match schema 'image'",
    'create-400-key': "Custom property should not be greater than 255 characters.",
    'create-403': "Attribute 'os_glance_x' is reserved.",
    'create-409': 'An image with identifier {active} already exists',
    # As upstream: an image the caller may not see is not found.
    'show-404-policy': 'No image found with ID {community}',
    'show-404': 'No image found with ID {missing}',
    'update-400-schema': '-1 is less than the minimum of 0 (at min_ram)',
    'update-400-key': "Custom property should not be greater than 255 characters.",
    'update-403': "Attribute 'os_glance_x' is reserved.",
    'update-404': 'No image found with ID {missing}',
    'delete-403': 'Image {protected} is protected and cannot be deleted.',
    'delete-404': 'No image found with ID {missing}',
    'upload-400': 'Properties disk_format, container_format must be set prior to '
                  'saving data.',
    'upload-403': 'You are not authorized to complete upload_image action.',
    'upload-404': 'No image found with ID {missing}',
    'upload-409': "Image status transition from 'active' to 'saving' is not allowed",
}


@pytest.fixture(scope='module')
def glance(tmp_path_factory):
    """A deployment whose policy refuses to show community images and to upload to
    public ones, even to the anonymous admin the clients act as: the way to a 404
    from show (an image the caller may not see) and a 403 from upload."""
    workdir = tmp_path_factory.mktemp('client-errors')
    policy_file = workdir / 'policy.yaml'
    policy_file.write_text('"get_image": "not \'community\':%(visibility)s"\n'
                           '"upload_image": "not \'public\':%(visibility)s"\n')
    with deployment.running(workdir, api_extra={
            'oslo_policy': {'policy_file': str(policy_file)}}) as glance:
        yield glance


@pytest.fixture(scope='module')
def images(glance):
    """The images the cases act on, by role; none of the cases changes them."""
    with glance.client() as admin:
        active = admin.create_image(disk_format='raw')
        assert admin.upload(active['id'], b'data').status_code == 204
        return {
            'active': active['id'],
            'protected': admin.create_image(protected=True)['id'],
            'community': admin.create_image(visibility='community')['id'],
            'public': admin.create_image(visibility='public')['id'],
            'unformatted': admin.post('/v2/images', json={}).json()['id'],
            'missing': str(uuid.uuid4()),
        }


@pytest.fixture(scope='module')
def disk(tmp_path_factory):
    path = tmp_path_factory.mktemp('disk') / 'disk.raw'
    path.write_bytes(b'disk data')
    return str(path)


def run_cli(command, env):
    """What the user sees of a command that must fail: its stdout and stderr."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    result = subprocess.run(command, env=dict(clean, **env), capture_output=True,
                            stdin=subprocess.DEVNULL, text=True, timeout=120)
    seen = result.stdout + result.stderr
    assert result.returncode != 0, seen
    assert 'Traceback' not in seen, seen
    return seen


def expected(case, images):
    return REASONS[case].format(**images)


# openstackclient looks an image up by name or id before it shows, updates or
# deletes it, and takes a 404 or 403 from that look-up for "no such id" (its own
# "No Image found for ..."); it uploads only to the image it creates. So: no 403 or
# 404 from show, update or delete, no 400, 404 or 409 from an upload.
OPENSTACK_CASES = [
    ('create-400-schema', ['image', 'create', '--disk-format', 'raw',
                           '--container-format', 'bare', '--min-ram', '-1', 'x']),
    ('create-403', ['image', 'create', '--property', 'os_glance_x=1', 'x']),
    ('create-409', ['image', 'create', '--id', '{active}', 'x']),
    ('update-400-schema', ['image', 'set', '--min-ram', '-1', '{active}']),
    ('update-403', ['image', 'set', '--property', 'os_glance_x=1', '{active}']),
    ('delete-403', ['image', 'delete', '{protected}']),
    ('upload-403', ['image', 'create', '--public', '--file', '{disk}', 'x']),
]


@pytest.mark.parametrize('case, args', OPENSTACK_CASES,
                         ids=[case for case, _ in OPENSTACK_CASES])
def test_openstackclient_shows_the_servers_reason(glance, images, disk, case, args):
    env = {'OS_AUTH_TYPE': 'none', 'OS_ENDPOINT': glance.url,
           'OS_IMAGE_API_VERSION': '2'}
    args = [arg.format(disk=disk, **images) for arg in args]
    seen = run_cli([os.path.join(BIN, 'openstack')] + args, env)
    assert expected(case, images) in seen, seen


# Without them, image-create takes the test's stdin for image data it needs
# formats for.
FORMATS = ['--disk-format', 'raw', '--container-format', 'bare']

# python-glanceclient checks what it sends against the image schema first (so a
# schema 400 is its own message; a property key over 255 characters it lets
# through), and prints its own message for a 403 or 404 from a delete.
GLANCE_CASES = [
    ('create-400-key', ['image-create', '--property', LONG_KEY + '=v'] + FORMATS),
    ('create-403', ['image-create', '--property', 'os_glance_x=1'] + FORMATS),
    ('create-409', ['image-create', '--id', '{active}'] + FORMATS),
    ('show-404-policy', ['image-show', '{community}']),
    ('show-404', ['image-show', '{missing}']),
    ('update-400-key', ['image-update', '--property', LONG_KEY + '=v', '{active}']),
    ('update-403', ['image-update', '--property', 'os_glance_x=1', '{active}']),
    ('update-404', ['image-update', '--name', 'y', '{missing}']),
    ('upload-400', ['image-upload', '--file', '{disk}', '{unformatted}']),
    ('upload-403', ['image-upload', '--file', '{disk}', '{public}']),
    ('upload-404', ['image-upload', '--file', '{disk}', '{missing}']),
    ('upload-409', ['image-upload', '--file', '{disk}', '{active}']),
]


@pytest.mark.parametrize('case, args', GLANCE_CASES,
                         ids=[case for case, _ in GLANCE_CASES])
def test_glance_cli_shows_the_servers_reason(glance, images, disk, case, args):
    env = {'OS_IMAGE_URL': glance.url, 'OS_AUTH_TOKEN': 'none'}
    args = [arg.format(disk=disk, **images) for arg in args]
    seen = run_cli([os.path.join(BIN, 'glance')] + args, env)
    assert expected(case, images) in seen, seen


def _upload(conn, image_id):
    # As openstacksdk's own create_image uploads.
    image = conn.image.get_image(image_id)
    openstack.exceptions.raise_from_response(image.upload(conn.image, data=b'data'))


SDK_CASES = [
    ('create-400-schema', lambda conn, ids: conn.image.create_image(
        'x', disk_format='not-a-format', container_format='bare')),
    ('create-403', lambda conn, ids: conn.image.create_image(
        'x', disk_format='raw', container_format='bare', os_glance_x='1')),
    ('create-409', lambda conn, ids: conn.image.create_image(
        'x', disk_format='raw', container_format='bare', id=ids['active'])),
    ('show-404-policy', lambda conn, ids: conn.image.get_image(ids['community'])),
    ('show-404', lambda conn, ids: conn.image.get_image(ids['missing'])),
    ('update-400-schema', lambda conn, ids: conn.image.update_image(
        ids['active'], min_ram=-1)),
    ('update-403', lambda conn, ids: conn.image.update_image(
        ids['active'], os_glance_x='1')),
    ('update-404', lambda conn, ids: conn.image.update_image(
        ids['missing'], name='y')),
    ('delete-403', lambda conn, ids: conn.image.delete_image(
        ids['protected'], ignore_missing=False)),
    ('delete-404', lambda conn, ids: conn.image.delete_image(
        ids['missing'], ignore_missing=False)),
    ('upload-400', lambda conn, ids: _upload(conn, ids['unformatted'])),
    ('upload-403', lambda conn, ids: _upload(conn, ids['public'])),
    ('upload-409', lambda conn, ids: _upload(conn, ids['active'])),
]


@pytest.mark.parametrize('case, call', SDK_CASES, ids=[case for case, _ in SDK_CASES])
def test_openstacksdk_shows_the_servers_reason(glance, images, case, call):
    conn = openstack.connection.Connection(auth_type='none',
                                           image_endpoint_override=glance.url)
    status = int(case.split('-')[1])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with pytest.raises(openstack.exceptions.HttpException) as refused:
            call(conn, images)
    assert refused.value.status_code == status
    assert expected(case, images) in str(refused.value), str(refused.value)
