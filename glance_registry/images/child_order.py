"""The image's ``created_at``, copied onto each of its property and tag rows, so
that a list filtered by a tag or property walks that filter's own index in page
order (migration 20; ``filters.walked_filter``).

Without the copy such a list walked every image in page order testing the
filter: for a property on 2% of the images, 1,300 images for an admin's page of
25 and 5,000 for a project member's. An image's ``created_at`` never changes, so
the copy is written once, by the insert of the row itself (``of_image``).

A registry of the release before, still running after ``db sync`` (a rolling
upgrade), inserts rows without it (NULL). A list does not walk a filter that has
such a row (``records.narrowest_filter`` checks, from the same index), so no
image is ever missed; ``fill_recent``, run when a registry starts, fills the rows
of every image changed in the last ``child_status.REPAIR_WINDOW``.
"""

from glance_registry import db as db_module
from glance_registry.images import child_status
from glance_registry.models import Image
from glance_registry.models import utcnow


def of_image(image_id):
    """The value of ``image_created_at`` for a new property or tag row of the
    image: its ``created_at``, read by the insert itself (the same value, in the
    same representation, on every backend)."""
    return Image.select(Image.created_at).where(Image.id == image_id)


def fill_recent(db):
    """Fill the missing copies on the rows of every image changed in the last
    ``REPAIR_WINDOW``; the number of images filled. One read when none is missing.
    No lock is needed: the value never changes, whoever writes it."""
    with db_module.connection(db):
        unfilled = [image_id for image_id, in
                    unfilled_since(utcnow() - child_status.REPAIR_WINDOW)
                    .tuples().execute(db)]
        for image_id in sorted(unfilled):
            with db_module.write_transaction(db):
                for model in child_status.CHILDREN:
                    (model.update(image_created_at=of_image(image_id))
                     .where((model.image == image_id)
                            & model.image_created_at.is_null())
                     .execute(db))
    return len(unfilled)


def unfilled_since(since):
    """The ids of the images changed since ``since`` with a row missing the copy
    (``child_status.recent_images_with_rows``)."""
    return child_status.recent_images_with_rows(
        since, lambda model: model.image_created_at.is_null())
