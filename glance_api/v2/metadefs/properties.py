"""/v2/metadefs/namespaces/{namespace}/properties: the definitions of the keys a
resource may carry (``hw_cpu_policy``: a string, ``shared`` or ``dedicated``).
(Deleting them all is ``namespaces.delete_properties``.)"""

from flask import g

from glance_api.http import responses
from glance_api.metadefs import access, documents, notifications, parameters, schemas
from glance_api.services import services


def list_properties(namespace):
    """``{"properties": {name: definition}}`` of a namespace; 404."""
    ctx = g.context
    definitions = services().registry.list_metadef_properties(
        ctx.identity, namespace, access.for_namespace(ctx, ('get_metadef_properties',)),
        request_id=g.request_id)
    return responses.json({'properties': definitions})


def _definition():
    body = schemas.read_body('property')
    return body['name'], {key: value for key, value in body.items() if key != 'name'}


def create_property(namespace):
    """Add a property definition to a namespace; 201 with it. 400 invalid body,
    403 read-only attribute or not allowed, 404, 409 the namespace has one of that
    name."""
    ctx = g.context
    name, definition = _definition()
    record = services().registry.create_metadef_property(
        ctx.identity, namespace, name, definition,
        access.for_namespace(ctx, ('add_metadef_property',)), request_id=g.request_id)
    document = documents.property_(record)
    notifications.emit(ctx, 'metadef_property.create', document, namespace)
    return responses.json(document, status=201)


def show_property(namespace, property_name):
    """One property definition. With ``resource_type``, ``property_name`` carries
    that type's prefix (``hw_cpu_policy`` for ``cpu_policy`` and
    ``OS::Glance::Image``): 404 if the type is not associated or the name lacks
    the prefix. 404 if the property or its namespace is not there."""
    ctx = g.context
    resource_type = parameters.single('resource_type') or None
    rules = ('get_metadef_property',)
    if resource_type:
        rules += ('get_metadef_resource_type',)
    record = services().registry.get_metadef_property(
        ctx.identity, namespace, property_name, access.for_namespace(ctx, rules),
        resource_type=resource_type, request_id=g.request_id)
    return responses.json(documents.property_(record))


def update_property(namespace, property_name):
    """Replace a property definition (``name`` renames it); 200 with it. 400, 403,
    404, 409 the new name is taken."""
    ctx = g.context
    name, definition = _definition()
    record = services().registry.update_metadef_property(
        ctx.identity, namespace, property_name, name, definition,
        access.for_namespace(ctx, ('modify_metadef_property',)),
        request_id=g.request_id)
    document = documents.property_(record)
    notifications.emit(ctx, 'metadef_property.update', document, namespace,
                       old_name=property_name)
    return responses.json(document)


def delete_property(namespace, property_name):
    """Delete a property definition; 204. 403 protected namespace or not allowed,
    404."""
    ctx = g.context
    record = services().registry.delete_metadef_property(
        ctx.identity, namespace, property_name,
        access.for_namespace(ctx, ('remove_metadef_property',)),
        request_id=g.request_id)
    notifications.emit(ctx, 'metadef_property.delete', documents.property_(record),
                       namespace)
    return responses.no_content()
