"""The image's status, copied onto each of its property and tag rows.

Lists filtered by status and by a property or tag count the images matching both
from one index (``filters.narrowing_filters``; migration 19): without the copy,
two filters that each match many images but none together walked every image of
one testing the other. The copy is a list's upper bound, so it must never be
stale: every write of ``images.status`` calls ``follow``, and every insert of a
property or tag takes ``image_status`` from ``of_image``, in the transaction that
holds the image's row lock (every write takes it first), so no status change can
come between.

``UNKNOWN`` ('', the column's default) is what a registry of the release before
writes while it still runs after ``db sync`` (a rolling upgrade): status filters
count such rows as matching any status. Such a registry also changes statuses
without copying them; ``repair_recent``, run when a registry starts, copies the
status again onto the rows of every image changed in the last ``REPAIR_WINDOW``,
so once the last registry of the earlier release is replaced (within that time of
its last write) no copy is stale.
"""

import datetime

import peewee

from glance_registry import db as db_module
from glance_registry.models import Image
from glance_registry.models import ImageProperty
from glance_registry.models import ImageTag
from glance_registry.models import utcnow

UNKNOWN = ''
REPAIR_WINDOW = datetime.timedelta(hours=24)

#: The rows that carry copies of their image's columns: its status (here) and its
#: created_at (``child_order``).
CHILDREN = (ImageProperty, ImageTag)


def of_image(image_id):
    """The value of ``image_status`` for a new property or tag row of the image:
    its status, read by the insert itself."""
    return Image.select(Image.status).where(Image.id == image_id)


def follow(db, image_id, status):
    """Copy ``status``, just written to the image, onto its properties and tags."""
    for model in CHILDREN:
        (model.update(image_status=status)
         .where((model.image == image_id) & (model.image_status != status))
         .execute(db))


def matching(statuses):
    """The ``image_status`` values of the rows a filter on ``statuses`` counts."""
    return list(statuses) + [UNKNOWN]


def repair_recent(db):
    """Copy each image's status again onto its rows, for every image changed in
    the last ``REPAIR_WINDOW`` whose rows do not hold it; the number of images
    repaired (``repair``)."""
    return repair(db, stale_since(utcnow() - REPAIR_WINDOW), [Image.status],
                  lambda image_id, image: follow(db, image_id, image.status))


def repair(db, stale, columns, copy):
    """Call ``copy(image_id, image)`` for each image of the select ``stale``, with
    the image's ``columns`` read under its row lock, each in a write transaction;
    the number of images. One read when nothing is stale (the rows of images
    changed since are read once, not each image in a transaction: a busy cloud
    changes tens of thousands a day)."""
    with db_module.connection(db):
        stale = [image_id for image_id, in stale.tuples().execute(db)]
        for image_id in sorted(stale):
            with db_module.write_transaction(db):
                query = Image.select(*columns).where(Image.id == image_id)
                if db_module.dialect(db) != 'sqlite':
                    query = query.for_update()
                image = query.first(db)
                if image is not None:
                    copy(image_id, image)
    return len(stale)


def stale_since(since):
    """The ids of the images changed since ``since`` whose rows do not hold their
    status."""
    return recent_images_with_rows(since,
                                   lambda model: model.image_status != Image.status)


def recent_images_with_rows(since, row_condition):
    """The ids of the images changed since ``since`` with a property or tag row for
    which ``row_condition(model)`` holds: from the recent images (the
    ``updated_at`` index) to each one's rows, never the whole of the property and
    tag tables."""
    rows = [peewee.fn.EXISTS(model.select(peewee.SQL('1')).where(
        (model.image == Image.id) & row_condition(model))) for model in CHILDREN]
    return (Image.select(Image.id)
            .where((Image.updated_at >= since) & (rows[0] | rows[1])))
