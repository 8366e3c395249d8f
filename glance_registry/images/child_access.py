"""The image's owner and visibility, copied onto each of its property and tag rows.

A list counts the rows of each of its tags and properties whose image it may show
by these copies, from one index (``filters.narrowing_filters``; migration 22):
without them a property on a tenth of a million images, paired with an owner or
with a project's own private images that have none of it, walked every image of
the property testing its owner and visibility. The copies follow
``child_copies``' rules (kept by every write, never stale, ``UNKNOWN`` on rows an
earlier release wrote, which every list counts), and hold an owner's first
``PREFIX`` characters.
"""

from glance_registry.images import child_copies
from glance_registry.migrations import m0022_child_access

UNKNOWN = child_copies.UNKNOWN
PREFIX = m0022_child_access.PREFIX
#: Each copied column of the images, as its copy on the property and tag rows.
COLUMNS = m0022_child_access.COLUMNS

#: Writing and repairing the copies (``child_copies``).
COPIES = child_copies.Copies(COLUMNS, PREFIX)

VISIBILITIES = ('public', 'private', 'shared', 'community')


def bounds(query, identity):
    """The rows of the images a list of ``query`` by ``identity`` may show, by
    their copies, as ``(visibilities, owners)`` pairs: the rows whose visibility
    is one of ``visibilities`` and owner one of ``owners`` (any owner when None).
    An upper bound (``filters._listed_for`` is exact): shared images are counted
    whoever they are shared with, and ``UNKNOWN`` rows always (an owner copied
    where the visibility is not, or the reverse, counts as either).

    None without an owner or a visibility filter: the bounds would then hold
    about every row (public and shared images of any owner), and counting them
    would only add reads to the commonest lists (a project's property or tag:
    0.3 -> 0.5 ms a count of up to 1,000 rows each). A project's few images in
    a cloud with few public ones are read first without them
    (``filters.listable``)."""
    owners = dict(query.matches).get('owner')
    admin = identity is None or identity.is_admin
    project = identity.project_id if identity is not None else None
    if owners is None and query.visibility in (None, 'all'):
        return None
    listed = (VISIBILITIES if query.visibility in (None, 'all')
              else (query.visibility,))
    if admin:
        # Without a visibility filter, only the caller's own community images.
        anyone = [visibility for visibility in listed
                  if visibility != 'community' or query.visibility is not None]
    else:
        anyone = [visibility for visibility in listed
                  if visibility in ('public', 'shared')
                  or (visibility == 'community' and query.visibility is not None)]
    own = [visibility for visibility in listed if visibility not in anyone]
    copied_owners = owners and [COPIES.copy(owner) for owner in owners]
    pairs = [(anyone + [UNKNOWN], copied_owners and copied_owners + [UNKNOWN])]
    if own and project and (owners is None or project in owners):
        pairs.append((own, [COPIES.copy(project), UNKNOWN]))
    return pairs


def shape(query, identity):
    """What of ``bounds`` a list's SQL text depends on: the number of
    visibilities and owners of each pair (which of the caller's own images an
    owner filter leaves depends on the values compared)."""
    pairs = bounds(query, identity)
    return pairs and tuple((len(visibilities), owners and len(owners))
                           for visibilities, owners in pairs)


def matching(model, visibilities, owners, bind):
    """The condition on ``model``'s copies of one of ``bounds``' pairs."""
    condition = model.image_visibility.in_([bind(value) for value in visibilities])
    if owners is not None:
        condition &= model.image_owner.in_([bind(owner) for owner in owners])
    return condition
