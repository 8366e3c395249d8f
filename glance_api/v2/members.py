"""/v2/images/{id}/members: sharing an image with other projects.

Only ``shared`` images have members (403 otherwise, as upstream; 404 when showing one
member, which upstream never refuses with 403). The owner adds and
removes members; only the member itself (or an admin) accepts or rejects; a member
sees only its own entry. The status decides only whether the image appears in the
member's default image list: a member can read the image whatever its status.
"""

from flask import g

from glance_api import notifications
from glance_api.http import json_body
from glance_api.http import errors
from glance_api.images import lookup
from glance_api.images import notifications as payloads
from glance_api.access import policy
from glance_api.http import responses
from glance_api.data import store_acls
from glance_api.services import services
from glance_registry.client import vocabulary

STATUSES = vocabulary.MEMBER_STATUSES


def view(member):
    return {'image_id': member['image_id'], 'member_id': member['member_id'],
            'status': member['status'], 'created_at': member['created_at'],
            'updated_at': member['updated_at'], 'schema': '/v2/schemas/member'}


def _shared_image(image_id):
    record = lookup.load_image(image_id)
    # Upstream's member policy checks get_image first: 404 for a caller who may
    # not see the image, before the other checks.
    policy.enforce(g.context, 'get_image', record)
    if record['visibility'] != 'shared':
        raise errors.Forbidden('Only shared images have members.')
    return record


def _target(record, member_id):
    return dict(policy.image_target(g.context, record), member_id=member_id)


def list_members(image_id):
    """The image's members (a member sees only itself); 403 if not ``shared``."""
    record = _shared_image(image_id)
    policy.enforce(g.context, 'get_members', target=_target(
        record, g.context.project_id if record.get('member_status') else None))
    members = services().registry.list_members(g.context.identity, image_id,
                                               request_id=g.request_id)
    return responses.json({'members': [view(m) for m in members],
                           'schema': '/v2/schemas/members'})


def add_member(image_id):
    """Share the image with a project; 200 with the pending member.

    400 malformed body, 403 not the owner or not ``shared``, 409 already a member,
    413 over ``image_member_quota``.
    """
    # Authorised before the body is read.
    record = _shared_image(image_id)
    policy.enforce(g.context, 'add_member', record)
    document = json_body.parse()
    member_id = document.get('member') if isinstance(document, dict) else None
    # Other keys are ignored, as upstream does (openstacksdk sends the status it
    # was given, say).
    if not isinstance(member_id, str) or not member_id or len(member_id) > 255:
        raise errors.BadRequest('The request body must be {"member": "<project id>"}.')
    if '/' in member_id:
        # Unlike upstream: such a member could never be shown, updated or removed
        # (its URL, /members/<id>, would not reach it).
        raise errors.BadRequest('A member id cannot contain "/".')
    if member_id in ('.', '..'):
        # Nor could these: clients remove dot segments from a URL (RFC 3986, 5.2.4),
        # so /members/.. reaches /v2/images/<id>/ instead.
        raise errors.BadRequest('A member id cannot be "." or "..".')
    member = services().registry.add_member(
        g.context.identity, image_id, member_id,
        max_members=services().conf.image_member_quota, request_id=g.request_id)
    notifications.notify(g.context, 'image.member.create', payloads.member(member))
    store_acls.sync(record)
    return responses.json(view(member))


def show_member(image_id, member_id):
    """One member; 404 unless the image is ``shared`` and the caller is the owner,
    that member or an admin."""
    # Upstream answers 404, never 403, here (it turns every refusal of this call
    # into a 404): another project's membership is not the caller's to know about.
    try:
        record = _shared_image(image_id)
    except errors.Forbidden as exc:
        raise errors.NotFound(exc.message)
    try:
        policy.enforce(g.context, 'get_member', target=_target(record, member_id))
    except errors.Forbidden:
        raise errors.NotFound('Member %s not found for image %s.'
                              % (member_id, image_id))
    return responses.json(view(_get_member(image_id, member_id)))


def update_member(image_id, member_id):
    """Accept, reject or reset a membership; only that member (or an admin)."""
    # Authorised before the body is read.
    record = _shared_image(image_id)
    _get_member(image_id, member_id)
    policy.enforce(g.context, 'modify_member', target=_target(record, member_id))
    document = json_body.parse()
    status = document.get('status') if isinstance(document, dict) else None
    if status not in STATUSES:
        raise errors.BadRequest('Status must be one of %s.' % ', '.join(STATUSES))
    member = services().registry.update_member(g.context.identity, image_id,
                                               member_id, status,
                                               request_id=g.request_id)
    notifications.notify(g.context, 'image.member.update', payloads.member(member))
    return responses.json(view(member))


def delete_member(image_id, member_id):
    """Stop sharing the image with a project; 204. Only the owner (or an admin)."""
    record = _shared_image(image_id)
    member = _get_member(image_id, member_id)
    policy.enforce(g.context, 'delete_member', record)
    services().registry.delete_member(g.context.identity, image_id, member_id,
                                      request_id=g.request_id)
    notifications.notify(g.context, 'image.member.delete',
                         payloads.member(member, deleted=True))
    store_acls.sync(record)
    return responses.no_content()


def _get_member(image_id, member_id):
    return services().registry.get_member(g.context.identity, image_id, member_id,
                                          request_id=g.request_id)
