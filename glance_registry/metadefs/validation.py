"""Checking what a caller (the registry API, a catalog file) gives for the catalog.

Each function takes a decoded JSON value, raises ``errors.BadRequest`` saying what
is wrong (reason ``invalid_value``, ``field`` naming the member at fault), and
returns the checked values the resource modules take. Names are the
catalog's keys in URLs: 1 to 80 characters, never ``/`` nor ``.`` or ``..`` (dot
segments, which clients remove from a URL): upstream accepts them, and the thing
can then never be shown, changed or deleted.

The generic checks (types, lengths, NUL characters) are the registry API's own
request vocabulary, ``glance_registry.validation``.
"""

from glance_registry import validation
from glance_registry.client import errors
from glance_registry.metadefs import access
from glance_registry.metadefs import definitions

NAME_LENGTH = 80
# Namespace descriptions are limited by upstream's schema; other descriptions only
# by the size of a body.
NAMESPACE_DESCRIPTION_LENGTH = 500
_TEXT_LENGTH = 1024 * 1024

NAMESPACE_FIELDS = ('namespace', 'display_name', 'description', 'visibility',
                    'protected', 'owner')
NAMESPACE_CONTENTS = ('properties', 'objects', 'tags', 'resource_type_associations')


def name(where, value):
    validation.string(where, value, NAME_LENGTH, min_length=1)
    if '/' in value:
        raise errors.BadRequest.invalid_value("'%s' cannot contain '/'" % where, where)
    if value in ('.', '..'):
        raise errors.BadRequest.invalid_value("'%s' cannot be '.' or '..'" % where,
                                              where)
    return value


def _optional_string(where, value, length):
    return validation.string(where, value, length, nullable=True)


def namespace_values(body, where='namespace'):
    """The base attributes of a namespace: ``namespace`` is required, the others
    default as upstream's (no display name or description, ``private``, not
    protected; the owner is the caller's to decide, so it is left out if absent)."""
    validation.require(body, 'namespace')
    values = {
        'namespace': name('namespace', body['namespace']),
        'display_name': _optional_string('display_name', body.get('display_name'),
                                         NAME_LENGTH),
        'description': _optional_string('description', body.get('description'),
                                        NAMESPACE_DESCRIPTION_LENGTH),
        'visibility': _visibility(body.get('visibility')),
        'protected': _boolean('protected', body.get('protected')),
    }
    if body.get('owner') is not None:
        values['owner'] = validation.string('owner', body['owner'], 255, min_length=1)
    return values


def _visibility(value):
    if value is None:
        return 'private'
    validation.check_type('visibility', value, str)
    if value not in access.VISIBILITIES:
        raise errors.BadRequest.invalid_value(
            "'visibility' must be one of %s, not %r"
            % (', '.join(access.VISIBILITIES), value), 'visibility')
    return value


def _boolean(where, value):
    if value is None:
        return False
    return validation.field_boolean(where, value)


def namespace_contents(body):
    """The contents given with a new namespace, each list checked:
    ``{"properties": {name: definition}, "objects": [...], "tags": [names],
    "resource_type_associations": [...]}`` (absent ones empty)."""
    properties = property_definitions(body.get('properties') or {}, 'properties')
    objects = body.get('objects') or []
    validation.check_type('objects', objects, list)
    objects = [object_values(item, 'objects[%d]' % i) for i, item in enumerate(objects)]
    tags = tag_names(body.get('tags') or [], 'tags')
    associations = body.get('resource_type_associations') or []
    validation.check_type('resource_type_associations', associations, list)
    associations = [association_values(item, 'resource_type_associations[%d]' % i)
                    for i, item in enumerate(associations)]
    return {'properties': properties, 'objects': objects, 'tags': tags,
            'resource_type_associations': associations}


def property_definitions(value, where):
    """``{name: definition}``, each definition checked (``definitions.check``)."""
    validation.check_object(where, value)
    return {name('%s key' % where, key): definitions.check(
                definition, "property '%s'" % key)
            for key, definition in value.items()}


def property_values(body):
    """A property given alone: ``(name, definition)``."""
    validation.require(body, 'name')
    property_name = name('name', body['name'])
    return property_name, definitions.check(body, "property '%s'" % property_name)


def object_values(body, where='object'):
    """``{"name", "description", "required", "properties"}`` of an object."""
    validation.check_object(where, body)
    validation.check_only(body, {'name', 'description', 'required', 'properties'},
                          where)
    validation.require(body, 'name', where + '.')
    required = body.get('required') or []
    validation.check_type(where + '.required', required, list)
    for item in required:
        validation.string(where + '.required item', item, NAME_LENGTH, min_length=1)
    if len(set(required)) != len(required):
        raise errors.BadRequest.invalid_value(
            "'%s.required' lists a property twice" % where, where + '.required')
    return {'name': name(where + '.name', body['name']),
            'description': _optional_string(where + '.description',
                                            body.get('description'), _TEXT_LENGTH),
            'required': required,
            'properties': property_definitions(body.get('properties') or {},
                                               where + '.properties')}


def association_values(body, where='resource type association'):
    """``{"name", "prefix", "properties_target"}`` of a resource type association."""
    validation.check_object(where, body)
    validation.check_only(body, {'name', 'prefix', 'properties_target'}, where)
    validation.require(body, 'name', where + '.')
    return {'name': name(where + '.name', body['name']),
            'prefix': _optional_string(where + '.prefix', body.get('prefix'),
                                       NAME_LENGTH),
            'properties_target': _optional_string(where + '.properties_target',
                                                  body.get('properties_target'),
                                                  NAME_LENGTH)}


def tag_names(value, where):
    validation.check_type(where, value, list)
    return [name('%s item' % where, item) for item in value]
