"""The catalog's tables as peewee models (built by migration 7, ``m0007_metadefs``).

Rows are addressed by name within their namespace; the integer ids only link the
tables, so renaming a namespace, object, property or tag touches one row. Deleting a
namespace deletes its contents (``ON DELETE CASCADE``); resource types outlive the
namespaces associated with them, as upstream's do.

Property definitions and the properties of objects are stored as the JSON text
they were given (checked by ``definitions``), so that ``export_metadefs`` writes
back what was loaded.

Like ``glance_registry.models``, these are bound to no database: every query runs
on the database its caller names (``execute(db)``, ``first(db)``...).
"""

import peewee


class _Model(peewee.Model):

    class Meta:
        legacy_table_names = False


class Namespace(_Model):
    id = peewee.AutoField()
    namespace = peewee.CharField(max_length=80)
    display_name = peewee.CharField(max_length=80, null=True)
    description = peewee.TextField(null=True)
    visibility = peewee.CharField(max_length=32)
    protected = peewee.BooleanField(default=False)
    # A project id; None for a namespace created by an admin without a project,
    # which only admins may change.
    owner = peewee.CharField(max_length=255, null=True)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = 'metadef_namespaces'
        indexes = (
            (('namespace',), True),
            (('owner',), False),
            # The default list order (created_at desc, id desc) and its keyset.
            (('created_at', 'id'), False),
        )


def _namespace_fk(backref):
    return peewee.ForeignKeyField(Namespace, column_name='namespace_id',
                                  backref=backref, on_delete='CASCADE', index=False)


class ResourceType(_Model):
    id = peewee.AutoField()
    name = peewee.CharField(max_length=80)
    # Loaded from the standard catalog (upstream calls them "seeded-system" types).
    protected = peewee.BooleanField(default=False)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = 'metadef_resource_types'
        indexes = ((('name',), True),)


class Association(_Model):
    """A resource type associated with a namespace: properties of the namespace
    apply to resources of that type under ``prefix`` (e.g. ``hw_`` for images,
    ``hw:`` for flavors), in their ``properties_target`` (e.g. Cinder's ``image``
    metadata of a volume)."""

    id = peewee.AutoField()
    namespace = _namespace_fk('associations')
    resource_type = peewee.ForeignKeyField(ResourceType, column_name='resource_type_id',
                                           backref='associations', index=False)
    prefix = peewee.CharField(max_length=80, null=True)
    properties_target = peewee.CharField(max_length=80, null=True)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = 'metadef_namespace_resource_types'
        indexes = (
            (('namespace', 'resource_type'), True),
            # "Namespaces for these resource types": the list's filter.
            (('resource_type',), False),
        )


class Object(_Model):
    id = peewee.AutoField()
    namespace = _namespace_fk('objects')
    name = peewee.CharField(max_length=80)
    description = peewee.TextField(null=True)
    # JSON: the names of the required properties, a list.
    required = peewee.TextField(default='[]')
    # JSON: {property name: definition}.
    properties = peewee.TextField(default='{}')
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = 'metadef_objects'
        indexes = ((('namespace', 'name'), True),)


class Property(_Model):
    id = peewee.AutoField()
    namespace = _namespace_fk('properties')
    name = peewee.CharField(max_length=80)
    # JSON: the definition (type, title, description, enum, ...).
    definition = peewee.TextField()
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = 'metadef_properties'
        indexes = ((('namespace', 'name'), True),)


class Tag(_Model):
    id = peewee.AutoField()
    namespace = _namespace_fk('tags')
    name = peewee.CharField(max_length=80)
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = 'metadef_tags'
        indexes = ((('namespace', 'name'), True),)


MODELS = (Namespace, ResourceType, Association, Object, Property, Tag)
