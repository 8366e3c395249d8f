"""/v2/metadefs/namespaces/{namespace}/tags: the tags a resource may be given.
(Deleting them all is ``namespaces.delete_tags``.)"""

from flask import g, request

from glance_api.http import responses
from glance_api.metadefs import access, documents, notifications, parameters, schemas
from glance_api.services import services

SORT_KEYS = ('name', 'created_at', 'updated_at')


def list_tags(namespace):
    """The tags of a namespace, newest first unless ``sort_key`` (``name``,
    ``created_at``, ``updated_at``) and ``sort_dir`` say otherwise; ``limit`` and
    ``marker`` (a tag name) page through them (without ``limit``, all of them).
    400 for a bad parameter; 404 (an unknown marker too)."""
    ctx = g.context
    records = services().registry.list_metadef_tags(
        ctx.identity, namespace, access.for_namespace(ctx, ('get_metadef_tags',)),
        limit=parameters.limit(), marker=parameters.single('marker') or None,
        sort_key=parameters.single('sort_key'), sort_dir=parameters.sort_dir(),
        request_id=g.request_id)
    return responses.json({'tags': [{'name': record['name']} for record in records]})


def create_tags(namespace):
    """Create tags (``{"tags": [{"name": ...}]}``): they replace the namespace's
    tags, unless the header ``X-Openstack-Append`` is true. 201 with them. 400
    invalid body, 403 not allowed (or replacing the tags of a protected namespace),
    404, 409 a name given twice (or, appending, one the namespace has): then
    nothing changes."""
    ctx = g.context
    body = schemas.read_body('tag_list')
    names = [item['name'] for item in body.get('tags', [])]
    records = services().registry.create_metadef_tags(
        ctx.identity, namespace, names,
        append=parameters.true(request.headers.get('X-Openstack-Append')),
        access=access.for_namespace(ctx, ('add_metadef_tags',)),
        request_id=g.request_id)
    for record in records:
        notifications.emit(ctx, 'metadef_tag.create', documents.tag(record),
                           namespace)
    return responses.json({'tags': [{'name': record['name']} for record in records]},
                          status=201)


def create_tag(namespace, tag_name):
    """Add one tag (no body); 201 with it. 400 name too long, 403, 404, 409 the
    namespace has it."""
    ctx = g.context
    schemas.validate('tag', {'name': tag_name})
    record = services().registry.create_metadef_tag(
        ctx.identity, namespace, tag_name, access.for_namespace(ctx, ('add_metadef_tag',)),
        request_id=g.request_id)
    document = documents.tag(record)
    notifications.emit(ctx, 'metadef_tag.create', document, namespace)
    return responses.json(document, status=201)


def show_tag(namespace, tag_name):
    """One tag; 404 if it or its namespace is not there."""
    ctx = g.context
    record = services().registry.get_metadef_tag(
        ctx.identity, namespace, tag_name, access.for_namespace(ctx, ('get_metadef_tag',)),
        request_id=g.request_id)
    return responses.json(documents.tag(record))


def update_tag(namespace, tag_name):
    """Rename a tag (``{"name": ...}``); 200 with it. 400, 403, 404, 409 the new
    name is taken."""
    ctx = g.context
    body = schemas.read_body('tag')
    record = services().registry.update_metadef_tag(
        ctx.identity, namespace, tag_name, body['name'],
        access.for_namespace(ctx, ('modify_metadef_tag',)), request_id=g.request_id)
    document = documents.tag(record)
    notifications.emit(ctx, 'metadef_tag.update', document, namespace,
                       old_name=tag_name)
    return responses.json(document)


def delete_tag(namespace, tag_name):
    """Delete a tag; 204. 403 protected namespace or not allowed, 404."""
    ctx = g.context
    record = services().registry.delete_metadef_tag(
        ctx.identity, namespace, tag_name,
        access.for_namespace(ctx, ('delete_metadef_tag',)), request_id=g.request_id)
    notifications.emit(ctx, 'metadef_tag.delete', documents.tag(record), namespace)
    return responses.no_content()
