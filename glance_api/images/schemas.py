"""JSON schemas of the API's documents (draft 4), served under /v2/schemas
(``glance_api.v2.schemas``) and used to validate what clients send, so the schema a client downloads is the one we enforce.

The format enums come from config and the operator's typed custom properties from
``schema-image.json``, so a schema is built per app, once. The patterns of those
properties are matched by RE2 (``glance_api.patterns``), never by Python's
backtracking re where RE2 can say the same.
"""

import json
import logging

import jsonschema

from glance_api import patterns
from glance_api.access import attributes
from glance_api.http import errors, json_body
from glance_registry.client import vocabulary

UUID_PATTERN = vocabulary.IMAGE_ID_PATTERN

STATUSES = list(vocabulary.IMAGE_STATUSES)

CUSTOM_SCHEMA_FILE = 'schema-image.json'

# Custom properties are stored as strings (or absent): a definition that allows
# another type would pass the schema and be refused by the registry.
_STORABLE_TYPES = {'string', 'null'}

LOG = logging.getLogger(__name__)

# The keywords of draft 4 whose values are subschemas: a pattern may be in any.
_SUBSCHEMA = ('not', 'additionalProperties', 'additionalItems')
_SUBSCHEMA_LISTS = ('allOf', 'anyOf', 'oneOf')
_SUBSCHEMA_MAPS = ('properties', 'patternProperties', 'definitions')


class SchemaFileError(ValueError):
    """The operator's ``schema-image.json`` cannot be used; the API refuses to start."""


def _check_custom_properties(path, properties, required, base_names):
    def refuse(reason):
        raise SchemaFileError('custom image schema %s: %s' % (path, reason))

    if not isinstance(properties, dict):
        refuse('the property definitions must be a JSON object')
    # As upstream: the file adds properties, it never redefines the base ones.
    overridden = sorted(set(properties) & base_names)
    if overridden:
        refuse('custom properties (%s) conflict with base properties'
               % ', '.join(overridden))
    for name, definition in properties.items():
        if not isinstance(definition, dict):
            refuse('property %s: its definition must be a JSON object' % name)
        if _has_reference(definition):
            # Resolved only when a value is checked, against the image schema
            # (no definitions) or by fetching a URL: each request a 500.
            refuse('property %s: "$ref" is not supported (each definition stands '
                   'alone)' % name)
        try:
            jsonschema.Draft4Validator.check_schema(definition)
        except jsonschema.exceptions.SchemaError as exc:
            refuse('property %s: %s' % (name, exc.message))
        types = definition.get('type')
        types = set(types if isinstance(types, list) else [types])
        if 'string' not in types or not types <= _STORABLE_TYPES:
            refuse('property %s: its type must be "string" or ["null", "string"] '
                   '(custom properties are stored as strings)' % name)
    if required is not None and (not isinstance(required, list) or not all(
            isinstance(name, str) for name in required)):
        refuse('"required" must be a list of property names')
    for name in required or ():
        # Else every create is refused.
        try:
            attributes.check_writable(name, creating=True)
        except errors.Forbidden as exc:
            refuse('required property %s: no create may give it (%s)'
                   % (name, exc.message))


def _has_reference(schema):
    if isinstance(schema, dict):
        return '$ref' in schema or any(_has_reference(value)
                                       for value in schema.values())
    if isinstance(schema, list):
        return any(_has_reference(value) for value in schema)
    return False


def load_custom_properties(conf, base_names):
    """The operator's custom properties: ``(properties, required)``, read from the
    ``schema-image.json`` oslo.config finds (``--config-dir``, beside the config
    files, then ``~/.glance/``, ``~/``, ``/etc/glance/``, ``/etc/``), as upstream.

    The file is either flat (``{name: definition}``) or, since 2026, extended
    (``{"properties": {...}, "required": [...]}``), whose ``required`` names must be
    in every create body. No file: no custom properties. ``SchemaFileError`` for a
    file that cannot be read, is not JSON, or redefines a base property.
    """
    path = conf.find_file(CUSTOM_SCHEMA_FILE)
    if path is None:
        LOG.info('no %s found: the image schema has no typed custom properties',
                 CUSTOM_SCHEMA_FILE)
        return {}, []
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
        if isinstance(data, dict) and isinstance(data.get('properties'), dict):
            properties, required = data['properties'], data.get('required')
        else:
            properties, required = data, None
        _check_custom_properties(path, properties, required, base_names)
    except (OSError, ValueError) as exc:
        if isinstance(exc, SchemaFileError):
            raise
        raise SchemaFileError('custom image schema %s: %s' % (path, exc)) from None
    except RecursionError:
        # Python's own limit, reading the file or checking a definition: no
        # ValueError, so a traceback at start.
        raise SchemaFileError('custom image schema %s: nested too deeply to be read'
                              % path) from None
    # glanceclient reads is_base: a property that is not a base one is added to an
    # image by a patch, never replaced from null.
    properties = {name: dict(definition, is_base=False)
                  for name, definition in properties.items()}
    # Which file: find_file looks in several directories (~/ among them).
    LOG.info('image schema: %d custom properties from %s (required: %s)',
             len(properties), path, ', '.join(required or []) or 'none')
    return properties, list(required or [])


def _base_properties(disk_formats, container_formats):
    def ro(spec):
        return dict(spec, readOnly=True)

    return {
        'id': {'type': 'string', 'description': 'An identifier for the image',
               'pattern': UUID_PATTERN},
        'name': {'type': ['null', 'string'], 'maxLength': 255,
                 'description': 'Descriptive name for the image'},
        'status': ro({'type': 'string', 'enum': STATUSES,
                      'description': 'Status of the image'}),
        'visibility': {'type': 'string',
                       'enum': ['community', 'public', 'private', 'shared'],
                       'description': 'Scope of image accessibility'},
        'protected': {'type': 'boolean',
                      'description': 'If true, image will not be deletable.'},
        'os_hidden': {'type': 'boolean',
                      'description': 'If true, image will not appear in default '
                                     'image list response.'},
        'checksum': ro({'type': ['null', 'string'], 'maxLength': 32,
                        'description': 'md5 hash of image contents.'}),
        'os_hash_algo': ro({'type': ['null', 'string'], 'maxLength': 64,
                            'description': 'Algorithm to calculate the os_hash_value'}),
        'os_hash_value': ro({'type': ['null', 'string'], 'maxLength': 128,
                             'description': 'Hexdigest of the image contents using '
                                            'the algorithm specified by the '
                                            'os_hash_algo'}),
        'owner': {'type': ['null', 'string'], 'maxLength': 255,
                  'description': 'Owner of the image'},
        'size': ro({'type': ['null', 'integer'],
                    'description': 'Size of image file in bytes'}),
        'virtual_size': ro({'type': ['null', 'integer'],
                            'description': 'Virtual size of image in bytes'}),
        'container_format': {'type': ['null', 'string'],
                             'enum': [None] + list(container_formats),
                             'description': 'Format of the container'},
        'disk_format': {'type': ['null', 'string'],
                        'enum': [None] + list(disk_formats),
                        'description': 'Format of the disk'},
        'created_at': ro({'type': 'string',
                          'description': 'Date and time of image registration'}),
        'updated_at': ro({'type': 'string',
                          'description': 'Date and time of the last image '
                                         'modification'}),
        'tags': {'type': 'array', 'items': {'type': 'string', 'maxLength': 255},
                 'description': 'List of strings related to the image'},
        'direct_url': ro({'type': 'string',
                          'description': 'URL to access the image file kept in '
                                         'external store'}),
        'min_ram': {'type': 'integer', 'minimum': 0,
                    'description': 'Amount of ram (in MB) required to boot image.'},
        'min_disk': {'type': 'integer', 'minimum': 0,
                     'description': 'Amount of disk space (in GB) required to boot '
                                    'image.'},
        'self': ro({'type': 'string', 'description': 'An image self url'}),
        'file': ro({'type': 'string', 'description': 'An image file url'}),
        'stores': ro({'type': 'string',
                      'description': 'Store in which image data resides. Only present '
                                     'when the operator has enabled multiple stores. '
                                     'May be a comma-separated list of store '
                                     'identifiers.'}),
        'schema': ro({'type': 'string', 'description': 'An image schema url'}),
        'locations': {
            'type': 'array',
            'items': {
                'type': 'object',
                'properties': {
                    'url': {'type': 'string', 'maxLength': 255},
                    'metadata': {'type': 'object'},
                    'validation_data': {
                        'type': 'object', 'writeOnly': True,
                        'additionalProperties': False,
                        'properties': {
                            'checksum': {'type': 'string', 'minLength': 32,
                                         'maxLength': 32},
                            'os_hash_algo': {'type': 'string', 'maxLength': 64},
                            'os_hash_value': {'type': 'string', 'maxLength': 128},
                        },
                        'required': ['os_hash_algo', 'os_hash_value'],
                    },
                },
                'required': ['url', 'metadata'],
            },
            'description': 'A set of URLs to access the image file kept in external '
                           'store',
        },
    }


class Schemas:
    """The deployment's schema documents and their validators."""

    def __init__(self, conf):
        base = _base_properties(conf.image_format.disk_formats,
                                conf.image_format.container_formats)
        custom, required = load_custom_properties(conf, frozenset(base))
        self.image = {
            'name': 'image',
            'properties': dict(base, **custom),
            # Other custom properties: any name, string values only (upstream's
            # "permissive" schema).
            'additionalProperties': {'type': 'string'},
            'links': [
                {'rel': 'self', 'href': '{self}'},
                {'rel': 'enclosure', 'href': '{file}'},
                {'rel': 'describedby', 'href': '{schema}'},
            ],
        }
        if required:
            self.image['required'] = required
        self.images = {
            'name': 'images',
            'properties': {
                'images': {'type': 'array', 'items': self.image},
                'schema': {'type': 'string'},
                'first': {'type': 'string'},
                'next': {'type': 'string'},
            },
            'links': [
                {'rel': 'first', 'href': '{first}'},
                {'rel': 'next', 'href': '{next}'},
                {'rel': 'describedby', 'href': '{schema}'},
            ],
        }
        self.member = {
            'name': 'member',
            'properties': {
                'created_at': {'type': 'string',
                               'description': 'Date and time of image member creation'},
                'image_id': {'type': 'string', 'pattern': UUID_PATTERN,
                             'description': 'An identifier for the image'},
                'member_id': {'type': 'string',
                              'description': 'An identifier for the image member '
                                             '(tenantId)'},
                'schema': {'type': 'string', 'readOnly': True},
                'status': {'type': 'string', 'enum': ['pending', 'accepted',
                                                      'rejected'],
                           'description': 'The status of this image member'},
                'updated_at': {'type': 'string',
                               'description': 'Date and time of last modification of '
                                              'image member'},
            },
        }
        self.members = {
            'name': 'members',
            'properties': {
                'members': {'type': 'array', 'items': self.member},
                'schema': {'type': 'string'},
            },
            'links': [
                {'rel': 'self', 'href': '{self}'},
                {'rel': 'describedby', 'href': '{schema}'},
            ],
        }
        operator_patterns = {text: patterns.compile(text)
                             for definition in custom.values()
                             for text in _patterns_in(definition)}
        #: ``{property: [pattern, ...]}``: the custom properties whose patterns
        #: RE2 cannot evaluate, left to Python's backtracking re.
        self.backtracking = {}
        for name, definition in custom.items():
            slow = [text for text in _patterns_in(definition)
                    if not operator_patterns[text].linear]
            if slow:
                self.backtracking[name] = slow
        validator = _validator_class(operator_patterns)
        self._image_validator = validator(self.image)
        # A patch's values are checked alone: the required properties are the
        # image's, not every patch's.
        self._values_validator = validator(
            {key: value for key, value in self.image.items() if key != 'required'})
        self.base_properties = frozenset(base)
        self.required_properties = frozenset(required)

    def warn_backtracking(self, log):
        """Say, at start, which custom properties' patterns a tenant's value may
        keep Python's backtracking re busy on."""
        for name, texts in sorted(self.backtracking.items()):
            log.warning("image schema: the pattern of property %s (%s) is evaluated "
                        "by a backtracking engine (Python's re), not RE2, which "
                        "cannot express it with the same meaning: a tenant's value "
                        "may hold an API thread for seconds.",
                        name, ', '.join(repr(text) for text in texts))

    def validate_image(self, document):
        """Raise ``errors.BadRequest`` unless the new image ``document`` fits the
        image schema (its required properties too)."""
        self._validate(self._image_validator, document)

    def validate_values(self, values):
        """Raise ``errors.BadRequest`` unless each of ``values`` (a patch's, by
        name) fits its definition in the image schema."""
        self._validate(self._values_validator, values)

    def check_required_given(self, values):
        """Raise ``errors.BadRequest`` if ``values`` (a create's document, a
        patch's values by name) sets a required custom property to null: the
        schema may let it be null, but a null one is stored as absent
        (``attributes.stored_properties``), and the image would lack it."""
        for name in sorted(self.required_properties & set(values)):
            if values[name] is None and name not in self.base_properties:
                raise errors.BadRequest('Property %s is required by the image '
                                        'schema and may not be null.' % name)

    @staticmethod
    def _validate(validator, document):
        error = jsonschema.exceptions.best_match(validator.iter_errors(document))
        if error is not None:
            raise errors.BadRequest("Provided object does not match schema 'image': %s"
                                    % json_body.describe_error(error))


def _patterns_in(schema):
    """The ``pattern`` of a definition and of each of its subschemas."""
    if not isinstance(schema, dict):
        return
    if isinstance(schema.get('pattern'), str):
        yield schema['pattern']
    subschemas = [schema.get(key) for key in _SUBSCHEMA]
    items = schema.get('items')
    subschemas += items if isinstance(items, list) else [items]
    for key in _SUBSCHEMA_LISTS:
        subschemas += schema.get(key) or []
    for key in _SUBSCHEMA_MAPS + ('dependencies',):
        subschemas += (schema.get(key) or {}).values()
    for subschema in subschemas:
        yield from _patterns_in(subschema)


def _validator_class(operator_patterns):
    """Draft 4, matching the operator's ``pattern``s (``{text: patterns.Pattern}``)
    as ``patterns`` compiled them; the base schema's own keep Python's re."""
    python_pattern = jsonschema.Draft4Validator.VALIDATORS['pattern']

    def pattern(validator, text, instance, schema):
        compiled = operator_patterns.get(text)
        if compiled is None:
            yield from python_pattern(validator, text, instance, schema)
        elif validator.is_type(instance, 'string') and not compiled.search(instance):
            # jsonschema's own wording.
            yield jsonschema.ValidationError('%r does not match %r' % (instance, text))

    return jsonschema.validators.extend(jsonschema.Draft4Validator,
                                        {'pattern': pattern})
