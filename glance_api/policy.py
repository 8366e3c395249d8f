"""Authorisation: the one place that decides whether a caller may do an action.

Every handler calls ``enforce(context, action, image)`` once, with upstream's policy
names. The registry has already hidden images the caller may not see (they are 404);
this decides what a caller may *do* with an image it can see.

These are upstream's defaults for a deployment without Keystone roles: admins may do
anything, a project may change only the images it owns, and only admins publicize.
"""

from glance_api import errors

# Actions that only the image's owner (or an admin) may take.
_OWNER_ACTIONS = frozenset([
    'add_image', 'modify_image', 'delete_image', 'upload_image', 'deactivate',
    'reactivate', 'communitize_image',
])
_ADMIN_ACTIONS = frozenset(['publicize_image'])
# Actions open to anyone who can see the image.
_VISIBLE_ACTIONS = frozenset(['get_image', 'get_images', 'download_image'])


def enforce(ctx, action, image=None):
    """Raise ``errors.Forbidden`` unless ``ctx`` may do ``action`` on ``image``.

    ``image`` is a registry record, or for ``add_image`` the target
    ``{"owner": ...}``.
    """
    if allowed(ctx, action, image):
        return
    raise errors.Forbidden('You are not authorized to complete %s action.' % action)


def allowed(ctx, action, image=None):
    if ctx.is_admin or action in _VISIBLE_ACTIONS:
        return True
    if action in _ADMIN_ACTIONS:
        return False
    if action in _OWNER_ACTIONS:
        return image is not None and ctx.owns(image)
    raise ValueError('unknown action %r' % action)
