"""Where the catalog's writes are announced on the message bus.

Every write of ``glance_api.v2.metadefs`` calls ``emit`` exactly once on success
(a bulk tag creation once per tag; a namespace created with contents once for it,
then ``emit_contents`` once for each), with upstream's event type, the API document
of what was written (deleted things as they were), the namespace's name and, for
an update, the name it had before:

- ``metadef_namespace.create``, ``.update``, ``.delete``, ``.delete_objects``,
  ``.delete_properties``, ``.delete_tags``
- ``metadef_object.create``, ``.update``, ``.delete``
- ``metadef_property.create``, ``.update``, ``.delete``
- ``metadef_resource_type.create``, ``.delete`` (associations)
- ``metadef_tag.create``, ``.update``, ``.delete``

They are sent with ``glance_api.notifications.notify`` (oslo.messaging), with
upstream's payloads (Glance's ``format_metadef_*_notification``): the fields of
the kind, ``namespace``, the old name (``namespace_old``, ``name_old``),
``deleted`` and ``deleted_at`` (set by ``.delete``).
"""

import datetime

from glance_api import notifications
from glance_api.metadefs import documents

# A property definition's members in upstream's payloads (properties and the
# properties of objects).
_PROPERTY_FIELDS = ('type', 'title', 'description', 'default', 'maximum', 'minimum',
                    'enum', 'pattern', 'minLength', 'maxLength', 'confidential',
                    'items', 'uniqueItems', 'minItems', 'maxItems', 'additionalItems',
                    'readonly', 'operators')
_DATES = ('created_at', 'updated_at')


def emit(ctx, event_type, document, namespace, old_name=None):
    """Announce ``event_type`` about ``document`` in ``namespace`` (after the write
    committed); ``old_name``: what an update renamed."""
    kind, _, action = event_type.partition('.')
    payload = _SHAPES[kind](document, namespace, old_name)
    deleted = action == 'delete'
    payload['deleted'] = deleted
    payload['deleted_at'] = (datetime.datetime.now(datetime.timezone.utc)
                             .strftime('%Y-%m-%dT%H:%M:%SZ') if deleted else None)
    notifications.notify(ctx, event_type, payload)


def emit_contents(ctx, record):
    """Announce what the namespace ``record`` (as the registry created it) was
    created with, one ``.create`` each, in upstream's order: resource type
    associations, objects, tags, properties (upstream creates them one by one)."""
    name = record['namespace']
    for item in record.get('resource_type_associations') or ():
        emit(ctx, 'metadef_resource_type.create', documents.association(item), name)
    for item in record.get('objects') or ():
        emit(ctx, 'metadef_object.create', documents.obj(item, name), name)
    for item in record.get('tags') or ():
        emit(ctx, 'metadef_tag.create', documents.tag(item), name)
    for prop, definition in (record.get('properties') or {}).items():
        emit(ctx, 'metadef_property.create', dict(definition, name=prop), name)


def _namespace(document, namespace, old_name):
    return {'namespace': document['namespace'],
            'namespace_old': old_name or document['namespace'],
            **_fields(document, ('display_name', 'protected', 'visibility', 'owner',
                                 'description') + _DATES)}


def _named(document, namespace, old_name, fields):
    return {'namespace': namespace, 'name': document['name'],
            'name_old': old_name or document['name'], **_fields(document, fields)}


def _object(document, namespace, old_name):
    payload = _named(document, namespace, old_name, ('required', 'description')
                     + _DATES)
    payload['properties'] = [
        dict(name=name, **_fields(definition, _PROPERTY_FIELDS))
        for name, definition in (document.get('properties') or {}).items()]
    return payload


_SHAPES = {
    'metadef_namespace': _namespace,
    'metadef_object': _object,
    'metadef_property': lambda document, namespace, old_name: _named(
        document, namespace, old_name, _PROPERTY_FIELDS),
    'metadef_resource_type': lambda document, namespace, old_name: _named(
        document, namespace, old_name, ('prefix', 'properties_target') + _DATES),
    'metadef_tag': lambda document, namespace, old_name: _named(
        document, namespace, old_name, _DATES),
}


def _fields(document, names):
    return {name: document.get(name) for name in names}
