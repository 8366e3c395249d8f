"""Image content safety against the real registry and API processes: one crafted
image per upstream CVE class refused on upload and on the verification of an added
location, mismatches with disk_format refused, and real images of every format
(made by qemu-img) accepted with the virtual size qemu-img reports.

Every refusal is checked to leave nothing behind: the image is ``queued`` without
data, nothing of it is in the store, and it still takes a good upload. Deployments
of their own: ``glance`` (the defaults: require_image_format_match on; a larger
size cap than the shared deployment's, for VHDX) and ``lenient``
(require_image_format_match off, the GPT ``mbr`` check non-fatal, monolithicSparse
the only VMDK type).
"""

import os
import subprocess
import sys
import time
import uuid

import pytest

from glance_registry.client import Lease, RegistryClient
from glance_registry.client.identity import Identity
from tests.fixtures import deployment
from tests.fixtures import disk_images as images

KiB, MiB, GiB = images.KiB, images.MiB, images.GiB
BIN = os.path.dirname(sys.executable)
NO_DATA = dict.fromkeys(['size', 'virtual_size', 'checksum', 'os_hash_algo',
                         'os_hash_value'])


@pytest.fixture(scope='module')
def glance(tmp_path_factory):
    with deployment.running(tmp_path_factory.mktemp('content'), api_extra={
            'DEFAULT': {'image_size_cap': 64 * MiB}}) as glance:
        yield glance


@pytest.fixture(scope='module')
def lenient(tmp_path_factory):
    with deployment.running(tmp_path_factory.mktemp('lenient'), api_extra={
            'image_format': {'require_image_format_match': False,
                             'gpt_safety_checks_nonfatal': 'mbr',
                             'vmdk_allowed_types': 'monolithicSparse'}}) as glance:
        yield glance


@pytest.fixture
def owner(glance):
    with glance.client(deployment.new_project()) as client:
        yield client


def data_of(image):
    return {key: image[key] for key in NO_DATA}


def assert_nothing_stored(glance, image_id):
    assert not [name for name in glance.stored_files() if image_id in name]


def assert_refused_upload(glance, client, data, disk_format, message,
                          container_format='bare'):
    """Upload ``data`` to a new image: 400 with ``message``; nothing left."""
    image = client.create_image(disk_format=disk_format,
                                container_format=container_format)
    response = client.upload(image['id'], data)
    assert response.status_code == 400, response.text
    assert message in response.json()['message']
    image = client.image(image['id'])
    assert image['status'] == 'queued'
    assert data_of(image) == NO_DATA
    assert_nothing_stored(glance, image['id'])
    return image


def uploaded(client, data, disk_format, container_format='bare'):
    """A new image with ``data`` uploaded; its document."""
    image = client.create_image(disk_format=disk_format,
                                container_format=container_format)
    response = client.upload(image['id'], data)
    assert response.status_code == 204, response.text
    image = client.image(image['id'])
    assert image['status'] == 'active'
    assert image['size'] == len(data)
    return image


CRAFTED = images.REFUSED
CRAFTED_IDS = [row[0] for row in CRAFTED]


@pytest.mark.parametrize('what,make,disk_format,message', CRAFTED, ids=CRAFTED_IDS)
def test_crafted_images_are_refused_on_upload_and_leave_nothing(
        glance, owner, what, make, disk_format, message):
    image = assert_refused_upload(glance, owner, make(), disk_format, message)
    # Queued again, the image takes good data.
    good = images.qcow2() if disk_format == 'qcow2' else None
    if good is not None:
        assert owner.upload(image['id'], good).status_code == 204
        assert owner.image(image['id'])['virtual_size'] == GiB


def test_a_refusal_after_the_first_chunk_answers_before_the_body_ends(glance, owner):
    # The rest of a large refused body is never written: the answer comes while
    # the client is still sending (the server closes the connection after it).
    data = images.qcow2(backing_file=images.HOST_FILE) + bytes(48 * MiB)
    image = owner.create_image(disk_format='qcow2')
    started = time.monotonic()
    response = owner.upload(image['id'], iter([data[i:i + MiB] for i in
                                               range(0, len(data), MiB)]))
    assert response.status_code == 400
    assert 'backing file' in response.json()['message']
    assert time.monotonic() - started < 30
    assert owner.image(image['id'])['status'] == 'queued'
    assert_nothing_stored(glance, image['id'])


def test_qemu_made_attacks_are_refused(glance, owner, qemu_img, tmp_path):
    host_file = tmp_path / 'host-file'
    backing = qemu_img.create('backing.qcow2', 'qcow2', 64 * MiB, '-u', '-b',
                              images.HOST_FILE, '-F', 'raw')
    data_file = qemu_img.create('data-file.qcow2', 'qcow2', 64 * MiB, '-o',
                                'data_file=%s' % host_file)
    for path, message in [(backing, 'with a backing file'),
                          (data_file, 'with an external data file')]:
        with open(path, 'rb') as f:
            assert_refused_upload(glance, owner, f.read(), 'qcow2', message)


# (qemu-img format, options, the image's disk_format)
QEMU_FORMATS = [
    ('qcow2', (), 'qcow2'),
    ('vmdk', ('-o', 'subformat=monolithicSparse'), 'vmdk'),
    ('vmdk', ('-o', 'subformat=streamOptimized'), 'vmdk'),
    ('vpc', (), 'vhd'),
    ('vhdx', (), 'vhdx'),
    ('vdi', (), 'vdi'),
    ('raw', (), 'raw'),
]


@pytest.mark.parametrize('qemu_format,options,disk_format', QEMU_FORMATS,
                         ids=['%s%s' % (row[0], ''.join(row[1][1:])) for row in
                              QEMU_FORMATS])
def test_real_images_are_accepted_with_qemu_imgs_virtual_size(
        owner, qemu_img, qemu_format, options, disk_format):
    virtual_size = 3 * MiB if qemu_format == 'raw' else 5 * GiB
    path = qemu_img.create('disk', qemu_format, virtual_size, *options)
    with open(path, 'rb') as f:
        data = f.read()
    image = uploaded(owner, data, disk_format)
    assert image['virtual_size'] == qemu_img.info(path, qemu_format)['virtual-size']
    assert owner.get('/v2/images/%s/file' % image['id']).content == data


@pytest.mark.parametrize('what,data,disk_format,virtual_size', [
    ('iso', images.iso(blocks=300), 'iso', 300 * 2048),
    ('hybrid iso', images.iso(200, system_area=images.protective_mbr()), 'iso',
     200 * 2048),
    ('gpt disk as raw', images.gpt(512 * KiB), 'raw', 512 * KiB),
    ('iso as raw', images.iso(blocks=100), 'raw', 100 * 2048),
    ('ami', images.raw(), 'ami', None),
    ('ploop', images.raw(), 'ploop', None),
])
def test_crafted_images_of_each_format_are_accepted(owner, what, data, disk_format,
                                                    virtual_size):
    assert uploaded(owner, data, disk_format)['virtual_size'] == virtual_size


def test_other_containers_are_not_inspected_as_upstream(owner):
    image = uploaded(owner, images.qcow2(), 'raw', container_format='ova')
    assert image['virtual_size'] is None


# -- the data at an added location -------------------------------------------------

def place(glance, data):
    """A file put into the store's data directory by hand; its URL."""
    path = os.path.join(glance.datadir, 'placed-%s' % uuid.uuid4().hex)
    with open(path, 'wb') as f:
        f.write(data)
    return 'file://' + path


def logged(glance, line, timeout=10):
    """Whether the API's log holds ``line`` within ``timeout`` seconds: the verifier
    logs its verdict after the image's new status is committed (and announced), so
    a client can see the status first."""
    deadline = time.monotonic() + timeout
    while line not in glance.api.log_tail(400):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def add_location(client, data, disk_format, glance):
    image = client.create_image(disk_format=disk_format)
    url = place(glance, data)
    response = client.post('/v2/images/%s/locations' % image['id'], json={'url': url})
    assert response.status_code == 202, response.text
    return client.settled(image['id']), url


@pytest.mark.parametrize('what,make,disk_format,message', CRAFTED, ids=CRAFTED_IDS)
def test_crafted_images_are_refused_at_an_added_location(
        glance, owner, what, make, disk_format, message):
    data = make()
    image, url = add_location(owner, data, disk_format, glance)
    assert image['status'] == 'queued'
    assert data_of(image) == NO_DATA
    with glance.client() as admin:
        assert admin.get('/v2/images/%s/locations' % image['id']).json() == []
    reason = message.rsplit('; refused.', 1)[0]
    assert logged(glance, 'image %s: the location %s is refused because %s; the '
                  'image is queued again' % (image['id'], url, reason))
    # Not ours: the data stays where it is.
    with open(url[len('file://'):], 'rb') as f:
        assert f.read() == data


def test_a_good_image_at_an_added_location_gets_its_virtual_size(glance, owner,
                                                                 qemu_img):
    path = qemu_img.create('disk.vmdk', 'vmdk', 3 * GiB, '-o',
                           'subformat=streamOptimized')
    with open(path, 'rb') as f:
        data = f.read()
    image, _ = add_location(owner, data, 'vmdk', glance)
    assert image['status'] == 'active'
    assert (image['size'], image['virtual_size']) == (len(data), 3 * GiB)


def test_a_verification_taken_over_from_a_dead_worker_inspects_the_content(glance,
                                                                             owner):
    """A worker died while it verified a location (its lease has run out): the
    next read of the image takes the verification over, and refuses the content."""
    image = owner.create_image(disk_format='qcow2')
    url = place(glance, images.qcow2(backing_file=images.HOST_FILE))
    secret = glance.registry.config['DEFAULT']['registry_auth_secret']
    registry = RegistryClient(glance.registry.url, secret, timeout=30)
    try:
        registry.add_location(
            Identity(None, None, ('admin',), is_admin=True), image['id'], url,
            status='pending', transition=('queued', 'importing'),
            lease=Lease('dead-worker', 0))
    finally:
        registry.close()
    assert owner.image(image['id'])['status'] == 'importing'
    image = owner.settled(image['id'])
    assert (image['status'], data_of(image)) == ('queued', NO_DATA)
    assert logged(glance, 'is refused because Image content is qcow2 with a backing '
                  'file')


# -- the options -------------------------------------------------------------------

def test_without_require_image_format_match_a_mismatch_is_accepted(lenient):
    with lenient.client(deployment.new_project()) as client:
        qcow2 = images.qcow2(virtual_size=5 * GiB)
        # A raw image's virtual size is its byte count, whatever the bytes look like.
        assert uploaded(client, qcow2, 'raw')['virtual_size'] == len(qcow2)
        assert uploaded(client, images.raw(), 'qcow2')['virtual_size'] is None


@pytest.mark.parametrize('what,make,disk_format,message', [
    row for row in CRAFTED if row[0].startswith(('CVE', 'iso hiding'))],
    ids=[row[0] for row in CRAFTED if row[0].startswith(('CVE', 'iso hiding'))])
def test_without_require_image_format_match_unsafe_content_is_still_refused(
        lenient, what, make, disk_format, message):
    with lenient.client(deployment.new_project()) as client:
        assert_refused_upload(lenient, client, make(), disk_format, message)


def test_gpt_safety_checks_nonfatal_accepts_a_disk_failing_them(lenient):
    data = images.protective_mbr(partitions=False).ljust(64 * KiB, b'\0')
    with lenient.client(deployment.new_project()) as client:
        assert uploaded(client, data, 'raw')['virtual_size'] == len(data)


def test_vmdk_allowed_types_limits_the_vmdk_create_types(lenient, qemu_img):
    sparse = qemu_img.create('sparse.vmdk', 'vmdk', GiB)
    stream = qemu_img.create('stream.vmdk', 'vmdk', GiB, '-o',
                             'subformat=streamOptimized')
    with lenient.client(deployment.new_project()) as client:
        with open(sparse, 'rb') as f:
            assert uploaded(client, f.read(), 'vmdk')['virtual_size'] == GiB
        with open(stream, 'rb') as f:
            assert_refused_upload(
                lenient, client, f.read(), 'vmdk',
                'Image content is a VMDK of create-type streamoptimized, which '
                'vmdk_allowed_types (monolithicSparse) does not allow; refused.')


# -- what the standard clients show ------------------------------------------------

def test_the_clients_show_why_an_image_is_refused(glance, tmp_path):
    path = tmp_path / 'evil.qcow2'
    path.write_bytes(images.qcow2(backing_file=images.HOST_FILE))
    commands = [
        ([os.path.join(BIN, 'openstack'), 'image', 'create', '--file', str(path),
          '--disk-format', 'qcow2', '--container-format', 'bare', 'evil'],
         {'OS_AUTH_TYPE': 'none', 'OS_ENDPOINT': glance.url}),
        ([os.path.join(BIN, 'glance'), 'image-create', '--name', 'evil',
          '--disk-format', 'qcow2', '--container-format', 'bare', '--file',
          str(path)], {'OS_IMAGE_URL': glance.url, 'OS_AUTH_TOKEN': 'none'}),
    ]
    for command, env in commands:
        result = subprocess.run(command, env=dict(os.environ, **env),
                                capture_output=True, text=True, timeout=120)
        assert result.returncode != 0
        assert 'Image content is qcow2 with a backing file; refused.' in \
            result.stderr + result.stdout
        assert 'Traceback' not in result.stderr
