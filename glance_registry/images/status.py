"""The image status state machine, as one table.

The table is upstream Glance's ``Image.valid_state_targets`` (glance/domain); the
registry enforces it with a compare-and-swap in the database (``writes.transition``),
so two callers racing for the same transition cannot both win.
"""

from glance_registry.client import errors
from glance_registry.client import vocabulary

ALLOWED = {
    'queued': frozenset(['saving', 'uploading', 'importing', 'active', 'deleted']),
    # A failed upload returns the image to queued (API v2).
    'saving': frozenset(['active', 'killed', 'deleted', 'queued']),
    # Staged data; a failed stage returns to queued.
    'uploading': frozenset(['importing', 'queued', 'deleted']),
    'importing': frozenset(['active', 'deleted', 'queued']),
    'active': frozenset(['pending_delete', 'deleted', 'deactivated']),
    'deactivated': frozenset(['active', 'deleted']),
    # v1-era; kept so such rows can still be deleted.
    'killed': frozenset(['deleted']),
    # Delayed delete (upstream's scrubber): the data is purged later, or the image
    # restored.
    'pending_delete': frozenset(['deleted', 'active']),
    'deleted': frozenset(),
}

STATUSES = frozenset(vocabulary.IMAGE_STATUSES)

# Upstream refuses to take data (or to activate) before it knows what the data is.
NEEDS_FORMATS = frozenset(['saving', 'active', 'importing'])


def can_transition(from_status, to_status):
    """Whether the table allows ``from_status -> to_status``."""
    return to_status in ALLOWED.get(from_status, ())


def check_transition(from_status, to_status, **details):
    """Raise ``errors.Conflict`` unless the table allows ``from_status -> to_status``.

    ``details`` (e.g. ``current_status``) go into the error body.
    """
    if not can_transition(from_status, to_status):
        raise errors.Conflict("Image status cannot change from '%s' to '%s'"
                              % (from_status, to_status), reason='invalid_transition',
                              **details)


def missing_formats(to_status, disk_format, container_format):
    """The format attributes that must be set before moving to ``to_status``."""
    if to_status not in NEEDS_FORMATS:
        return []
    return [name for name, value in (('disk_format', disk_format),
                                     ('container_format', container_format))
            if not value]
