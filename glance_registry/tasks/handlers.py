"""The registry API's task resources: one handler per operation, and their rows of
the routes table (``ROUTES``, see ``glance_registry.routes``)."""

from glance_registry import responses
from glance_registry import validation
from glance_registry.client import errors
from glance_registry.client import vocabulary
from glance_registry.tasks import writes

_TASK_FIELDS = {
    'id': validation.field_string(36, nullable=False),
    'type': validation.field_string(30, nullable=False),
    'owner': validation.field_string(255),
    'request_id': validation.field_string(255),
    'user_id': validation.field_string(255),
}
_TTL = validation.field_integer(validation.INT32_MAX, nullable=True)


def _image_change(body, name, allowed):
    """The ``image`` member of a task write: which image changes, and how."""
    validation.check_object(name, body)
    validation.check_only(body, allowed, name)
    change = {}
    if 'from' in body or 'to' in body:
        change['from'], change['to'] = validation.status_move(body, name + '.', '')
    if 'properties' in body:
        change['properties'] = validation.properties(body['properties'],
                                                     allow_null=True)
    if 'values' in body:
        change['values'] = validation.data_values(body)
    for key in ('locations', 'add_locations'):
        if key in body:
            change[key] = validation.locations(body[key])
    if 'id' in body:
        change['id'] = validation.string(name + '.id', body['id'], 36, min_length=1)
    if 'max_storage' in body:
        change['max_storage'] = validation.limit(name + '.max_storage',
                                                 body['max_storage'])
    return change


#: The image properties an import sets as its bookkeeping (upstream's names).
_BOOKKEEPING = frozenset({'os_glance_import_task', 'os_glance_importing_to_stores',
                          'os_glance_failed_import'})


def _only_bookkeeping(caller, properties):
    other = sorted(set(properties) - _BOOKKEEPING)
    if other and not caller.is_admin:
        raise errors.Forbidden('A task sets only the import\'s own properties, not %s'
                               % ', '.join(other), reason='not_permitted',
                               action='modify_image')


def create_task(app, request, caller):
    """201 ``{"task", "image"}``; 400 invalid body; 404 no such image; 409 duplicate
    id (``duplicate_task``), image locked by a running import (``import_locked``) or
    a lost status compare-and-swap."""
    body = validation.json_body(request)
    validation.check_only(body, set(_TASK_FIELDS) | {'input', 'lease', 'image', 'ttl'},
                          'task')
    for key in ('id', 'type'):
        validation.require(body, key)
    task = validation.validated(body, _TASK_FIELDS)
    if 'owner' in task:
        # A task is its owner project's to read: nobody else may put one there.
        app.guard.check_owner(caller, task['owner'], 'tasks')
    task['input'] = body.get('input') or {}
    validation.check_object('input', task['input'])
    lease = validation.lease(body['lease'], 'lease') if 'lease' in body else None
    image = None
    if 'image' in body:
        image = _image_change(body['image'], 'image',
                              {'id', 'from', 'to', 'properties'})
        validation.require(body['image'], 'id', 'image.')
    judge = None
    if image is not None:
        _only_bookkeeping(caller, image.get('properties') or {})
        judge = _image_judge(app, caller, image)
    created = writes.create_task(app.db, caller, task, _TTL('ttl', body.get('ttl')),
                                 lease, image, judge=judge)
    return responses.json(created, 201)


def _image_judge(app, caller, image):
    """What judges the image a new task changes (``image``), as read under its
    row lock."""
    def judge(record):
        # Importing into an image changes it: the caller must be allowed to.
        app.guard.require(caller, 'modify_image', record)
        if image.get('from') is not None and image['to'] != 'importing':
            # A move into importing is the import's; any other needs its own
            # rule, as PUT /status judges it (a task must not deactivate or
            # activate an image for a caller 'deactivate' or 'upload_image'
            # refuses).
            app.guard.check_transition(caller, record, image['from'], image['to'])
    return judge


@validation.handles_query
def list_tasks(app, request, caller):
    """200 ``{"tasks": [...], "next_marker"}``; 400 bad parameter or marker."""
    params = validation.single_params(request, {'type', 'status', 'image_id', 'limit',
                                                'marker', 'sort_key', 'sort_dir'})
    filters = {name: validation.string(name, params[name], 255)
               for name in ('type', 'status', 'image_id') if name in params}
    limit = validation.integer_param('limit', params.get('limit', str(
        vocabulary.LIST_LIMIT_DEFAULT)))
    limit = max(0, min(limit, vocabulary.LIST_LIMIT_MAX))
    sort_dir = params.get('sort_dir', 'desc')
    if sort_dir not in ('asc', 'desc'):
        raise errors.BadRequest.invalid_value("'sort_dir' must be asc or desc",
                                              'sort_dir')
    tasks, next_marker = writes.list_tasks(
        app.db, caller, filters, writes.by_sort_key(params.get('sort_key',
                                                               'created_at')),
        sort_dir, limit, params.get('marker'))
    return responses.json({'tasks': tasks, 'next_marker': next_marker})


def show_task(app, request, caller, task_id):
    """200 with the task; 404 absent, expired or another project's."""
    return responses.json(writes.get_task(app.db, caller, task_id))


@validation.handles_query
def list_orphaned_tasks(app, request, caller):
    """200 ``{"tasks": [...]}``: up to ``limit`` running tasks whose lease has
    run out and whose image is deleted (``writes.orphaned_tasks``); 400 bad
    parameter; 403 unless an admin (the image service's sweep)."""
    _admin_only(caller, 'list orphaned tasks')
    params = validation.single_params(request, {'limit'})
    limit = validation.field_integer(1000)('limit', validation.integer_param(
        'limit', params.get('limit', '100')))
    return responses.json({'tasks': writes.orphaned_tasks(app.db, caller, limit)})


def _admin_only(caller, what):
    if not caller.is_admin:
        raise errors.Forbidden('Only the image service may %s' % what,
                               reason='admin_only')


def claim_task(app, request, caller, task_id):
    """200 with the task; 400 invalid body; 403 ``orphaned`` unless an admin; 404;
    409 ``task_leased`` (another worker's lease runs), ``task_finished`` or, for
    ``orphaned``, ``not_orphaned``. ``message``: progress; ``orphaned``: take the
    task over only if its lease has run out and its image is deleted (the sweep
    that fails such tasks)."""
    body = validation.json_body(request)
    validation.check_only(body, {'owner', 'seconds', 'message', 'orphaned'},
                          'task lease')
    lease = validation.lease({key: body[key] for key in ('owner', 'seconds')
                              if key in body}, 'lease')
    message = validation.string('message', body['message'], 65535) \
        if 'message' in body else None
    orphaned = body.get('orphaned', False)
    if not isinstance(orphaned, bool):
        raise errors.BadRequest.invalid_value("'orphaned' must be a boolean",
                                              'orphaned')
    if orphaned:
        _admin_only(caller, 'take over an orphaned task')
    return responses.json(writes.claim(app.db, caller, task_id, lease['owner'],
                                       lease['seconds'], message, orphaned))


def finish_task(app, request, caller, task_id):
    """200 ``{"task", "image"}``; 400 invalid body; 404; 409 ``taken_over``,
    ``task_finished``, ``task_not_started`` (success before a claim started it) or
    the image's status compare-and-swap lost; 413 over ``image.max_storage``."""
    body = validation.json_body(request)
    validation.check_only(body, {'owner', 'status', 'message', 'result', 'ttl',
                                 'image'}, 'task result')
    for key in ('owner', 'status'):
        validation.require(body, key)
    owner = validation.string('owner', body['owner'], 64, min_length=1)
    status = body['status']
    if status not in writes.FINISHED:
        raise errors.BadRequest.invalid_value("'status' must be success or failure",
                                              'status')
    message = validation.string('message', body.get('message') or '', 65535)
    result = body.get('result')
    if result is not None:
        validation.check_object('result', result)
    image = None
    if 'image' in body:
        if not caller.is_admin:
            # An import's result (data values, locations, status) is written by the
            # image service itself, never on a caller's word: the registry could
            # not otherwise judge the locations it names (glance_registry.guard).
            raise errors.Forbidden('Only the image service may change an image '
                                   'through a task result', reason='admin_only')
        image = _image_change(body['image'], 'image',
                              {'from', 'to', 'values', 'locations', 'add_locations',
                               'properties', 'max_storage'})
    return responses.json(writes.finish(app.db, caller, task_id, owner, status,
                                        message, result, _TTL('ttl', body.get('ttl')),
                                        image))


_TASK = r'/v1/tasks/(?P<task_id>[^/]+)'

ROUTES = (
    ('POST', r'/v1/tasks', create_task, True),
    ('GET', r'/v1/tasks', list_tasks, True),
    ('GET', r'/v1/orphaned-tasks', list_orphaned_tasks, True),
    ('GET', _TASK, show_task, True),
    ('PUT', _TASK + r'/lease', claim_task, True),
    ('PUT', _TASK + r'/result', finish_task, True),
)
