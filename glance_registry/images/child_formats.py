"""The image's disk and container formats, copied onto each of its property and tag
rows.

Lists filtered by a format and by a property or tag count the images matching both
from one index (``filters.narrowing_filters``; migration 21): without the copies,
``disk_format=qcow2`` and a property that only raw images have walked every image
of the property testing its format. The copies follow ``child_status``'s rules:
they are a list's upper bound, so never stale. Every write of an image's formats
calls ``follow``, and every insert of a property or tag takes the copies from
``of_image`` (or the values the caller is writing), in the transaction that holds
the image's row lock.

A copy holds the format's first ``PREFIX`` characters (migration 21: MariaDB's
index key), NULL when the image has none, and ``UNKNOWN`` ('', the column's
default) on rows that a registry of the release before writes while it still runs
after ``db sync``: format filters count such rows as matching any format. Such a
registry also changes formats without copying them; ``repair_recent``, run when a
registry starts, copies them again, as ``child_status.repair_recent`` does the
status.
"""

import functools
import operator

import peewee

from glance_registry.client import vocabulary
from glance_registry.images import child_status
from glance_registry.migrations import m0021_child_formats
from glance_registry.models import Image
from glance_registry.models import utcnow

UNKNOWN = ''
PREFIX = m0021_child_formats.PREFIX
#: Each copied column of the images, as its copy on the property and tag rows.
COLUMNS = m0021_child_formats.COLUMNS


def _copy(value):
    return None if value is None else value[:PREFIX]


def of_image(image_id):
    """The copies for a new property or tag row of the image, each a select of its
    format that the insert itself reads."""
    return {copy: Image.select(peewee.fn.SUBSTR(getattr(Image, column), 1, PREFIX))
            .where(Image.id == image_id) for column, copy in COLUMNS.items()}


def of_values(values):
    """The copies of the formats that ``values`` (a write of the image's columns)
    sets, by copy column: those it does not set are left out."""
    return {copy: _copy(values[column]) for column, copy in COLUMNS.items()
            if column in values}


def of_new_image(values):
    """The copies for the rows of an image created with ``values``."""
    return of_values(dict(dict.fromkeys(COLUMNS), **values))


def follow(db, image_id, values):
    """Copy the formats that ``values``, just written to the image, sets onto its
    properties and tags."""
    copies = of_values(values)
    if not copies:
        return
    for model in child_status.CHILDREN:
        model.update(**copies).where(model.image == image_id).execute(db)


def copied(query):
    """The ``(column, values)`` filters of ``query.matches`` that the rows' copies
    hold (the status and the formats), with every status when ``query`` filters
    on a format but not on the status: the index holds the status before the
    formats, so it then seeks each pair of a status and a format rather than
    read every row of the tag or property (20,000 for a property on 2% of a
    million images)."""
    copied = [(column, values) for column, values in query.matches
              if column == 'status' or column in COLUMNS]
    if copied and 'status' not in dict(copied):
        copied.insert(0, ('status', vocabulary.IMAGE_STATUSES))
    return copied


def matching(model, column, values, bind):
    """The condition on ``model``'s copies that counts the rows of the images whose
    ``column`` (the status or a format) is one of ``values``."""
    if column == 'status':
        return model.image_status.in_(
            [bind(status) for status in child_status.matching(values)])
    return getattr(model, COLUMNS[column]).in_(
        [bind(_copy(value)) for value in values] + [bind(UNKNOWN)])


def repair_recent(db):
    """Copy each image's formats again onto its rows, for every image changed in
    the last ``child_status.REPAIR_WINDOW`` whose rows do not hold them; the number
    of images repaired (``child_status.repair``)."""
    def copy(image_id, image):
        follow(db, image_id, {column: getattr(image, column) for column in COLUMNS})
    return child_status.repair(
        db, stale_since(utcnow() - child_status.REPAIR_WINDOW),
        [getattr(Image, column) for column in COLUMNS], copy)


def stale_since(since):
    """The ids of the images changed since ``since`` whose rows do not hold their
    formats."""
    def stale(model):
        return functools.reduce(operator.or_, [
            _differs(getattr(model, copy),
                     peewee.fn.SUBSTR(getattr(Image, column), 1, PREFIX))
            for column, copy in COLUMNS.items()])
    return child_status.recent_images_with_rows(since, stale)


def _differs(one, other):
    """``one IS DISTINCT FROM other``, in SQL every backend takes."""
    return (one != other) | (one.is_null() != other.is_null())
