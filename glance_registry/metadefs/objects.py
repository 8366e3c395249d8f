"""Objects: named groups of property definitions in a namespace (e.g. a database
engine's settings), with the names of those that are required."""

import orjson

from glance_registry import db as db_module
from glance_registry import errors
from glance_registry.metadefs import access as access_module
from glance_registry.metadefs import records
from glance_registry.metadefs.models import Object
from glance_registry.models import utcnow


def _not_found(name, namespace_name):
    return errors.NotFound('The metadata definition object with name=%s was not found '
                           'in namespace=%s.' % (name, namespace_name),
                           resource='object')


def _duplicate(name, namespace_name, renaming=False):
    if renaming:
        return errors.Conflict('Invalid update. It would result in a duplicate '
                               'metadata definition object with the same name=%s in '
                               'namespace=%s.' % (name, namespace_name))
    return errors.Conflict('A metadata definition object with name=%s already exists '
                           'in namespace=%s.' % (name, namespace_name))


def _row(namespace, name):
    return (Object.select()
            .where((Object.namespace == namespace.id) & (Object.name == name)).first())


def _columns(values):
    return {'name': values['name'], 'description': values['description'],
            'required': orjson.dumps(values['required']).decode(),
            'properties': orjson.dumps(values['properties']).decode()}


def list_objects(db, identity, access, namespace_name):
    """The objects of a namespace, oldest first (none if ``access.items`` hides
    them)."""
    with db_module.read_transaction(db):
        namespace = access_module.namespace_for(db, identity, namespace_name, access)
        if not access_module.shows_items(identity, namespace, access):
            return []
        return [records.object_(row) for row in Object.select()
                .where(Object.namespace == namespace.id).order_by(Object.id)]


def get_object(db, identity, access, namespace_name, name):
    with db_module.read_transaction(db):
        namespace = access_module.namespace_for(db, identity, namespace_name, access)
        row = _row(namespace, name)
        if row is None:
            raise _not_found(name, namespace_name)
        return records.object_(row)


@access_module.retrying
def create_object(db, identity, access, namespace_name, values):
    """Add an object (``validation.object_values``); its record. ``Conflict`` if
    the namespace has one of that name."""
    with db_module.write_transaction(db):
        namespace = access_module.namespace_for(db, identity, namespace_name, access,
                                                change=True, lock=True)
        if _row(namespace, values['name']) is not None:
            raise _duplicate(values['name'], namespace_name)
        now = utcnow()
        row = Object.create(namespace=namespace.id, created_at=now, updated_at=now,
                            **_columns(values))
        return records.object_(row)


@access_module.retrying
def update_object(db, identity, access, namespace_name, name, values):
    """Replace an object (a rename too); its record."""
    with db_module.write_transaction(db):
        namespace = access_module.namespace_for(db, identity, namespace_name, access,
                                                change=True, lock=True)
        row = _row(namespace, name)
        if row is None:
            raise _not_found(name, namespace_name)
        if values['name'] != name and _row(namespace, values['name']) is not None:
            raise _duplicate(values['name'], namespace_name, renaming=True)
        columns = dict(_columns(values), updated_at=utcnow())
        Object.update(**columns).where(Object.id == row.id).execute()
        for key, value in columns.items():
            setattr(row, key, value)
        return records.object_(row)


@access_module.retrying
def delete_object(db, identity, access, namespace_name, name):
    """Delete an object; its record as it was. ``Forbidden`` if the namespace is
    protected."""
    with db_module.write_transaction(db):
        namespace = access_module.namespace_for(db, identity, namespace_name, access,
                                                change=True, lock=True)
        row = _row(namespace, name)
        if row is None:
            raise _not_found(name, namespace_name)
        if namespace.protected:
            raise errors.Forbidden('Metadata definition object %s is protected and '
                                   'cannot be deleted.' % name)
        Object.delete().where(Object.id == row.id).execute()
        return records.object_(row)
