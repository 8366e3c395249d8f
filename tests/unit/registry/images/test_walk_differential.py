"""A list that walks a tag's or property's own index (``filters.walked_filter``)
answers exactly what the same list walking the images answers: every page, for
every caller, filter combination and marker.

The catalogue is small, and ``filters.DRIVE_LIMIT`` lowered so that its filters
count as broad ones: the lists walk a tag's or property's index, walk the images
(a column filter, such as a few ids, matches fewer), or answer nothing at once (a
filter matches no image), as a large catalogue's would."""

import datetime
import random

import pytest

from glance_registry import db as db_module
from glance_registry.client import errors
from glance_registry.client import identity as identity_module
from glance_registry.client import list_params
from glance_registry.images import child_status
from glance_registry.images import filters
from glance_registry.images import members
from glance_registry.images import records
from glance_registry.images import statements
from glance_registry.images import writes
from glance_registry.models import Image
from tests.unit.registry.conftest import BACKEND_PARAMS
from tests.unit.registry.conftest import sync

ADMIN = identity_module.Identity('admin', None, is_admin=True)
PROJECTS = ('p1', 'p2', 'p3')
CALLERS = (ADMIN, identity_module.Identity('u1', 'p1'),
           identity_module.Identity('u2', 'p2'), identity_module.Identity(None, None))
LONG = 'x' * 255
LONG_VALUES = (LONG, LONG + 'a', LONG + 'b', LONG[:254])


def catalogue(db, rng, monkeypatch):
    """Images of every visibility, owner, status, hidden or deleted, shared with
    members of every status, many created in the same instant, with tags and
    properties (long ones sharing their first 255 characters)."""
    base = datetime.datetime(2026, 3, 1, 12, 0, 0)
    instants = [base + datetime.timedelta(seconds=rng.choice((0, 1, 2)),
                                          microseconds=rng.choice((0, 0, 5, 500000)))
                for _ in range(90)]
    ids = []
    for n, instant in enumerate(instants):
        owner = rng.choice(PROJECTS)
        visibility = rng.choice(('public', 'private', 'shared', 'community'))
        values = {'disk_format': rng.choice(('raw', 'qcow2')),
                  'container_format': 'bare', 'owner': owner, 'visibility': visibility,
                  'os_hidden': rng.random() < 0.15,
                  'name': rng.choice(('a', 'b', None))}
        if rng.random() < 0.5:
            # Upper and lower case ids among those of the same instant.
            values['id'] = '%08x-0000-4000-8000-%012d' % (rng.randrange(16 ** 8), n)
            if rng.random() < 0.5:
                values['id'] = values['id'].upper()
        tags = [tag for tag in ('t1', 't2', 't3') if rng.random() < 0.6]
        properties = {name: rng.choice(choices) for name, choices in (
            ('k', ('v', 'w')), ('long', LONG_VALUES), ('k2', ('v', 'y')))
            if rng.random() < 0.7}
        monkeypatch.setattr(writes, 'utcnow', lambda: instant)
        identity = identity_module.Identity('u', owner)
        image = writes.create_image(db, identity, values, properties=properties,
                                    tags=tags if rng.random() < 0.8 else ())
        ids.append(image['id'])
        if rng.random() < 0.3:
            writes.add_tag(db, identity, image['id'], rng.choice(('t1', 't2', 't3')))
        if rng.random() < 0.3:
            writes.update_image(db, identity, image['id'], properties={
                'k': rng.choice(('v', 'w')), 'long': rng.choice(LONG_VALUES)})
        if rng.random() < 0.3:
            # The formats change after the rows were written (their copies follow).
            writes.update_image(db, identity, image['id'], values={
                'disk_format': rng.choice(('raw', 'qcow2', None)),
                'container_format': rng.choice(('bare', 'ovf'))})
        if visibility == 'shared':
            for member in PROJECTS:
                if member != owner and rng.random() < 0.7:
                    members.add_member(db, identity, image['id'], member)
                    status = rng.choice(('pending', 'accepted', 'rejected'))
                    if status != 'pending':
                        members.update_member(db, identity_module.Identity('m', member),
                                              image['id'], member, status)
        if rng.random() < 0.3:
            # The owner or visibility changes after the rows were written (their
            # copies follow).
            writes.update_image(db, ADMIN, image['id'], values=rng.choice((
                {'owner': rng.choice(PROJECTS)},
                {'visibility': rng.choice(('public', 'private', 'shared',
                                           'community'))})))
        status = rng.choice(('queued', 'active', 'active', 'deactivated'))
        if status != 'queued':
            with db_module.write_transaction(db):
                Image.update(status=status).where(Image.id == image['id']).execute(db)
                child_status.follow(db, image['id'], status)
        if rng.random() < 0.1:
            writes.delete_image(db, ADMIN, image['id'])
    return ids


def seeded(backend, databases, monkeypatch, seed):
    """A new database of ``backend`` holding a ``catalogue`` drawn with ``seed``:
    ``(db, ids, rng)``, ``rng`` as the catalogue left it."""
    url = databases.create(backend)
    sync(url)
    db = db_module.open_database(url)
    rng = random.Random(seed)
    with db_module.connection(db):
        ids = catalogue(db, rng, monkeypatch)
    monkeypatch.undo()
    return db, ids, rng


def random_query(rng, ids):
    pairs = []
    for tag in rng.sample(('t1', 't2', 't3', 'none'), rng.choice((0, 1, 1, 2))):
        pairs.append(('tag', tag))
    for name, choices in (('k', ('v', 'w')), ('long', LONG_VALUES), ('k2', ('v', 'y'))):
        if rng.random() < 0.35:
            pairs.append((name, rng.choice(choices)))
    if not pairs:
        pairs.append(('tag', 't1') if rng.random() < 0.5 else ('k', 'v'))
    if rng.random() < 0.05:
        pairs.append(pairs[0])   # the same filter twice
    options = [
        ('status', ('active', 'queued', 'in:active,deactivated', 'killed')),
        ('disk_format', ('raw', 'qcow2', 'in:raw,qcow2', 'iso')),
        ('container_format', ('bare', 'ovf', 'in:bare,ovf')),
        ('name', ('a', 'b', 'in:a,b')),
        ('owner', PROJECTS),
        ('visibility', ('public', 'private', 'shared', 'community', 'all')),
        ('member_status', ('pending', 'accepted', 'rejected', 'all')),
        ('os_hidden', ('true', 'false')),
    ]
    for key, choices in options:
        if rng.random() < 0.2:
            pairs.append((key, rng.choice(choices)))
    if rng.random() < 0.15:
        # Fewer ids than DRIVE_LIMIT make the list walk the images instead.
        pairs.append(('id', 'in:' + ','.join(rng.sample(ids, rng.choice((1, 2, 12))))))
    rng.shuffle(pairs)
    return pairs


def pages(db, caller, pairs, limit, marker):
    """Every page from ``marker`` on, or the error the first page gives (a marker
    deleted or not visible to ``caller``)."""
    seen = []
    while True:
        query = list_params.parse_list_params(
            pairs + [('limit', str(limit))] + ([('marker', marker)] if marker else []))
        try:
            page, marker = records.list_images(db, caller, query)
        except errors.BadRequest as exc:
            return seen + [('error', exc.reason)]
        seen.append([image['id'] for image in page])
        if marker is None:
            return seen


def answers(db, cases):
    plans = []
    results = []
    with db_module.connection(db):
        for caller, pairs, limit, marker in cases:
            query = list_params.parse_list_params(pairs + [('limit', str(limit))])
            plans.append(records.narrowest_filter(db, query, caller))
            results.append(pages(db, caller, pairs, limit, marker))
    return plans, results


@pytest.mark.parametrize('backend', BACKEND_PARAMS)
def test_a_walk_of_a_tags_or_propertys_index_lists_what_the_images_walk_lists(
        backend, databases, monkeypatch):
    db, ids, rng = seeded(backend, databases, monkeypatch, 20)
    try:
        cases = []
        for _ in range(300):
            marker = rng.choice(ids) if rng.random() < 0.3 else None
            cases.append((rng.choice(CALLERS), random_query(rng, ids),
                          rng.choice((1, 2, 3, 7, 100)), marker))
        # Tag and property filters match more images than this (or none at all).
        monkeypatch.setattr(filters, 'DRIVE_LIMIT', 3)
        statements.clear()
        plans, walked = answers(db, cases)
        statements.clear()
        monkeypatch.setattr(filters, 'walkable', lambda query: False)
        _, by_images = answers(db, cases)
        assert plans.count(records.WALK) > 100 and None in plans
        assert sum(len(listed) > 2 for listed in walked) > 30
        for case, plan, one, other in zip(cases, plans, walked, by_images):
            assert one == other, (case, plan)
    finally:
        statements.clear()
        db.close_all()


@pytest.mark.parametrize('backend', BACKEND_PARAMS)
def test_a_list_counted_from_the_rows_copies_lists_what_the_images_alone_list(
        backend, databases, monkeypatch):
    """The copies of the image's status, formats, owner and visibility on its tag
    and property rows (``child_status``, ``child_formats``, ``child_access``) are
    only an upper bound: a list that counts its filters from them (answering
    nothing at once, reading a few matches, or walking a tag's or property's
    index) lists what the same list answers from the images' own columns alone,
    after they changed under rows already written."""
    db, ids, rng = seeded(backend, databases, monkeypatch, 21)
    try:
        cases = [(rng.choice(CALLERS), random_query(rng, ids),
                  rng.choice((1, 3, 100)), None) for _ in range(300)]
        monkeypatch.setattr(filters, 'DRIVE_LIMIT', 12)
        statements.clear()
        plans, counted = answers(db, cases)
        statements.clear()
        monkeypatch.setattr(filters, 'walkable', lambda query: False)
        monkeypatch.setattr(filters, 'narrowing_filters',
                            lambda query, dialect=None, bind=None, identity=None,
                            limit=None: [])
        _, by_images = answers(db, cases)
        assert plans.count(records.MATCHES_NOTHING) > 30
        assert sum(isinstance(plan, int) for plan in plans) > 10   # driven
        with db_module.connection(db):
            kinds = [filters.narrowing_kinds(list_params.parse_list_params(pairs),
                                             caller)
                     for caller, pairs, _, _ in cases]
        # Driven by a tag's or property's images the caller may list.
        assert sum(isinstance(plan, int) and kind[plan] == 'accessible'
                   for plan, kind in zip(plans, kinds)) > 10
        for case, plan, one, other in zip(cases, plans, counted, by_images):
            assert one == other, (case, plan)
    finally:
        statements.clear()
        db.close_all()


@pytest.mark.parametrize('backend', BACKEND_PARAMS)
def test_a_list_driven_by_the_images_its_caller_may_list_lists_what_it_lists_otherwise(
        backend, databases, monkeypatch):
    """A caller who is not an admin may list only their project's images, public
    and community ones and those shared with them (``filters.listable``): a list
    that reads that set first when it is small (or answers nothing at once when
    it is empty) lists what the same list answers without it, with and without
    tag and property filters, for a project that owns images and one that owns
    none."""
    db, ids, rng = seeded(backend, databases, monkeypatch, 22)
    stranger = identity_module.Identity('u4', 'p4')   # owns nothing, shared nothing
    try:
        cases = []
        for _ in range(300):
            pairs = random_query(rng, ids)
            if rng.random() < 0.6:
                pairs = [(key, value) for key, value in pairs
                         if key not in ('tag', 'k', 'long', 'k2')]
            marker = rng.choice(ids) if rng.random() < 0.2 else None
            cases.append((rng.choice(CALLERS[1:] + (stranger,)), pairs,
                          rng.choice((1, 3, 100)), marker))
        # More than a project's own, public and shared images together.
        monkeypatch.setattr(filters, 'DRIVE_LIMIT', 80)
        statements.clear()
        plans, driven = answers(db, cases)
        statements.clear()
        monkeypatch.setattr(filters, 'listable', lambda query, identity, bind, limit: (
            Image.select(Image.id)))
        _, otherwise = answers(db, cases)
        with db_module.connection(db):
            positions = [filters.listable_position(
                list_params.parse_list_params(pairs), caller)
                for caller, pairs, _, _ in cases]
        by_listable = [plan == position for plan, position in zip(plans, positions)]
        assert sum(by_listable) > 30
        assert plans.count(records.MATCHES_NOTHING) > 10
        assert sum(len(listed) > 2 for listed in driven) > 30
        for case, plan, one, other in zip(cases, plans, driven, otherwise):
            assert one == other, (case, plan)
    finally:
        statements.clear()
        db.close_all()
