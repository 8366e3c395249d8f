"""Objects: named groups of property definitions in a namespace (e.g. a database
engine's settings), with the names of those that are required."""

import orjson

from glance_registry.metadefs import access as access_module
from glance_registry.metadefs import contents
from glance_registry.metadefs import records
from glance_registry.metadefs.models import Object

OBJECTS = contents.Kind(Object, 'object', 'metadata definition object')


def _columns(values):
    return {'name': values['name'], 'description': values['description'],
            'required': orjson.dumps(values['required']).decode(),
            'properties': orjson.dumps(values['properties']).decode()}


def list_objects(db, identity, access, namespace_name):
    """The objects of a namespace, oldest first (none if ``access.items`` hides
    them)."""
    with contents.reading(db, identity, access, namespace_name) as namespace:
        if not access_module.shows_items(identity, namespace, access):
            return []
        return [records.object_(row) for row in Object.select()
                .where(Object.namespace == namespace.id).order_by(Object.id)
                .execute(db)]


def get_object(db, identity, access, namespace_name, name):
    with contents.reading(db, identity, access, namespace_name) as namespace:
        return records.object_(contents.existing(db, OBJECTS, namespace, name))


@access_module.retrying
def create_object(db, identity, access, namespace_name, values):
    """Add an object (``validation.object_values``); its record. ``Conflict`` if
    the namespace has one of that name."""
    with contents.writing(db, identity, access, namespace_name) as namespace:
        return records.object_(contents.create(db, OBJECTS, namespace,
                                               _columns(values)))


@access_module.retrying
def update_object(db, identity, access, namespace_name, name, values):
    """Replace an object (a rename too); its record."""
    with contents.writing(db, identity, access, namespace_name) as namespace:
        return records.object_(contents.replace(db, OBJECTS, namespace, name,
                                                _columns(values)))


@access_module.retrying
def delete_object(db, identity, access, namespace_name, name):
    """Delete an object; its record as it was. ``Forbidden`` if the namespace is
    protected."""
    with contents.writing(db, identity, access, namespace_name) as namespace:
        return records.object_(contents.delete(db, OBJECTS, namespace, name))
