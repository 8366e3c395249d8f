"""A task's ``input``: what the registry keeps, and what clients are shown.

An import task keeps its request (``image_id``, ``import_req``, ``backend``, as
upstream records ``api_image_import``'s) so that another worker can take it over. A
legacy ``import`` task (``POST /v2/tasks``) keeps its client's input beside that
request, under ``CLIENT_INPUT``: upstream echoes a legacy task's input exactly as its
client sent it, so the request is never shown, nor mixed into (and overwriting)
what the client sent.
"""

CLIENT_INPUT = 'client_input'
#: The properties an import injects (``glance_api.data.inject_metadata``): the
#: service's, never shown as the client's request.
INJECTED = 'injected_properties'
#: The request's members, dropped from the input of a legacy task stored before
#: ``CLIENT_INPUT`` (mixed into its client's).
_REQUEST = ('image_id', 'import_req', 'backend')


def stored(request_input, client_input=None):
    """The input to store: the import's request, and the client's input if any."""
    if client_input is None:
        return dict(request_input)
    return dict(request_input, **{CLIENT_INPUT: client_input})


def shown(task):
    """The input as the API and the notifications show ``task``: a legacy task's
    client's input, another task's stored input."""
    task_input = {key: value for key, value in (task.get('input') or {}).items()
                  if key != INJECTED}
    if CLIENT_INPUT in task_input:
        return task_input[CLIENT_INPUT]
    if task.get('type') == 'import':
        return {key: value for key, value in task_input.items()
                if key not in _REQUEST}
    return task_input
