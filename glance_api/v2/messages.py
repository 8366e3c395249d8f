"""How the registry's refusals read to API clients: one table, in upstream's words.

A registry error carries a ``reason`` (docs/registry-api.rst lists them) and details;
its class gives the status (``glance_api.http.errors``), this table the message. A
row is keyed by the reason, or by ``(reason, endpoint)`` where one operation words
it its own way; its template is filled from the error's details, the request's path
parameters and ``message`` (the registry's own words). An error without a row, or
whose row needs a value the error does not carry, keeps the registry's message.

Handlers therefore let registry errors propagate; they catch one only to act on it
(a lost race that did their job, an upload to give back), never to re-word it.
"""

from flask import request

#: Upstream's words for removing a store's copy that is the image's last.
ONLY_COPY = ('Cannot delete image data from the only store containing it. Consider '
             'deleting the image instead.')

_LOCATIONS_CHANGED = ('The locations of image %(image_id)s changed meanwhile; read it '
                      'again: %(message)s')

MESSAGES = {
    'image_not_found': 'No image found with ID %(image_id)s',
    'duplicate_image': 'An image with identifier %(image_id)s already exists',
    'tag_not_found': 'Tag %(tag)s not found on image %(image_id)s',
    'member_not_found': 'Member %(member_id)s not found for image %(image_id)s.',
    'duplicate_member': 'Member %(member_id)s already exists for image %(image_id)s.',
    ('over_limit', 'members.add_member'):
        'Image member limit exceeded for image %(image_id)s: the limit is '
        '%(maximum)d.',
    # A PATCH's locations are replaced only if they are still those it read (the
    # registry's message says no more than that).
    ('locations_changed', 'images.update_image'):
        'The locations of image %(image_id)s changed meanwhile; read it again.',
    ('duplicate_location', 'images.update_image'): _LOCATIONS_CHANGED,
    ('last_location', 'images.update_image'): _LOCATIONS_CHANGED,
    ('status_changed', 'images.update_image'): _LOCATIONS_CHANGED,
    # Another request removed the other copies meanwhile.
    ('last_location', 'locations.delete_from_store'): ONLY_COPY,
    ('location_not_found', 'locations.delete_from_store'):
        'Image %(image_id)s is not stored in store %(store_id)s.',
    ('image_not_found', 'cache.queue_image'): 'Image %(image_id)s not found.',
    'import_locked': 'Image %(image_id)s has an import task in progress '
                     '(%(task_id)s); try again when it has finished.',
    ('not_uploading', 'imports.stage_image_data'):
        'Image %(image_id)s is no longer being staged by this request (its status '
        'is now %(current_status)s).',
    ('not_uploading', 'image_data.upload_image_data'):
        'Image %(image_id)s is no longer being uploaded by this request (its status '
        'is now %(current_status)s).',
}


def wording(exc):
    """The client's message for registry error ``exc`` in the current request, or
    None to keep the registry's."""
    template = (MESSAGES.get((exc.reason, request.endpoint))
                or MESSAGES.get(exc.reason))
    if template is None:
        return None
    values = dict(request.view_args or {}, **exc.details, message=exc.message)
    try:
        return template % values
    except (KeyError, TypeError, ValueError):
        return None
