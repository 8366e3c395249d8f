"""/v2/metadefs/namespaces: list, create, show, update and delete namespaces, and
delete all the objects, properties or tags of one.

A namespace is public or private to its owner's project; readers see the public
ones and their project's, and by default only admins change anything
(``metadef_*`` policies). A ``protected`` namespace cannot be deleted, nor its
contents, until it is updated to be unprotected.
"""

import urllib.parse

from flask import g, request

from glance_api.http import errors, proxy, responses
from glance_api.metadefs import access, documents, notifications, parameters, schemas
from glance_api.services import services

_BASE = ('namespace', 'display_name', 'description', 'visibility', 'protected',
         'owner')
# What a client may send within an embedded object, tag or association: the
# members of upstream's documents (their read-only ones are ignored there).
_OBJECT = ('name', 'description', 'required', 'properties')
_ASSOCIATION = ('name', 'prefix', 'properties_target')
# The rules a new namespace's contents need, as upstream checks them.
_CONTENT_RULES = (('resource_type_associations', 'add_metadef_resource_type_association'),
                  ('objects', 'add_metadef_object'),
                  ('properties', 'add_metadef_property'),
                  ('tags', 'add_metadef_tag'))


def list_namespaces():
    """A page of the namespaces the caller may see, with their resource type
    associations, and ``first``/``next`` links.

    ``limit``, ``marker`` (a namespace name), ``sort_key`` (``namespace``,
    ``created_at``, ``updated_at``), ``sort_dir``, ``visibility`` (``public``,
    ``private``), ``resource_types`` (comma-separated, or given more than once as
    openstacksdk sends a list: namespaces associated with any). 400 for a bad
    parameter, 404 for an unknown marker.
    """
    ctx, conf = g.context, services().conf
    access.enforce_without_namespace(ctx, 'get_metadef_namespaces')
    access.enforce_without_namespace(ctx, 'list_metadef_resource_types')
    # Upstream reads one of the repeated values; all of them were asked for.
    resource_types = ','.join(value for value in request.args.getlist('resource_types')
                              if value)
    namespaces, next_marker = services().registry.list_metadef_namespaces(
        ctx.identity, access.for_namespace(ctx),
        limit=parameters.limit(conf.limit_param_default, conf.api_limit_max),
        marker=parameters.single('marker'), sort_key=parameters.single('sort_key'),
        sort_dir=parameters.sort_dir(),
        visibility=parameters.visibility(('public', 'private')),
        resource_types=resource_types.split(',') if resource_types else None,
        request_id=g.request_id)
    params = {key: value for key, value in request.args.items() if key != 'marker'}
    if resource_types:
        params['resource_types'] = resource_types
    document = {'namespaces': [documents.namespace(record) for record in namespaces],
                'first': _list_url(params), 'schema': documents.NAMESPACES_SCHEMA}
    if next_marker is not None:
        document['next'] = _list_url(dict(params, marker=next_marker))
    return responses.json(document)


def _list_url(params):
    url = '/v2/metadefs/namespaces'
    return '%s?%s' % (url, urllib.parse.urlencode(params)) if params else url


def create_namespace():
    """Create a namespace, with the properties, objects, tags and resource type
    associations the body gives; 201 with it (and those contents).

    400 invalid body, 403 read-only attribute or not allowed (by default only
    admins), 409 the name is taken or a name is repeated in the contents.
    """
    ctx = g.context
    access.enforce_without_namespace(ctx, 'add_metadef_namespace')
    body = schemas.read_body('namespace', schemas.READ_ONLY)
    for key, rule in _CONTENT_RULES:
        if body.get(key):
            access.enforce_without_namespace(ctx, rule)
    values = {key: body[key] for key in _BASE if key in body}
    if 'properties' in body:
        values['properties'] = body['properties']
    if 'objects' in body:
        values['objects'] = [_only(item, _OBJECT) for item in body['objects']]
    if 'tags' in body:
        values['tags'] = [_tag_name(item) for item in body['tags']]
    if 'resource_type_associations' in body:
        values['resource_type_associations'] = [
            _only(item, _ASSOCIATION) for item in body['resource_type_associations']]
    record = services().registry.create_metadef_namespace(ctx.identity, values,
                                                          request_id=g.request_id)
    document = documents.namespace(
        record, contents=[key for key in documents.CONTENTS if key in body])
    notifications.emit(ctx, 'metadef_namespace.create', document,
                       document['namespace'])
    notifications.emit_contents(ctx, record)
    return responses.json(document, status=201,
                          headers={'Location': proxy.location(
                              documents.location(record['namespace']))})


def _only(item, members):
    return {key: value for key, value in item.items() if key in members}


def _tag_name(item):
    if 'name' not in item:
        raise errors.BadRequest("Each of 'tags' needs a 'name'.")
    return item['name']


def show_namespace(namespace):
    """A namespace with its resource type associations, properties, objects and
    tags. With ``resource_type``, the names of its properties (and those its
    objects list and require) carry that type's prefix. 404 if not visible."""
    ctx = g.context
    record = services().registry.get_metadef_namespace(
        ctx.identity, namespace,
        access.for_namespace(ctx, ('list_metadef_resource_types', 'get_metadef_objects',
                                   'get_metadef_properties', 'get_metadef_tags')),
        resource_type=parameters.single('resource_type') or None,
        request_id=g.request_id)
    return responses.json(documents.namespace(record))


def update_namespace(namespace):
    """Replace a namespace's attributes (``namespace`` renames it; the others not
    given take their defaults: no display name or description, ``private``, not
    protected, the caller's project); its contents stay. 200 with it.

    400 invalid body, 403 read-only attribute or not allowed, 404, 409 the new name
    is taken.
    """
    ctx = g.context
    body = schemas.read_body('namespace', schemas.READ_ONLY)
    record = services().registry.update_metadef_namespace(
        ctx.identity, namespace, {key: body[key] for key in _BASE if key in body},
        access.for_namespace(ctx, ('modify_metadef_namespace',)),
        request_id=g.request_id)
    document = documents.namespace(record)
    notifications.emit(ctx, 'metadef_namespace.update', document, namespace,
                       old_name=namespace)
    return responses.json(document)


def delete_namespace(namespace):
    """Delete a namespace and everything in it; 204. 403 protected or not
    allowed, 404."""
    ctx = g.context
    record = services().registry.delete_metadef_namespace(
        ctx.identity, namespace, access.for_namespace(ctx, ('delete_metadef_namespace',)),
        request_id=g.request_id)
    notifications.emit(ctx, 'metadef_namespace.delete', documents.namespace(record),
                       namespace)
    return responses.no_content()


def _delete_contents(namespace, kind, rules):
    ctx = g.context
    record = services().registry.delete_metadef_contents(
        ctx.identity, namespace, kind, access.for_namespace(ctx, rules),
        request_id=g.request_id)
    notifications.emit(ctx, 'metadef_namespace.delete_%s' % kind,
                       documents.namespace(record), namespace)
    return responses.no_content()


def delete_objects(namespace):
    """Delete every object of a namespace; 204. 403 protected or not allowed, 404."""
    return _delete_contents(namespace, 'objects', ('delete_metadef_namespace',))


def delete_properties(namespace):
    """Delete every property of a namespace; 204. 403 protected or not allowed,
    404."""
    return _delete_contents(namespace, 'properties', ('delete_metadef_namespace',))


def delete_tags(namespace):
    """Delete every tag of a namespace; 204. 403 protected or not allowed, 404."""
    return _delete_contents(namespace, 'tags', ('delete_metadef_namespace',
                                                'delete_metadef_tags'))
