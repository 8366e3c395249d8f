"""The operator's ``schema-image.json`` (``glance_api.images.schemas``): found as
upstream finds it, merged into the image schema, and enforced on create and patch,
through the API application in this process."""

import json
import logging
import os
import shutil
import time

import jsonschema
import pytest
from oslo_config import cfg

from glance_api import opts
from glance_api.images import schemas
from tests.fixtures.inprocess import InProcessDeployment, caller

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))))
SHIPPED = os.path.join(ROOT, 'etc', 'schema-image.json')
V21 = 'application/openstack-images-v2.1-json-patch'
OWNER = caller('owner-project')
KERNEL = '6a3f5d8e-1b2c-4d5e-8f90-a1b2c3d4e5f6'
UPSTREAM_DEFAULT = {'kernel_id', 'ramdisk_id', 'instance_uuid', 'architecture',
                    'os_distro', 'os_version', 'description',
                    'cinder_encryption_key_id', 'cinder_encryption_key_deletion_policy'}

# The extended format (2026): a typed enum, and properties every create must give.
OPERATOR_SCHEMA = {
    'properties': {
        'os_distro': {'type': 'string', 'description': 'Distribution'},
        'hw_firmware_type': {'type': 'string', 'enum': ['bios', 'uefi'],
                             'description': 'Firmware the image boots with'},
    },
    'required': ['os_distro', 'hw_firmware_type'],
}


def config_dir(tmp_path, content):
    """A config directory holding ``schema-image.json`` (a document, or raw text)."""
    directory = tmp_path / 'etc'
    directory.mkdir(exist_ok=True)
    (directory / 'schema-image.json').write_text(
        content if isinstance(content, str) else json.dumps(content))
    return str(directory)


def api_conf(directory):
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf(['--config-dir', directory], project='glance', default_config_files=[])
    return conf


@pytest.fixture
def shipped(tmp_path):
    """The API with the default file this project ships, beside its config."""
    directory = tmp_path / 'etc'
    directory.mkdir()
    shutil.copy(SHIPPED, directory)
    return InProcessDeployment(str(tmp_path), config_dir=str(directory))


@pytest.fixture
def operator(tmp_path):
    """The API with an operator's extended-format file."""
    return InProcessDeployment(str(tmp_path),
                               config_dir=config_dir(tmp_path, OPERATOR_SCHEMA))


def create(deployment, **document):
    return deployment.request('POST', '/v2/images', OWNER, dict(
        {'name': 'typed', 'disk_format': 'raw', 'container_format': 'bare'},
        **document))


def patch(deployment, image_id, operations):
    return deployment.request('PATCH', '/v2/images/%s' % image_id, OWNER, operations,
                              content_type=V21)


def listed(deployment):
    return deployment.request('GET', '/v2/images', OWNER).json['images']


def test_the_served_schemas_have_the_shipped_custom_properties(shipped):
    image = shipped.request('GET', '/v2/schemas/image', OWNER).json
    assert set(image['properties']) >= UPSTREAM_DEFAULT
    assert image['properties']['kernel_id']['type'] == ['null', 'string']
    assert image['properties']['cinder_encryption_key_deletion_policy']['enum'] == [
        'on_image_deletion', 'do_not_delete']
    # As upstream's: glanceclient adds a property that is not a base one, and
    # reads the rest of the schema (a base attribute has no is_base).
    assert all(image['properties'][name]['is_base'] is False
               for name in UPSTREAM_DEFAULT)
    assert 'is_base' not in image['properties']['name']
    assert image['additionalProperties'] == {'type': 'string'}
    images = shipped.request('GET', '/v2/schemas/images', OWNER).json
    assert images['properties']['images']['items'] == image


@pytest.mark.parametrize('name, value, message', [
    ('kernel_id', 'not-a-uuid', "'not-a-uuid' does not match "
     "'^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
     "-([0-9a-fA-F]){12}$' (at kernel_id)"),
    ('ramdisk_id', '1234', "'1234' does not match '^([0-9a-fA-F]){8}-"
     "([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$' "
     "(at ramdisk_id)"),
    ('cinder_encryption_key_deletion_policy', 'sometimes', "'sometimes' is not one "
     "of ['on_image_deletion', 'do_not_delete'] (at "
     "cinder_encryption_key_deletion_policy)"),
])
def test_a_value_outside_a_typed_property_is_refused_on_create(shipped, name, value,
                                                                 message):
    response = create(shipped, **{name: value})
    assert (response.status_code, response.json['message']) == (
        400, "Provided object does not match schema 'image': " + message)
    assert listed(shipped) == []


def test_a_typed_property_is_checked_on_patch_too(shipped):
    image = create(shipped, kernel_id=KERNEL, os_distro='cirros').json
    assert (image['kernel_id'], image['os_distro']) == (KERNEL, 'cirros')
    for op in ('add', 'replace'):
        response = patch(shipped, image['id'],
                         [{'op': op, 'path': '/kernel_id', 'value': 'vmlinuz'}])
        assert response.status_code == 400, response.json
        assert response.json['message'].endswith('(at kernel_id)')
    response = patch(shipped, image['id'], [
        {'op': 'replace', 'path': '/kernel_id', 'value': KERNEL.upper()},
        {'op': 'add', 'path': '/ramdisk_id', 'value': 'initrd'}])
    assert response.status_code == 400, response.json
    shown = shipped.request('GET', '/v2/images/%s' % image['id'], OWNER).json
    assert shown['kernel_id'] == KERNEL and 'ramdisk_id' not in shown


def test_a_null_kernel_id_is_allowed_and_stored_as_absent(shipped):
    response = create(shipped, kernel_id=None)
    assert response.status_code == 201, response.json
    assert 'kernel_id' not in response.json
    image_id = response.json['id']
    assert patch(shipped, image_id, [
        {'op': 'add', 'path': '/kernel_id', 'value': KERNEL}]).json['kernel_id'] == KERNEL
    response = patch(shipped, image_id,
                     [{'op': 'replace', 'path': '/kernel_id', 'value': None}])
    assert response.status_code == 200, response.json
    assert 'kernel_id' not in shipped.request('GET', '/v2/images/%s' % image_id,
                                              OWNER).json


def test_beside_typed_properties_the_others_stay_any_string(shipped):
    response = create(shipped, color=5)
    assert (response.status_code, response.json['message']) == (
        400, "Provided object does not match schema 'image': 5 is not of type "
             "'string' (at color)")
    response = create(shipped, color='green', kernel_id='green')
    assert response.status_code == 400
    assert response.json['message'].endswith('(at kernel_id)')
    assert listed(shipped) == []
    image = create(shipped, color='green', os_distro='fedora').json
    assert (image['color'], image['os_distro']) == ('green', 'fedora')


def test_the_extended_format_makes_its_properties_required_on_create(operator):
    schema = operator.request('GET', '/v2/schemas/image', OWNER).json
    assert schema['required'] == ['os_distro', 'hw_firmware_type']
    response = create(operator, os_distro='ubuntu')
    assert (response.status_code, response.json['message']) == (
        400, "Provided object does not match schema 'image': 'hw_firmware_type' is a "
             "required property")
    response = create(operator, os_distro='ubuntu', hw_firmware_type='coreboot')
    assert (response.status_code, response.json['message']) == (
        400, "Provided object does not match schema 'image': 'coreboot' is not one "
             "of ['bios', 'uefi'] (at hw_firmware_type)")
    assert listed(operator) == []
    response = create(operator, os_distro='ubuntu', hw_firmware_type='uefi')
    assert response.status_code == 201, response.json
    assert [image['hw_firmware_type'] for image in listed(operator)] == ['uefi']


def test_a_patch_need_not_repeat_the_required_properties_but_keeps_them(operator):
    image = create(operator, os_distro='ubuntu', hw_firmware_type='bios').json
    response = patch(operator, image['id'], [
        {'op': 'replace', 'path': '/name', 'value': 'renamed'},
        {'op': 'add', 'path': '/color', 'value': 'blue'}])
    assert response.status_code == 200, response.json
    response = patch(operator, image['id'],
                     [{'op': 'replace', 'path': '/hw_firmware_type', 'value': 'efi'}])
    assert response.status_code == 400, response.json
    response = patch(operator, image['id'],
                     [{'op': 'remove', 'path': '/os_distro'}])
    assert (response.status_code, response.json['message']) == (
        400, 'Property os_distro is required by the image schema and may not be '
             'removed.')
    shown = operator.request('GET', '/v2/images/%s' % image['id'], OWNER).json
    assert (shown['name'], shown['color'], shown['os_distro'],
            shown['hw_firmware_type']) == ('renamed', 'blue', 'ubuntu', 'bios')


def test_a_required_property_the_schema_lets_be_null_is_still_required(tmp_path):
    # A null one is stored as absent: "required" let a create give it as null,
    # and a patch replace it with null, and the image then lacked it.
    deployment = InProcessDeployment(str(tmp_path), config_dir=config_dir(tmp_path, {
        'properties': {'kernel_id': {'type': ['null', 'string']}},
        'required': ['kernel_id']}))
    response = create(deployment, kernel_id=None)
    assert (response.status_code, response.json['message']) == (
        400, 'Property kernel_id is required by the image schema and may not be '
             'null.')
    assert listed(deployment) == []
    image = create(deployment, kernel_id=KERNEL).json
    response = patch(deployment, image['id'],
                     [{'op': 'replace', 'path': '/kernel_id', 'value': None}])
    assert (response.status_code, response.json['message']) == (
        400, 'Property kernel_id is required by the image schema and may not be '
             'null.')
    shown = deployment.request('GET', '/v2/images/%s' % image['id'], OWNER).json
    assert shown['kernel_id'] == KERNEL


@pytest.mark.parametrize('content, reason', [
    ('{"os_distro": {"type": "string"},', 'Expecting property name enclosed in '
     'double quotes: line 1 column 34 (char 33)'),
    ({'name': {'type': 'string'}},
     'custom properties (name) conflict with base properties'),
    ({'properties': {'min_ram': {'type': 'string'}, 'x': {'type': 'string'}}},
     'custom properties (min_ram) conflict with base properties'),
    ({'os_distro': 'string'}, 'property os_distro: its definition must be a JSON '
     'object'),
    ({'os_distro': {'type': 'text'}}, "property os_distro: 'text' is not valid under "
     "any of the given schemas"),
    ({'cores': {'type': 'integer'}}, 'property cores: its type must be "string" or '
     '["null", "string"] (custom properties are stored as strings)'),
    ({'properties': {'a': {'type': 'string'}}, 'required': 'a'},
     '"required" must be a list of property names'),
    # A reference is resolved when a value is checked: against the image schema,
    # which has no definitions, or fetched from its URL; every create and patch
    # giving the property was a 500.
    ({'properties': {'a': {'type': 'string', '$ref': '#/definitions/a'}}},
     'property a: "$ref" is not supported (each definition stands alone)'),
    ({'a': {'type': 'string', 'not': {'$ref': 'http://127.0.0.1:9/a.json'}}},
     'property a: "$ref" is not supported (each definition stands alone)'),
    # What no create may give (read-only, reserved): every create was refused.
    ({'properties': {'a': {'type': 'string'}}, 'required': ['a', 'checksum']},
     'required property checksum: no create may give it (Attribute '
     "'checksum' is read-only.)"),
    ({'properties': {'os_glance_a': {'type': 'string'}},
      'required': ['os_glance_a']},
     'required property os_glance_a: no create may give it (Attribute '
     "'os_glance_a' is reserved.)"),
    ({'properties': {'a': {'type': 'string'}}, 'required': ['location']},
     'required property location: no create may give it (Attribute '
     "'location' is reserved.)"),
    # Python's RecursionError (reading the file, checking a definition) is no
    # ValueError: a traceback at start.
    ('[' * 100000 + ']' * 100000, 'nested too deeply to be read'),
    ('{"a": ' + '{"type": "string", "allOf": [' * 400 + '{"type": "string"}'
     + ']}' * 400 + '}', 'nested too deeply to be read'),
])
def test_a_file_that_cannot_be_used_is_refused_naming_it(tmp_path, content, reason):
    directory = config_dir(tmp_path, content)
    with pytest.raises(schemas.SchemaFileError) as refused:
        schemas.Schemas(api_conf(directory))
    assert str(refused.value) == 'custom image schema %s: %s' % (
        os.path.join(directory, 'schema-image.json'), reason)


def test_the_file_beside_the_config_file_is_read(tmp_path):
    # As upstream (oslo.config's find_file): beside glance-api.conf, without
    # --config-dir.
    directory = config_dir(tmp_path, {'os_distro': {'type': 'string'}})
    config = os.path.join(directory, 'glance-api.conf')
    open(config, 'w').close()
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf(['--config-file', config], project='glance', default_config_files=[])
    assert schemas.Schemas(conf).image['properties']['os_distro'] == {
        'type': 'string', 'is_base': False}


def test_the_file_is_read_once_when_the_app_is_built(tmp_path):
    # No per-request cost: the schema and its validators are the app's.
    directory = config_dir(tmp_path, OPERATOR_SCHEMA)
    deployment = InProcessDeployment(str(tmp_path), config_dir=directory)
    os.remove(os.path.join(directory, 'schema-image.json'))
    schema = deployment.request('GET', '/v2/schemas/image', OWNER).json
    assert schema['required'] == ['os_distro', 'hw_firmware_type']
    assert create(deployment, os_distro='debian').status_code == 400


# A pattern Python's re takes 2 ** 59 steps on for this value (0.8 s at 24
# characters, twice that for each character more): typed properties are matched by
# RE2, in time linear in the value.
CATASTROPHIC = {'build': {'type': 'string', 'pattern': '^([0-9]+)+$'}}
LONG_VALUE = '1' * 59 + 'x'


def test_a_catastrophic_pattern_answers_a_long_value_at_once(tmp_path):
    deployment = InProcessDeployment(str(tmp_path),
                                     config_dir=config_dir(tmp_path, CATASTROPHIC))
    started = time.monotonic()
    response = create(deployment, build=LONG_VALUE)
    assert (response.status_code, response.json['message']) == (
        400, "Provided object does not match schema 'image': '%s' does not match "
             "'^([0-9]+)+$' (at build)" % LONG_VALUE)
    image = create(deployment, build='1' * 59).json
    response = patch(deployment, image['id'],
                     [{'op': 'replace', 'path': '/build', 'value': LONG_VALUE}])
    assert response.status_code == 400, response.json
    assert time.monotonic() - started < 5
    assert [image['build'] for image in listed(deployment)] == ['1' * 59]


@pytest.mark.parametrize('value, message', [
    ('42', None),
    # Python's meaning, kept: \d is any decimal digit, $ matches before a final
    # newline.
    ('\u0664\u0662', None),
    ('42\n', None),
    ('42x', "'42x' does not match '^\\\\d+$' (at build)"),
    ('', "'' does not match '^\\\\d+$' (at build)"),
])
def test_an_ordinary_pattern_answers_as_before(tmp_path, value, message):
    deployment = InProcessDeployment(str(tmp_path), config_dir=config_dir(
        tmp_path, {'build': {'type': 'string', 'pattern': r'^\d+$'}}))
    response = create(deployment, build=value)
    if message is None:
        assert response.status_code == 201, response.json
        assert response.json['build'] == value
    else:
        assert (response.status_code, response.json['message']) == (
            400, "Provided object does not match schema 'image': " + message)
        assert listed(deployment) == []


LOOKAROUND = {'codename': {'type': 'string', 'pattern': '^(?!test-)[a-z-]+$'},
              'build': {'type': 'string',
                        'anyOf': [{'pattern': '^[0-9]+$'}, {'pattern': r'^(\w)\1$'}]},
              'os_distro': {'type': 'string', 'pattern': '^[a-z]+$'}}


def test_a_pattern_re2_cannot_evaluate_still_works_on_pythons_re(tmp_path):
    deployment = InProcessDeployment(str(tmp_path),
                                     config_dir=config_dir(tmp_path, LOOKAROUND))
    response = create(deployment, codename='test-one')
    assert (response.status_code, response.json['message']) == (
        400, "Provided object does not match schema 'image': 'test-one' does not "
             "match '^(?!test-)[a-z-]+$' (at codename)")
    assert create(deployment, build='aa').status_code == 201
    assert create(deployment, build='ab').status_code == 400
    image = create(deployment, codename='prod-one', build='7').json
    assert (image['codename'], image['build']) == ('prod-one', '7')


def test_a_pattern_re2_cannot_evaluate_is_named_in_a_warning(tmp_path, caplog):
    directory = config_dir(tmp_path, LOOKAROUND)
    built = schemas.Schemas(api_conf(directory))
    assert built.backtracking == {'codename': ['^(?!test-)[a-z-]+$'],
                                  'build': [r'^(\w)\1$']}
    with caplog.at_level(logging.WARNING):
        built.warn_backtracking(logging.getLogger('test'))
    # Only what was said to that logger: another test may have left INFO on.
    assert [record.getMessage() for record in caplog.records
            if record.name == 'test'] == [
        "image schema: the pattern of property %s (%r) is evaluated by a "
        "backtracking engine (Python's re), not RE2, which cannot express it with "
        "the same meaning: a tenant's value may hold an API thread for seconds."
        % (name, pattern) for name, pattern in [('build', r'^(\w)\1$'),
                                                ('codename', '^(?!test-)[a-z-]+$')]]
    assert schemas.Schemas(api_conf(config_dir(tmp_path, CATASTROPHIC))
                           ).backtracking == {}


def test_the_base_schema_keeps_pythons_re_and_jsonschema_is_left_as_it_is(tmp_path):
    # Only the operator's patterns are RE2's, through the app's own validator: the
    # base ones, the metadefs schemas and any other user of jsonschema keep re.
    draft4_pattern = jsonschema.Draft4Validator.VALIDATORS['pattern']
    deployment = InProcessDeployment(str(tmp_path),
                                     config_dir=config_dir(tmp_path, CATASTROPHIC))
    assert jsonschema.Draft4Validator.VALIDATORS['pattern'] is draft4_pattern
    response = create(deployment, id='not-a-uuid\n')
    assert (response.status_code, response.json['message']) == (
        400, "Provided object does not match schema 'image': 'not-a-uuid\\n' does "
             "not match '%s' (at id)" % schemas.UUID_PATTERN.replace('\\', '\\\\'))
