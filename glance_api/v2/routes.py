"""The one routes table of the public API: every operation, its view and its rules.

Each row names the HTTP method, the path (a Flask rule), the view, whether the
request may carry a body, and the upstream policy rules the operation checks. The
blueprints (``register``), the refusal of bodies where none belongs
(``glance_api.http.route_rules``) and the policy documentation (``policy_rules``, for
``oslopolicy-sample-generator``) all read it, so a new operation is one new row.
"""

import dataclasses
import re
import typing

import flask
from oslo_policy import policy as oslo_policy

from glance_api.access import policy
from glance_api.v2 import (cache, image_data, images, imports, info, locations,
                           members, schemas, tasks)
from glance_api.v2.metadefs import namespaces as md_namespaces
from glance_api.v2.metadefs import objects as md_objects
from glance_api.v2.metadefs import properties as md_properties
from glance_api.v2.metadefs import resource_types as md_resource_types
from glance_api.v2.metadefs import schemas as md_schemas
from glance_api.v2.metadefs import tags as md_tags


@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    path: str
    view: typing.Callable
    #: Upstream's policy rules this operation checks (the first is the operation's
    #: own); documentation for operators, enforced by the view.
    policies: tuple = ()
    #: Whether a body is accepted. ``GET`` and ``DELETE`` never take one; a few
    #: other operations take none either (upstream's ``body_reject`` routes).
    body: bool = True

    @property
    def endpoint(self):
        # glance_api.v2.images -> images, glance_api.v2.metadefs.tags -> metadefs_tags
        module = self.view.__module__.split('glance_api.v2.', 1)[-1]
        return '%s.%s' % (module.replace('.', '_'), self.view.__name__)

    @property
    def accepts_body(self):
        return self.body and self.method not in ('GET', 'DELETE')


_IMAGE = '/v2/images/<image_id>'
_MD_SCHEMAS = '/v2/schemas/metadefs/'
_NAMESPACE = '/v2/metadefs/namespaces/<namespace>'

#: Every path under /v2. Version discovery (``/``, ``/versions``) is answered in front
#: of authentication by ``glance_api.v2.versions.VersionNegotiation``.
ROUTES = (
    Route('GET', '/v2/schemas/image', schemas.image_schema),
    Route('GET', '/v2/schemas/images', schemas.images_schema),
    Route('GET', '/v2/schemas/member', schemas.member_schema),
    Route('GET', '/v2/schemas/members', schemas.members_schema),
    Route('GET', '/v2/schemas/task', schemas.task_schema),
    Route('GET', '/v2/schemas/tasks', schemas.tasks_schema),
    Route('POST', '/v2/images', images.create_image,
          ('add_image', 'publicize_image', 'communitize_image')),
    Route('GET', '/v2/images', images.list_images, ('get_images',)),
    Route('GET', _IMAGE, images.show_image, ('get_image', 'get_image_location')),
    Route('PATCH', _IMAGE, images.update_image,
          ('modify_image', 'publicize_image', 'communitize_image',
           'delete_image_location', 'set_image_location')),
    Route('DELETE', _IMAGE, images.delete_image, ('delete_image',)),
    Route('POST', _IMAGE + '/actions/deactivate', images.deactivate_image,
          ('deactivate',), body=False),
    Route('POST', _IMAGE + '/actions/reactivate', images.reactivate_image,
          ('reactivate',), body=False),
    Route('PUT', _IMAGE + '/tags/<tag:tag>', images.add_tag, ('modify_image',),
          body=False),
    Route('DELETE', _IMAGE + '/tags/<tag:tag>', images.delete_tag, ('modify_image',)),
    Route('PUT', _IMAGE + '/file', image_data.upload_image_data, ('upload_image',)),
    Route('GET', _IMAGE + '/file', image_data.download_image_data,
          ('download_image', 'download_from_store')),
    Route('GET', _IMAGE + '/members', members.list_members, ('get_members',)),
    Route('POST', _IMAGE + '/members', members.add_member, ('add_member',)),
    Route('GET', _IMAGE + '/members/<member_id>', members.show_member, ('get_member',)),
    Route('PUT', _IMAGE + '/members/<member_id>', members.update_member,
          ('modify_member',)),
    Route('DELETE', _IMAGE + '/members/<member_id>', members.delete_member,
          ('delete_member',)),
    Route('GET', '/v2/info/usage', info.usage),
    Route('GET', '/v2/info/import', imports.import_info),
    # Interoperable image import and its tasks.
    Route('PUT', _IMAGE + '/stage', imports.stage_image_data, ('modify_image',)),
    Route('POST', _IMAGE + '/import', imports.import_image,
          ('modify_image', 'copy_image')),
    Route('GET', _IMAGE + '/tasks', tasks.list_image_tasks, ('get_image',)),
    Route('GET', '/v2/tasks', tasks.list_tasks, ('tasks_api_access', 'get_tasks')),
    Route('POST', '/v2/tasks', tasks.create_task,
          ('tasks_api_access', 'add_task', 'add_image')),
    Route('GET', '/v2/tasks/<task_id>', tasks.show_task,
          ('tasks_api_access', 'get_task')),
    Route('DELETE', '/v2/tasks/<task_id>', tasks.delete_task),
    Route('GET', '/v2/info/stores', info.list_stores),
    Route('GET', '/v2/info/stores/detail', info.list_stores_detail,
          ('stores_info_detail',)),
    Route('POST', _IMAGE + '/locations', locations.add_location,
          ('add_image_location',)),
    Route('GET', _IMAGE + '/locations', locations.list_locations,
          ('fetch_image_location',)),
    Route('DELETE', '/v2/stores/<store_id>/<image_id>', locations.delete_from_store,
          ('delete_image_location',)),
    # The image cache (API 2.14, 2.18), answered when image_cache_dir is set.
    Route('GET', '/v2/cache', cache.get_cache_state, ('cache_list',)),
    Route('DELETE', '/v2/cache', cache.clear_cache, ('cache_delete',)),
    Route('PUT', '/v2/cache/<image_id>', cache.queue_image, ('cache_image',),
          body=False),
    Route('DELETE', '/v2/cache/<image_id>', cache.delete_cache_entry,
          ('cache_delete',)),
    Route('POST', '/v2/cache/clean', cache.clean_cache, ('cache_clean',), body=False),
    Route('POST', '/v2/cache/prune', cache.prune_cache, ('cache_prune',), body=False),
    Route('GET', '/v2/cache/nodes/<image_id>', cache.list_cached_nodes,
          ('list_cached_nodes',)),
    # The metadata definitions catalog (glance_api.v2.metadefs).
    Route('GET', _MD_SCHEMAS + 'namespace', md_schemas.namespace_schema),
    Route('GET', _MD_SCHEMAS + 'namespaces', md_schemas.namespaces_schema),
    Route('GET', _MD_SCHEMAS + 'object', md_schemas.object_schema),
    Route('GET', _MD_SCHEMAS + 'objects', md_schemas.objects_schema),
    Route('GET', _MD_SCHEMAS + 'property', md_schemas.property_schema),
    Route('GET', _MD_SCHEMAS + 'properties', md_schemas.properties_schema),
    Route('GET', _MD_SCHEMAS + 'resource_type', md_schemas.resource_type_schema),
    Route('GET', _MD_SCHEMAS + 'resource_types', md_schemas.resource_types_schema),
    Route('GET', _MD_SCHEMAS + 'tag', md_schemas.tag_schema),
    Route('GET', _MD_SCHEMAS + 'tags', md_schemas.tags_schema),
    Route('GET', '/v2/metadefs/namespaces', md_namespaces.list_namespaces,
          ('get_metadef_namespaces', 'list_metadef_resource_types',
           'get_metadef_namespace')),
    Route('POST', '/v2/metadefs/namespaces', md_namespaces.create_namespace,
          ('add_metadef_namespace', 'add_metadef_resource_type_association',
           'add_metadef_object', 'add_metadef_property', 'add_metadef_tag')),
    Route('GET', _NAMESPACE, md_namespaces.show_namespace,
          ('get_metadef_namespace', 'list_metadef_resource_types',
           'get_metadef_objects', 'get_metadef_properties', 'get_metadef_tags')),
    Route('PUT', _NAMESPACE, md_namespaces.update_namespace,
          ('modify_metadef_namespace', 'get_metadef_namespace')),
    Route('DELETE', _NAMESPACE, md_namespaces.delete_namespace,
          ('delete_metadef_namespace', 'get_metadef_namespace')),
    Route('GET', _NAMESPACE + '/objects', md_objects.list_objects,
          ('get_metadef_objects', 'get_metadef_object', 'get_metadef_namespace')),
    Route('POST', _NAMESPACE + '/objects', md_objects.create_object,
          ('add_metadef_object', 'get_metadef_namespace')),
    Route('DELETE', _NAMESPACE + '/objects', md_namespaces.delete_objects,
          ('delete_metadef_namespace', 'get_metadef_namespace')),
    Route('GET', _NAMESPACE + '/objects/<object_name>', md_objects.show_object,
          ('get_metadef_object', 'get_metadef_namespace')),
    Route('PUT', _NAMESPACE + '/objects/<object_name>', md_objects.update_object,
          ('modify_metadef_object', 'get_metadef_namespace')),
    Route('DELETE', _NAMESPACE + '/objects/<object_name>', md_objects.delete_object,
          ('delete_metadef_object', 'get_metadef_namespace')),
    Route('GET', _NAMESPACE + '/properties', md_properties.list_properties,
          ('get_metadef_properties', 'get_metadef_namespace')),
    Route('POST', _NAMESPACE + '/properties', md_properties.create_property,
          ('add_metadef_property', 'get_metadef_namespace')),
    Route('DELETE', _NAMESPACE + '/properties', md_namespaces.delete_properties,
          ('delete_metadef_namespace', 'get_metadef_namespace')),
    Route('GET', _NAMESPACE + '/properties/<property_name>', md_properties.show_property,
          ('get_metadef_property', 'get_metadef_resource_type',
           'get_metadef_namespace')),
    Route('PUT', _NAMESPACE + '/properties/<property_name>',
          md_properties.update_property,
          ('modify_metadef_property', 'get_metadef_namespace')),
    Route('DELETE', _NAMESPACE + '/properties/<property_name>',
          md_properties.delete_property,
          ('remove_metadef_property', 'get_metadef_namespace')),
    Route('GET', _NAMESPACE + '/tags', md_tags.list_tags,
          ('get_metadef_tags', 'get_metadef_namespace')),
    Route('POST', _NAMESPACE + '/tags', md_tags.create_tags,
          ('add_metadef_tags', 'get_metadef_namespace')),
    Route('DELETE', _NAMESPACE + '/tags', md_namespaces.delete_tags,
          ('delete_metadef_namespace', 'delete_metadef_tags', 'get_metadef_namespace')),
    Route('GET', _NAMESPACE + '/tags/<tag_name>', md_tags.show_tag,
          ('get_metadef_tag', 'get_metadef_namespace')),
    Route('POST', _NAMESPACE + '/tags/<tag_name>', md_tags.create_tag,
          ('add_metadef_tag', 'get_metadef_namespace'), body=False),
    Route('PUT', _NAMESPACE + '/tags/<tag_name>', md_tags.update_tag,
          ('modify_metadef_tag', 'get_metadef_namespace')),
    Route('DELETE', _NAMESPACE + '/tags/<tag_name>', md_tags.delete_tag,
          ('delete_metadef_tag', 'get_metadef_namespace')),
    Route('GET', '/v2/metadefs/resource_types', md_resource_types.list_resource_types,
          ('list_metadef_resource_types',)),
    Route('GET', _NAMESPACE + '/resource_types', md_resource_types.list_associations,
          ('list_metadef_resource_types', 'get_metadef_resource_type',
           'get_metadef_namespace')),
    Route('POST', _NAMESPACE + '/resource_types', md_resource_types.associate,
          ('add_metadef_resource_type_association', 'get_metadef_namespace')),
    Route('DELETE', _NAMESPACE + '/resource_types/<resource_type>',
          md_resource_types.dissociate,
          ('remove_metadef_resource_type_association', 'get_metadef_namespace')),
)

CONVERTERS = {'tag': images.TagConverter}


def register(app, routes=ROUTES):
    """Add ``routes`` to ``app``, one blueprint per resource module."""
    app.url_map.converters.update(CONVERTERS)
    blueprints = {}
    for route in routes:
        name = route.endpoint.split('.', 1)[0]
        blueprint = blueprints.setdefault(name, flask.Blueprint(name, __name__))
        blueprint.add_url_rule(route.path, route.view.__name__, route.view,
                               methods=[route.method])
    for blueprint in blueprints.values():
        app.register_blueprint(blueprint)


def bodiless_endpoints(routes=ROUTES):
    """The endpoints whose requests may not carry a body."""
    return frozenset(route.endpoint for route in routes if not route.accepts_body)


def policy_rules(routes=ROUTES):
    """Upstream's policy rules, each documented with the operations that check it
    (entry point ``oslo.policy.policies`` for ``oslopolicy-sample-generator``)."""
    operations = {}
    for route in routes:
        for name in route.policies:
            operations.setdefault(name, []).append(
                {'path': _documented_path(route.path), 'method': route.method})
    documented = []
    for rule in policy.RULES:
        if rule.name in operations:
            rule = oslo_policy.DocumentedRuleDefault(
                name=rule.name, check_str=rule.check_str,
                description=rule.description, scope_types=['project'],
                operations=operations[rule.name])
        documented.append(rule)
    return documented


def _documented_path(path):
    """``/v2/images/<image_id>/tags/<tag:tag>`` as ``/v2/images/{image_id}/tags/{tag}``."""
    return re.sub(r'<(?:\w+:)?(\w+)>', r'{\1}', path)
