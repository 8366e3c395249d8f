"""The metadata definitions catalog: namespaces, resource types and their
associations, objects, properties and tags.

Names compare binary, as everywhere else in this schema (the collation of
``images`` on MariaDB, "C" on PostgreSQL). MariaDB commits DDL at once, outside the
migration's transaction: tables and indexes are created only if missing, so a sync
interrupted half-way can simply be run again.
"""

import peewee

from glance_registry import db as db_module

VERSION = 7
DESCRIPTION = 'the metadata definitions catalog'


def _tables():
    class Base(peewee.Model):
        class Meta:
            legacy_table_names = False

    class Namespace(Base):
        id = peewee.AutoField()
        namespace = peewee.CharField(max_length=80)
        display_name = peewee.CharField(max_length=80, null=True)
        description = peewee.TextField(null=True)
        visibility = peewee.CharField(max_length=32)
        protected = peewee.BooleanField(default=False)
        owner = peewee.CharField(max_length=255, null=True)
        created_at = peewee.DateTimeField()
        updated_at = peewee.DateTimeField()

        class Meta:
            table_name = 'metadef_namespaces'

    def namespace_fk():
        return peewee.ForeignKeyField(Namespace, column_name='namespace_id',
                                      on_delete='CASCADE', index=False)

    class ResourceType(Base):
        id = peewee.AutoField()
        name = peewee.CharField(max_length=80)
        protected = peewee.BooleanField(default=False)
        created_at = peewee.DateTimeField()
        updated_at = peewee.DateTimeField()

        class Meta:
            table_name = 'metadef_resource_types'

    class Association(Base):
        id = peewee.AutoField()
        namespace = namespace_fk()
        resource_type = peewee.ForeignKeyField(ResourceType,
                                               column_name='resource_type_id',
                                               index=False)
        prefix = peewee.CharField(max_length=80, null=True)
        properties_target = peewee.CharField(max_length=80, null=True)
        created_at = peewee.DateTimeField()
        updated_at = peewee.DateTimeField()

        class Meta:
            table_name = 'metadef_namespace_resource_types'

    class Object(Base):
        id = peewee.AutoField()
        namespace = namespace_fk()
        name = peewee.CharField(max_length=80)
        description = peewee.TextField(null=True)
        required = peewee.TextField(default='[]')
        properties = peewee.TextField(default='{}')
        created_at = peewee.DateTimeField()
        updated_at = peewee.DateTimeField()

        class Meta:
            table_name = 'metadef_objects'

    class Property(Base):
        id = peewee.AutoField()
        namespace = namespace_fk()
        name = peewee.CharField(max_length=80)
        definition = peewee.TextField()
        created_at = peewee.DateTimeField()
        updated_at = peewee.DateTimeField()

        class Meta:
            table_name = 'metadef_properties'

    class Tag(Base):
        id = peewee.AutoField()
        namespace = namespace_fk()
        name = peewee.CharField(max_length=80)
        created_at = peewee.DateTimeField()
        updated_at = peewee.DateTimeField()

        class Meta:
            table_name = 'metadef_tags'

    return [Namespace, ResourceType, Association, Object, Property, Tag]


# (name, table, columns, unique)
_INDEXES = [
    ('uq_metadef_namespaces_namespace', 'metadef_namespaces', ['namespace'], True),
    ('ix_metadef_namespaces_owner', 'metadef_namespaces', ['owner'], False),
    ('ix_metadef_namespaces_created_at_id', 'metadef_namespaces',
     ['created_at', 'id'], False),
    ('uq_metadef_resource_types_name', 'metadef_resource_types', ['name'], True),
    ('uq_metadef_ns_res_types_namespace_id_resource_type_id',
     'metadef_namespace_resource_types', ['namespace_id', 'resource_type_id'], True),
    ('ix_metadef_ns_res_types_resource_type_id', 'metadef_namespace_resource_types',
     ['resource_type_id'], False),
    ('uq_metadef_objects_namespace_id_name', 'metadef_objects',
     ['namespace_id', 'name'], True),
    ('uq_metadef_properties_namespace_id_name', 'metadef_properties',
     ['namespace_id', 'name'], True),
    ('uq_metadef_tags_namespace_id_name', 'metadef_tags', ['namespace_id', 'name'],
     True),
]


def _mysql_collation(db):
    # The new tables compare names exactly as the images tables compare theirs.
    return db.execute_sql(
        'SELECT TABLE_COLLATION FROM information_schema.TABLES '
        'WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s', ('images',)).fetchone()[0]


def upgrade(db):
    kind = db_module.dialect(db)
    tables = _tables()
    if kind == 'mysql':
        collation = _mysql_collation(db)
    for table in tables:
        if kind == 'mysql':
            table._meta.table_settings = ['ENGINE=InnoDB', 'DEFAULT CHARSET=utf8mb4',
                                          'COLLATE=%s' % collation]
        elif kind == 'postgresql':
            for field in table._meta.sorted_fields:
                if isinstance(field, (peewee.CharField, peewee.TextField)):
                    field.collation = '"C"'
    with db.bind_ctx(tables):
        db.create_tables(tables, safe=True)
    quote = '`%s`' if kind == 'mysql' else '"%s"'
    existing = {}
    for name, table, columns, unique in _INDEXES:
        if table not in existing:
            existing[table] = {index.name for index in db.get_indexes(table)}
        if name in existing[table]:
            continue
        db.execute_sql('CREATE %sINDEX %s ON %s (%s)' % (
            'UNIQUE ' if unique else '', name, table,
            ', '.join(quote % column for column in columns)))
