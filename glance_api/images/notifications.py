"""Upstream's notification payloads for images and their members (Glance's
``glance/notifier.py``: ``format_image_notification``,
``format_image_member_notification``, ``image.send``'s and the import properties
``image.prepare`` and ``image.upload`` add), from registry records."""

import datetime

from glance_registry.client import vocabulary


def image(record, deleted=False):
    """The payload of ``image.create``, ``.update``, ``.prepare``, ``.upload``,
    ``.activate`` and (``deleted``: ``record`` as the registry's delete answered
    it) ``.delete``."""
    return {
        'id': record['id'],
        'name': record.get('name'),
        'status': _deleted_status(record) if deleted else record.get('status'),
        'created_at': record.get('created_at'),
        'updated_at': record.get('updated_at'),
        'min_disk': record.get('min_disk'),
        'min_ram': record.get('min_ram'),
        'protected': record.get('protected'),
        'checksum': record.get('checksum'),
        'owner': record.get('owner'),
        'disk_format': record.get('disk_format'),
        'container_format': record.get('container_format'),
        'size': record.get('size'),
        'virtual_size': record.get('virtual_size'),
        'is_public': record.get('visibility') == 'public',
        'visibility': record.get('visibility'),
        'properties': dict(record.get('properties') or {}),
        'tags': list(record.get('tags') or []),
        **_deletion(deleted),
        'os_hidden': record.get('os_hidden'),
        'os_hash_algo': record.get('os_hash_algo'),
        'os_hash_value': record.get('os_hash_value'),
    }


def stored(record):
    """The payload of ``image.prepare`` and ``image.upload``: the image's, with
    where an import is going and where it failed (upstream's lists of store ids,
    empty when none)."""
    properties = record.get('properties') or {}
    return dict(image(record), **{
        name: properties[name].split(',') if properties.get(name) else []
        for name in ('os_glance_importing_to_stores', 'os_glance_failed_import')})


def member(record, deleted=False):
    """The payload of ``image.member.create``, ``.update`` and (``deleted``)
    ``.delete``."""
    return {
        'image_id': record['image_id'],
        'member_id': record['member_id'],
        'status': record.get('status'),
        'created_at': record.get('created_at'),
        'updated_at': record.get('updated_at'),
        **_deletion(deleted),
    }


def sent(record, context, bytes_sent):
    """The payload of ``image.send``: who downloaded how many bytes of which image."""
    return {
        'bytes_sent': bytes_sent,
        'image_id': record['id'],
        'owner_id': record.get('owner'),
        'receiver_tenant_id': context.project_id,
        'receiver_user_id': context.user_id,
    }


def _deleted_status(record):
    # The registry answers a delete with the image as it was; upstream announces
    # it as the deletion left it (its domain object's status, set before the
    # notification).
    return 'pending_delete' if record.get('delayed') else 'deleted'


def _deletion(deleted):
    if not deleted:
        return {'deleted': False, 'deleted_at': None}
    return {'deleted': True, 'deleted_at': vocabulary.format_timestamp(
        datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None))}
