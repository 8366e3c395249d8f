"""What a glance-download import takes from the other region's image."""

from oslo_config import cfg

from glance_api.data import remote_glance

# An image document as upstream Glance shows it, with two imports' bookkeeping.
REMOTE = {
    'id': '6b0b9f1e-2a56-4b3e-9d8e-0c2f0f6c6f10', 'name': 'cirros', 'status': 'active',
    'visibility': 'shared', 'protected': False, 'os_hidden': False,
    'checksum': 'c' * 32, 'os_hash_algo': 'sha512', 'os_hash_value': 'f' * 128,
    'owner': 'p', 'size': 10, 'virtual_size': None, 'container_format': 'bare',
    'disk_format': 'raw', 'created_at': '2026-12-07T00:00:00Z',
    'updated_at': '2026-12-07T00:00:00Z', 'min_ram': 0, 'min_disk': 0, 'tags': [],
    'self': '/v2/images/6b0b9f1e-2a56-4b3e-9d8e-0c2f0f6c6f10',
    'file': '/v2/images/6b0b9f1e-2a56-4b3e-9d8e-0c2f0f6c6f10/file',
    'schema': '/v2/schemas/image', 'stores': 'fast,slow',
    'os_glance_importing_to_stores': '', 'os_glance_failed_import': 'slow',
    'os_distro': 'cirros', 'os_secure_boot': 'required', 'hw_disk_bus': 'scsi',
    'not_copied': 'x',
}


def conf_with(extra_properties):
    conf = cfg.ConfigOpts()
    remote_glance.register_opts(conf)
    conf([])
    conf.set_override('extra_properties', extra_properties, remote_glance.GROUP)
    return conf


def test_the_default_prefixes_take_the_named_custom_properties():
    assert remote_glance.copied_properties(conf_with(
        ['hw_', 'trait:', 'os_distro', 'os_secure_boot', 'os_type']), REMOTE) == {
        'os_distro': 'cirros', 'os_secure_boot': 'required', 'hw_disk_bus': 'scsi'}


def test_a_broad_prefix_takes_no_attribute_link_nor_import_bookkeeping():
    # 'os_' matches os_hash_value and os_glance_*; 's' the document's links.
    assert remote_glance.copied_properties(conf_with(['os_', 's']), REMOTE) == {
        'os_distro': 'cirros', 'os_secure_boot': 'required'}
