"""/v2/tasks and /v2/images/{id}/tasks: the tasks that import images (upstream's
tasks API, admin-only by default through ``tasks_api_access``).

A task's state lives in the registry (``glance_registry.tasks``); reading one whose
worker died takes it over (``glance_api.data.imports.resume_stalled``).
"""

import logging
import urllib.parse

from flask import g, request

from glance_api.access import policy
from glance_api.access.context import SERVICE_IDENTITY
from glance_api.data import imports
from glance_api.data import task_inputs
from glance_api.http import errors, json_body, paging, proxy, responses
from glance_api.images import lookup
from glance_api.services import services
from glance_api.v2 import images
from glance_registry.client import errors as registry_errors

LOG = logging.getLogger(__name__)

#: A task as ``GET /v2/tasks/{id}`` shows it (upstream's members).
FIELDS = ('id', 'type', 'status', 'input', 'result', 'owner', 'message',
          'expires_at', 'created_at', 'updated_at', 'image_id', 'request_id',
          'user_id')
#: A task in a list: upstream leaves out ``input`` and ``result``.
SPARSE = ('id', 'type', 'status', 'owner', 'expires_at', 'created_at', 'updated_at')
LIST_PARAMS = ('limit', 'marker', 'sort_key', 'sort_dir', 'status', 'type')
STATUSES = ('pending', 'processing', 'success', 'failure')
TYPES = (imports.LEGACY_TASK_TYPE, imports.TASK_TYPE)


def _document(task, fields=FIELDS):
    document = {name: task.get(name) for name in fields}
    if 'input' in fields:
        document['input'] = task_inputs.shown(task)
    if document.get('message') is None and 'message' in fields:
        document['message'] = ''
    document['self'] = '/v2/tasks/%s' % task['id']
    document['schema'] = '/v2/schemas/task'
    return document


def _check_access(*rules):
    ctx = g.context
    for rule in ('tasks_api_access',) + rules:
        policy.enforce(ctx, rule, target={'project_id': ctx.project_id}
                       if ctx.project_id else {})


def list_tasks():
    """The caller's tasks (an admin's: all), newest first, at most ``limit``
    (``api_limit_max`` however large it is); 400 bad or repeated parameter, 403
    policy (``tasks_api_access``, ``get_tasks``)."""
    _check_access('get_tasks')
    params = []
    for name in request.args:
        if name not in LIST_PARAMS:
            raise errors.BadRequest('Invalid filter or parameter: %s' % name)
        value = paging.single(request.args, name)
        if name == 'status' and value not in STATUSES:
            raise errors.BadRequest('Invalid status value: %s' % value)
        if name == 'type' and value not in TYPES:
            raise errors.BadRequest('Invalid type value: %s' % value)
        if name == 'sort_dir' and value not in ('asc', 'desc'):
            raise errors.BadRequest('Invalid sort direction: %s' % value)
        params.append((name, value))
    # The links repeat the client's parameters, as upstream's (not the limit
    # the registry is asked with).
    query = [(name, value) for name, value in params if name != 'marker']
    params = [(name, value) for name, value in params if name != 'limit']
    conf = services().conf
    params.append(('limit', str(paging.limit(request.args.get('limit'),
                                             conf.limit_param_default,
                                             conf.api_limit_max))))
    try:
        tasks, next_marker = services().registry.list_tasks(
            g.context.identity, params, request_id=g.request_id)
    except registry_errors.BadRequest as exc:
        raise errors.BadRequest(exc.message)
    document = {'tasks': [_document(task, SPARSE) for task in tasks],
                'first': _list_link(query), 'schema': '/v2/schemas/tasks'}
    if next_marker:
        document['next'] = _list_link(query + [('marker', next_marker)])
    return responses.json(document)


def _list_link(query):
    return '/v2/tasks?' + urllib.parse.urlencode(query) if query else '/v2/tasks'


def show_task(task_id):
    """The task; 403 policy (``tasks_api_access``, ``get_task``), 404."""
    _check_access('get_task')
    task = _load(task_id)
    _resume(task)
    return responses.json(_document(task))


def _load(task_id):
    try:
        return services().registry.get_task(g.context.identity, task_id,
                                            request_id=g.request_id)
    except registry_errors.NotFound:
        raise errors.NotFound('Task with the given id %s not found' % task_id)


def _resume(task):
    if task['status'] in ('pending', 'processing') and task.get('image_id'):
        imports.resume_task(services(), task, g.request_id)


def delete_task(task_id):
    """Always 405, as upstream: tasks expire, they are not deleted."""
    raise errors.MethodNotAllowed('This operation is currently not permitted on '
                                  'Glance Tasks. They are auto deleted after '
                                  'reaching the time based on their expires_at '
                                  'property.', headers={'Allow': 'GET'})


def list_image_tasks(image_id):
    """``GET /v2/images/{id}/tasks`` (2.12): the image's tasks, for its owner's
    project and admins (every task of the image, an admin's copy-image too); for
    other readers, those of their own project only (none, unless a policy lets
    them import into it); 404 if the image is not visible."""
    ctx = g.context
    record = lookup.load_image(image_id)
    policy.enforce(ctx, 'get_image', record)
    imports.resume_stalled(services(), record, g.request_id)
    tasks, _ = services().registry.list_tasks(
        SERVICE_IDENTITY, [('image_id', image_id), ('limit', '1000')],
        request_id=g.request_id)
    if not (ctx.is_admin or ctx.owns(record)):
        # Unlike upstream's database driver, which lists every task of the image:
        # a task's input is its owner's request, a web-download URL with its
        # signature or credentials, and names the user; a project the image is
        # shared with, or any for a public or community image, sees the image,
        # not that.
        tasks = [task for task in tasks
                 if ctx.project_id is not None and task['owner'] == ctx.project_id]
    # Upstream shows the task rows whole, their soft-delete columns included
    # (a deleted task is never listed).
    return responses.json({'tasks': [dict({name: task.get(name) for name in FIELDS},
                                          input=task_inputs.shown(task),
                                          deleted=False, deleted_at=None)
                                     for task in tasks]})


def create_task():
    """Legacy ``POST /v2/tasks`` with ``type`` ``import``: create an image with
    ``input.image_properties`` and import ``input.import_from`` into it, as
    web-download does; 201 with the task.

    Errors: 400 bad body or type, 403 policy (``tasks_api_access``, ``add_task``,
    and ``POST /v2/images``'s rules for ``image_properties``), 409 duplicate image
    id, 503 task runner full.
    """
    ctx = g.context
    _check_access('add_task')
    body = json_body.parse()
    if not isinstance(body, dict) or body.get('type') != imports.LEGACY_TASK_TYPE:
        raise errors.BadRequest("Task type must be 'import'.")
    task_input = body.get('input')
    if not isinstance(task_input, dict):
        raise errors.BadRequest("An import task needs an 'input' object.")
    missing = [key for key in ('import_from', 'import_from_format',
                               'image_properties') if key not in task_input]
    if missing:
        raise errors.BadRequest('Input does not contain %s.' % ', '.join(missing))
    properties = task_input['image_properties']
    if not isinstance(properties, dict) or not isinstance(task_input['import_from'],
                                                          str):
        raise errors.BadRequest("'image_properties' must be an object and "
                                "'import_from' a URL.")
    if 'web-download' not in services().conf.enabled_import_methods:
        raise errors.BadRequest('Importing from a URL is not enabled.')
    document = dict(properties)
    document.setdefault('disk_format', task_input['import_from_format'])
    # As upstream's task, which gives image_properties to the image factory: the
    # same rules as POST /v2/images (an id, an owner only an admin may choose).
    record = images.create_record(ctx, images.new_image_values(ctx, document))
    try:
        task = imports.start(services(), ctx.identity, record,
                             imports.Request('web-download', [], True,
                                             task_input['import_from']),
                             g.request_id, task_type=imports.LEGACY_TASK_TYPE,
                             task_input=task_input)
    except BaseException:
        # The image exists only for this task: a refused task (an image the
        # import cannot start with, a full runner) must not leave it behind,
        # queued and counted against the project's quota.
        _discard_image(record['id'])
        raise
    return responses.json(_document(task), status=201, headers={
        'Location': proxy.location('/v2/tasks/%s' % task['id'])})


def _discard_image(image_id):
    try:
        services().registry.delete_image(SERVICE_IDENTITY, image_id,
                                         request_id=g.request_id)
    except registry_errors.RegistryError as exc:
        LOG.error('image %s of a refused import task is left: %s', image_id, exc)
