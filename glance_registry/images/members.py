"""Image members: the projects a ``shared`` image is shared with, and their answers.

Functions take the database, the caller's ``Identity`` and validated values (see
``glance_registry.validation``) and return member records: ``{"image_id",
"member_id", "status", "created_at", "updated_at"}``. They apply visibility and data
integrity; who may add, remove or answer a membership is the guard's to judge
(``glance_registry.guard``, the ``judge`` each write passes).

Visibility: the image must be visible to the caller (``records.visible_image``), else
``errors.NotFound``. An admin and the image's owner see every member row; anyone
else sees only its own project's row, and another project's row does not exist for
it (``NotFound``), as upstream. Writes lock the image row first, like every image
write, so concurrent additions count members one after the other.
"""

from glance_registry import db as db_module
from glance_registry.client import errors
from glance_registry.images import quotas
from glance_registry.images import records
from glance_registry.images.deadlocks import retry_on_deadlock
from glance_registry.models import ImageMember
from glance_registry.models import utcnow


def list_members(db, identity, image_id):
    """The image's member records that the caller may see, oldest first."""
    with db_module.read_transaction(db):
        image = records.visible_image(db, identity, image_id)
        query = ImageMember.select().where(ImageMember.image == image_id)
        if not _sees_every_member(identity, image):
            if identity.project_id is None:
                return []
            query = query.where(ImageMember.member == identity.project_id)
        return [_record(member) for member
                in query.order_by(ImageMember.created_at, ImageMember.id).execute(db)]


def get_member(db, identity, image_id, member_id):
    """One member record; ``NotFound`` if there is none the caller may see."""
    with db_module.read_transaction(db):
        image = records.visible_image(db, identity, image_id)
        return _record(_visible_member(db, identity, image, member_id))


@retry_on_deadlock
def add_member(db, identity, image_id, member_id, max_members=None, judge=None):
    """Share the image with project ``member_id``; the new ``pending`` record.

    ``Forbidden`` unless the image is ``shared``; ``Conflict`` if the project is a
    member already; ``TooLarge`` if the image would have more than ``max_members``
    members.
    """
    with db_module.write_transaction(db):
        image = records.locked_image(db, identity, image_id, judge)
        if image.visibility != 'shared':
            # Upstream's words, which clients show.
            raise errors.Forbidden('Only shared images have members.',
                                   reason='not_shared', image_id=image_id,
                                   visibility=image.visibility)
        members = [member for member, in ImageMember.select(ImageMember.member)
                   .where(ImageMember.image == image_id).tuples().execute(db)]
        if member_id in members:
            raise errors.Conflict('Project %s is already a member of image %s'
                                  % (member_id, image_id), reason='duplicate_member',
                                  image_id=image_id, member_id=member_id)
        quotas.check('max_members', max_members, len(members), len(members) + 1,
                     'Too many members of image %s' % image_id)
        now = utcnow()
        fields = {'image': image_id, 'member': member_id, 'status': 'pending',
                  'created_at': now, 'updated_at': now}
        ImageMember.insert(**fields).execute(db)
        return _record(ImageMember(**fields))


@retry_on_deadlock
def update_member(db, identity, image_id, member_id, status, judge=None):
    """Set the membership's ``status``; the updated record."""
    with db_module.write_transaction(db):
        member = _judged_member(db, identity, image_id, member_id, judge)
        member.status = status
        member.updated_at = utcnow()
        (ImageMember.update(status=member.status, updated_at=member.updated_at)
         .where(ImageMember.id == member.id).execute(db))
        return _record(member)


@retry_on_deadlock
def delete_member(db, identity, image_id, member_id, judge=None):
    """Stop sharing the image with ``member_id``."""
    with db_module.write_transaction(db):
        member = _judged_member(db, identity, image_id, member_id, judge)
        ImageMember.delete().where(ImageMember.id == member.id).execute(db)


def _judged_member(db, identity, image_id, member_id, judge):
    """The image's membership of ``member_id``, its image row locked: ``NotFound``
    unless the caller sees it (as for a row that does not exist), then ``judge``
    passes the image."""
    image = records.locked_image(db, identity, image_id)
    member = _visible_member(db, identity, image, member_id)
    if judge is not None:
        records.judge_locked(db, identity, image, judge)
    return member


def _sees_every_member(identity, image):
    return identity.is_admin or (identity.project_id is not None
                                 and image.owner == identity.project_id)


def _visible_member(db, identity, image, member_id):
    if not _sees_every_member(identity, image) and member_id != identity.project_id:
        member = None
    else:
        member = (ImageMember.select()
                  .where((ImageMember.image == image.id)
                         & (ImageMember.member == member_id)).first(db))
    if member is None:
        raise errors.NotFound('Image %s has no member %s' % (image.id, member_id),
                              reason='member_not_found', image_id=image.id,
                              member_id=member_id)
    return member


def _record(member):
    return {'image_id': member.image_id, 'member_id': member.member,
            'status': member.status,
            'created_at': records.isotime(member.created_at),
            'updated_at': records.isotime(member.updated_at)}
