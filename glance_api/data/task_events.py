"""A task's life announced on the message bus, with upstream's event types.

The import tasks (``glance_api.data.imports``) call ``emit`` with the task record
as the registry answered it:

- ``task.create`` when the import is accepted;
- ``task.run`` when a worker starts it (again, after a takeover);
- ``task.success`` and ``task.failure`` when it ends.

The payload is the task as upstream's notifications show it (its API document's
fields); the notification's context is the caller that created the task, read from
the record, since a task runs in a worker thread outside any request.
"""

import logging
import types

LOG = logging.getLogger(__name__)

#: The task's fields in upstream's task notifications.
PAYLOAD_FIELDS = ('id', 'type', 'status', 'input', 'result', 'owner', 'message',
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
    context = types.SimpleNamespace(request_id=task.get('request_id'),
                                    user_id=task.get('user_id'),
                                    project_id=task.get('owner'))
    svc.notifier.notify(context, event_type, payload)
