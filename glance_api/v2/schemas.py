"""/v2/schemas: the JSON schemas of the API's documents (``glance_api.images.schemas``)."""

from glance_api.http import responses
from glance_api.services import services


def image_schema():
    """The image schema: base attributes, format enums, custom-property rule."""
    return responses.json(services().schemas.image)


def images_schema():
    """The schema of an image list page."""
    return responses.json(services().schemas.images)


def member_schema():
    """The schema of an image member."""
    return responses.json(services().schemas.member)


def members_schema():
    """The schema of an image's member list."""
    return responses.json(services().schemas.members)


def _task_properties():
    """Upstream's task schema members (``_get_base_properties`` of
    glance/api/v2/tasks.py)."""
    def text(description, **extra):
        return dict({'type': 'string', 'description': description}, **extra)

    def nullable_text(description):
        return {'type': ['null', 'string'], 'description': description}
    return {
        'id': text('An identifier for the task',
                   pattern=('^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}'
                            '-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$')),
        'type': text('The type of task represented by this content',
                     enum=['import', 'api_image_import']),
        'status': text('The current status of this task',
                       enum=['pending', 'processing', 'success', 'failure']),
        'input': {'type': ['null', 'object'], 'description': 'The parameters '
                  'required by task, JSON blob'},
        'result': {'type': ['null', 'object'], 'description': 'The result of '
                   'current task, JSON blob'},
        # These four may be null (upstream: strings): a task created by an admin
        # without a project or user (the embedded default's caller, which
        # upstream's database refuses) has no owner or user, and
        # python-glanceclient validates every task it receives with this schema.
        'owner': nullable_text('An identifier for the owner of this task'),
        'message': text('Human-readable informative message only included when '
                        'appropriate (usually on failure)'),
        'image_id': nullable_text('Image associated with the task'),
        'request_id': nullable_text('Human-readable informative request-id'),
        'user_id': nullable_text('User associated with the task'),
        'expires_at': {'type': ['null', 'string'], 'description': 'Datetime when '
                       'this resource would be subject to removal'},
        'created_at': text('Datetime when this resource was created'),
        'updated_at': text('Datetime when this resource was updated'),
        'self': {'readOnly': True, 'type': 'string'},
        'schema': {'readOnly': True, 'type': 'string'},
    }


def _task_schema():
    return {'name': 'task', 'properties': _task_properties(),
            'links': [{'rel': 'self', 'href': '{self}'},
                      {'rel': 'describedby', 'href': '{schema}'}]}


def task_schema():
    """The schema of a task."""
    return responses.json(_task_schema())


def tasks_schema():
    """The schema of a task list page."""
    return responses.json({
        'name': 'tasks',
        'properties': {'tasks': {'type': 'array', 'items': _task_schema()},
                       'schema': {'type': 'string'}, 'first': {'type': 'string'},
                       'next': {'type': 'string'}},
        'links': [{'rel': 'first', 'href': '{first}'},
                  {'rel': 'next', 'href': '{next}'},
                  {'rel': 'describedby', 'href': '{schema}'}]})
