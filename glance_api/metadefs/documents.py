"""Registry records as the API's documents.

Upstream leaves out every member that has no value (a namespace without a
description has no ``description``), and a namespace's contents when it has none;
links (``self``, ``schema``) name things as they are, unquoted, as upstream's do.
"""

import urllib.parse

NAMESPACE_SCHEMA = '/v2/schemas/metadefs/namespace'
NAMESPACES_SCHEMA = '/v2/schemas/metadefs/namespaces'
OBJECT_SCHEMA = '/v2/schemas/metadefs/object'
# Sic: upstream's object list names its schema without the leading slash.
OBJECTS_SCHEMA = 'v2/schemas/metadefs/objects'

_NAMESPACE_MEMBERS = ('namespace', 'display_name', 'description', 'visibility',
                      'protected', 'owner', 'created_at', 'updated_at')
CONTENTS = ('resource_type_associations', 'properties', 'objects', 'tags')


def _present(record, members):
    return {key: record[key] for key in members if record.get(key) is not None}


def namespace_path(name):
    return '/v2/metadefs/namespaces/%s' % name


def location(name):
    """The ``Location`` of a new namespace (quoted: a header is ASCII)."""
    return namespace_path(urllib.parse.quote(name, safe=':'))


def namespace(record, contents=None):
    """The document of a namespace record. ``contents``: which of its contents to
    show even when empty (a new namespace shows what was given), the others only
    when it has some."""
    document = _present(record, _NAMESPACE_MEMBERS)
    document['self'] = namespace_path(record['namespace'])
    document['schema'] = NAMESPACE_SCHEMA
    name = record['namespace']
    render = {
        'resource_type_associations': lambda items: [association(a) for a in items],
        'properties': lambda items: items,
        'objects': lambda items: [obj(o, name) for o in items],
        'tags': lambda items: [{'name': tag['name']} for tag in items],
    }
    for key in CONTENTS:
        if key in record and (record[key] or (contents and key in contents)):
            document[key] = render[key](record[key])
    return document


def association(record):
    return _present(record, ('name', 'prefix', 'properties_target', 'created_at',
                             'updated_at'))


def resource_type(record):
    return _present(record, ('name', 'created_at', 'updated_at'))


def obj(record, namespace_name):
    document = _present(record, ('name', 'description', 'required', 'properties',
                                 'created_at', 'updated_at'))
    document['self'] = '%s/objects/%s' % (namespace_path(namespace_name),
                                          record['name'])
    document['schema'] = OBJECT_SCHEMA
    return document


def property_(record):
    """A property alone: its definition and ``name``."""
    return dict(record)


def tag(record):
    return _present(record, ('name', 'created_at', 'updated_at'))
