"""/v2/metadefs/resource_types and /v2/metadefs/namespaces/{namespace}/resource_types:
the resource types (``OS::Glance::Image``, ``OS::Nova::Flavor``, ...) and which
namespaces apply to them, under which prefix."""

from flask import g

from glance_api.http import responses
from glance_api.metadefs import access, documents, notifications, schemas
from glance_api.services import services


def list_resource_types():
    """Every resource type (whichever namespaces they belong to, as upstream)."""
    ctx = g.context
    access.enforce_without_namespace(ctx, 'list_metadef_resource_types')
    records = services().registry.list_metadef_resource_types(ctx.identity,
                                                              request_id=g.request_id)
    return responses.json({'resource_types': [documents.resource_type(record)
                                              for record in records]})


def list_associations(namespace):
    """The resource types associated with a namespace; 404."""
    ctx = g.context
    records = services().registry.list_metadef_associations(
        ctx.identity, namespace,
        access.for_namespace(ctx, ('list_metadef_resource_types',),
                             items='get_metadef_resource_type'),
        request_id=g.request_id)
    return responses.json({'resource_type_associations': [
        documents.association(record) for record in records]})


def associate(namespace):
    """Associate a resource type (created if new) with a namespace, under an
    optional ``prefix`` and ``properties_target``; 201 with the association. 400,
    403, 404, 409 already associated."""
    ctx = g.context
    body = schemas.read_body('resource_type')
    record = services().registry.associate_metadef_resource_type(
        ctx.identity, namespace, body,
        access.for_namespace(ctx, ('add_metadef_resource_type_association',)),
        request_id=g.request_id)
    document = documents.association(record)
    notifications.emit(ctx, 'metadef_resource_type.create', document, namespace)
    return responses.json(document, status=201)


def dissociate(namespace, resource_type):
    """Remove a resource type's association with a namespace; 204. 403 protected
    namespace or not allowed, 404."""
    ctx = g.context
    record = services().registry.dissociate_metadef_resource_type(
        ctx.identity, namespace, resource_type,
        access.for_namespace(ctx, ('remove_metadef_resource_type_association',)),
        request_id=g.request_id)
    notifications.emit(ctx, 'metadef_resource_type.delete',
                       documents.association(record), namespace)
    return responses.no_content()
