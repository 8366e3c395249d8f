"""Purging soft-deleted rows: ``glance-manage db purge`` and ``db purge_images_table``.

A deleted image keeps its row, and the rows hanging off it (properties, tags,
locations, members), until an operator purges them. ``purge`` removes the rows
hanging off images deleted more than ``age_in_days`` ago, and deleted tasks;
``purge_images_table`` removes the image rows themselves, recording each id in
``purged_images`` in the same transaction so that no new image can ever take it.
Images still ``pending_delete`` (their data not yet scrubbed, and restorable) are
never touched, nor are deleted images whose data was never confirmed removed from
the stores (their ``pending_delete`` locations: ``images.scrubbing``): the sweep
needs their locations to find the data.

Rows go in batches of at most ``BATCH_ROWS``, one short transaction each, so a purge
of millions of rows neither holds locks for long nor grows one huge transaction;
``report`` is told after every batch. ``max_rows`` bounds the rows removed from each
table (-1: no bound), as upstream's.
"""

import dataclasses
import datetime

from glance_registry import db as db_module
from glance_registry.client import vocabulary
from glance_registry.models import Image
from glance_registry.models import ImageLocation
from glance_registry.models import ImageMember
from glance_registry.models import ImageProperty
from glance_registry.models import ImageTag
from glance_registry.models import PurgedImage
from glance_registry.models import Task
from glance_registry.models import utcnow

#: Rows removed per transaction.
BATCH_ROWS = 1000

_CHILD_MODELS = (ImageProperty, ImageTag, ImageLocation, ImageMember)


@dataclasses.dataclass
class Progress:
    """Where a purge is: ``purged`` rows of ``table`` so far."""

    table: str
    purged: int
    done: bool


def cutoff(age_in_days, now=None):
    """The time before which deletions are old enough to purge."""
    return (now or utcnow()) - datetime.timedelta(days=age_in_days)


def _purgeable_images(before):
    # 'deleted' only: a pending_delete image keeps its data and may be restored;
    # and only once its data is gone.
    return (Image.select(Image.id)
            .where((Image.deleted == True) & (Image.status == 'deleted')  # noqa: E712
                   & (Image.deleted_at < before)
                   & Image.id.not_in(
                       ImageLocation.select(ImageLocation.image)
                       .where(ImageLocation.status == vocabulary.DATA_TO_REMOVE))))


def purge(db, age_in_days, max_rows, report=lambda progress: None,
          batch=BATCH_ROWS):
    """Remove the rows hanging off images deleted more than ``age_in_days`` ago, and
    tasks deleted that long ago: at most ``max_rows`` per table (-1: all).

    Returns ``{table: rows removed}``.
    """
    before = cutoff(age_in_days)
    counts = {}
    for model in _CHILD_MODELS:
        counts[model._meta.table_name] = _purge_table(
            db, model, lambda: model.image.in_(_purgeable_images(before)), max_rows,
            report, batch)
    counts[Task._meta.table_name] = _purge_table(
        db, Task, lambda: (Task.deleted == True) & (Task.deleted_at < before),  # noqa: E712
        max_rows, report, batch)
    return counts


def _purge_table(db, model, condition, max_rows, report, batch):
    key = model._meta.primary_key

    def take(size):
        # The ids first: MariaDB refuses a LIMIT inside DELETE ... IN (SELECT).
        ids = [row_id for row_id, in model.select(key).where(condition())
               .order_by(key).limit(size).tuples().execute(db)]
        if ids:
            model.delete().where(key.in_(ids)).execute(db)
        return len(ids)

    return _in_batches(db, model._meta.table_name, take, max_rows, report, batch)


def purge_images_table(db, age_in_days, max_rows, report=lambda progress: None,
                       batch=BATCH_ROWS):
    """Remove the rows of images deleted more than ``age_in_days`` ago (and what
    hangs off them): at most ``max_rows`` (-1: all). Each id goes to
    ``purged_images`` in the transaction that removes its row. Returns the count."""
    before = cutoff(age_in_days)

    def take(size):
        ids = [image_id for image_id, in _purgeable_images(before)
               .order_by(Image.id).limit(size).tuples().execute(db)]
        if ids:
            now = utcnow()
            (PurgedImage.insert_many([{'id': image_id, 'purged_at': now}
                                      for image_id in ids])
             .on_conflict_ignore().execute(db))
            for model in _CHILD_MODELS:
                model.delete().where(model.image.in_(ids)).execute(db)
            Image.delete().where(Image.id.in_(ids)).execute(db)
        return len(ids)

    return _in_batches(db, Image._meta.table_name, take, max_rows, report, batch)


def _in_batches(db, table, take, max_rows, report, batch):
    """Call ``take(size)`` (which removes at most ``size`` rows of ``table`` and
    says how many) in one write transaction per batch, until it finds fewer than
    asked or ``max_rows`` are gone; the rows removed."""
    purged = 0
    while max_rows < 0 or purged < max_rows:
        size = batch if max_rows < 0 else min(batch, max_rows - purged)
        with db_module.connection(db), db_module.write_transaction(db):
            taken = take(size)
        purged += taken
        if taken < size:
            break
        report(Progress(table, purged, False))
    report(Progress(table, purged, True))
    return purged
