"""Authorisation: upstream Glance's policy rules, enforced with oslo.policy.

Every handler calls ``enforce(context, action, image)`` once, with upstream's rule
names and secure-RBAC defaults (admin; project reader, member and manager; the
service role). Operators override any rule in ``policy.yaml`` (``[oslo_policy]
policy_file``); ``oslopolicy-sample-generator --namespace glance`` (which documents
each rule with the operations of ``glance_api.v2.routes``) and ``oslopolicy-checker``
work through the ``oslo.policy.*`` entry points.

The registry has already hidden the images a caller may not see (they are 404 to
it); policy decides what a caller may *do* with an image it can see.
"""

import collections.abc
import dataclasses
import inspect
import logging
import threading
import time

from oslo_config import cfg
from oslo_policy import _checks
from oslo_policy import opts as policy_opts
from oslo_policy import policy

from glance_api.access import context
from glance_api.http import errors
from glance_api.services import services
from glance_registry.client import metadefs

LOG = logging.getLogger(__name__)

ADMIN = 'rule:context_is_admin'
PROJECT_READER = 'role:reader and project_id:%(project_id)s'
PROJECT_MEMBER = 'role:member and project_id:%(project_id)s'
ADMIN_OR_PROJECT_READER = '%s or (%s)' % (ADMIN, PROJECT_READER)
ADMIN_OR_PROJECT_MEMBER = '%s or (%s)' % (ADMIN, PROJECT_MEMBER)
_VISIBLE = ("project_id:%(project_id)s or project_id:%(member_id)s or "
            "'community':%(visibility)s or 'public':%(visibility)s or "
            "'shared':%(visibility)s")
ADMIN_OR_PROJECT_READER_GET_IMAGE = '%s or (role:reader and (%s))' % (ADMIN, _VISIBLE)
ADMIN_OR_PROJECT_MEMBER_DOWNLOAD_IMAGE = '%s or (role:member and (%s))' % (ADMIN,
                                                                           _VISIBLE)
ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER = (
    '%s or (role:reader and (project_id:%%(project_id)s or '
    'project_id:%%(member_id)s))' % ADMIN)
ADMIN_OR_SHARED_MEMBER = '%s or (role:member and project_id:%%(member_id)s)' % ADMIN
SERVICE_OR_ADMIN = 'rule:service_api'
ADMIN_OR_PROJECT_READER_GET_NAMESPACE = (
    "%s or (role:reader and (project_id:%%(project_id)s or "
    "'public':%%(visibility)s))" % ADMIN)
METADEF_ADMIN = 'rule:metadef_admin'


def _rule(name, check, description):
    return policy.RuleDefault(name, check, description=description,
                              scope_types=['project'])


RULES = [
    policy.RuleDefault('context_is_admin', 'role:admin',
                       description='Who is an administrator.'),
    policy.RuleDefault('service_api', 'role:service or role:admin',
                       description='Other OpenStack services (Nova, Cinder).'),
    policy.RuleDefault('default', '', description='Rules not listed here.'),
    _rule('add_image', ADMIN_OR_PROJECT_MEMBER, 'Create an image.'),
    _rule('get_images', ADMIN_OR_PROJECT_READER, 'List images.'),
    _rule('get_image', ADMIN_OR_PROJECT_READER_GET_IMAGE, 'Show an image.'),
    _rule('modify_image', ADMIN_OR_PROJECT_MEMBER, 'Update an image or its tags.'),
    _rule('delete_image', ADMIN_OR_PROJECT_MEMBER, 'Delete an image.'),
    _rule('upload_image', ADMIN_OR_PROJECT_MEMBER, 'Upload image data.'),
    _rule('download_image', ADMIN_OR_PROJECT_MEMBER_DOWNLOAD_IMAGE,
          'Download image data.'),
    _rule('download_from_store', ADMIN_OR_PROJECT_MEMBER_DOWNLOAD_IMAGE,
          'Download image data from the stores ?prefer= names first.'),
    _rule('publicize_image', ADMIN, 'Make an image public.'),
    _rule('communitize_image', ADMIN_OR_PROJECT_MEMBER,
          'Make an image a community image.'),
    _rule('deactivate', ADMIN_OR_PROJECT_MEMBER, 'Deactivate an image.'),
    _rule('reactivate', ADMIN_OR_PROJECT_MEMBER, 'Reactivate an image.'),
    _rule('get_members', ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER,
          "List an image's members."),
    _rule('get_member', ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER,
          'Show an image member.'),
    _rule('add_member', ADMIN_OR_PROJECT_MEMBER, 'Share an image with a project.'),
    _rule('delete_member', ADMIN_OR_PROJECT_MEMBER, 'Stop sharing an image.'),
    _rule('modify_member', ADMIN_OR_SHARED_MEMBER,
          'Accept or reject an image shared with your project.'),
    _rule('stores_info_detail', '%s or %s' % (ADMIN, SERVICE_OR_ADMIN),
          'Show the details of the configured stores.'),
    _rule('delete_image_location', ADMIN,
          'Remove a location of an image, or its copy in one store.'),
    _rule('get_image_location', ADMIN_OR_PROJECT_READER,
          'Show the locations of an image.'),
    _rule('set_image_location', ADMIN_OR_PROJECT_MEMBER,
          'Change the locations of an image.'),
    _rule('add_image_location', '%s or (%s)' % (SERVICE_OR_ADMIN, PROJECT_MEMBER),
          'Add a location to a queued image.'),
    _rule('fetch_image_location', SERVICE_OR_ADMIN, 'List the locations of an image.'),
    # The image cache of the node that answers (/v2/cache), as upstream.
    _rule('manage_image_cache', ADMIN, 'Manage the image cache (legacy rule).'),
    _rule('cache_list', ADMIN, "List the node's cached and queued images."),
    _rule('cache_image', ADMIN, 'Queue an image for prefetching into the cache.'),
    _rule('cache_delete', ADMIN, 'Remove an image, or every image, from the cache '
                                 'or its queue.'),
    _rule('cache_clean', ADMIN, "Remove invalid and stalled entries of the cache."),
    _rule('cache_prune', ADMIN, 'Prune the cache to its maximum size.'),
    _rule('list_cached_nodes', ADMIN, 'List the API nodes whose cache holds an '
                                      'image.'),
    _rule('copy_image', ADMIN, 'Copy an image to other stores (import method '
                               'copy-image).'),
    # Tasks: admins only by default (tasks_api_access), as upstream since Mitaka.
    _rule('tasks_api_access', ADMIN, 'Who may use the tasks API.'),
    _rule('get_task', 'rule:default', 'Show a task.'),
    _rule('get_tasks', 'rule:default', 'List tasks.'),
    _rule('add_task', 'rule:default', 'Create a task.'),
    _rule('modify_task', 'rule:default', 'Kept for policy files that refer to it.'),
    # The metadata definitions catalog: readers see public namespaces and their
    # project's private ones; only admins write (metadef_admin).
    policy.RuleDefault('metadef_default', '',
                       description='Kept for policy files that refer to it.'),
    policy.RuleDefault('metadef_admin', ADMIN,
                       description='Who may change the metadata definitions '
                                   'catalog.'),
    _rule('get_metadef_namespace', ADMIN_OR_PROJECT_READER_GET_NAMESPACE,
          'Show a metadata definition namespace.'),
    _rule('get_metadef_namespaces', ADMIN_OR_PROJECT_READER,
          'List metadata definition namespaces.'),
    _rule('modify_metadef_namespace', METADEF_ADMIN,
          'Update a metadata definition namespace.'),
    _rule('add_metadef_namespace', METADEF_ADMIN,
          'Create a metadata definition namespace.'),
    _rule('delete_metadef_namespace', METADEF_ADMIN,
          'Delete a metadata definition namespace, or all its objects, properties '
          'or tags.'),
    _rule('get_metadef_object', ADMIN_OR_PROJECT_READER_GET_NAMESPACE,
          'Show a metadata definition object.'),
    _rule('get_metadef_objects', ADMIN_OR_PROJECT_READER_GET_NAMESPACE,
          'List the objects of a namespace.'),
    _rule('modify_metadef_object', METADEF_ADMIN, 'Update a metadata definition '
                                                  'object.'),
    _rule('add_metadef_object', METADEF_ADMIN, 'Create a metadata definition object.'),
    _rule('delete_metadef_object', METADEF_ADMIN, 'Delete a metadata definition '
                                                  'object.'),
    _rule('list_metadef_resource_types', ADMIN_OR_PROJECT_READER_GET_NAMESPACE,
          'List resource types, and those of a namespace.'),
    _rule('get_metadef_resource_type', ADMIN_OR_PROJECT_READER_GET_NAMESPACE,
          'Show the resource type associations of a namespace.'),
    _rule('add_metadef_resource_type_association', METADEF_ADMIN,
          'Associate a resource type with a namespace.'),
    _rule('remove_metadef_resource_type_association', METADEF_ADMIN,
          'Remove a resource type association from a namespace.'),
    _rule('get_metadef_property', ADMIN_OR_PROJECT_READER_GET_NAMESPACE,
          'Show a metadata definition property.'),
    _rule('get_metadef_properties', ADMIN_OR_PROJECT_READER_GET_NAMESPACE,
          'List the properties of a namespace.'),
    _rule('modify_metadef_property', METADEF_ADMIN, 'Update a metadata definition '
                                                    'property.'),
    _rule('add_metadef_property', METADEF_ADMIN, 'Create a metadata definition '
                                                 'property.'),
    _rule('remove_metadef_property', METADEF_ADMIN, 'Delete a metadata definition '
                                                    'property.'),
    _rule('get_metadef_tag', ADMIN_OR_PROJECT_READER_GET_NAMESPACE,
          'Show a metadata definition tag.'),
    _rule('get_metadef_tags', ADMIN_OR_PROJECT_READER_GET_NAMESPACE,
          'List the tags of a namespace.'),
    _rule('modify_metadef_tag', METADEF_ADMIN, 'Rename a metadata definition tag.'),
    _rule('add_metadef_tag', METADEF_ADMIN, 'Create a metadata definition tag.'),
    _rule('add_metadef_tags', METADEF_ADMIN, 'Create metadata definition tags.'),
    _rule('delete_metadef_tag', METADEF_ADMIN, 'Delete a metadata definition tag.'),
    _rule('delete_metadef_tags', METADEF_ADMIN, 'Delete all the tags of a namespace.'),
]


#: Upstream's default ``[oslo_policy] policy_file``, which need not exist.
DEFAULT_POLICY_FILE = 'policy.yaml'


def register_opts(conf):
    policy_opts.set_defaults(conf, DEFAULT_POLICY_FILE)


def check_policy_file(enforcer, log):
    """Read the enforcer's policy file now, at start: ``ValueError`` (one line) for
    one that cannot be parsed, which would make every request a 500 once read; a
    WARNING on ``log`` for a configured one that is not found, whose overrides
    would otherwise be lost without a word (oslo.policy says so at DEBUG only and
    applies the defaults; the file is read once it exists)."""
    try:
        enforcer.load_rules(force_reload=True)
    except ValueError as exc:
        raise ValueError('cannot read the policy file %s: %s' % (
            enforcer.policy_path or enforcer.policy_file,
            ' '.join(str(exc).split()))) from None
    if enforcer.policy_path is None and enforcer.policy_file != DEFAULT_POLICY_FILE:
        log.warning('[oslo_policy] policy_file %s is not found: the default rules '
                    'apply until it exists', enforcer.policy_file)


class _Enforcer(policy.Enforcer):
    """oslo.policy's enforcer, looking for policy file changes at most once per
    ``RELOAD_SECONDS`` instead of on every check: that search (the file and the
    policy directories in every config directory) cost about half a millisecond per
    check, a sixth of the CPU of a ``GET /v2/images/{id}``. Edits still apply
    without a restart, within a second.

    A file edited into one that cannot be parsed, or that holds no rules, leaves
    the rules read last in force, with an ERROR in the log: upstream failed the
    next request of each worker with 500, and then ran on those rules without a
    word (oslo.policy does not read a file again until it changes). At start,
    such a file is refused (``check_policy_file``)."""

    RELOAD_SECONDS = 1.0
    _next_reload = 0.0

    def load_rules(self, force_reload=False):
        now = time.monotonic()
        if force_reload or not self.rules or now >= self._next_reload:
            try:
                self._load_rules(force_reload)
            except ValueError as exc:
                if force_reload or not self.rules:
                    raise
                LOG.error('cannot read the policy file %s: %s; the rules read '
                          'before stay in force until it is fixed',
                          self.policy_path or self.policy_file,
                          ' '.join(str(exc).split()))
            self._next_reload = now + self.RELOAD_SECONDS

    def _load_rules(self, force_reload):
        try:
            super().load_rules(force_reload)
        except (AttributeError, TypeError) as exc:
            # YAML that parses, but not into {rule name: rule string} (a list, a
            # line without its colon, a number for a rule): oslo.policy fails on
            # it so, not with the ValueError of a file that does not parse.
            raise ValueError('it does not map rule names to rule strings (%s)'
                             % exc) from None


def new_enforcer(conf):
    _cache_check_arities()
    enforcer = _Enforcer(conf)
    enforcer.register_defaults(RULES)
    return enforcer


# -- oslo.policy's per-check signature inspection, once per check class ---------------

_install_lock = threading.Lock()


def _cache_check_arities():
    """Make oslo.policy decide once per check class, not on every check, whether a
    check takes the rule's name.

    oslo.policy evaluates every node of a rule (``or``, ``and``, ``role:``,
    ``rule:``...) through ``_checks._check``, which calls
    ``inspect.getfullargspec(rule.__call__)`` each time to tell a check taking
    ``current_rule`` from a legacy one taking three arguments: about 18% of the API
    worker's CPU for a ``GET /v2/images/{id}`` (three rule checks, each a small
    tree). The answer depends only on the ``__call__`` function, so it is kept per
    function: the same calls, with the same arguments, for every check class,
    custom and legacy ones included. Installed once per process, by
    ``new_enforcer``; oslo.policy's own functions and modules call ``_check``
    through the module, so they all take it."""
    with _install_lock:
        if getattr(_checks._check, 'glance_cached_arity', False):
            return
        if tuple(inspect.signature(_checks._check).parameters) != _CHECK_PARAMETERS:
            # A release of oslo.policy whose private _check differs from the one
            # this replaces: keep its own, slower but right.
            LOG.debug('oslo.policy _checks._check has another signature; its '
                      'argument inspection is left uncached')
            return
        _checks._check = _check_with_cached_arity


#: The private function's parameters in the releases setup.cfg admits.
_CHECK_PARAMETERS = ('rule', 'target', 'creds', 'enforcer', 'current_rule')


_TAKES_RULE_NAME = {}


def _check_with_cached_arity(rule, target, creds, enforcer, current_rule):
    """``oslo_policy._checks._check``, its ``getfullargspec`` cached."""
    call = type(rule).__call__
    if '__call__' in getattr(rule, '__dict__', ()):
        # A __call__ of the instance's own is what oslo.policy inspects (and a
        # function that may be any other): inspect it every time, as it does.
        takes_rule_name = len(inspect.getfullargspec(rule.__call__).args) > 4
    else:
        takes_rule_name = _TAKES_RULE_NAME.get(call)
        if takes_rule_name is None:
            takes_rule_name = len(inspect.getfullargspec(rule.__call__).args) > 4
            _TAKES_RULE_NAME[call] = takes_rule_name
    if takes_rule_name:
        return rule(target, creds, enforcer, current_rule)
    return rule(target, creds, enforcer)  # legacy checks


_check_with_cached_arity.glance_cached_arity = True


def get_enforcer():
    """For oslopolicy-checker (entry point ``oslo.policy.enforcer``)."""
    conf = cfg.ConfigOpts()
    register_opts(conf)
    conf([], project='glance')
    return new_enforcer(conf)


def credentials(ctx):
    roles = list(ctx.roles)
    if ctx.is_admin and 'admin' not in roles:
        # Upstream's unauthenticated context is an admin without roles; an admin by
        # an operator's context_is_admin ("role:cloud_admin") is one to the
        # registry too, whatever policy file the registry reads.
        roles.append('admin')
    # The token's scope when it is not a project (a RequestContext's; the registry's
    # identities have none): oslo.policy then refuses every rule whose scope_types
    # do not name it, as upstream's enforcer does (InvalidScope -> 403).
    # is_admin_project is oslo.context's (True unless Keystone says otherwise), for
    # the "role:admin and is_admin_project:True" rules operators write.
    return _present({'user_id': ctx.user_id, 'project_id': ctx.project_id,
                     'roles': roles, 'is_admin': ctx.is_admin,
                     'is_admin_project': getattr(ctx, 'is_admin_project', True),
                     'system': getattr(ctx, 'system_scope', None),
                     'domain_id': getattr(ctx, 'domain_id', None),
                     'service_roles': list(getattr(ctx, 'service_roles', ())),
                     **{name: getattr(ctx, name, None)
                        for name in context.KEYSTONE_IDS}})


def passes_admin_rule(enforcer, ctx):
    """Whether ``ctx`` (a caller with roles) is an admin: as upstream's
    RequestContext, the ``context_is_admin`` rule decides, not the ``admin`` role,
    so that an operator's policy.yaml ("role:admin or role:cloud_admin", "role:admin
    and is_admin_project:True") also says who sees and changes every project's
    images."""
    as_caller = dataclasses.replace(ctx, is_admin=False)
    return enforcer.enforce('context_is_admin',
                            _present({'project_id': ctx.project_id,
                                      'user_id': ctx.user_id}),
                            credentials(as_caller))


#: The attributes of an image record a rule may name besides its owner, visibility
#: and id, as in upstream's target: ``%(container_format)s``, ``%(protected)s``...
_TARGET_ATTRIBUTES = frozenset((
    'name', 'status', 'protected', 'os_hidden', 'min_disk', 'min_ram',
    'disk_format', 'container_format', 'size', 'virtual_size', 'checksum',
    'os_hash_algo', 'os_hash_value', 'created_at', 'updated_at'))


def image_target(ctx, image):
    """The policy target of an image record (a dict with ``owner`` at least): as
    upstream's, every attribute of the image and its custom properties (those the
    caller may read), so that an operator's rule such as ``"not
    ('aki':%(container_format)s and role:member)"`` judges the image; a key the
    image lacks matches nothing."""
    return _ImageTarget(ctx.project_id if image.get('member_status') else None,
                        image)


class _ImageTarget(collections.abc.Mapping):
    """``image_target``, read key by key as a rule names them (oslo.policy takes a
    Mapping, as upstream's ImageTarget is): built whole, with the image's custom
    properties, it cost each check of a show or a download about 4 us, five times
    the target it replaced."""

    __slots__ = ('_member_id', '_image')

    def __init__(self, member_id, image):
        self._member_id = member_id
        self._image = image

    def __getitem__(self, key):
        image = self._image
        if key in ('project_id', 'owner'):
            value = image.get('owner')
        elif key in ('image_id', 'id'):
            value = image.get('id')
        elif key == 'visibility':
            value = image.get('visibility')
        elif key == 'member_id':
            value = self._member_id
        elif key in _TARGET_ATTRIBUTES:
            value = image.get(key)
        else:
            value = (image.get('properties') or {}).get(key)
        if value is None:   # _present's rule
            raise KeyError(key)
        return value

    def _keys(self):
        return ({'project_id', 'owner', 'image_id', 'id', 'visibility', 'member_id'}
                | _TARGET_ATTRIBUTES | set(self._image.get('properties') or ()))

    def __iter__(self):
        return (key for key in self._keys() if key in self)

    def __len__(self):
        return sum(1 for _ in self)

    def __contains__(self, key):
        try:
            self[key]
        except KeyError:
            return False
        return True


def _present(values):
    """``values`` without its None ones. oslo.policy compares ``str()`` forms, so a
    caller without a project would match an image without an owner ('None' ==
    'None'), and ``X-Project-Id: None`` would too; a missing key matches nothing
    (upstream: an image or a caller without a project owns nothing)."""
    return {key: value for key, value in values.items() if value is not None}


def namespace_classes(enforcer, ctx, rule):
    """The classes of metadata definitions namespace (``metadefs.CLASSES``: how
    one stands to the caller) on which ``rule`` lets ``ctx`` act: a ``metadef_*``
    rule's verdict depends on a namespace only through upstream's target, its
    owner (``project_id``) and ``visibility``. Both daemons judge with it."""
    allowed_classes = []
    for cls in metadefs.CLASSES:
        owner, visibility = cls.split('-')
        if owner == 'own' and ctx.project_id is None:
            continue
        # Another project's namespace: no project_id at all, so that no rule
        # comparing it with the caller's project can match.
        target = {'visibility': visibility}
        if owner == 'own':
            target['project_id'] = ctx.project_id
        if allowed(enforcer, ctx, rule, target=target):
            allowed_classes.append(cls)
    return frozenset(allowed_classes)


def allowed(enforcer, ctx, action, image=None, target=None):
    if target is None:
        target = image_target(ctx, image) if image is not None else \
            _present({'project_id': ctx.project_id})
    return enforcer.enforce(action, target, credentials(ctx))


def enforce(ctx, action, image=None, target=None):
    """Raise ``errors.Forbidden`` unless ``ctx`` may do ``action`` on ``image``
    (``errors.NotFound`` if it may not see the image either: ``_refuse``)."""
    enforcer = services().policy
    if not allowed(enforcer, ctx, action, image, target):
        _refuse(enforcer, ctx, action, image)


def enforce_any(ctx, actions, image=None):
    """Raise ``errors.Forbidden`` (naming the first of ``actions``) unless ``ctx``
    may do at least one of them on ``image``: the check a request passes before its
    body is read, when which rule applies depends on the body (a JSON patch)."""
    enforcer = services().policy
    if not any(allowed(enforcer, ctx, action, image) for action in actions):
        _refuse(enforcer, ctx, actions[0], image)


def _refuse(enforcer, ctx, action, image):
    # As upstream's ImageAPIPolicy: a refusal on an image the caller may not see
    # (get_image: a token without the reader role, or not scoped to a project) is
    # 404, so that it learns nothing of the image; 403 is for images it sees.
    if image is not None and image.get('id') and (
            action == 'get_image' or not allowed(enforcer, ctx, 'get_image', image)):
        raise errors.NotFound('No image found with ID %s' % image['id'])
    raise errors.Forbidden('You are not authorized to complete %s action.' % action)
