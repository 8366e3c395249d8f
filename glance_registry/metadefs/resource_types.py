"""Resource types and their associations with namespaces.

A resource type (``OS::Glance::Image``, ``OS::Nova::Flavor``, ...) exists once and is
created by its first association; every caller may list them all, as upstream. An
association says under which ``prefix`` (and in which ``properties_target``) the
properties of a namespace apply to resources of that type.
"""

import collections

from glance_registry import db as db_module
from glance_registry.client import errors
from glance_registry.metadefs import access as access_module
from glance_registry.metadefs import contents
from glance_registry.metadefs import records
from glance_registry.metadefs.models import Association
from glance_registry.metadefs.models import ResourceType
from glance_registry.models import utcnow


def list_resource_types(db, identity):
    """Every resource type, oldest first."""
    with db_module.read_transaction(db):
        return [records.resource_type(row) for row
                in ResourceType.select().order_by(ResourceType.id).execute(db)]


def resource_type_named(db, name, now, protected=False):
    """The ``ResourceType`` row called ``name``, created if missing (in the
    caller's transaction)."""
    row = ResourceType.select().where(ResourceType.name == name).first(db)
    if row is None:
        row = contents.insert(db, ResourceType, {
            'name': name, 'protected': protected, 'created_at': now,
            'updated_at': now})
    return row


def association_not_found(namespace_name, resource_type_name):
    """The error for a resource type that is not associated with a namespace."""
    return errors.NotFound(
        'The metadata definition resource-type association of resource-type=%s to '
        'namespace=%s, was not found.' % (resource_type_name, namespace_name),
        reason='metadef_not_found', resource='resource_type_association',
        namespace=namespace_name, name=resource_type_name)


def associations_of(db, namespace_ids):
    """``{namespace id: [association records]}`` in one query, oldest first."""
    found = collections.defaultdict(list)
    if not namespace_ids:
        return found
    rows = (Association.select(Association, ResourceType.name)
            .join(ResourceType)
            .where(Association.namespace.in_(list(namespace_ids)))
            .order_by(Association.id).execute(db))
    for row in rows:
        found[row.namespace_id].append(records.association(row, row.resource_type.name))
    return found


def list_associations(db, identity, access, namespace_name):
    """The associations of a namespace (none if ``access.items`` hides them)."""
    with contents.reading(db, identity, access, namespace_name) as namespace:
        if not access_module.shows_items(identity, namespace, access):
            return []
        return associations_of(db, [namespace.id])[namespace.id]


def add_association(db, namespace, values, now, protected_type=False):
    """Associate ``values['name']`` with ``namespace`` (a row, in the caller's
    transaction; the resource type is created if new, ``protected_type`` if so);
    its record. ``Conflict`` if it is already."""
    resource_type = resource_type_named(db, values['name'], now, protected_type)
    exists = (Association.select()
              .where((Association.namespace == namespace.id)
                     & (Association.resource_type == resource_type.id)).exists(db))
    if exists:
        raise contents.duplicate(
            'The metadata definition resource-type association of resource-type=%s '
            'to namespace=%s already exists.' % (values['name'], namespace.namespace),
            'resource_type_association', namespace.namespace, values['name'])
    row = contents.insert(db, Association, {
        'namespace': namespace.id, 'resource_type': resource_type.id,
        'prefix': values.get('prefix'),
        'properties_target': values.get('properties_target'),
        'created_at': now, 'updated_at': now})
    return records.association(row, values['name'])


@access_module.retrying
def associate(db, identity, access, namespace_name, values):
    """Associate a resource type (created if new) with a namespace; its record.
    ``Conflict`` if it is already associated."""
    with contents.writing(db, identity, access, namespace_name) as namespace:
        return add_association(db, namespace, values, utcnow())


@access_module.retrying
def dissociate(db, identity, access, namespace_name, resource_type_name):
    """Remove an association; the record it had. ``NotFound`` if there is none,
    ``Forbidden`` if the namespace is protected."""
    with contents.writing(db, identity, access, namespace_name) as namespace:
        row = (Association.select(Association, ResourceType.name)
               .join(ResourceType)
               .where((Association.namespace == namespace.id)
                      & (ResourceType.name == resource_type_name)).first(db))
        if row is None:
            raise association_not_found(namespace_name, resource_type_name)
        contents.refuse_if_protected(
            namespace, 'Metadata definition resource-type-association %s is protected '
                       'and cannot be deleted.' % resource_type_name)
        Association.delete().where(Association.id == row.id).execute(db)
        return records.association(row, resource_type_name)
