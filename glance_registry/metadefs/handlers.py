"""The registry API's catalog resources: one handler per operation, and their rows
of the routes table (``ROUTES``, see ``glance_registry.routes``).

Every handler answers JSON (docs/registry-api.rst, "The metadata definitions
catalog"): it checks the request strictly (``glance_registry.validation`` and the
catalog's own ``validation``), calls one resource module with the caller's identity
and the API's verdicts (``access.Access``, from the ``see``, ``allow`` and ``items``
query parameters) and answers its records. Deleting answers ``200`` with what was
deleted, for the caller to report. Errors propagate to the application's one error
boundary.
"""

from glance_registry import responses
from glance_registry import validation as request_validation
from glance_registry.client import errors
from glance_registry.metadefs import access as access_module
from glance_registry.metadefs import namespaces
from glance_registry.metadefs import objects
from glance_registry.metadefs import properties
from glance_registry.metadefs import resource_types
from glance_registry.metadefs import tags
from glance_registry.metadefs import validation

_ACCESS = ('see', 'items')


def _params(request, allowed=()):
    """``(Access, {parameter: value})``: the access parameters and the ``allowed``
    others, each given at most once (``allow`` may repeat)."""
    single, allow = {}, []
    for key, value in request_validation.query_pairs(request):
        if key == 'allow':
            allow.append(value)
            continue
        if key not in allowed and key not in _ACCESS:
            raise errors.BadRequest.invalid_value("Unknown parameter '%s'" % key, key)
        if key in single:
            raise errors.BadRequest.invalid_value(
                "Parameter '%s' may be given only once" % key, key)
        single[key] = value
    access = access_module.parse(single.pop('see', None), allow,
                                 single.pop('items', None))
    return access, single


def _access(request):
    return _params(request)[0]


def _judged(app, caller, request, *rules):
    """The request's access verdicts, with the registry's own on ``rules``
    (``app.guard.catalog_access``): a write is held to the policy whatever
    verdicts its caller sends."""
    return app.guard.catalog_access(caller, _access(request), rules)


#: The rule each part of a new namespace's body needs besides
#: ``add_metadef_namespace``, as the API checks it.
_CONTENT_RULES = (
    ('resource_type_associations', 'add_metadef_resource_type_association'),
    ('objects', 'add_metadef_object'),
    ('properties', 'add_metadef_property'),
    ('tags', 'add_metadef_tag'))


def _choice(params, name, choices, default):
    value = params.get(name, default)
    if value not in choices:
        raise errors.BadRequest.invalid_value("'%s' must be one of %s, not %r"
                                              % (name, ', '.join(choices), value), name)
    return value


def _names(params, name):
    """A comma-separated list of names, or None."""
    if name not in params:
        return None
    return tuple(validation.name(name, item) for item in params[name].split(',')
                 if item)


def _limit(params, default, maximum):
    if 'limit' not in params:
        return default
    limit = request_validation.integer_param('limit', params['limit'])
    if limit < 0:
        raise errors.BadRequest.invalid_value("Parameter 'limit' must not be negative",
                                              'limit')
    return limit if maximum is None else min(limit, maximum)


# -- namespaces ------------------------------------------------------------------------

@request_validation.handles_query
def list_namespaces(app, request, caller):
    """200 ``{"namespaces": [...], "next_marker"}``; 400 bad parameter; 404 unknown
    marker."""
    access, params = _params(request, {'limit', 'marker', 'sort_key', 'sort_dir',
                                       'visibility', 'resource_types'})
    query = namespaces.ListQuery(
        limit=_limit(params, app.limit_default, app.limit_max),
        marker=params.get('marker'),
        sort_key=_choice(params, 'sort_key', namespaces.SORT_KEYS, 'created_at'),
        sort_dir=_choice(params, 'sort_dir', namespaces.SORT_DIRS, 'desc'),
        visibility=(_choice(params, 'visibility', access_module.VISIBILITIES, None)
                    if 'visibility' in params else None),
        resource_types=_names(params, 'resource_types'))
    records, next_marker = namespaces.list_namespaces(app.db, caller, access, query)
    return responses.json({'namespaces': records, 'next_marker': next_marker})


def create_namespace(app, request, caller):
    """201 with the full record; 400 invalid body; 403 another project's owner;
    409 name taken, or a name repeated in the contents."""
    body = request_validation.json_body(request)
    request_validation.check_only(body, set(validation.NAMESPACE_FIELDS)
                                  | set(validation.NAMESPACE_CONTENTS), 'namespace')
    values = validation.namespace_values(body)
    contents = validation.namespace_contents(body)
    app.guard.require_catalog(caller, ['add_metadef_namespace'] + [
        rule for key, rule in _CONTENT_RULES if body.get(key)])
    record = namespaces.create_namespace(app.db, caller, values, contents)
    return responses.json(record, 201)


@request_validation.handles_query
def show_namespace(app, request, caller, namespace):
    """200 with the full record (names prefixed for ``resource_type``); 404."""
    access, params = _params(request, {'resource_type'})
    return responses.json(namespaces.get_namespace(app.db, caller, access, namespace,
                                                   params.get('resource_type')))


@request_validation.handles_query
def update_namespace(app, request, caller, namespace):
    """200 with the base record; 400; 403; 404; 409 name taken."""
    body = request_validation.json_body(request)
    request_validation.check_only(body, validation.NAMESPACE_FIELDS, 'namespace')
    return responses.json(namespaces.update_namespace(
        app.db, caller, _judged(app, caller, request, 'modify_metadef_namespace'),
        namespace, validation.namespace_values(body)))


@request_validation.handles_query
def delete_namespace(app, request, caller, namespace):
    """200 with the base record as it was; 403 protected; 404."""
    return responses.json(namespaces.delete_namespace(
        app.db, caller, _judged(app, caller, request, 'delete_metadef_namespace'),
        namespace))


def _contents_deleter(kind, *rules):
    @request_validation.handles_query
    def delete_contents(app, request, caller, namespace):
        """200 with the namespace's base record; 403 protected; 404."""
        return responses.json(namespaces.delete_contents(
            app.db, caller, _judged(app, caller, request, *rules), namespace, kind))
    delete_contents.__name__ = 'delete_%s' % kind
    return delete_contents


# -- objects ---------------------------------------------------------------------------

@request_validation.handles_query
def list_objects(app, request, caller, namespace):
    """200 ``{"objects": [...]}``; 404."""
    return responses.json({'objects': objects.list_objects(
        app.db, caller, _access(request), namespace)})


@request_validation.handles_query
def create_object(app, request, caller, namespace):
    """201 with the object; 400; 403; 404; 409 name taken."""
    values = validation.object_values(request_validation.json_body(request))
    return responses.json(objects.create_object(
        app.db, caller, _judged(app, caller, request, 'add_metadef_object'), namespace,
        values), 201)


@request_validation.handles_query
def show_object(app, request, caller, namespace, name):
    """200 with the object; 404."""
    return responses.json(objects.get_object(app.db, caller, _access(request),
                                             namespace, name))


@request_validation.handles_query
def update_object(app, request, caller, namespace, name):
    """200 with the object; 400; 403; 404; 409 new name taken."""
    values = validation.object_values(request_validation.json_body(request))
    return responses.json(objects.update_object(
        app.db, caller, _judged(app, caller, request, 'modify_metadef_object'),
        namespace, name, values))


@request_validation.handles_query
def delete_object(app, request, caller, namespace, name):
    """200 with the object as it was; 403 protected; 404."""
    return responses.json(objects.delete_object(
        app.db, caller, _judged(app, caller, request, 'delete_metadef_object'),
        namespace, name))


# -- properties ------------------------------------------------------------------------

@request_validation.handles_query
def list_properties(app, request, caller, namespace):
    """200 ``{"properties": {name: definition}}``; 404."""
    return responses.json({'properties': properties.list_properties(
        app.db, caller, _access(request), namespace)})


@request_validation.handles_query
def create_property(app, request, caller, namespace):
    """201 with the property; 400; 403; 404; 409 name taken."""
    name, definition = validation.property_values(request_validation.json_body(request))
    return responses.json(properties.create_property(
        app.db, caller, _judged(app, caller, request, 'add_metadef_property'),
        namespace, name, definition), 201)


@request_validation.handles_query
def show_property(app, request, caller, namespace, name):
    """200 with the property (``name`` prefixed for ``resource_type``); 404."""
    access, params = _params(request, {'resource_type'})
    return responses.json(properties.get_property(app.db, caller, access, namespace,
                                                  name, params.get('resource_type')))


@request_validation.handles_query
def update_property(app, request, caller, namespace, name):
    """200 with the property; 400; 403; 404; 409 new name taken."""
    new_name, definition = validation.property_values(
        request_validation.json_body(request))
    return responses.json(properties.update_property(
        app.db, caller, _judged(app, caller, request, 'modify_metadef_property'),
        namespace, name, new_name, definition))


@request_validation.handles_query
def delete_property(app, request, caller, namespace, name):
    """200 with the property as it was; 403 protected; 404."""
    return responses.json(properties.delete_property(
        app.db, caller, _judged(app, caller, request, 'remove_metadef_property'),
        namespace, name))


# -- tags ------------------------------------------------------------------------------

@request_validation.handles_query
def list_tags(app, request, caller, namespace):
    """200 ``{"tags": [...]}``; 400 bad parameter; 404 (an unknown marker too)."""
    access, params = _params(request, {'limit', 'marker', 'sort_key', 'sort_dir'})
    query = tags.ListQuery(
        limit=_limit(params, None, None), marker=params.get('marker'),
        sort_key=_choice(params, 'sort_key', tags.SORT_KEYS, 'created_at'),
        sort_dir=_choice(params, 'sort_dir', namespaces.SORT_DIRS, 'desc'))
    return responses.json({'tags': tags.list_tags(app.db, caller, access, namespace,
                                                  query)})


@request_validation.handles_query
def create_tags(app, request, caller, namespace):
    """201 ``{"tags": [...]}``; body ``{"tags": [names], "append": bool}``; 400;
    403 (replacing a protected namespace's tags too); 404; 409 duplicate."""
    body = request_validation.json_body(request)
    request_validation.check_only(body, {'tags', 'append'}, 'tags')
    names = validation.tag_names(body.get('tags', []), 'tags')
    append = request_validation.field_boolean('append', body.get('append', False))
    return responses.json({'tags': tags.create_tags(
        app.db, caller, _judged(app, caller, request, 'add_metadef_tags'), namespace,
        names, append)}, 201)


@request_validation.handles_query
def create_tag(app, request, caller, namespace, name):
    """201 with the tag; 400 bad name; 403; 404; 409 duplicate."""
    return responses.json(tags.create_tag(
        app.db, caller, _judged(app, caller, request, 'add_metadef_tag'), namespace,
        validation.name('name', name)), 201)


@request_validation.handles_query
def show_tag(app, request, caller, namespace, name):
    """200 with the tag; 404."""
    return responses.json(tags.get_tag(app.db, caller, _access(request), namespace,
                                       name))


@request_validation.handles_query
def update_tag(app, request, caller, namespace, name):
    """200 with the tag; body ``{"name"}``; 400; 403; 404; 409 new name taken."""
    body = request_validation.json_body(request)
    request_validation.check_only(body, {'name'}, 'tag')
    request_validation.require(body, 'name')
    return responses.json(tags.update_tag(
        app.db, caller, _judged(app, caller, request, 'modify_metadef_tag'), namespace,
        name, validation.name('name', body['name'])))


@request_validation.handles_query
def delete_tag(app, request, caller, namespace, name):
    """200 with the tag as it was; 403 protected; 404."""
    return responses.json(tags.delete_tag(
        app.db, caller, _judged(app, caller, request, 'delete_metadef_tag'), namespace,
        name))


# -- resource types --------------------------------------------------------------------

@request_validation.handles_query
def list_resource_types(app, request, caller):
    """200 ``{"resource_types": [...]}``: every resource type."""
    _params(request)
    return responses.json({'resource_types': resource_types.list_resource_types(
        app.db, caller)})


@request_validation.handles_query
def list_associations(app, request, caller, namespace):
    """200 ``{"resource_type_associations": [...]}``; 404."""
    return responses.json({'resource_type_associations':
                           resource_types.list_associations(
                               app.db, caller, _access(request), namespace)})


@request_validation.handles_query
def associate(app, request, caller, namespace):
    """201 with the association; 400; 403; 404; 409 already associated."""
    values = validation.association_values(request_validation.json_body(request))
    return responses.json(resource_types.associate(
        app.db, caller,
        _judged(app, caller, request, 'add_metadef_resource_type_association'),
        namespace, values), 201)


@request_validation.handles_query
def dissociate(app, request, caller, namespace, name):
    """200 with the association as it was; 403 protected; 404."""
    return responses.json(resource_types.dissociate(
        app.db, caller,
        _judged(app, caller, request, 'remove_metadef_resource_type_association'),
        namespace, name))


_NAMESPACES = r'/v1/metadefs/namespaces'
_NAMESPACE = _NAMESPACES + r'/(?P<namespace>[^/]+)'
_NAME = r'/(?P<name>[^/]+)'

# (method, path pattern, handler, authenticated): this feature's rows of the routes
# table.
ROUTES = (
    ('GET', _NAMESPACES, list_namespaces, True),
    ('POST', _NAMESPACES, create_namespace, True),
    ('GET', _NAMESPACE, show_namespace, True),
    ('PUT', _NAMESPACE, update_namespace, True),
    ('DELETE', _NAMESPACE, delete_namespace, True),
    ('GET', _NAMESPACE + '/objects', list_objects, True),
    ('POST', _NAMESPACE + '/objects', create_object, True),
    ('DELETE', _NAMESPACE + '/objects',
     _contents_deleter('objects', 'delete_metadef_namespace'), True),
    ('GET', _NAMESPACE + '/objects' + _NAME, show_object, True),
    ('PUT', _NAMESPACE + '/objects' + _NAME, update_object, True),
    ('DELETE', _NAMESPACE + '/objects' + _NAME, delete_object, True),
    ('GET', _NAMESPACE + '/properties', list_properties, True),
    ('POST', _NAMESPACE + '/properties', create_property, True),
    ('DELETE', _NAMESPACE + '/properties',
     _contents_deleter('properties', 'delete_metadef_namespace'), True),
    ('GET', _NAMESPACE + '/properties' + _NAME, show_property, True),
    ('PUT', _NAMESPACE + '/properties' + _NAME, update_property, True),
    ('DELETE', _NAMESPACE + '/properties' + _NAME, delete_property, True),
    ('GET', _NAMESPACE + '/tags', list_tags, True),
    ('POST', _NAMESPACE + '/tags', create_tags, True),
    ('DELETE', _NAMESPACE + '/tags', _contents_deleter(
        'tags', 'delete_metadef_namespace', 'delete_metadef_tags'), True),
    ('GET', _NAMESPACE + '/tags' + _NAME, show_tag, True),
    ('POST', _NAMESPACE + '/tags' + _NAME, create_tag, True),
    ('PUT', _NAMESPACE + '/tags' + _NAME, update_tag, True),
    ('DELETE', _NAMESPACE + '/tags' + _NAME, delete_tag, True),
    ('GET', r'/v1/metadefs/resource_types', list_resource_types, True),
    ('GET', _NAMESPACE + '/resource_types', list_associations, True),
    ('POST', _NAMESPACE + '/resource_types', associate, True),
    ('DELETE', _NAMESPACE + '/resource_types' + _NAME, dissociate, True),
)
