"""The catalog's rows as the registry API's records (docs/registry-api.rst).

Records carry every member, None included; the API leaves out the None ones as
upstream does. Property definitions read back through ``definitions.render``; times
as the wire writes them (``vocabulary.format_timestamp``).
"""

import orjson

from glance_registry.client import vocabulary
from glance_registry.metadefs import definitions


def _times(row):
    return {'created_at': vocabulary.format_timestamp(row.created_at),
            'updated_at': vocabulary.format_timestamp(row.updated_at)}


def namespace(row, associations=None):
    """The base record of a namespace, with its ``resource_type_associations``
    when given."""
    record = {
        'namespace': row.namespace,
        'display_name': row.display_name,
        'description': row.description,
        'visibility': row.visibility,
        'protected': bool(row.protected),
        'owner': row.owner,
        **_times(row),
    }
    if associations is not None:
        record['resource_type_associations'] = associations
    return record


def association(row, resource_type_name):
    return {'name': resource_type_name, 'prefix': row.prefix,
            'properties_target': row.properties_target, **_times(row)}


def resource_type(row):
    return {'name': row.name, 'protected': bool(row.protected), **_times(row)}


def object_(row):
    return {'name': row.name, 'description': row.description,
            'required': orjson.loads(row.required),
            'properties': {name: definitions.render(definition) for name, definition
                           in orjson.loads(row.properties).items()},
            **_times(row)}


def property_definition(row):
    """The definition of a property, without its name (a list's values)."""
    return definitions.render(orjson.loads(row.definition))


def property_(row):
    return dict(property_definition(row), name=row.name)


def tag(row):
    return {'name': row.name, **_times(row)}
