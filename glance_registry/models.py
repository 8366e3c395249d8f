"""The image database's tables as peewee models.

The schema itself is owned by ``glance_registry.migrations``: these classes describe
what the latest migration built, and the indexes listed here are the ones the list
queries (``glance_registry.images.filters``) rely on. A test checks that the migrated
schema and these models agree.

The models are bound to no database: a query runs on the database its caller names
(``query.execute(db)``, ``.first(db)``, ``.count(db)``...), the one the application
opened. So a process may serve several databases (tests build as many applications
as they like), and a query nobody gave a database fails at once instead of reaching
another application's.

Times are naive UTC ``datetime`` values, stored with microseconds.
"""

import datetime

import peewee


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class _Model(peewee.Model):

    class Meta:
        legacy_table_names = False


class Image(_Model):
    """One image. Deletion sets ``deleted``; ``glance-manage db purge_images_table``
    removes old deleted rows, keeping their ids in ``purged_images`` so that an id
    is never reused.

    On MariaDB the table also has ``name_sort``, a virtual column generated as
    ``COALESCE(name, '')`` and indexed (migration 16), which only the list's SQL
    reads (``filters.MYSQL_NAME_SORT``): it is no field here, so that no query
    selects or writes it."""

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
    # Bytes reserved by the upload in progress (status saving), counted in the
    # owner's storage usage until the data has a location, or until the upload's
    # lease runs out (quotas.project_usage); 0 otherwise.
    reserved = peewee.BigIntegerField(default=0)
    # Until when the upload in progress (status saving) holds the image, unless it
    # renews its lease; None when no upload is in progress (or for one started
    # before leases existed, which is never taken over).
    upload_lease_expires_at = peewee.DateTimeField(null=True)
    # The upload holding that lease (its own random id), so that one taken over
    # after stalling cannot renew it or move the image out of saving.
    upload_id = peewee.CharField(max_length=64, null=True)
    # Which scrubber deletes the data of this image (status pending_delete) and until
    # when it holds it; an image once claimed is never restored (migration 10).
    scrub_lease_owner = peewee.CharField(max_length=64, null=True)
    scrub_lease_expires_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = 'images'
        indexes = (
            # The default list order (created_at desc, id desc) and its keyset.
            (('created_at', 'id'), False),
            (('name',), False),
            (('checksum',), False),
            (('os_hash_value',), False),
            # An equality filter's first page in the default order (migration 9).
            (('status', 'created_at', 'id'), False),
            (('visibility', 'created_at', 'id'), False),
            (('owner', 'created_at', 'id'), False),
            (('disk_format', 'created_at', 'id'), False),
            (('container_format', 'created_at', 'id'), False),
            (('os_hidden', 'created_at', 'id'), False),
            (('protected', 'created_at', 'id'), False),
            (('min_ram', 'created_at', 'id'), False),
            (('min_disk', 'created_at', 'id'), False),
            (('updated_at', 'id'), False),
            (('size',), False),
        )


class ImageProperty(_Model):
    """A custom property; values are strings. Filters look them up by (name, value,
    image_status, image formats) and by (name, value, image_visibility,
    image_owner), and walk them by (name, value, image_created_at,
    image_id): the migrations build those indexes per dialect (on MariaDB over
    ``value_prefix``, a virtual column generated as ``LEFT(value, 255)`` that is
    no field here, like ``Image``'s ``name_sort``: migrations 16, 21, 22 and 20)."""

    image = peewee.ForeignKeyField(Image, column_name='image_id', backref='properties',
                                   on_delete='CASCADE', index=False)
    name = peewee.CharField(max_length=255)
    value = peewee.TextField()
    #: The image's status (``glance_registry.images.child_status``; migration 19).
    image_status = peewee.CharField(max_length=30, default='')
    #: The image's created_at (``glance_registry.images.child_order``; migration 20).
    image_created_at = peewee.DateTimeField(null=True)
    #: The image's formats (``glance_registry.images.child_formats``; migration 21).
    image_disk_format = peewee.CharField(max_length=64, null=True, default='')
    image_container_format = peewee.CharField(max_length=64, null=True, default='')
    #: The image's owner and visibility (``glance_registry.images.child_access``;
    #: migration 22).
    image_visibility = peewee.CharField(max_length=64, null=True, default='')
    image_owner = peewee.CharField(max_length=64, null=True, default='')

    class Meta:
        table_name = 'image_properties'
        indexes = ((('image', 'name'), True),)


class ImageTag(_Model):
    """A tag. Filters look them up by (value, image_status, image formats) and by
    (value, image_visibility, image_owner), and walk them by (value,
    image_created_at, image_id): the migrations build those indexes per dialect
    (migrations 21, 22 and 20)."""

    image = peewee.ForeignKeyField(Image, column_name='image_id', backref='tags',
                                   on_delete='CASCADE', index=False)
    value = peewee.CharField(max_length=255)
    #: The image's status (``glance_registry.images.child_status``; migration 19).
    image_status = peewee.CharField(max_length=30, default='')
    #: The image's created_at (``glance_registry.images.child_order``; migration 20).
    image_created_at = peewee.DateTimeField(null=True)
    #: The image's formats (``glance_registry.images.child_formats``; migration 21).
    image_disk_format = peewee.CharField(max_length=64, null=True, default='')
    image_container_format = peewee.CharField(max_length=64, null=True, default='')
    #: The image's owner and visibility (``glance_registry.images.child_access``;
    #: migration 22).
    image_visibility = peewee.CharField(max_length=64, null=True, default='')
    image_owner = peewee.CharField(max_length=64, null=True, default='')

    class Meta:
        table_name = 'image_tags'
        indexes = ((('image', 'value'), True),)


class ImageLocation(_Model):
    """Where the image's data is stored; ``position`` keeps the caller's order.

    A location in status ``pending`` holds data that is being verified: the API
    worker doing it holds a lease (``lease_owner`` until ``lease_expires_at``) and
    ``attempts`` counts the workers that have claimed it, so that another worker
    can take over after a crash, a bounded number of times. A deleted image's
    locations are ``pending_delete`` until the removal of its data is confirmed
    (``glance_registry.images.scrubbing``), found by their status (migration 17).
    """

    image = peewee.ForeignKeyField(Image, column_name='image_id', backref='locations',
                                   on_delete='CASCADE', index=False)
    position = peewee.IntegerField(default=0)
    url = peewee.TextField()
    metadata = peewee.TextField(default='{}')
    status = peewee.CharField(max_length=30, default='active')
    lease_owner = peewee.CharField(max_length=64, null=True)
    lease_expires_at = peewee.DateTimeField(null=True)
    attempts = peewee.IntegerField(default=0)

    class Meta:
        table_name = 'image_locations'
        indexes = ((('image', 'position'), False),
                   (('status', 'image'), False))


class ImageMember(_Model):
    """A project an image is shared with, and whether it accepted the share."""

    image = peewee.ForeignKeyField(Image, column_name='image_id', backref='members',
                                   on_delete='CASCADE', index=False)
    member = peewee.CharField(max_length=255)
    can_share = peewee.BooleanField(default=False)
    status = peewee.CharField(max_length=20, default='pending')
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        table_name = 'image_members'
        indexes = (
            (('image', 'member'), True),
            # "Images shared with me (in this status)": the list's member clause.
            (('member', 'status'), False),
        )


class Task(_Model):
    """An asynchronous task (image import), as in upstream's tasks API.

    The API worker that runs it holds a lease (``lease_owner`` until
    ``lease_expires_at``, migration 8); ``attempts`` counts the workers that claimed
    it. ``input`` and ``result`` are JSON text.
    """

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
    lease_owner = peewee.CharField(max_length=64, null=True)
    lease_expires_at = peewee.DateTimeField(null=True)
    attempts = peewee.IntegerField(default=0)

    class Meta:
        table_name = 'tasks'
        indexes = (
            (('owner',), False),
            (('image_id',), False),
            (('status',), False),
            (('created_at', 'id'), False),
        )


class ProjectLock(_Model):
    """One row per project that a per-project limit was checked for.

    Writers that check such a limit (image count, uploads, storage) lock their
    project's row first, so the count they read cannot change before they commit
    (``glance_registry.images.quotas.lock_project``). The row holds nothing else.
    """

    project_id = peewee.CharField(max_length=255, primary_key=True)

    class Meta:
        table_name = 'project_locks'


class LocationLock(_Model):
    """One of a fixed number of locks on the URLs of writable stores' locations.

    A writer adding a location at such a URL locks the URL's slot first, so the
    images using the URL cannot change before it commits
    (``glance_registry.images.data_owners``). The row holds nothing else.
    """

    slot = peewee.IntegerField(primary_key=True)

    class Meta:
        table_name = 'location_locks'


class PurgedImage(_Model):
    """The id of an image row that ``glance-manage db purge_images_table`` removed:
    no new image may take it."""

    id = peewee.CharField(max_length=36, primary_key=True)
    purged_at = peewee.DateTimeField()

    class Meta:
        table_name = 'purged_images'


MODELS = (Image, ImageProperty, ImageTag, ImageLocation, ImageMember, Task,
          ProjectLock, LocationLock, PurgedImage)
