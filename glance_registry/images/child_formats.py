"""The image's disk and container formats, copied onto each of its property and tag
rows.

Lists filtered by a format and by a property or tag count the images matching both
from one index (``filters.narrowing_filters``; migration 21): without the copies,
``disk_format=qcow2`` and a property that only raw images have walked every image
of the property testing its format. The copies follow
``child_copies``' rules (kept by every write, never stale, ``UNKNOWN`` on rows an
earlier release wrote, which every format filter counts), and hold a format's
first ``PREFIX`` characters (migration 21: MariaDB's index key).
"""

from glance_registry.client import vocabulary
from glance_registry.images import child_copies
from glance_registry.images import child_status
from glance_registry.migrations import m0021_child_formats

UNKNOWN = child_copies.UNKNOWN
PREFIX = m0021_child_formats.PREFIX
#: Each copied column of the images, as its copy on the property and tag rows.
COLUMNS = m0021_child_formats.COLUMNS

#: Writing and repairing the copies (``child_copies``).
COPIES = child_copies.Copies(COLUMNS, PREFIX)


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
        [bind(COPIES.copy(value)) for value in values] + [bind(UNKNOWN)])
