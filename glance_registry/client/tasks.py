"""The registry client's calls for tasks (image imports).

``TasksClient`` is a mixin of ``RegistryClient`` (it uses its ``_send``): one
registry call each over the task routes (docs/registry-api.rst, "Tasks"). A task
record is ``{"id", "type", "status", "owner", "image_id", "input", "result",
"message", "lease_owner", "lease_expires_at", "attempts", "created_at",
"updated_at", "expires_at", ...}``. This module never imports peewee.
"""

from glance_registry.client import transport


def _path(task_id):
    return '/v1/tasks/%s' % transport.quote_segment(task_id)


class TasksClient:
    """Task calls of ``RegistryClient``."""

    def create_task(self, identity, task, *, ttl, lease=None, image=None,
                    request_id=None):
        """Create ``task`` (``id``, ``type``, ``input``, ...); returns ``{"task",
        "image"}``. ``lease`` (a ``Lease``) gives it to its worker at once (status
        ``processing``). ``image`` (``{"id", "from", "to", "properties"}``) takes
        that image's import lock in the same transaction, moves its status and sets
        the properties; ``errors.Conflict`` (reason ``import_locked``) while a
        running task holds the lock. ``ttl``: seconds a task whose lock is taken
        over (its worker died) stays visible."""
        body = dict(task, ttl=ttl)
        if lease is not None:
            body['lease'] = {'owner': lease.owner, 'seconds': lease.seconds}
        if image is not None:
            body['image'] = image
        return self._send('POST', '/v1/tasks', identity, json=body,
                          request_id=request_id)

    def get_task(self, identity, task_id, request_id=None):
        """The task; ``errors.NotFound`` (reason ``task_not_found``)."""
        return self._send('GET', _path(task_id), identity, request_id=request_id)

    def list_tasks(self, identity, params=(), request_id=None):
        """A page of tasks: ``(tasks, next_marker)``; ``params`` are ``(key,
        value)`` pairs: ``type``, ``status``, ``image_id``, ``limit``, ``marker``,
        ``sort_key``, ``sort_dir``."""
        body = self._send('GET', '/v1/tasks', identity, params=list(params),
                          request_id=request_id)
        return body['tasks'], body.get('next_marker')

    def list_orphaned_tasks(self, identity, limit):
        """Up to ``limit`` running tasks whose lease has run out and whose image
        is deleted (admins only)."""
        return self._send('GET', '/v1/orphaned-tasks', identity,
                          params=[('limit', str(limit))])['tasks']

    def claim_task(self, identity, task_id, lease, message=None, request_id=None,
                   orphaned=False):
        """Take over (an expired lease) or renew the lease on a running task, which
        starts it (``pending -> processing``); sets the progress ``message``.
        ``errors.Conflict`` reason ``task_leased``, ``task_finished`` or
        ``image_deleted``. ``orphaned``: only one of ``list_orphaned_tasks``
        (``errors.Conflict`` reason ``not_orphaned`` otherwise)."""
        body = {'owner': lease.owner, 'seconds': lease.seconds}
        if message is not None:
            body['message'] = message
        if orphaned:
            body['orphaned'] = True
        return self._send('PUT', _path(task_id) + '/lease', identity, json=body,
                          request_id=request_id)

    def finish_task(self, identity, task_id, lease, status, *, message='',
                    result=None, ttl=None, image=None, request_id=None):
        """End the task run under ``lease`` with ``status`` (``success``, once
        ``claim_task`` started it, or ``failure``); it expires ``ttl`` seconds
        later. ``image`` (``from``, ``to``, ``values``, ``locations``,
        ``add_locations``, ``properties``) changes its image in the same
        transaction, releasing the import lock. Returns ``{"task", "image"}``."""
        body = {'owner': lease.owner, 'status': status, 'message': message}
        if result is not None:
            body['result'] = result
        if ttl is not None:
            body['ttl'] = ttl
        if image is not None:
            body['image'] = image
        return self._send('PUT', _path(task_id) + '/result', identity, json=body,
                          request_id=request_id)
