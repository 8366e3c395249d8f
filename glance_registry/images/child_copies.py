"""Columns of an image copied onto each of its property and tag rows, so that one
index of the rows counts the images matching a tag or property together with
those columns (``child_formats``: the formats; ``child_access``: the owner and
visibility).

A copy is a list's upper bound, so it is never stale: every write of a copied
column calls ``follow``, and every insert of a property or tag takes the copies
from ``of_image`` (or ``of_values`` of what the caller writes), in the
transaction that holds the image's row lock (every write takes it first). A copy
holds the column's first ``prefix`` characters (a MariaDB index key is bounded),
NULL where the image's is NULL, and ``UNKNOWN`` ('', the copy column's default)
on rows that a registry of the release before writes while it still runs after
``db sync`` (a rolling upgrade): the lists count such rows as matching any value.
Such a registry also changes the columns without copying them; ``repair_recent``,
run when a registry starts, copies them again, as ``child_status.repair_recent``
does the status.
"""

import functools
import operator

import peewee

from glance_registry.images import child_status
from glance_registry.models import Image
from glance_registry.models import utcnow

UNKNOWN = ''


class Copies:
    """The copies of the images' ``columns`` (``{column: copy column}``), each of
    the first ``prefix`` characters."""

    def __init__(self, columns, prefix):
        self.columns = dict(columns)
        self.prefix = prefix

    def copy(self, value):
        """The copy of a column's ``value``."""
        return None if value is None else value[:self.prefix]

    def of_image(self, image_id):
        """The copies for a new property or tag row of the image, each a select of
        its column that the insert itself reads."""
        return {copy: Image.select(peewee.fn.SUBSTR(getattr(Image, column), 1,
                                                    self.prefix))
                .where(Image.id == image_id) for column, copy in self.columns.items()}

    def of_values(self, values):
        """The copies of the columns that ``values`` (a write of the image's
        columns) sets, by copy column: those it does not set are left out."""
        return {copy: self.copy(values[column])
                for column, copy in self.columns.items() if column in values}

    def of_new_image(self, values):
        """The copies for the rows of an image created with ``values`` (the
        columns' defaults where it sets none)."""
        return self.of_values(dict({column: getattr(Image, column).default
                                    for column in self.columns}, **values))

    def follow(self, db, image_id, values):
        """Copy the columns onto the image's properties and tags when ``values``,
        just written to the image, sets one of them: all of them, those it does
        not set read from the image, so that a row an earlier release wrote
        holds either none of its copies or all (``child_access.bounds`` pairs
        the visibility with the owner)."""
        written = self.of_values(values)
        if not written:
            return
        copies = dict(self.of_image(image_id), **written)
        for model in child_status.CHILDREN:
            model.update(**copies).where(model.image == image_id).execute(db)

    def repair_recent(self, db):
        """Copy each image's columns again onto its rows, for every image changed
        in the last ``child_status.REPAIR_WINDOW`` whose rows do not hold them;
        the number of images repaired (``child_status.repair``)."""
        def copy(image_id, image):
            self.follow(db, image_id, {column: getattr(image, column)
                                       for column in self.columns})
        return child_status.repair(
            db, self.stale_since(utcnow() - child_status.REPAIR_WINDOW),
            [getattr(Image, column) for column in self.columns], copy)

    def stale_since(self, since):
        """The ids of the images changed since ``since`` whose rows do not hold
        their columns."""
        def stale(model):
            return functools.reduce(operator.or_, [
                _differs(getattr(model, copy),
                         peewee.fn.SUBSTR(getattr(Image, column), 1, self.prefix))
                for column, copy in self.columns.items()])
        return child_status.recent_images_with_rows(since, stale)


def _differs(one, other):
    """``one IS DISTINCT FROM other``, in SQL every backend takes."""
    return (one != other) | (one.is_null() != other.is_null())
