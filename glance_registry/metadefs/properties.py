"""Properties: the definitions of the keys a resource may carry, in a namespace."""

import orjson

from glance_registry.client import errors
from glance_registry.metadefs import access as access_module
from glance_registry.metadefs import contents
from glance_registry.metadefs import records
from glance_registry.metadefs import resource_types
from glance_registry.metadefs.models import Association
from glance_registry.metadefs.models import Property
from glance_registry.metadefs.models import ResourceType

PROPERTIES = contents.Kind(Property, 'property', 'metadata definition property')


def list_properties(db, identity, access, namespace_name):
    """``{name: definition}`` of a namespace's properties, oldest first."""
    with contents.reading(db, identity, access, namespace_name) as namespace:
        return {row.name: records.property_definition(row) for row in Property.select()
                .where(Property.namespace == namespace.id).order_by(Property.id)
                .execute(db)}


def get_property(db, identity, access, namespace_name, name, resource_type=None):
    """A property's record. With ``resource_type``, ``name`` carries the prefix of
    the namespace's association with that type (``hw_cpu_policy`` for
    ``cpu_policy``): ``NotFound`` if it is not associated, or ``name`` lacks the
    prefix."""
    with contents.reading(db, identity, access, namespace_name) as namespace:
        if resource_type is not None:
            name = _unprefixed(db, namespace, name, resource_type)
        return records.property_(contents.existing(db, PROPERTIES, namespace, name))


def _unprefixed(db, namespace, name, resource_type):
    association = (Association.select().join(ResourceType)
                   .where((Association.namespace == namespace.id)
                          & (ResourceType.name == resource_type)).first(db))
    if association is None:
        raise resource_types.association_not_found(namespace.namespace, resource_type)
    prefix = association.prefix
    if not prefix or not name.startswith(prefix):
        raise errors.NotFound("Property %s does not start with the expected resource "
                              "type association prefix of '%s'." % (name, prefix),
                              reason='metadef_not_found', resource='property',
                              namespace=namespace.namespace, name=name)
    return name[len(prefix):]


@access_module.retrying
def create_property(db, identity, access, namespace_name, name, definition):
    """Add a property; its record. ``Conflict`` if the namespace has one of that
    name."""
    with contents.writing(db, identity, access, namespace_name) as namespace:
        return records.property_(contents.create(db, PROPERTIES, namespace, {
            'name': name, 'definition': orjson.dumps(definition).decode()}))


@access_module.retrying
def update_property(db, identity, access, namespace_name, name, new_name, definition):
    """Replace a property's definition, renaming it to ``new_name``; its record."""
    with contents.writing(db, identity, access, namespace_name) as namespace:
        return records.property_(contents.replace(
            db, PROPERTIES, namespace, name,
            {'name': new_name, 'definition': orjson.dumps(definition).decode()}))


@access_module.retrying
def delete_property(db, identity, access, namespace_name, name):
    """Delete a property; its record as it was. ``Forbidden`` if the namespace is
    protected."""
    with contents.writing(db, identity, access, namespace_name) as namespace:
        return records.property_(contents.delete(db, PROPERTIES, namespace, name))
