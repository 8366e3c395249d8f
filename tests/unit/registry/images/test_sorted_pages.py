"""A page after a marker, in any sort order, is the slice of the whole sorted list
that follows the marker: for sorts by a key many images share (read one level of
the keyset at a time, ``filters.pages_by_level``) and by keys that may be NULL
(compared as their plain column on MariaDB, ``filters._to_marker``), and in the
default order (read through the filters' indexes on MariaDB,
``filters.forced_indexes``, a list of values one value at a time,
``filters.values_apart``).

The catalogue is small and full of ties: few statuses, formats, names and sizes,
NULL formats, names and sizes, images created in the same instant. The whole list
is read as one page, without a marker; each later page must be its slice."""

import datetime
import random

import pytest

from glance_registry import db as db_module
from glance_registry.client import identity as identity_module
from glance_registry.client import list_params
from glance_registry.images import filters
from glance_registry.images import records
from glance_registry.images import statements
from glance_registry.images import writes
from glance_registry.models import Image
from tests.unit.registry.conftest import BACKEND_PARAMS
from tests.unit.registry.conftest import sync

ADMIN = identity_module.Identity('admin', None, is_admin=True)
PROJECTS = ('p1', 'p2')
CALLERS = (ADMIN, identity_module.Identity('u1', 'p1'))
SORTS = ('status:asc', 'status:desc', 'disk_format:asc', 'disk_format:desc',
         'container_format:asc', 'container_format:desc', 'size:asc', 'size:desc',
         'status:asc,name:desc', 'disk_format:desc,size:asc', 'size:desc,status:asc',
         'name:asc', 'created_at:asc', 'created_at:desc',
         'size:asc,disk_format:desc,name:asc', 'status:desc,created_at:asc,size:desc',
         'container_format:asc,name:desc,disk_format:asc,updated_at:asc')
FILTERS = ((), (('visibility', 'public'),), (('owner', 'p1'),),
           (('status', 'active'),), (('disk_format', 'raw'),), (('tag', 't1'),),
           # Lists of values (read one value at a time on MariaDB,
           # ``filters.values_apart``), a value twice among them.
           (('status', 'in:active,queued,killed'),), (('disk_format', 'in:raw,iso'),),
           (('status', 'in:active,active'),), (('status', 'in:queued,active'),
                                               ('owner', 'p2')))


def catalogue(db, rng, monkeypatch):
    base = datetime.datetime(2026, 3, 1, 12, 0, 0)
    for _ in range(80):
        instant = base + datetime.timedelta(seconds=rng.choice((0, 1)))
        monkeypatch.setattr(writes, 'utcnow', lambda: instant)
        owner = rng.choice(PROJECTS)
        values = {'owner': owner,
                  'visibility': rng.choice(('public', 'private', 'community')),
                  'disk_format': rng.choice((None, 'raw', 'raw', 'qcow2', 'iso')),
                  'container_format': rng.choice((None, 'bare', 'bare', 'ovf')),
                  'name': rng.choice((None, 'a', 'b'))}
        image = writes.create_image(db, identity_module.Identity('u', owner), values,
                                    tags=['t1'] if rng.random() < 0.5 else [])
        with db_module.write_transaction(db):
            Image.update(status=rng.choice(('queued', 'active', 'active', 'killed')),
                         size=rng.choice((None, None, 0, 5, 5, 2 ** 40))) \
                .where(Image.id == image['id']).execute(db)


def listed(db, caller, pairs, limit, marker=None):
    query = list_params.parse_list_params(
        list(pairs) + [('limit', str(limit))] + ([('marker', marker)] if marker else []))
    page, next_marker = records.list_images(db, caller, query)
    return [image['id'] for image in page], next_marker


@pytest.mark.parametrize('backend', BACKEND_PARAMS)
@pytest.mark.parametrize('levels', [True, False], ids=['by-level', 'one-keyset'])
def test_a_later_page_is_the_slice_of_the_sorted_list_after_its_marker(
        backend, levels, databases, monkeypatch):
    url = databases.create(backend)
    sync(url)
    db = db_module.open_database(url)
    rng = random.Random(16)
    # Both ways of reading a later page, on every backend (MariaDB reads one
    # keyset in production: its range optimizer splits the OR itself).
    monkeypatch.setattr(filters, 'pages_by_level', lambda sort, dialect: levels)
    statements.clear()
    try:
        with db_module.connection(db):
            catalogue(db, rng, monkeypatch)
            checked = 0
            # Each sort with a filter; the default order with each filter.
            cases = [(sort, rng.choice(FILTERS)) for sort in SORTS]
            cases += [('created_at:desc', each) for each in FILTERS]
            for sort, filtered in cases:
                for caller in CALLERS:
                    pairs = (('sort', sort),) + filtered
                    whole, none = listed(db, caller, pairs, 1000)
                    assert none is None and len(whole) > 5, pairs
                    for limit in (1, 3, 7):
                        start = rng.randrange(len(whole))
                        page, next_marker = listed(db, caller, pairs, limit, whole[start])
                        expected = whole[start + 1:start + 1 + limit]
                        assert page == expected, (pairs, limit, start)
                        assert next_marker == (expected[-1] if start + 1 + limit
                                               < len(whole) else None), (pairs, limit)
                        checked += 1
                    # Every page, one after the other, is the whole list.
                    pages, marker = [], None
                    while True:
                        page, marker = listed(db, caller, pairs, 4, marker)
                        pages += page
                        if marker is None:
                            break
                    assert pages == whole, pairs
            assert checked == len(cases) * len(CALLERS) * 3
    finally:
        statements.clear()
        db.close_all()


# Every key of the list API's sort, the shared one first.
LONG_SORT = ('status:asc,size:desc,disk_format:asc,container_format:desc,name:asc,'
             'updated_at:desc,created_at:asc,id:asc')


@pytest.mark.parametrize('backend', BACKEND_PARAMS[:2])
def test_a_later_page_of_a_sort_by_many_keys_reads_two_parts(backend, databases):
    """A later page of a sort by a shared key (``filters.pages_by_level``) is a
    UNION ALL of the rest of the marker's group and the groups after it, however
    many keys the sort has: PostgreSQL plans each part on its own with every
    filter of the list, and a part per key of the keyset made a page of this sort
    with 32 property filters take 2.8 s to plan (0.3 s as one keyset), for
    nothing: only the first key has an index of its own."""
    url = databases.create(backend)
    sync(url)
    db = db_module.open_database(url)
    statements.clear()
    try:
        with db_module.connection(db):
            image = writes.create_image(db, ADMIN, {'owner': 'p1'})
            query = list_params.parse_list_params(
                [('sort', LONG_SORT), ('limit', '3'), ('marker', image['id'])]
                + [('k%d' % n, 'v') for n in range(31)])
            sql, _ = records.page_statement(db, ADMIN, query, None,
                                            records._marker(db, ADMIN, query))
            assert sql.count('UNION ALL') == 1, sql
            assert records.list_images(db, ADMIN, query) == ([], None)
    finally:
        statements.clear()
        db.close_all()
