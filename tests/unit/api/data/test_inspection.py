"""glance_api.data.inspection: what content each disk_format accepts, what is refused
and why, the virtual size found, and the memory an inspection holds.

Images are hand-made (tests/fixtures/disk_images.py); the functional tests
(tests/functional/test_image_content.py) send real qemu-img images through the API.
"""

import pytest

from glance_api.data.inspection import ContentRefused, Inspection, Rules, Verdict
from tests.fixtures import disk_images as images

KiB, MiB, GiB = images.KiB, images.MiB, images.GiB

STRICT = Rules()
LENIENT = Rules(require_format_match=False)


def inspect(data, disk_format, container_format='bare', rules=STRICT,
            chunk_size=MiB):
    """The verdict on ``data`` fed in ``chunk_size`` pieces."""
    inspection = Inspection(disk_format, container_format, rules)
    for start in range(0, len(data), chunk_size):
        inspection.feed(data[start:start + chunk_size])
    return inspection.finish()


def refusal(data, disk_format, **kwargs):
    with pytest.raises(ContentRefused) as caught:
        inspect(data, disk_format, **kwargs)
    return str(caught.value)


# (what, the data, declared disk_format, the verdict)
ACCEPTED = [
    ('raw', lambda: images.raw(100 * KiB), 'raw', Verdict('raw', 100 * KiB)),
    ('qcow2', lambda: images.qcow2(virtual_size=3 * GiB), 'qcow2',
     Verdict('qcow2', 3 * GiB)),
    ('qcow2 version 2', lambda: images.qcow2(virtual_size=GiB, version=2), 'qcow2',
     Verdict('qcow2', GiB)),
    ('vmdk monolithicSparse', lambda: images.vmdk_sparse(virtual_size=64 * MiB),
     'vmdk', Verdict('vmdk', 64 * MiB)),
    ('vmdk streamOptimized',
     lambda: images.vmdk_sparse('streamOptimized', virtual_size=8 * MiB), 'vmdk',
     Verdict('vmdk', 8 * MiB)),
    ('vhd', lambda: images.vhd_footer(32 * MiB).ljust(64 * KiB, b'\0'), 'vhd',
     Verdict('vhd', 32 * MiB)),
    ('vdi', lambda: images.vdi(16 * MiB), 'vdi', Verdict('vdi', 16 * MiB)),
    ('iso', lambda: images.iso(blocks=100), 'iso', Verdict('iso', 100 * 2048)),
    # A hybrid ISO boots as a disk too: ISO and GPT at once is an ISO.
    ('hybrid iso', lambda: images.iso(80, system_area=images.protective_mbr()),
     'iso', Verdict('iso', 80 * 2048)),
    # Partitioned disks and ISOs are raw bytes to a hypervisor.
    ('gpt disk as raw', lambda: images.gpt(256 * KiB), 'raw',
     Verdict('gpt', 256 * KiB)),
    ('iso as raw', lambda: images.iso(blocks=40), 'raw', Verdict('iso', 40 * 2048)),
    # Nothing to inspect in these formats: any content no inspector knows.
    ('ami', lambda: images.raw(), 'ami', Verdict('raw', None)),
    ('aki', lambda: images.raw(), 'aki', Verdict('raw', None)),
    ('ari', lambda: images.raw(), 'ari', Verdict('raw', None)),
    ('ploop', lambda: images.raw(), 'ploop', Verdict('raw', None)),
    ('empty raw', lambda: b'', 'raw', Verdict('raw', None)),
    # No bytes are no format: Nova activates a volume-backed server's snapshot
    # (qcow2 by default) with an empty upload.
    ('empty qcow2', lambda: b'', 'qcow2', Verdict('raw', None)),
    ('empty vmdk', lambda: b'', 'vmdk', Verdict('raw', None)),
    ('empty iso', lambda: b'', 'iso', Verdict('raw', None)),
    ('one byte of raw', lambda: b'Q', 'raw', Verdict('raw', 1)),
    ('511 bytes of raw', lambda: images.raw()[:511], 'raw', Verdict('raw', 511)),
    ('the largest virtual size', lambda: images.qcow2(virtual_size=2 ** 63 - 1),
     'qcow2', Verdict('qcow2', 2 ** 63 - 1)),
]


@pytest.mark.parametrize('chunk_size', [MiB, 4096, 509])
@pytest.mark.parametrize('what,make,disk_format,verdict', ACCEPTED,
                         ids=[row[0] for row in ACCEPTED])
def test_content_of_its_declared_format_is_accepted_with_its_virtual_size(
        what, make, disk_format, verdict, chunk_size):
    assert inspect(make(), disk_format, chunk_size=chunk_size) == verdict


def _vmdk_with_descriptor_at_sector(sector):
    """A hosted sparse VMDK whose header puts its descriptor at ``sector`` (qemu
    opens it as a VMDK whatever the sector)."""
    image = bytearray(images.vmdk_sparse())
    image[28:36] = sector.to_bytes(8, 'little')
    return bytes(image)


# The crafted images the functional tests send, and more: (what, the data, declared
# disk_format, words of the message).
REFUSED = images.REFUSED + [
    ('qcow2 with both', lambda: images.qcow2(backing_file='base.img',
                                             data_file=images.HOST_FILE), 'qcow2',
     'Image content is qcow2 with a backing file and with an external data file; '
     'refused.'),
    ('qcow2 with an unknown incompatible feature',
     lambda: images.qcow2(incompatible=1 << 9), 'qcow2',
     'Image content is qcow2 with a version or features this service does not know '
     '(Unknown QCOW2 features found); refused.'),
    ('qcow2 version 1', lambda: images.qcow2(version=1), 'qcow2',
     'Image content is qcow2 with a version or features this service does not know '
     '(Unsupported qcow2 version); refused.'),
    ('vmdk descriptor file of a sparse type naming a file beside it',
     lambda: images.vmdk_descriptor('monolithicSparse', ['RW 2048 SPARSE "other"']),
     'vmdk', 'Image content is a VMDK descriptor file'),
    ('vmdk of a create-type with named extents',
     lambda: images.vmdk_sparse('twoGbMaxExtentSparse'), 'vmdk',
     'Image content is a VMDK of create-type twogbmaxextentsparse, which '
     'vmdk_allowed_types (streamOptimized, monolithicSparse) does not allow; '
     'refused.'),
    ('qed', lambda: images.qed(), 'qcow2', 'disk_format is qcow2 but the image '
                                          'content is qed; refused.'),
    ('vmdk declared raw', lambda: images.vmdk_sparse(), 'raw',
     'disk_format is raw but the image content is vmdk; refused.'),
    ('luks declared raw', lambda: images.luks(), 'raw',
     'disk_format is raw but the image content is luks; refused.'),
    ('vhd declared vhdx', lambda: images.vhd_footer().ljust(4096, b'\0'), 'vhdx',
     'disk_format is vhdx but the image content is vhd; refused.'),
    ('raw declared iso', lambda: images.raw(), 'iso',
     'disk_format is iso but the image content is raw'),
    ('gpt declared ami', lambda: images.gpt(), 'ami',
     'disk_format is ami but the image content is gpt; refused.'),
    ('qcow2 declared aki', lambda: images.qcow2(), 'aki',
     'disk_format is aki but the image content is qcow2; refused.'),
    # qemu reads past the end of a short file as zeros: these are the format their
    # first bytes say to qemu-img, which follows the backing file.
    ('a tiny truncated qcow2', lambda: images.qcow2()[:100], 'qcow2',
     'Image content is qcow2 cut short: 100 bytes, too few for its header; '
     'refused.'),
    ('a qcow2 header naming a backing file, cut short, declared raw',
     lambda: images.qcow2(backing_file=images.HOST_FILE)[:300], 'raw',
     'Image content is qcow2 cut short: 300 bytes, too few for its header; '
     'refused.'),
    ('a qcow2 header naming a data file, cut short, declared aki',
     lambda: images.qcow2(data_file=images.HOST_FILE)[:500], 'aki',
     'Image content is qcow2 cut short: 500 bytes'),
    ('vmdk descriptor file with its createType past 64 KiB, declared raw',
     images.vmdk_long_descriptor, 'raw',
     'disk_format is raw but the image content is vmdk; refused.'),
    ('vmdk header whose descriptor is not where the inspector reads it, as raw',
     lambda: _vmdk_with_descriptor_at_sector(3), 'raw',
     'The image content could not be inspected: the data looks like vmdk but is '
     'malformed (Wrong descriptor location); refused.'),
    ('vdi cut short declared raw', lambda: images.vdi()[:400], 'raw',
     'Image content is vdi cut short: 400 bytes'),
    ('qed cut short declared raw', lambda: images.qed()[:300], 'raw',
     'Image content is qed cut short: 300 bytes'),
    ('qcow2 of a virtual size no disk can have',
     lambda: images.qcow2(virtual_size=2 ** 63), 'qcow2',
     'Image content is qcow2 with a virtual size of 9223372036854775808 bytes, more '
     'than any disk can have (at most 9223372036854775807); refused.'),
    ('vmdk of a virtual size no disk can have',
     lambda: images.vmdk_sparse(virtual_size=2 ** 64 - 512), 'vmdk',
     'Image content is vmdk with a virtual size of 18446744073709551104 bytes'),
    ('vmdk header without its descriptor', lambda: images.vmdk_sparse()[:600], 'vmdk',
     'The image content could not be inspected: the data looks like vmdk but is '
     'incomplete'),
]


@pytest.mark.parametrize('chunk_size', [MiB, 4096, 509])
@pytest.mark.parametrize('what,make,disk_format,message', REFUSED,
                         ids=[row[0] for row in REFUSED])
def test_unsafe_or_mismatching_content_is_refused_saying_what_it_is(
        what, make, disk_format, message, chunk_size):
    assert message in refusal(make(), disk_format, chunk_size=chunk_size)


def test_luks_declared_raw_is_accepted_only_as_an_encrypted_volumes_bytes():
    # Cinder uploads an encrypted volume as it is, declared raw, naming its key in
    # cinder_encryption_key_id; without that property LUKS declared raw is refused.
    data = images.luks()
    record = {'disk_format': 'raw', 'container_format': 'bare',
              'properties': {'cinder_encryption_key_id': 'key'}}
    inspection = Inspection.for_image(record, STRICT)
    inspection.feed(data)
    assert inspection.finish() == Verdict('luks', len(data))
    inspection = Inspection.for_image(dict(record, properties={}), STRICT)
    with pytest.raises(ContentRefused, match='content is luks'):
        inspection.feed(data)
        inspection.finish()
    # Only LUKS: an encrypted volume's image is no qcow2 either.
    inspection = Inspection.for_image(record, STRICT)
    with pytest.raises(ContentRefused, match='content is qcow2'):
        inspection.feed(images.qcow2() + bytes(MiB))
        inspection.finish()


def test_a_refusal_is_certain_after_the_first_chunk_and_raised_by_feed():
    inspection = Inspection('qcow2', 'bare', STRICT)
    with pytest.raises(ContentRefused, match='backing file'):
        inspection.feed(images.qcow2(backing_file=images.HOST_FILE) + bytes(MiB))
    inspection = Inspection('raw', 'bare', STRICT)
    with pytest.raises(ContentRefused, match='is qcow2'):
        inspection.feed(images.qcow2() + bytes(MiB))


def test_a_virtual_size_no_disk_can_have_is_refused_by_feed():
    inspection = Inspection('qcow2', 'bare', STRICT)
    with pytest.raises(ContentRefused, match='more than any disk can have'):
        inspection.feed(images.qcow2(virtual_size=2 ** 64 - 1) + bytes(MiB))


def test_a_mismatch_is_let_through_without_require_image_format_match():
    data = images.qcow2(virtual_size=5 * GiB)
    # Declared raw, the bytes are all a hypervisor told "raw" sees.
    assert inspect(data, 'raw', rules=LENIENT) == Verdict('qcow2', len(data))
    assert inspect(images.raw(), 'qcow2', rules=LENIENT) == Verdict('raw', None)
    assert inspect(images.vmdk_sparse(), 'qcow2', rules=LENIENT) == \
        Verdict('vmdk', None)


@pytest.mark.parametrize('what,data,disk_format', [
    ('backing file', images.qcow2(backing_file=images.HOST_FILE), 'raw'),
    ('data file', images.qcow2(data_file=images.HOST_FILE), 'vmdk'),
    ('flat vmdk', images.vmdk_flat_descriptor(), 'raw'),
    ('hidden qcow2', images.iso(system_area=images.qcow2()), 'iso'),
    ('qed', images.qed(), 'raw'),
    ('qcow2 cut short', images.qcow2(backing_file=images.HOST_FILE)[:300], 'qcow2'),
    ('huge qcow2', images.qcow2(virtual_size=2 ** 64 - 1), 'raw'),
])
def test_safety_checks_apply_without_require_image_format_match(what, data,
                                                                disk_format):
    refusal(data, disk_format, rules=LENIENT)


def test_gpt_safety_checks_named_nonfatal_only_warn():
    data = images.protective_mbr(partitions=False).ljust(64 * KiB, b'\0')
    rules = Rules(gpt_nonfatal_checks=frozenset(['mbr']))
    assert inspect(data, 'raw', rules=rules) == Verdict('gpt', len(data))


@pytest.mark.parametrize('disk_format', ['aki', 'ari'])
def test_kernels_and_ramdisks_may_carry_an_invalid_mbr(disk_format):
    data = images.protective_mbr(partitions=False).ljust(64 * KiB, b'\0')
    # Still the wrong format for a kernel; but not unsafe.
    assert inspect(data, disk_format, rules=LENIENT) == Verdict('gpt', None)
    assert 'invalid partition table' in refusal(data, 'raw', rules=LENIENT)


def test_vmdk_allowed_types_narrows_the_accepted_create_types():
    rules = Rules(vmdk_allowed_types=('monolithicSparse',))
    assert inspect(images.vmdk_sparse(), 'vmdk', rules=rules).format == 'vmdk'
    assert refusal(images.vmdk_sparse('streamOptimized'), 'vmdk', rules=rules) == (
        'Image content is a VMDK of create-type streamoptimized, which '
        'vmdk_allowed_types (monolithicSparse) does not allow; refused.')
    assert 'vmdk_allowed_types (empty)' in refusal(
        images.vmdk_sparse(), 'vmdk', rules=Rules(vmdk_allowed_types=()))


def test_vmdk_allowed_types_cannot_allow_a_type_with_named_extents():
    rules = Rules(vmdk_allowed_types=('monolithicSparse', 'monolithicFlat'))
    assert 'descriptor file' in refusal(images.vmdk_flat_descriptor(), 'vmdk',
                                        rules=rules)


@pytest.mark.parametrize('container_format', ['ova', 'ovf', 'docker', 'compressed',
                                              'ami'])
def test_only_bare_containers_are_inspected(container_format):
    data = images.qcow2(backing_file=images.HOST_FILE)
    assert inspect(data, 'raw', container_format=container_format) == Verdict()


def test_content_an_inspector_cannot_parse_is_refused_as_uninspectable():
    # Text where a VMDK descriptor would start, then bytes no descriptor has: the
    # VMDK inspector cannot say what it is (upstream refuses it the same way).
    data = b'#' * 600 + b'\xff' * 4096
    assert 'could not be inspected' in refusal(data, 'raw')
    assert inspect(data, 'raw', rules=LENIENT) == Verdict('raw', len(data))


def test_finish_twice_gives_the_same_verdict():
    inspection = Inspection('qcow2', 'bare', STRICT)
    inspection.feed(images.qcow2(virtual_size=GiB))
    assert inspection.finish() is inspection.finish()


def _sparse_vmdk_with_footer():
    """A streamOptimized header whose grain directory is in a footer at the end."""
    header = bytearray(images.vmdk_sparse('streamOptimized')[:64 * KiB])
    header[56:64] = (0xFFFFFFFFFFFFFFFF).to_bytes(8, 'little')
    return bytes(header)


# The longest region an inspector keeps is a VMDK descriptor (under 1 MiB); the rest
# are headers and VHDX metadata (under 200 KiB together).
BOUND = MiB + 256 * KiB


@pytest.mark.parametrize('what,head', [
    ('raw', images.raw(MiB)),
    ('text', b'# not a descriptor\n' * 60000),
    ('qcow2', images.qcow2()),
    ('vmdk', images.vmdk_sparse()),
    ('vmdk with a footer', _sparse_vmdk_with_footer()),
    ('iso', images.iso(blocks=200000)),
    ('vhd', images.vhd_footer()),
])
def test_memory_held_does_not_grow_with_the_image(what, head):
    """300 MiB through one inspection: what the inspectors hold stays under the
    bound at every chunk, and does not grow after the first ones."""
    inspection = Inspection('raw', 'bare', LENIENT)
    filler = bytes(MiB)
    held = []
    inspection.feed(head)
    for _ in range(300):
        inspection.feed(filler)
        held.append(inspection.buffered_bytes)
    assert max(held) <= BOUND
    assert held[-1] <= held[2]
    assert inspection.size == len(head) + 300 * MiB
    try:
        inspection.finish()
    except ContentRefused:
        pass
