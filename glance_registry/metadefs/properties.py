"""Properties: the definitions of the keys a resource may carry, in a namespace."""

import orjson

from glance_registry import db as db_module
from glance_registry import errors
from glance_registry.metadefs import access as access_module
from glance_registry.metadefs import records
from glance_registry.metadefs.models import Association
from glance_registry.metadefs.models import Property
from glance_registry.metadefs.models import ResourceType
from glance_registry.models import utcnow


def _not_found(name, namespace_name):
    return errors.NotFound('The metadata definition property with name=%s was not '
                           'found in namespace=%s.' % (name, namespace_name),
                           resource='property')


def _duplicate(name, namespace_name, renaming=False):
    if renaming:
        return errors.Conflict('Invalid update. It would result in a duplicate '
                               'metadata definition property with the same name=%s '
                               'in namespace=%s.' % (name, namespace_name))
    return errors.Conflict('A metadata definition property with name=%s already '
                           'exists in namespace=%s.' % (name, namespace_name))


def _row(namespace, name):
    return (Property.select()
            .where((Property.namespace == namespace.id) & (Property.name == name))
            .first())


def list_properties(db, identity, access, namespace_name):
    """``{name: definition}`` of a namespace's properties, oldest first."""
    with db_module.read_transaction(db):
        namespace = access_module.namespace_for(db, identity, namespace_name, access)
        return {row.name: records.property_definition(row) for row in Property.select()
                .where(Property.namespace == namespace.id).order_by(Property.id)}


def get_property(db, identity, access, namespace_name, name, resource_type=None):
    """A property's record. With ``resource_type``, ``name`` carries the prefix of
    the namespace's association with that type (``hw_cpu_policy`` for
    ``cpu_policy``): ``NotFound`` if it is not associated, or ``name`` lacks the
    prefix."""
    with db_module.read_transaction(db):
        namespace = access_module.namespace_for(db, identity, namespace_name, access)
        if resource_type is not None:
            name = _unprefixed(namespace, name, resource_type)
        row = _row(namespace, name)
        if row is None:
            raise _not_found(name, namespace_name)
        return records.property_(row)


def _unprefixed(namespace, name, resource_type):
    association = (Association.select().join(ResourceType)
                   .where((Association.namespace == namespace.id)
                          & (ResourceType.name == resource_type)).first())
    if association is None:
        raise errors.NotFound(
            'The metadata definition resource-type association of resource-type=%s '
            'to namespace=%s, was not found.' % (resource_type, namespace.namespace),
            resource='resource_type_association')
    prefix = association.prefix
    if not prefix or not name.startswith(prefix):
        raise errors.NotFound("Property %s does not start with the expected resource "
                              "type association prefix of '%s'." % (name, prefix),
                              resource='property')
    return name[len(prefix):]


@access_module.retrying
def create_property(db, identity, access, namespace_name, name, definition):
    """Add a property; its record. ``Conflict`` if the namespace has one of that
    name."""
    with db_module.write_transaction(db):
        namespace = access_module.namespace_for(db, identity, namespace_name, access,
                                                change=True, lock=True)
        if _row(namespace, name) is not None:
            raise _duplicate(name, namespace_name)
        now = utcnow()
        row = Property.create(namespace=namespace.id, name=name,
                              definition=orjson.dumps(definition).decode(),
                              created_at=now, updated_at=now)
        return records.property_(row)


@access_module.retrying
def update_property(db, identity, access, namespace_name, name, new_name, definition):
    """Replace a property's definition, renaming it to ``new_name``; its record."""
    with db_module.write_transaction(db):
        namespace = access_module.namespace_for(db, identity, namespace_name, access,
                                                change=True, lock=True)
        row = _row(namespace, name)
        if row is None:
            raise _not_found(name, namespace_name)
        if new_name != name and _row(namespace, new_name) is not None:
            raise _duplicate(new_name, namespace_name, renaming=True)
        columns = {'name': new_name, 'definition': orjson.dumps(definition).decode(),
                   'updated_at': utcnow()}
        Property.update(**columns).where(Property.id == row.id).execute()
        for key, value in columns.items():
            setattr(row, key, value)
        return records.property_(row)


@access_module.retrying
def delete_property(db, identity, access, namespace_name, name):
    """Delete a property; its record as it was. ``Forbidden`` if the namespace is
    protected."""
    with db_module.write_transaction(db):
        namespace = access_module.namespace_for(db, identity, namespace_name, access,
                                                change=True, lock=True)
        row = _row(namespace, name)
        if row is None:
            raise _not_found(name, namespace_name)
        if namespace.protected:
            raise errors.Forbidden('Metadata definition property %s is protected and '
                                   'cannot be deleted.' % name)
        Property.delete().where(Property.id == row.id).execute()
        return records.property_(row)
