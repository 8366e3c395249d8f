"""The ten JSON schema documents (draft 4) of the catalog, and request validation.

Served under /v2/schemas/metadefs/{namespace, namespaces, object, objects, property,
properties, tag, tags, resource_type, resource_types} with upstream's structure
(member names, types, limits, ``required``, ``additionalProperties``):
python-glanceclient builds its models from them and validates what it sends and
receives against them. Request bodies are validated against the same documents, so
what a client downloads is what is enforced; the registry then checks what the
schemas leave open (``glance_registry.metadefs.validation``).
"""

import functools

import jsonschema

from glance_api.http import errors, json_body

_TYPES = ['array', 'boolean', 'integer', 'number', 'object', 'string', None]


def _read_only_string(description=None):
    schema = {'type': 'string', 'readOnly': True}
    if description:
        schema.update(description=description, format='date-time')
    return schema


def _timestamps(what):
    return {'created_at': _read_only_string('When the %s was created.' % what),
            'updated_at': _read_only_string('When the %s was last changed.' % what)}


def _definitions(string_array_min_items=None):
    """The shared definitions; ``property`` (a set of property definitions) too
    unless the string arrays need a minimum (the property documents' own)."""
    string_array = {'type': 'array', 'items': {'type': 'string'}, 'uniqueItems': True}
    definitions = {
        'positiveInteger': {'type': 'integer', 'minimum': 0},
        'positiveIntegerDefault0': {'allOf': [{'$ref': '#/definitions/positiveInteger'},
                                              {'default': 0}]},
        'stringArray': string_array,
    }
    if string_array_min_items is not None:
        string_array['minItems'] = string_array_min_items
    else:
        definitions['property'] = {'type': 'object',
                                   'additionalProperties': _property_definition()}
    return definitions


def _property_members():
    """The members a property definition may have: upstream's list, and
    ``confidential``, which upstream stores (given within a namespace) but leaves
    out of the list, so that python-glanceclient, validating a property it reads
    against this schema, failed to show one that had it."""
    return {
        'name': {'type': 'string', 'maxLength': 80},
        'title': {'type': 'string'},
        'description': {'type': 'string'},
        'operators': {'type': 'array', 'items': {'type': 'string'}},
        'type': {'type': 'string', 'enum': list(_TYPES)},
        'required': {'$ref': '#/definitions/stringArray'},
        'minimum': {'type': 'number'},
        'maximum': {'type': 'number'},
        'maxLength': {'$ref': '#/definitions/positiveInteger'},
        'minLength': {'$ref': '#/definitions/positiveIntegerDefault0'},
        'pattern': {'type': 'string', 'format': 'regex'},
        'enum': {'type': 'array'},
        'readonly': {'type': 'boolean'},
        'default': {},
        'items': {'type': 'object',
                  'properties': {'type': {'type': 'string', 'enum': list(_TYPES)},
                                 'enum': {'type': 'array'}}},
        'maxItems': {'$ref': '#/definitions/positiveInteger'},
        'minItems': {'$ref': '#/definitions/positiveIntegerDefault0'},
        'uniqueItems': {'type': 'boolean', 'default': False},
        'additionalItems': {'type': 'boolean'},
        'confidential': {'type': 'boolean'},
    }


def _property_definition():
    return {'type': 'object', 'required': ['title', 'type'],
            'properties': _property_members()}


def _document(name, properties, required=None, definitions=None):
    document = {'name': name, 'properties': properties, 'additionalProperties': False}
    if definitions:
        document['definitions'] = definitions
    if required:
        document['required'] = required
    return document


def _collection(name, item, item_type='array'):
    """A list document: its items (``item`` without its definitions, which move to
    the list's top) and the pagination links."""
    item = dict(item)
    definitions = item.pop('definitions', None)
    members = ({'type': 'array', 'items': item} if item_type == 'array'
               else {'type': 'object', 'additionalProperties': item})
    document = {
        'name': name,
        'properties': {name: members, 'first': {'type': 'string'},
                       'next': {'type': 'string'}, 'schema': {'type': 'string'}},
        'links': [{'rel': 'first', 'href': '{first}'},
                  {'rel': 'next', 'href': '{next}'},
                  {'rel': 'describedby', 'href': '{schema}'}],
    }
    if definitions:
        document['definitions'] = definitions
    return document


def namespace():
    properties = {
        'namespace': {'type': 'string', 'maxLength': 80,
                      'description': 'The name of the namespace, unique in the '
                                     'catalog.'},
        'display_name': {'type': 'string', 'maxLength': 80,
                         'description': 'A name for people to read, which user '
                                        'interfaces show.'},
        'description': {'type': 'string', 'maxLength': 500,
                        'description': 'What the namespace defines, for people.'},
        'visibility': {'type': 'string', 'enum': ['public', 'private'],
                       'description': 'Who may see the namespace: everyone, or its '
                                      "owner's project."},
        'protected': {'type': 'boolean',
                      'description': 'Whether the namespace and its contents are kept '
                                     'from deletion.'},
        'owner': {'type': 'string', 'maxLength': 255,
                  'description': 'The project that owns the namespace.'},
        'schema': _read_only_string(),
        'self': _read_only_string(),
        'resource_type_associations': {
            'type': 'array',
            'items': {'type': 'object',
                      'properties': {'name': {'type': 'string'},
                                     'prefix': {'type': 'string'},
                                     'properties_target': {'type': 'string'}}}},
        'properties': {'$ref': '#/definitions/property'},
        'objects': {
            'type': 'array',
            'items': {'type': 'object',
                      'properties': {'name': {'type': 'string'},
                                     'description': {'type': 'string'},
                                     'required': {'$ref': '#/definitions/stringArray'},
                                     'properties': {'$ref': '#/definitions/property'}}}},
        'tags': {'type': 'array',
                 'items': {'type': 'object',
                           'properties': {'name': {'type': 'string'}}}},
    }
    properties.update(_timestamps('namespace'))
    return _document('namespace', properties, required=['namespace'],
                     definitions=_definitions())


def namespaces():
    return _collection('namespaces', namespace())


def obj():
    properties = {
        'name': {'type': 'string', 'maxLength': 80},
        'description': {'type': 'string'},
        'required': {'$ref': '#/definitions/stringArray'},
        'properties': {'$ref': '#/definitions/property'},
        'schema': _read_only_string(),
        'self': _read_only_string(),
    }
    properties.update(_timestamps('object'))
    return _document('object', properties, required=['name'],
                     definitions=_definitions())


def objects():
    return _collection('objects', obj())


def property_(require_name=True):
    required = ['title', 'type'] + (['name'] if require_name else [])
    return _document('property', _property_members(), required=required,
                     definitions=_definitions(string_array_min_items=1))


def properties():
    return _collection('properties', property_(require_name=False),
                       item_type='object')


def resource_type():
    properties = {
        'name': {'type': 'string', 'maxLength': 80,
                 'description': 'The resource type, named as Heat names resource '
                                'types where it can (e.g. OS::Glance::Image).'},
        'prefix': {'type': 'string', 'maxLength': 80,
                   'description': 'What the names of the namespace\'s properties '
                                  'start with on resources of this type, separator '
                                  'included (e.g. "hw_" or "hw:").'},
        'properties_target': {'type': 'string', 'maxLength': 80,
                              'description': 'Which of a resource\'s sets of '
                                             'key/value pairs the properties go to, '
                                             'for types that have several (e.g. '
                                             '"image" for the image metadata of a '
                                             'Cinder volume).'},
    }
    properties.update(_timestamps('association'))
    return _document('resource_type_association', properties, required=['name'])


def resource_types():
    return _collection('resource_type_associations', resource_type())


def tag():
    properties = {'name': {'type': 'string', 'maxLength': 80}}
    properties.update(_timestamps('tag'))
    return _document('tag', properties, required=['name'])


def tags():
    return _collection('tags', tag())


def _tag_list():
    """The body of a bulk tag creation (not served: upstream's own validator)."""
    return _document('tags', {'tags': {
        'type': 'array',
        'items': {'type': 'object', 'properties': {'name': {'type': 'string'}},
                  'required': ['name'], 'additionalProperties': False}}})


#: The served documents, by their path under /v2/schemas/metadefs.
DOCUMENTS = {
    'namespace': namespace, 'namespaces': namespaces, 'object': obj,
    'objects': objects, 'property': property_, 'properties': properties,
    'resource_type': resource_type, 'resource_types': resource_types, 'tag': tag,
    'tags': tags,
}

_VALIDATED = dict(DOCUMENTS, property_in_object=lambda: property_(require_name=False),
                  tag_list=_tag_list)


@functools.cache
def _validator(name):
    return jsonschema.Draft4Validator(_VALIDATED[name]())


@functools.cache
def document(name):
    """The schema document served as /v2/schemas/metadefs/``name``."""
    return DOCUMENTS[name]()


def validate(name, body):
    """400 unless ``body`` fits the schema ``name``, in upstream's words (which name
    the schema document)."""
    error = jsonschema.exceptions.best_match(_validator(name).iter_errors(body))
    if error is not None:
        raise errors.BadRequest("Provided object does not match schema '%s': %s"
                                % (_VALIDATED[name]()['name'],
                                   json_body.describe_error(error)))


#: Members a client never sets (upstream answers 403 for them).
READ_ONLY = ('self', 'schema', 'created_at', 'updated_at')
TIMESTAMPS = ('created_at', 'updated_at')


def read_body(name, read_only=TIMESTAMPS):
    """The request's JSON object, checked as upstream checks it: 403 for a
    ``read_only`` member, then 400 unless it fits the schema ``name``."""
    # At most max_request_body_size (112 KiB by default): the largest namespace
    # of the standard catalog is 20 KB.
    body = json_body.parse()
    if not isinstance(body, dict):
        raise errors.BadRequest('The request body must be a JSON object.')
    for key in read_only:
        if key in body:
            raise errors.Forbidden("Attribute '%s' is read-only." % key)
    validate(name, body)
    return body
