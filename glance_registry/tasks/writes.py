"""Tasks: create one (taking an image's import lock), read and list them, lease
them to the API worker that runs them, and finish them, each in one transaction.

An import task runs in one API worker, which holds a lease on it and renews it as
it works (``claim``); a worker that dies leaves an expired lease that another takes
over. The image an import works on carries the id of its task in the property
``IMPORT_LOCK`` (upstream's ``os_glance_import_task``) from ``create_task`` to
``finish``: a second import of the image is refused while the task runs, and takes
the lock over once that task has finished or its lease has run out (upstream breaks
a stale lock only after an hour without progress).

Tasks are visible to admins and to their owner's project, until they expire
(``expires_at``, set when they finish: upstream's ``task_time_to_live``).
"""

import datetime

import orjson
import peewee

from glance_registry import db as db_module
from glance_registry.client import errors
from glance_registry.images import quotas
from glance_registry.images import records
from glance_registry.images import writes as image_writes
from glance_registry.images.deadlocks import retry_on_deadlock
from glance_registry.models import Image
from glance_registry.models import ImageProperty
from glance_registry.models import Task

IMPORT_LOCK = 'os_glance_import_task'
#: The stores an import is copying to (upstream's bookkeeping), '' once it ended.
IMPORTING_TO = 'os_glance_importing_to_stores'
RUNNING = ('pending', 'processing')
FINISHED = ('success', 'failure')
STATUSES = RUNNING + FINISHED
#: The statuses each status may move to (upstream's task status transitions): a
#: task is ``pending`` until its worker's first ``claim`` starts it, and only a
#: started task succeeds; either may fail.
TARGETS = {'pending': ('processing', 'failure'),
           'processing': ('processing', 'success', 'failure'),
           'success': (), 'failure': ()}
SORT_KEYS = ('created_at', 'updated_at', 'id', 'status', 'type', 'expires_at')
# A task has no expires_at until it finishes.
_NULLABLE_SORT_KEYS = ('expires_at',)

_FIELDS = ('id', 'type', 'status', 'owner', 'image_id', 'request_id', 'user_id',
           'message', 'lease_owner', 'attempts')


def record(task):
    """The wire record of a ``Task`` row."""
    body = {name: getattr(task, name) for name in _FIELDS}
    body['input'] = orjson.loads(task.input) if task.input else {}
    body['result'] = orjson.loads(task.result) if task.result else None
    for name in ('created_at', 'updated_at', 'expires_at', 'lease_expires_at'):
        body[name] = records.isotime(getattr(task, name))
    return body


def _not_found(task_id):
    return errors.NotFound('No task with id %s' % task_id, reason='task_not_found',
                           task_id=task_id)


def _visible(identity, now):
    condition = ((Task.deleted == False)  # noqa: E712
                 & (Task.expires_at.is_null() | (Task.expires_at > now)))
    if not identity.is_admin:
        condition &= Task.owner == identity.project_id
    return condition


def _task_row(db, identity, task_id, lock=False):
    query = Task.select().where((Task.id == task_id) & _visible(identity, db_module.now(db)))
    if lock and db_module.dialect(db) != 'sqlite':
        query = query.for_update()
    task = query.first(db)
    if task is None:
        raise _not_found(task_id)
    return task


def _locked_task(db, identity, task_id):
    """The task's row, locked for a write after its image's row (deleted or not):
    every write to an image or its import takes the image's lock first, so task
    writes queue with image writes in one order and never deadlock."""
    task = _task_row(db, identity, task_id)
    if task.image_id and db_module.dialect(db) != 'sqlite':
        Image.select(Image.id).where(Image.id == task.image_id).for_update().first(db)
    return _task_row(db, identity, task_id, lock=True)


def _running_task(db, identity, task_id):
    """The locked row of a task that has not finished (``Conflict``
    ``task_finished`` otherwise)."""
    task = _locked_task(db, identity, task_id)
    if task.status not in RUNNING:
        raise errors.Conflict('Task %s has finished (%s)' % (task_id, task.status),
                              reason='task_finished', task_id=task_id,
                              task_status=task.status)
    return task


def get_task(db, identity, task_id):
    """The task's record; ``NotFound`` if absent, expired or not the caller's."""
    with db_module.connection(db):
        return record(_task_row(db, identity, task_id))


def list_tasks(db, identity, filters, sort_key, sort_dir, limit, marker):
    """A page of the caller's tasks: ``(records, next_marker)``.

    ``filters`` may hold ``type``, ``status`` and ``image_id``; ``marker`` is the id
    of the last task of the previous page (``BadRequest`` if it is none the caller
    sees)."""
    now = db_module.now(db)   # every lease's clock: the database's
    condition = _visible(identity, now)
    for name, value in filters.items():
        condition &= getattr(Task, name) == value
    key = getattr(Task, sort_key)
    descending = sort_dir == 'desc'
    with db_module.connection(db):
        if marker is not None:
            last = Task.select().where((Task.id == marker) & _visible(identity, now)) \
                .first(db)
            if last is None:
                raise errors.BadRequest('The marker %s is no task you can see'
                                        % marker, reason='invalid_marker',
                                        marker=marker)
            condition &= _after(key, getattr(last, sort_key), last.id, descending)
        order = ((key.desc(), Task.id.desc()) if descending
                 else (key.asc(), Task.id.asc()))
        if sort_key in _NULLABLE_SORT_KEYS:
            # Each database puts NULLs at its own end; these go last ascending.
            order = ((key.is_null().desc() if descending else key.is_null().asc()),
                     ) + order
        rows = list(Task.select().where(condition).order_by(*order)
                    .limit(limit + 1).execute(db))
    page = rows[:limit]
    next_marker = page[-1].id if len(rows) > limit and page else None
    return [record(task) for task in page], next_marker


@retry_on_deadlock
def create_task(db, identity, task, ttl, lease=None, image=None, judge=None):
    """Create a task, ``pending`` (``claim`` starts it); returns ``{"task": record,
    "image": record or None}``.

    ``lease`` (``{"owner", "seconds"}``) gives it at once to the worker that will
    run it: no other worker takes it while the lease runs. ``image`` (``{"id",
    "from", "to", "properties"}``) makes it an import of that image, in the same
    transaction: the image's import lock is taken
    (``Conflict`` ``import_locked`` while another running task holds it), its
    status moved ``from -> to`` when given (the status table and the
    compare-and-swap as ``transition``) and ``properties`` set (``None`` removes).
    A task whose worker died and whose lock is taken over fails, and expires
    ``ttl`` seconds later.
    """
    now = db_module.now(db)   # every lease's clock: the database's
    values = dict(task, created_at=now, updated_at=now,
                  input=orjson.dumps(task.get('input') or {}).decode(),
                  owner=task.get('owner', identity.project_id),
                  status='pending')
    if lease:
        values.update(lease_owner=lease['owner'], attempts=1,
                      lease_expires_at=now + datetime.timedelta(
                          seconds=lease['seconds']))
    with db_module.write_transaction(db):
        if image is not None:
            _lock_image(db, identity, image, values['id'], now, ttl, judge)
            values['image_id'] = image['id']
        if Task.select(Task.id).where(Task.id == values['id']).exists(db):
            raise errors.Conflict('A task with id %s exists' % values['id'],
                                  reason='duplicate_task', task_id=values['id'])
        Task.insert(**values).execute(db)
        image_record = None
        if image is not None:
            image_record = records.record_of(db, identity, image['id'])
        return {'task': record(_reread(db, values['id'])), 'image': image_record}


def _lock_image(db, identity, image, task_id, now, ttl, judge=None):
    row = records.locked_image(db, identity, image['id'], judge)
    holder = (ImageProperty.select(ImageProperty.value)
              .where((ImageProperty.image == row.id)
                     & (ImageProperty.name == IMPORT_LOCK)).scalar(db))
    if holder:
        other = Task.select().where(Task.id == holder).first(db)
        if other is not None and other.status in RUNNING:
            if other.lease_expires_at is None or other.lease_expires_at > now:
                raise errors.Conflict(
                    'Image %s is being imported by task %s' % (row.id, holder),
                    reason='import_locked', image_id=row.id, task_id=holder)
            # Its worker died: the task ends here, the new one takes the lock.
            _set_finished(db, other.id, 'failure', 'The worker running this task '
                          'stopped; another import took the image over.', None,
                          ttl, now)
    if image.get('from') is not None:
        image_writes.check_status_move(row, image['from'], image['to'])
        image_writes.swap_status(db, row.id, image['from'], image['to'])
    properties = dict(image.get('properties') or {}, **{IMPORT_LOCK: task_id})
    _set_properties(db, row.id, properties)


def release_ended_lock(db, image_id):
    """Take the import lock off a locked image whose import has ended (its task
    finished or is gone) without releasing it, and empty the stores it was
    importing to. That is an image deleted during an import, whose worker then
    failed the task without touching the deleted image: restored
    (``scrubbing.restore``), it is not being imported. The lock of a running task
    stays: its worker (or one taking it over) finishes it on the restored image."""
    holder = (ImageProperty.select(ImageProperty.value)
              .where((ImageProperty.image == image_id)
                     & (ImageProperty.name == IMPORT_LOCK)).scalar(db))
    if not holder:
        return
    task = Task.select(Task.status).where(Task.id == holder).first(db)
    if task is not None and task.status in RUNNING:
        return
    importing_to = (ImageProperty.select(ImageProperty.id)
                    .where((ImageProperty.image == image_id)
                           & (ImageProperty.name == IMPORTING_TO)).exists(db))
    _set_properties(db, image_id, {IMPORT_LOCK: None,
                                   IMPORTING_TO: '' if importing_to else None})


def _set_properties(db, image_id, properties):
    """Set (``None``: remove, if present) ``properties`` of a locked image."""
    existing = {name for name, in ImageProperty.select(ImageProperty.name)
                .where(ImageProperty.image == image_id).tuples().execute(db)}
    changes = {name: value for name, value in properties.items()
               if value is not None or name in existing}
    if changes:
        image_writes.apply_update(db, image_id, properties=changes)


def orphaned_tasks(db, identity, limit):
    """Up to ``limit`` running tasks whose worker is gone (their lease has run
    out) and whose image has been deleted (or is no more): no worker renews them
    and no read of their image takes them over, so they would stay running for
    good. One query, led by the index on the tasks' status."""
    now = db_module.now(db)   # every lease's clock: the database's
    with db_module.connection(db):
        rows = (Task.select(Task)
                .join(Image, peewee.JOIN.LEFT_OUTER, on=(Task.image_id == Image.id))
                .where(_visible(identity, now) & Task.status.in_(RUNNING)
                       & Task.image_id.is_null(False)
                       & (Task.lease_expires_at.is_null()
                          | (Task.lease_expires_at <= now))
                       & (Image.id.is_null() | (Image.deleted == True)))  # noqa: E712
                .order_by(Task.created_at, Task.id).limit(limit).execute(db))
        return [record(task) for task in rows]


@retry_on_deadlock
def claim(db, identity, task_id, owner, seconds, message=None, orphaned=False):
    """Take or renew the lease on a running task for ``owner``, which starts it
    (``pending -> processing``); the task's record.

    Renewed if ``owner`` holds it, taken over (``attempts`` + 1) if the lease has
    run out; ``Conflict`` ``task_leased`` while another owner's lease runs,
    ``task_finished`` once the task has finished, ``image_deleted`` for the
    holder of the lease once its image has been deleted (a worker taking the
    task over, its lease run out, is let take it, to fail it). ``message``
    (progress) is set. ``orphaned``: taken over only if it is one of
    ``orphaned_tasks`` (``Conflict`` ``not_orphaned`` otherwise), so that the
    sweep that fails those never runs an import again.
    """
    now = db_module.now(db)   # every lease's clock: the database's
    with db_module.write_transaction(db):
        task = _running_task(db, identity, task_id)
        if orphaned and (task.lease_owner == owner or not task.image_id
                         or (task.lease_expires_at is not None
                             and task.lease_expires_at > now)
                         or not _image_deleted(db, task.image_id)):
            raise errors.Conflict('Task %s still has its worker or its image'
                                  % task_id, reason='not_orphaned', task_id=task_id)
        if task.lease_owner == owner and task.image_id and \
                _image_deleted(db, task.image_id):
            # The worker learns it at its next renewal and stops, rather than
            # move the rest of the bytes of an image nobody can use.
            raise errors.Conflict('The image %s of task %s has been deleted'
                                  % (task.image_id, task_id),
                                  reason='image_deleted', task_id=task_id,
                                  image_id=task.image_id)
        changes = {'lease_expires_at': now + datetime.timedelta(seconds=seconds),
                   'status': 'processing'}
        if task.lease_owner != owner:
            if task.lease_expires_at is not None and task.lease_expires_at > now:
                raise errors.Conflict(
                    'Task %s is run by another worker' % task_id,
                    reason='task_leased', task_id=task_id,
                    lease_expires_at=records.isotime(task.lease_expires_at))
            changes.update(lease_owner=owner, attempts=task.attempts + 1)
        if message is not None:
            changes.update(message=message, updated_at=now)
        Task.update(**changes).where(Task.id == task_id).execute(db)
        return record(_reread(db, task_id))


def _image_deleted(db, image_id):
    deleted = Image.select(Image.deleted).where(Image.id == image_id).scalar(db)
    return deleted is None or deleted


@retry_on_deadlock
def finish(db, identity, task_id, owner, status, message, result, ttl, image=None):
    """End the task ``owner`` runs with ``status`` (``success``, once ``claim``
    started it, or ``failure``), ``message`` and ``result``; it expires ``ttl``
    seconds later. Returns ``{"task": record, "image": record or None}``.

    ``image`` (``{"from", "to", "values", "locations", "add_locations",
    "properties"}``, each optional) changes the task's image in the same
    transaction: the import lock is released, the status compare-and-swapped
    ``from -> to`` with the data ``values``, the ``locations`` replaced, the
    ``add_locations`` added after the image's locations as they are then (a copy
    of an active image, whose locations other requests may change while it runs;
    ``images.writes.append_location_rows``) and ``properties`` set. ``Conflict``
    ``taken_over`` if another owner holds the task now, ``task_finished`` if it has
    finished, ``task_not_started`` for a ``success`` it may not move to
    (``TARGETS``); the image's errors as ``transition`` raises them.
    """
    now = db_module.now(db)   # every lease's clock: the database's
    with db_module.write_transaction(db):
        task = _running_task(db, identity, task_id)
        if task.lease_owner is not None and task.lease_owner != owner:
            raise errors.Conflict('Task %s is run by another worker now' % task_id,
                                  reason='taken_over', task_id=task_id)
        if status not in TARGETS[task.status]:
            raise errors.Conflict('Task %s is %s: it cannot end in %s'
                                  % (task_id, task.status, status),
                                  reason='task_not_started', task_id=task_id,
                                  task_status=task.status)
        image_record = None
        if image is not None and task.image_id:
            image_record = _change_image(db, identity, task, image)
        _set_finished(db, task_id, status, message, result, ttl, now)
        return {'task': record(_reread(db, task_id)), 'image': image_record}


def _change_image(db, identity, task, image):
    row = records.visible_image(db, identity, task.image_id, lock=True)
    storage = quotas.StorageCheck(db, row.owner, image.get('max_storage'))
    if image.get('from') is not None:
        image_writes.check_status_move(row, image['from'], image['to'])
        image_writes.swap_status(db, row.id, image['from'], image['to'],
                                 image.get('values'))
    if image.get('locations') is not None:
        image_writes.replace_location_rows(db, row.id, image['locations'])
    if image.get('add_locations'):
        image_writes.append_location_rows(db, row.id, image['add_locations'])
    properties = dict(image.get('properties') or {})
    holder = (ImageProperty.select(ImageProperty.value)
              .where((ImageProperty.image == row.id)
                     & (ImageProperty.name == IMPORT_LOCK)).scalar(db))
    if holder == task.id:
        properties[IMPORT_LOCK] = None
    _set_properties(db, row.id, properties)
    storage.check()
    return records.record_of(db, identity, row.id)


def _set_finished(db, task_id, status, message, result, ttl, now):
    changes = {'status': status, 'message': message or '', 'updated_at': now,
               'lease_owner': None, 'lease_expires_at': None,
               'expires_at': now + datetime.timedelta(seconds=ttl) if ttl else None}
    if result is not None:
        changes['result'] = orjson.dumps(result).decode()
    Task.update(**changes).where(Task.id == task_id).execute(db)


def _after(key, value, task_id, descending):
    """The tasks after the one whose ``key`` is ``value`` (id ``task_id``) in the
    list's order, where a NULL ``key`` (a running task's expires_at) sorts after
    every time ascending, before every time descending: no comparison with NULL
    is true, so these are said with IS NULL."""
    if value is None:
        rest = key.is_null() & ((Task.id < task_id) if descending
                                else (Task.id > task_id))
        return (rest | key.is_null(False)) if descending else rest
    if descending:
        return (key < value) | ((key == value) & (Task.id < task_id))
    return ((key > value) | ((key == value) & (Task.id > task_id))
            | key.is_null())


def by_sort_key(name):
    """The sort key ``name`` if tasks can be sorted by it."""
    if name not in SORT_KEYS:
        raise errors.BadRequest.invalid_value(
            "'sort_key' must be one of %s, not %r" % (', '.join(SORT_KEYS), name),
            'sort_key')
    return name


def _reread(db, task_id):
    return Task.select().where(Task.id == task_id).get(db)
