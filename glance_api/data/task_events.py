"""Where a task's life would be announced, once notifications exist.

The import tasks (``glance_api.data.imports``) call ``emit`` with upstream's event
types and the task record as the registry answered it:

- ``task.create`` when the import is accepted;
- ``task.run`` when a worker starts it (again, after a takeover);
- ``task.success`` and ``task.failure`` when it ends.

Sending them (oslo.messaging, upstream's payload: the task's API document) belongs
here alone.
"""

import logging

LOG = logging.getLogger(__name__)


def emit(event_type, task):
    """Announce ``event_type`` about ``task``; for now, a debug log line."""
    LOG.debug('%s: task %s (image %s, request %s)', event_type, task.get('id'),
              task.get('image_id'), task.get('request_id'))
