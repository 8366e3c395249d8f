"""A task's life announced on the message bus, with upstream's event types.

The import tasks (``glance_api.data.imports``) call ``emit`` with the task record
as the registry answered it:

- ``task.create`` when the import is accepted;
- ``task.run`` when a worker starts it (again, after a takeover);
- ``task.processing`` once that worker holds it (``pending -> processing``);
- ``task.success`` and ``task.failure`` when it ends;

and ``emit_image`` announces what the import did to its image, as an upload's
would be: ``image.prepare`` before the first byte goes to a target store,
``image.upload`` (and ``image.activate`` when it becomes active) once the bytes are
the image's, or ``image.upload`` at ERROR, a message, if the import fails after
``image.prepare``.

The payload is the task as upstream's notifications show it (its API document's
fields, ``deleted`` and ``deleted_at``) without its ``input``: as upstream, which
leaves it out since it may hold secrets (a URL with a password). The
notification's context is the caller that created the task, read from the record,
since a task runs in a worker thread outside any request.
"""

import logging
import types

from glance_api.images import notifications as payloads
from glance_registry import process

LOG = logging.getLogger(__name__)

#: The task's fields in upstream's task notifications (and the API's image_id,
#: request_id and user_id).
PAYLOAD_FIELDS = ('id', 'type', 'status', 'result', 'owner', 'message',
                  'expires_at', 'created_at', 'updated_at', 'image_id',
                  'request_id', 'user_id')


def emit(svc, event_type, task):
    """Announce ``event_type`` about ``task`` through ``svc``'s notifier; never
    raises (the notifier queues, and drops when full)."""
    LOG.debug('%s: task %s (image %s, request %s)', event_type, task.get('id'),
              task.get('image_id'), task.get('request_id'))
    if svc.notifier is None:
        return
    payload = {name: task.get(name) for name in PAYLOAD_FIELDS}
    payload.update(deleted=False, deleted_at=None)
    svc.notifier.notify(_context(task), event_type, payload)


def emit_image(svc, event_type, task, record, deleted=False, backend=None):
    """Announce ``event_type`` about ``record`` (an image), changed (``deleted``:
    deleted) by ``task``; ``backend``: the store ``image.prepare`` is about."""
    if svc.notifier is not None:
        payload = payloads.stored(record) if event_type in (
            'image.prepare', 'image.upload') else payloads.image(record,
                                                                 deleted=deleted)
        if backend is not None:
            payload['backend'] = backend
        svc.notifier.notify(_context(task), event_type, payload)


def emit_import_failed(svc, task, message):
    """Announce that the import of ``task`` failed after ``image.prepare``: as
    upstream's failed upload, ``image.upload`` at ERROR whose payload is a
    message."""
    if svc.notifier is not None:
        svc.notifier.notify(_context(task), 'image.upload', 'Image %s could not be '
                            'imported: %s' % (task.get('image_id'), message),
                            priority='error')


def _context(task):
    # A task runs outside any request: the caller that created it stands for it,
    # with its global request id while the work that request started runs (the
    # runner binds it); a worker that took the task over does not know it.
    request_id = task.get('request_id')
    global_request_id = (process.current_global_request_id()
                         if request_id and process.current_request_id() == request_id
                         else None)
    return types.SimpleNamespace(request_id=request_id,
                                 global_request_id=global_request_id,
                                 user_id=task.get('user_id'),
                                 project_id=task.get('owner'))
