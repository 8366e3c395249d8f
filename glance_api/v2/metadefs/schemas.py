"""/v2/schemas/metadefs/*: the catalog's ten JSON schema documents
(``glance_api.metadefs.schemas``)."""

from glance_api.http import responses
from glance_api.metadefs import schemas


def namespace_schema():
    """The schema of a namespace."""
    return responses.json(schemas.document('namespace'))


def namespaces_schema():
    """The schema of a page of namespaces."""
    return responses.json(schemas.document('namespaces'))


def object_schema():
    """The schema of an object."""
    return responses.json(schemas.document('object'))


def objects_schema():
    """The schema of a namespace's objects."""
    return responses.json(schemas.document('objects'))


def property_schema():
    """The schema of a property definition."""
    return responses.json(schemas.document('property'))


def properties_schema():
    """The schema of a namespace's property definitions."""
    return responses.json(schemas.document('properties'))


def resource_type_schema():
    """The schema of a resource type association."""
    return responses.json(schemas.document('resource_type'))


def resource_types_schema():
    """The schema of a namespace's resource type associations."""
    return responses.json(schemas.document('resource_types'))


def tag_schema():
    """The schema of a tag."""
    return responses.json(schemas.document('tag'))


def tags_schema():
    """The schema of a namespace's tags."""
    return responses.json(schemas.document('tags'))
