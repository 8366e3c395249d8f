"""The initial schema: images, their properties, tags, locations, members; tasks.

The tables are declared here, frozen as they were at this version; later migrations
alter them. Collation is binary (code point order, no padding) on every backend, so
that equality, uniqueness (tags differing only in case or trailing spaces) and sort
order are the same on SQLite, PostgreSQL and MariaDB.

MariaDB commits each CREATE at once, outside the migration's transaction: each table
and index is created only if missing, so a first sync interrupted half-way can
simply be run again.
"""

import peewee

from glance_registry import db as db_module

VERSION = 1
DESCRIPTION = 'initial schema'


def _tables():
    class Base(peewee.Model):
        class Meta:
            legacy_table_names = False

    class Image(Base):
        id = peewee.CharField(max_length=36, primary_key=True)
        name = peewee.CharField(max_length=255, null=True)
        status = peewee.CharField(max_length=30)
        visibility = peewee.CharField(max_length=30, default='shared')
        protected = peewee.BooleanField(default=False)
        os_hidden = peewee.BooleanField(default=False)
        checksum = peewee.CharField(max_length=32, null=True)
        os_hash_algo = peewee.CharField(max_length=64, null=True)
        os_hash_value = peewee.CharField(max_length=128, null=True)
        size = peewee.BigIntegerField(null=True)
        virtual_size = peewee.BigIntegerField(null=True)
        min_disk = peewee.IntegerField(default=0)
        min_ram = peewee.IntegerField(default=0)
        disk_format = peewee.CharField(max_length=255, null=True)
        container_format = peewee.CharField(max_length=255, null=True)
        owner = peewee.CharField(max_length=255, null=True)
        created_at = peewee.DateTimeField()
        updated_at = peewee.DateTimeField()
        deleted = peewee.BooleanField(default=False)
        deleted_at = peewee.DateTimeField(null=True)

        class Meta:
            table_name = 'images'

    def image_fk(backref):
        return peewee.ForeignKeyField(Image, column_name='image_id', backref=backref,
                                      on_delete='CASCADE', index=False)

    class ImageProperty(Base):
        image = image_fk('properties')
        name = peewee.CharField(max_length=255)
        value = peewee.TextField()

        class Meta:
            table_name = 'image_properties'

    class ImageTag(Base):
        image = image_fk('tags')
        value = peewee.CharField(max_length=255)

        class Meta:
            table_name = 'image_tags'

    class ImageLocation(Base):
        image = image_fk('locations')
        position = peewee.IntegerField(default=0)
        url = peewee.TextField()
        metadata = peewee.TextField(default='{}')
        status = peewee.CharField(max_length=30, default='active')

        class Meta:
            table_name = 'image_locations'

    class ImageMember(Base):
        image = image_fk('members')
        member = peewee.CharField(max_length=255)
        can_share = peewee.BooleanField(default=False)
        status = peewee.CharField(max_length=20, default='pending')
        created_at = peewee.DateTimeField()
        updated_at = peewee.DateTimeField()

        class Meta:
            table_name = 'image_members'

    class Task(Base):
        id = peewee.CharField(max_length=36, primary_key=True)
        type = peewee.CharField(max_length=30)
        status = peewee.CharField(max_length=30)
        owner = peewee.CharField(max_length=255, null=True)
        image_id = peewee.CharField(max_length=36, null=True)
        request_id = peewee.CharField(max_length=255, null=True)
        user_id = peewee.CharField(max_length=255, null=True)
        input = peewee.TextField(null=True)
        result = peewee.TextField(null=True)
        message = peewee.TextField(null=True)
        expires_at = peewee.DateTimeField(null=True)
        created_at = peewee.DateTimeField()
        updated_at = peewee.DateTimeField()
        deleted = peewee.BooleanField(default=False)
        deleted_at = peewee.DateTimeField(null=True)

        class Meta:
            table_name = 'tasks'

    return [Image, ImageProperty, ImageTag, ImageLocation, ImageMember, Task]


# (name, table, columns, unique)
_INDEXES = [
    ('ix_images_created_at_id', 'images', ['created_at', 'id'], False),
    ('ix_images_name', 'images', ['name'], False),
    ('ix_images_status', 'images', ['status'], False),
    ('ix_images_owner', 'images', ['owner'], False),
    ('ix_images_visibility', 'images', ['visibility'], False),
    ('ix_images_checksum', 'images', ['checksum'], False),
    ('ix_images_os_hash_value', 'images', ['os_hash_value'], False),
    ('uq_image_properties_image_id_name', 'image_properties', ['image_id', 'name'], True),
    ('uq_image_tags_image_id_value', 'image_tags', ['image_id', 'value'], True),
    ('ix_image_tags_value', 'image_tags', ['value'], False),
    ('ix_image_locations_image_id_position', 'image_locations',
     ['image_id', 'position'], False),
    ('uq_image_members_image_id_member', 'image_members', ['image_id', 'member'], True),
    ('ix_image_members_member_status', 'image_members', ['member', 'status'], False),
    ('ix_tasks_owner', 'tasks', ['owner'], False),
    ('ix_tasks_image_id', 'tasks', ['image_id'], False),
    ('ix_tasks_status', 'tasks', ['status'], False),
    ('ix_tasks_created_at_id', 'tasks', ['created_at', 'id'], False),
]

# A property filter matches (name, value); values can be 65535 characters, more than
# a PostgreSQL btree entry or a MySQL key may hold, so the index covers a prefix of
# the value (filters.py adds the matching prefix condition).
PROPERTY_VALUE_PREFIX = 255
_PROPERTY_VALUE_INDEX = {
    'sqlite': 'CREATE INDEX ix_image_properties_name_value ON image_properties '
              '(name, substr(value, 1, %d))' % PROPERTY_VALUE_PREFIX,
    'postgresql': 'CREATE INDEX ix_image_properties_name_value ON image_properties '
                  '(name, substr(value, 1, %d))' % PROPERTY_VALUE_PREFIX,
    'mysql': 'CREATE INDEX ix_image_properties_name_value ON image_properties '
             '(name, value(%d))' % PROPERTY_VALUE_PREFIX,
}


def _mysql_collation(db):
    # Binary and NO PAD: utf8mb4_bin ignores trailing spaces ('a' = 'a ').
    # MariaDB has utf8mb4_nopad_bin, MySQL 8 utf8mb4_0900_bin.
    for collation in ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin'):
        if db.execute_sql('SHOW COLLATION LIKE %s', (collation,)).fetchall():
            return collation
    return 'utf8mb4_bin'


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
    existing_tables = set(db.get_tables())
    with db.bind_ctx(tables):
        db.create_tables([table for table in tables
                          if table._meta.table_name not in existing_tables], safe=False)
    quote = '`%s`' if kind == 'mysql' else '"%s"'
    existing = {table: {index.name for index in db.get_indexes(table)}
                for table in {table for _, table, _, _ in _INDEXES}}
    for name, table, columns, unique in _INDEXES:
        if name not in existing[table]:
            db.execute_sql('CREATE %sINDEX %s ON %s (%s)' % (
                'UNIQUE ' if unique else '', name, table,
                ', '.join(quote % column for column in columns)))
    if 'ix_image_properties_name_value' not in existing['image_properties']:
        db.execute_sql(_PROPERTY_VALUE_INDEX[kind])
