"""/v2/metadefs/namespaces/{namespace}/objects: named groups of property
definitions in a namespace. (Deleting them all is ``namespaces.delete_objects``.)"""

from flask import g

from glance_api.http import responses
from glance_api.metadefs import access, documents, notifications, parameters, schemas
from glance_api.services import services

_MEMBERS = ('name', 'description', 'required', 'properties')


def list_objects(namespace):
    """The objects of a namespace, oldest first (all of them: upstream takes but
    ignores ``limit``, ``marker`` and sorting, and so do we). 400 for an invalid
    ``limit``, ``sort_dir`` or ``visibility``; 404."""
    ctx = g.context
    parameters.limit(zero=False)
    parameters.sort_dir()
    parameters.visibility(('public', 'private', 'shared'))
    records = services().registry.list_metadef_objects(
        ctx.identity, namespace,
        access.for_namespace(ctx, ('get_metadef_objects',), items='get_metadef_object'),
        request_id=g.request_id)
    return responses.json({'objects': [documents.obj(record, namespace)
                                       for record in records],
                           'schema': documents.OBJECTS_SCHEMA})


def _values():
    body = schemas.read_body('object', schemas.READ_ONLY)
    return body, {key: body[key] for key in _MEMBERS if key in body}


def create_object(namespace):
    """Add an object to a namespace; 201 with it. 400 invalid body (each property
    definition is checked too), 403 read-only attribute or not allowed, 404, 409
    the namespace has one of that name."""
    ctx = g.context
    body, values = _values()
    for definition in (body.get('properties') or {}).values():
        schemas.validate('property_in_object', definition)
    record = services().registry.create_metadef_object(
        ctx.identity, namespace, values,
        access.for_namespace(ctx, ('add_metadef_object',)), request_id=g.request_id)
    document = documents.obj(record, namespace)
    notifications.emit(ctx, 'metadef_object.create', document, namespace)
    return responses.json(document, status=201)


def show_object(namespace, object_name):
    """One object; 404 if it or its namespace is not there (or not visible)."""
    ctx = g.context
    record = services().registry.get_metadef_object(
        ctx.identity, namespace, object_name,
        access.for_namespace(ctx, ('get_metadef_object',)), request_id=g.request_id)
    return responses.json(documents.obj(record, namespace))


def update_object(namespace, object_name):
    """Replace an object (``name`` renames it; members not given are removed);
    200 with it. 400, 403, 404, 409 the new name is taken."""
    ctx = g.context
    _body, values = _values()
    record = services().registry.update_metadef_object(
        ctx.identity, namespace, object_name, values,
        access.for_namespace(ctx, ('modify_metadef_object',)), request_id=g.request_id)
    document = documents.obj(record, namespace)
    notifications.emit(ctx, 'metadef_object.update', document, namespace,
                       old_name=object_name)
    return responses.json(document)


def delete_object(namespace, object_name):
    """Delete an object; 204. 403 protected namespace or not allowed, 404."""
    ctx = g.context
    record = services().registry.delete_metadef_object(
        ctx.identity, namespace, object_name,
        access.for_namespace(ctx, ('delete_metadef_object',)), request_id=g.request_id)
    notifications.emit(ctx, 'metadef_object.delete', documents.obj(record, namespace),
                       namespace)
    return responses.no_content()
