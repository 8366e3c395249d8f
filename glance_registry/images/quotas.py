"""Limits the caller passes, checked inside the write that could exceed them; usage.

The API owns quota configuration and sends the limits with each write (``quota`` in
a body, ``max_members``, ``max_tags``, ``max_storage``); the registry checks them in
the same transaction as the write, so two racing requests can never both squeeze
under a limit. A negative or absent limit is unlimited. A limit refuses a write that
would take a count over it with ``errors.TooLarge`` (413), whose ``limit`` detail
names it.

Per-image limits (properties, tags, members) need nothing more: every write locks
its image row first. Per-project limits (images, uploads, storage) count rows of many
images, so such a writer first locks its project's row in ``project_locks``
(``lock_project``); SQLite's ``BEGIN IMMEDIATE`` already serialises all writers.

A project's usage is counted over its images, not kept in counters that could drift:
``project_usage`` is one query on the ``owner`` index.

An upload whose lease has run out (its worker died, its client stalled) counts
neither its reservation nor its place among the uploads in progress: a dead upload
must not hold its project's quota until someone deletes or re-uploads its image
(upstream's would). Nothing can bring it back into the counts unchecked: the
upload that let its lease run out may no longer renew, reserve nor publish
(``writes``, ``lease_expired``), and a new upload that takes the image over starts
afresh, counted and checked as any other start.
"""

import dataclasses

import peewee

from glance_registry import db as db_module
from glance_registry.client import errors
from glance_registry.models import Image
from glance_registry.models import ImageLocation
from glance_registry.models import ProjectLock

# Statuses in which an image counts as uploading (upstream's image_count_uploading).
MiB = 1024 * 1024
UPLOADING_STATUSES = ('saving', 'uploading')
#: The status of a location holding an import's staged data.
STAGED = 'staged'


def limited(limit):
    """Whether ``limit`` limits anything (None and negative numbers do not)."""
    return limit is not None and limit >= 0


def check(name, limit, before, after, what):
    """``errors.TooLarge`` if this write takes a count over ``limit``.

    ``before`` and ``after`` are the counts without and with the write. A write that
    does not grow the count passes even over the limit: an operator lowering a quota
    must not stop projects from renaming images or removing what is too much.
    """
    if limited(limit) and after > limit and after > before:
        raise errors.TooLarge('%s: %s is %d, this request would make it %d'
                              % (what, name, limit, after), reason='over_limit',
                              limit=name, maximum=limit)


def naming_owner(owner, of_project, without_owner):
    """A quota message about the images of ``owner``: ``of_project`` (with a
    ``%s`` for the project id), or ``without_owner`` when there is none. The
    anonymous admin of a noauth deployment has no project and creates images
    without an owner, which share one quota ("project None" meant nothing).
    Upstream has no wording for it: its project limits need Keystone, where every
    caller has a project."""
    return of_project % owner if owner else without_owner


def storage_exceeded(owner):
    """The message of a write over ``owner``'s storage quota."""
    return naming_owner(owner, 'Storage quota of project %s exceeded (bytes)',
                        'Storage quota of the images without an owner exceeded '
                        '(bytes)')


def check_stage(limit, staged, project_id):
    """``errors.TooLarge`` if a project whose staged data is ``staged`` bytes may
    not start another stage under ``limit`` MiB. As upstream (unified limits with no
    delta: a stage's size is not known before its bytes), a stage starts while the
    staged data, in whole MiB, is not over the limit; a stage may then take it over,
    and the next one is refused."""
    if limited(limit) and staged // MiB > limit:
        over = naming_owner(project_id, 'Project %s is over its',
                            'The images without an owner are over their')
        raise errors.TooLarge('%s limit of staged data: image_stage_total is %d '
                              'MiB, %d MiB is staged'
                              % (over, limit, staged // MiB),
                              reason='over_limit', limit='max_stage', maximum=limit)


def lock_project(db, project_id):
    """Lock ``project_id``'s row until the transaction ends (creating the row).

    Call it inside a write transaction, after locking any image row (one order for
    every writer, so they cannot deadlock) and before reading what the limit counts:
    on MariaDB the first plain read fixes the transaction's snapshot.
    """
    kind = db_module.dialect(db)
    if kind == 'sqlite':
        return
    # Images without an owner share one lock; no project id is empty.
    insert = ProjectLock.insert(project_id=project_id or '')
    if kind == 'postgresql':
        # ON CONFLICT DO UPDATE locks the existing row; a concurrent inserter of a
        # new row waits for us to commit, then locks it.
        insert = insert.on_conflict(conflict_target=[ProjectLock.project_id],
                                    preserve=[ProjectLock.project_id])
    else:
        # ON DUPLICATE KEY UPDATE takes an exclusive lock on the existing row at once
        # (INSERT IGNORE would take a shared one, and two upgrades deadlock).
        insert = insert.on_conflict(preserve=[ProjectLock.project_id])
    insert.execute(db)


@dataclasses.dataclass(frozen=True)
class Usage:
    """What a project uses, under upstream's unified-limit resource names."""

    image_size_total: int
    image_count_total: int
    image_count_uploading: int
    #: Bytes of staged import data (``PUT /stage``) waiting for their import.
    image_stage_total: int

    def to_dict(self):
        return dataclasses.asdict(self)


def project_usage(db, project_id, now=None):
    """The ``Usage`` of the project owning images with ``owner`` = ``project_id``.

    Storage counts each non-deleted image's ``size`` once per active location (the
    bytes really stored), plus the bytes reserved by uploads in progress. An upload
    whose lease has run out by ``now`` (default: the database's clock as the query
    runs) counts neither its reservation nor as uploading; one without a lease
    (started before leases existed) counts until it ends. A write passes the
    ``now`` it judged its image's lease by, so that both judge it alike.
    """
    active_locations = (ImageLocation.select(peewee.fn.COUNT(peewee.SQL('*')))
                        .where((ImageLocation.image == Image.id)
                               & (ImageLocation.status == 'active')))
    live = (Image.upload_lease_expires_at.is_null()
            | (Image.upload_lease_expires_at
               > (db_module.now_sql(db) if now is None else now)))
    uploading = peewee.Case(None, [(Image.status.in_(UPLOADING_STATUSES) & live,
                                    1)], 0)
    counted_reservation = peewee.Case(None, [(live, Image.reserved)], 0)
    staged_locations = (ImageLocation.select(peewee.fn.COUNT(peewee.SQL('*')))
                        .where((ImageLocation.image == Image.id)
                               & (ImageLocation.status == STAGED)))
    owner = (Image.owner.is_null() if project_id is None
             else Image.owner == project_id)
    count, uploads, stored, reserved, staged = (
        Image.select(peewee.fn.COUNT(Image.id), peewee.fn.SUM(uploading),
                     peewee.fn.SUM(peewee.fn.COALESCE(Image.size, 0)
                                   * active_locations),
                     peewee.fn.SUM(counted_reservation),
                     peewee.fn.SUM(peewee.fn.COALESCE(Image.size, 0)
                                   * staged_locations))
        .where(owner & (Image.deleted == False))  # noqa: E712
        .tuples().get(db))
    # SUM is NULL over no rows, and a DECIMAL on PostgreSQL and MariaDB.
    return Usage(image_size_total=int(stored or 0) + int(reserved or 0),
                 image_count_total=int(count or 0),
                 image_count_uploading=int(uploads or 0),
                 image_stage_total=int(staged or 0))


def usage(db, identity, project_id=None):
    """The ``Usage`` of ``project_id`` (default: the caller's project).

    ``Forbidden`` unless the caller is an admin or asks for its own project;
    ``BadRequest`` if there is no project to count.
    """
    if project_id is None:
        project_id = identity.project_id
        if project_id is None:
            raise errors.BadRequest('The caller has no project: give project_id',
                                    reason='no_project')
    elif project_id != identity.project_id and not identity.is_admin:
        raise errors.Forbidden("Only an admin may read another project's usage",
                               reason='admin_only', project_id=project_id)
    with db_module.read_transaction(db):
        return project_usage(db, project_id)


class StorageCheck:
    """Whether a write that stores data takes its owner's storage usage over
    ``max_storage``: built before the write (it locks the owner's row and counts),
    ``check()``-ed after it, in the same transaction. Both counts judge upload
    leases at one time (``now``, default: the database's clock when it is built),
    so that a lease running out in between cannot pass for freed storage."""

    def __init__(self, db, owner, max_storage, now=None):
        self.db = db
        self.owner = owner
        self.limit = max_storage
        self.before = None
        if limited(max_storage):
            lock_project(db, owner)
            self.now = now or db_module.now(db)
            self.before = project_usage(db, owner, self.now).image_size_total

    def check(self):
        """``errors.TooLarge`` if the usage grew over the limit."""
        if self.before is None:
            return
        after = project_usage(self.db, self.owner, self.now).image_size_total
        check('max_storage', self.limit, self.before, after,
              storage_exceeded(self.owner))
