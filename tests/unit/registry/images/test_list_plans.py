"""Every list filter and sort reads an index, never the whole table, on every backend.

The plans are those of the list's page query (``records.list_images``), over a
catalogue loaded in bulk (``bench/bulk_seed.py``) and analysed, so that PostgreSQL's
and MariaDB's planners see realistic statistics. SQLite keeps none here: its plans
depend on the query alone. A plan that reads every image costs seconds at a million
images (docs/performance.rst).
"""

import json
import re

import pytest

from bench import bulk_seed
from glance_registry import db as db_module
from glance_registry import migrations
from glance_registry.client import identity as identity_module
from glance_registry.client import list_params
from glance_registry.images import child_order
from glance_registry.images import filters
from glance_registry.images import records
from glance_registry.images import statements
from glance_registry.migrations import m0020_child_created_at
from glance_registry.migrations import m0021_child_formats
from glance_registry.migrations import m0022_child_access
from glance_registry.models import Image
from glance_registry.models import ImageProperty
from glance_registry.models import ImageTag
from tests.fixtures import skips
from tests.unit.registry.conftest import BACKEND_PARAMS

IMAGES = 20000
ADMIN = identity_module.Identity('u', None, is_admin=True)
MEMBER = identity_module.Identity('u', 'project-03')

# The indexes holding a property's or tag's matches in page order (migration 20).
PROPERTY_WALK = m0020_child_created_at.PROPERTY_INDEX
TAG_WALK = m0020_child_created_at.TAG_INDEX

# (list parameters, whether its first page is full, the index SQLite walks or
# searches: None where the filter is read from its own side, ``narrowest_filter``;
# a tag's or property's own index where the page walks it, ``filters.walked_filter``)
CASES = [
    ('', True, 'ix_images_created_at_id'),
    ('name=image-0000123', False, 'ix_images_name'),
    ('name=nope', False, 'ix_images_name'),
    ('id=00000000-0000-4000-8000-000000000123', False, 'sqlite_autoindex_images_1'),
    ('status=queued', True, 'ix_images_status_created_at_id'),
    ('status=killed', False, 'ix_images_status_created_at_id'),
    ('status=in:active,queued', True, 'ix_images_created_at_id'),
    ('visibility=public', True, 'ix_images_visibility_created_at_id'),
    ('visibility=community', True, 'ix_images_visibility_created_at_id'),
    ('owner=project-03', True, 'ix_images_owner_created_at_id'),
    ('disk_format=qcow2', True, 'ix_images_disk_format_created_at_id'),
    ('disk_format=iso', False, 'ix_images_disk_format_created_at_id'),
    ('container_format=ovf', False, 'ix_images_container_format_created_at_id'),
    ('os_hidden=true', False, 'ix_images_os_hidden_created_at_id'),
    ('protected=true', False, 'ix_images_protected_created_at_id'),
    ('min_ram=512', True, 'ix_images_min_ram_created_at_id'),
    ('min_disk=1', False, 'ix_images_min_disk_created_at_id'),
    ('checksum=00000000000000000000000000000123', False, 'ix_images_checksum'),
    ('os_hash_value=' + '0' * 125 + '123', False, 'ix_images_os_hash_value'),
    ('created_at=gt:2026-01-01T05:00:00Z', True, 'ix_images_created_at_id'),
    ('created_at=lt:2026-01-01T00:00:10Z', False, 'ix_images_created_at_id'),
    ('size_min=1', True, 'ix_images_created_at_id'),
    ('size_max=2048', False, None),
    ('updated_at=gte:2026-01-01T05:00:00Z', True, 'ix_images_created_at_id'),
    ('updated_at=lt:2026-01-01T00:00:10Z', False, None),
    ('tag=common', True, TAG_WALK),
    ('tag=t3', True, TAG_WALK),
    ('os_distro=ubuntu', True, PROPERTY_WALK),
    # 400 of 20,000 images: fewer than DRIVE_LIMIT, but more than a page, so
    # walked in page order rather than read whole and sorted.
    ('bench_group=g7', True, PROPERTY_WALK),
    # The same 400 with a status: counted through the rows' status copies, which
    # the walk does not read, so driven by the property's few matches.
    ('status=active&bench_group=g7', True, None),
    ('bench_unique=u123', False, None),
    ('status=queued&os_distro=ubuntu', True, PROPERTY_WALK),
    ('disk_format=raw&tag=t3', True, TAG_WALK),
    ('status=queued&bench_unique=u120', False, None),
    ('os_distro=ubuntu&tag=t5', True, PROPERTY_WALK),
    ('tag=t5&tag=common', True, TAG_WALK),
    ('sort=name:asc', True, 'ix_images_name_sort'),
    ('sort=name:desc', True, 'ix_images_name_sort'),
    ('sort=status:asc', True, 'ix_images_status_asc_id'),
    ('sort=status:desc', True, 'ix_images_status_id'),
    ('sort=size:asc', True, 'ix_images_size_sort'),
    ('sort=size:desc', True, 'ix_images_size_sort'),
    ('sort=disk_format:asc', True, 'ix_images_disk_format_asc_sort'),
    ('sort=disk_format:desc', True, 'ix_images_disk_format_sort'),
    ('sort=container_format:asc', True, 'ix_images_container_format_asc_sort'),
    ('sort=container_format:desc', True, 'ix_images_container_format_sort'),
    ('sort=created_at:asc', True, 'ix_images_created_at_id'),
    ('sort=updated_at:desc', True, 'ix_images_updated_at_id'),
    ('sort=id:asc', True, 'sqlite_autoindex_images_1'),
]

# Lists whose filters match no image at all answer without a page query.
NOTHING = ['tag=nope', 'bench_group=nope', 'size_min=1000000000000',
           'updated_at=gt:2027-01-01T00:00:00Z', 'bench_unique=u1&tag=nope',
           # Each matches many images (a tenth, a fiftieth, a twentieth), none
           # together: counted from (property or tag, status) indexes.
           'status=queued&bench_group=g7', 'status=queued&tag=t3',
           'status=in:queued,killed&bench_group=g7',
           # Likewise a format with a property or tag (qcow2 images are even, g7
           # and t3 ones odd): counted from the indexes holding the formats too.
           'disk_format=qcow2&bench_group=g7', 'disk_format=qcow2&tag=t3',
           'container_format=ovf&os_distro=ubuntu',
           # A column filter matching nothing, with a tag (counted from the
           # column's index).
           'disk_format=iso&tag=t3']



@pytest.fixture(scope='module', params=BACKEND_PARAMS)
def catalogue(request, databases):
    """A database of each backend holding ``IMAGES`` images, analysed."""
    db = db_module.open_database(databases.create(request.param))
    migrations.upgrade(db)
    bulk_seed.load(db, IMAGES)
    yield db
    db.close_all()


@pytest.fixture(scope='module', params=BACKEND_PARAMS)
def few_public(request, databases):
    """``catalogue``'s images with one public image in 400 left public (50) and the
    rest of the public and community ones made private, as in a cloud: many
    projects' own images, few public ones."""
    db = db_module.open_database(databases.create(request.param))
    migrations.upgrade(db)
    bulk_seed.load(db, IMAGES)
    with db_module.connection(db), db_module.write_transaction(db):
        (Image.update(visibility='private')
         .where((Image.visibility == 'community') | ((Image.visibility == 'public')
                                                    & ~Image.name.endswith('00')))
         .execute(db))
        for model in (ImageProperty, ImageTag):   # their copies follow
            model.update(image_visibility=Image.select(Image.visibility).where(
                Image.id == model.image)).execute(db)
    bulk_seed.refresh_statistics(db)
    yield db
    db.close_all()


def query_of(params):
    pairs = [tuple(pair.split('=', 1)) for pair in params.split('&') if pair]
    return list_params.parse_list_params([('limit', '25')] + pairs)


def page_plan(db, caller, query):
    """The plan of the page query ``records.list_images`` runs, as one line."""
    kind = db_module.dialect(db)
    driven_by = records.narrowest_filter(db, query, caller)
    assert driven_by is not records.MATCHES_NOTHING
    marker = records._marker(db, caller, query) if query.marker else None
    sql, params = records.page_statement(db, caller, query, driven_by, marker)
    rows = db.execute_sql('EXPLAIN ' + ('QUERY PLAN ' if kind == 'sqlite' else '')
                          + sql, params).fetchall()
    if kind == 'sqlite':
        return ' | '.join(row[-1] for row in rows)
    if kind == 'postgresql':
        return ' | '.join(row[0].strip() for row in rows)
    # MariaDB: table, access type, key, extra.
    return ' | '.join('%s %s %s %s' % (row[2], row[3], row[5], row[-1]) for row in rows)


@pytest.mark.parametrize('caller', [ADMIN, MEMBER], ids=['admin', 'member'])
@pytest.mark.parametrize('params, full, index', CASES,
                         ids=[case[0] or 'first-page' for case in CASES])
def test_a_first_page_reads_an_index_not_every_image(catalogue, caller, params, full,
                                                     index):
    db = catalogue
    kind = db_module.dialect(db)
    with db_module.connection(db):
        plan = page_plan(db, caller, query_of(params))
        page, _ = records.list_images(db, caller, query_of(params))
        ids_first = filters.ids_first(query_of(params), kind,
                                      records.narrowest_filter(db, query_of(params)))
    if full and caller is ADMIN:
        assert len(page) == 25   # the case is what it claims to be
    if kind == 'sqlite':
        if index is None:
            # Read from the filter's own index, and its few matches sorted.
            assert 'LIST SUBQUERY' in plan, plan
            assert 'SEARCH t1 USING INDEX sqlite_autoindex_images_1 (id=?)' in plan, plan
        else:
            assert ' INDEX %s' % index in plan, plan
            if full:   # walked in page order: no sort of every match
                assert 'TEMP B-TREE FOR ORDER BY' not in plan, plan
        assert 'SCAN t1 |' not in plan + ' |', plan
    elif kind == 'postgresql':
        assert 'Seq Scan on images' not in plan, plan
        if index in (PROPERTY_WALK, TAG_WALK) and '&' not in params:
            assert 'Scan Backward using %s' % index in plan, plan
        if full and index is not None and '&' not in params:
            # An incremental sort (of equal leading keys) is fine; not a full one.
            # (Combinations are left to its statistics: at this size it may well
            # join both filters' index scans and sort a few thousand rows.)
            assert '->  Sort ' not in plan, plan
    else:
        first = mysql_first_step(plan, ids_first)
        if index in (PROPERTY_WALK, TAG_WALK):
            # The tag's or property's own index, in page order.
            assert first.split()[1:3] == ['ref', index], plan
        assert ' ALL ' not in first, plan
        if full and index is not None:
            assert 'filesort' not in first, plan


def mysql_first_step(plan, ids_first):
    """The step of a MariaDB ``plan`` that reads the images' index: the first, or
    when the page reads its ids first (``filters.ids_first``), the first of the
    subquery, which reads the covering index alone; its 26 ids are then sorted
    again outside and their rows read by primary key."""
    steps = plan.split(' | ')
    assert steps[0].startswith('<derived') == ids_first, plan
    if not ids_first:
        return steps[0]
    assert steps[1].split()[1:3] == ['eq_ref', 'PRIMARY'], plan
    assert 'Using index' in steps[2], plan
    return steps[2]


# An owner, or a project's own private images, with a property or tag that many
# images have but none of those (owners are i % 20, ``bench_group`` i % 50,
# ``os_distro`` i % 5, tags i % 20): counted from the index holding the rows'
# copies of their image's visibility and owner (migration 22).
NONE_TOGETHER = [(ADMIN, 'owner=project-05&bench_group=g7'),
                 (ADMIN, 'owner=in:project-05,project-07&tag=t4'),
                 (MEMBER, 'visibility=private&bench_group=g2'),
                 (MEMBER, 'visibility=private&os_distro=ubuntu'),
                 (MEMBER, 'owner=project-03&tag=t4')]


@pytest.mark.parametrize('caller, params', [(ADMIN, params) for params in NOTHING]
                         + NONE_TOGETHER,
                         ids=NOTHING + [params for _, params in NONE_TOGETHER])
def test_a_list_whose_filter_matches_nothing_reads_no_page(catalogue, caller, params):
    db = catalogue
    queries = []
    db.query_hooks.append(lambda event: queries.append(event.sql))
    try:
        with db_module.connection(db):
            page, marker = records.list_images(db, caller, query_of(params))
    finally:
        db.query_hooks.pop()
    assert (page, marker) == ([], None)
    assert len(queries) == 1, queries


def test_a_projects_few_private_images_of_a_property_are_read_first(catalogue):
    """The project's 50 private images of a property that 400 images have (a
    fiftieth of the catalogue): the page reads them from the index of the rows'
    copies of their image's visibility and owner, then each image by its id,
    rather than walk the property testing each image."""
    db = catalogue
    kind = db_module.dialect(db)
    query = query_of('visibility=private&bench_group=g3')
    with db_module.connection(db):
        driven_by = records.narrowest_filter(db, query, MEMBER)
        plan = page_plan(db, MEMBER, query)
        page, _ = records.list_images(db, MEMBER, query)
    assert filters.narrowing_kinds(query, MEMBER)[driven_by] == 'accessible'
    assert len(page) == 25
    assert {(image['owner'], image['visibility']) for image in page} \
        == {(MEMBER.project_id, 'private')}
    if kind == 'sqlite':
        assert 'INDEX %s' % m0022_child_access.PROPERTY_INDEX in plan, plan
        assert 'SEARCH t1 USING INDEX sqlite_autoindex_images_1 (id=?)' in plan, plan
    elif kind == 'postgresql':
        assert m0022_child_access.PROPERTY_INDEX in plan, plan
        assert 'Seq Scan' not in plan, plan
    else:
        steps = plan.split(' | ')
        assert steps[0].startswith('<derived'), plan
        assert steps[1].split()[1:3] == ['eq_ref', 'PRIMARY'], plan
        assert m0022_child_access.PROPERTY_INDEX in plan, plan


# Later pages (after a marker) and the index each reads from the marker on, as a
# range: (sort, SQLite's index and range, PostgreSQL's index and bound, MariaDB's
# index: for the default order, migration 16's covering index, the page's ids
# read first).
LATER_PAGES = [
    ('', 'ix_images_created_at_id (created_at<?)', 'ix_images_created_at_id',
     'created_at <=', 'ix_images_os_hidden_created_at_visible'),
    ('sort=name:asc', 'ix_images_name_sort (<expr>>?)', 'ix_images_name_sort',
     "COALESCE(name, ''::character varying))::text >=", 'ix_images_name_sort_asc_id'),
    ('sort=name:desc', 'ix_images_name_sort (<expr><?)', 'ix_images_name_sort',
     "COALESCE(name, ''::character varying))::text <=", 'ix_images_name_sort_id'),
]


@pytest.mark.parametrize('caller', [ADMIN, MEMBER], ids=['admin', 'member'])
@pytest.mark.parametrize('sort, sqlite_range, pg_index, pg_bound, mysql_index',
                         LATER_PAGES, ids=[case[0] or 'default' for case in LATER_PAGES])
def test_a_later_page_reads_the_sort_index_from_the_marker_on(
        catalogue, caller, sort, sqlite_range, pg_index, pg_bound, mysql_index):
    """The page after a marker reads the sort's index from the marker on (a
    range), in page order: no sort, and no walk from the first image (a page a
    million images deep read them all: 45-290 ms on SQLite, about 100 ms on
    PostgreSQL). On MariaDB a name sort's index is on migration 16's generated
    column."""
    db = catalogue
    kind = db_module.dialect(db)
    with db_module.connection(db):
        first, marker = records.list_images(db, caller, query_of(sort))
        later = '%s&marker=%s' % (sort, marker) if sort else 'marker=%s' % marker
        plan = page_plan(db, caller, query_of(later))
        second, _ = records.list_images(db, caller, query_of(later))
        ids_first = filters.ids_first(query_of(later), kind,
                                      records.narrowest_filter(db, query_of(later)))
    assert len(second) == 25
    if sort:
        names = [image['name'] for image in first + second]
        assert names == sorted(names, reverse=sort.endswith('desc'))
    else:
        created = [(image['created_at'], image['id']) for image in first + second]
        assert created == sorted(created, reverse=True)
    if kind == 'sqlite':
        assert ' INDEX %s' % sqlite_range in plan, plan
        assert 'TEMP B-TREE FOR ORDER BY' not in plan, plan
    elif kind == 'postgresql':
        assert 'Seq Scan on images' not in plan, plan
        assert '->  Sort ' not in plan, plan
        assert 'using %s on images' % pg_index in plan, plan
        assert 'Index Cond: (' in plan and pg_bound in plan.split('Index Cond: ')[1] \
            .split(' | ')[0], plan
    else:
        first_step = mysql_first_step(plan, ids_first)
        assert 'filesort' not in first_step, plan
        assert first_step.split()[1:3] == ['range', mysql_index], plan


# Later pages in the default order of lists filtered on columns of the images
# (``filters.forced_indexes`` on MariaDB).
LATER_FILTERED = ['status=active', 'visibility=public', 'disk_format=qcow2',
                  'size_min=1', 'owner=project-03', 'status=active&disk_format=qcow2',
                  'visibility=public&status=active', 'owner=project-03&status=killed',
                  'protected=false', 'status=in:active,queued',
                  'status=in:active,queued&owner=project-03']


@pytest.mark.parametrize('caller', [ADMIN, MEMBER], ids=['admin', 'member'])
@pytest.mark.parametrize('params', LATER_FILTERED)
def test_a_later_filtered_page_reads_a_range_from_the_marker_on(catalogue, caller,
                                                                params):
    """A page deep in the default order, filtered on columns of the images, reads a
    range of an index from the marker on, in page order. MariaDB read the
    ``(column, created_at, id)`` index of one filter (os_hidden's, which every
    list compares, or the visibility's) by the column alone, from the top of its
    matches: 0.8-2.2 s half a million images deep; it is now told which indexes
    it may read (``FORCE INDEX``), and reads one as a range. A list of values
    alone is read one value at a time, each a range of the column's index
    (``filters.values_apart``), and only their pages' rows are sorted."""
    db = catalogue
    kind = db_module.dialect(db)
    marker = bulk_seed.image_id(IMAGES // 2 + 1)
    query = query_of('%s&marker=%s' % (params, marker))
    with db_module.connection(db):
        plan = page_plan(db, caller, query)
        page, _ = records.list_images(db, caller, query)
        ids_first = filters.ids_first(query, kind, records.narrowest_filter(db, query))
    assert len(page) == (0 if params.endswith('killed') else 25)
    if kind == 'sqlite':
        assert 'SCAN t1 |' not in plan + ' |', plan
        assert 'TEMP B-TREE FOR ORDER BY' not in plan, plan
    elif kind == 'postgresql':
        assert 'Seq Scan on images' not in plan, plan
        assert '->  Sort ' not in plan, plan
    elif filters.values_apart(query, kind):
        steps = plan.split(' | ')
        assert steps[0].split()[:2] == ['<derived2>', 'ALL'], plan   # the pages' rows
        images = [step for step in steps if step.split()[2].startswith('ix_images')]
        assert len(images) == len(query.matches[0][1]), plan
        for step in images:
            assert step.split()[1] == 'range' and 'filesort' not in step, plan
    else:
        step = mysql_first_step(plan, ids_first)
        assert step.split()[1] == 'range', plan
        assert 'filesort' not in step, plan


# Later pages of sorts by a key most images share (``filters.pages_by_level``):
# (sort, its index, the key as SQLite's plan names it).
SHARED_KEY_PAGES = [
    ('sort=status:asc', 'ix_images_status_asc_id', 'status'),
    ('sort=status:desc', 'ix_images_status_id', 'status'),
    ('sort=disk_format:asc', 'ix_images_disk_format_asc_sort', '<expr>'),
    ('sort=container_format:desc', 'ix_images_container_format_sort', '<expr>'),
    ('sort=size:desc', 'ix_images_size_sort', '<expr>'),
]


@pytest.mark.parametrize('caller', [ADMIN, MEMBER], ids=['admin', 'member'])
@pytest.mark.parametrize('sort, index, key', SHARED_KEY_PAGES,
                         ids=[case[0] for case in SHARED_KEY_PAGES])
def test_a_later_page_of_a_shared_key_starts_at_the_marker_in_its_group(
        catalogue, caller, sort, index, key):
    """A page after a marker deep inside a group of images sharing the sort key
    (nine in ten are active, half are raw) reads one range of the sort's index
    per level of the keyset: the marker's group from the marker on, then the
    groups after it; only their few rows are sorted again. Bounded by the key
    alone, the page read the group from its top to the marker (100-440 ms half a
    million images deep on SQLite). MariaDB reads the keyset's OR as those ranges
    itself, once it compares the formats and the size as its indexes hold them
    (the plain column, not its COALESCE)."""
    db = catalogue
    kind = db_module.dialect(db)
    # Active, raw, public, created in the middle of the catalogue.
    marker = bulk_seed.image_id(IMAGES // 2 + 1)
    params = '%s&marker=%s' % (sort, marker)
    with db_module.connection(db):
        plan = page_plan(db, caller, query_of(params))
        page, _ = records.list_images(db, caller, query_of(params))
    assert len(page) == 25
    if kind == 'sqlite':
        compare = '<' if sort.endswith('desc') else '>'
        # The marker's level: either direction of the key's two indexes.
        assert ' (%s=? AND id<?)' % key in plan, plan
        assert 'INDEX %s (%s%s?)' % (index, key, compare) in plan, plan
        assert plan.count('TEMP B-TREE') == 1, plan   # the levels' 52 rows
    elif kind == 'postgresql':
        assert 'Seq Scan' not in plan, plan
        assert 'using %s on images' % index in plan, plan
        # Each level reads an index in order, up to its limit; a sort (if any)
        # sorts only what a level read (PostgreSQL merges the levels' rows).
        nodes = [step for step in plan.split(' | ') if step.startswith('->')]
        for node, under in zip(nodes, nodes[1:]):
            if node.startswith('->  Sort '):
                assert under.startswith('->  Limit '), plan
            if node.startswith('->  Limit '):
                assert under.startswith('->  Index Scan'), plan
    else:
        step = plan.split(' | ')[0]
        assert step.split()[1] == 'range', plan
        assert 'filesort' not in step, plan


@pytest.mark.parametrize('params', ['bench_group=g7', 'bench_unique=u123',
                                    'bench_group=nope', 'status=queued&bench_group=g7',
                                    'status=in:queued,killed&bench_group=g7',
                                    'disk_format=qcow2&bench_group=g7',
                                    'container_format=in:ovf,ova&bench_group=g7',
                                    'status=active&disk_format=raw&bench_group=g7',
                                    'disk_format=qcow2&tag=t3'])
def test_a_property_or_tag_filter_counts_its_matches_from_its_index(catalogue,
                                                                    params):
    """The count that picks how a list reads its page (``narrowest_filter``) reads
    a property's or tag's index alone: the one beginning with (name, value prefix)
    or (value), followed by the copies of the image's status and formats when the
    list filters on them (migration 21), which the index then compares (no row
    read for an image that matches the property but not the status or format);
    a disk format is sought with every status when the list names none."""
    db = catalogue
    kind = db_module.dialect(db)
    probe, = filters.narrowing_filters(query_of(params), kind)
    sql, values = db.get_sql_context().sql(
        probe.limit(filters.DRIVE_LIMIT)).query()
    with db_module.connection(db):
        rows = db.execute_sql('EXPLAIN ' + ('QUERY PLAN ' if kind == 'sqlite' else '')
                              + sql, values).fetchall()
    by_status = 'status=' in params
    by_format = '_format=' in params
    by_tag = 'tag=' in params
    copies, walk = ((m0021_child_formats.TAG_INDEX, TAG_WALK) if by_tag else
                    (m0021_child_formats.PROPERTY_INDEX, PROPERTY_WALK))
    # Without a status or format, any index beginning with the property or tag
    # serves: the one of its owner and visibility too (migration 22).
    by_access = (m0022_child_access.TAG_INDEX if by_tag
                 else m0022_child_access.PROPERTY_INDEX)
    indexes = (copies,) if by_status or by_format else (copies, walk, by_access)
    if kind == 'sqlite':
        plan = ' | '.join(row[-1] for row in rows)
        key = 'value=?' if by_tag else 'name=? AND <expr>=?'
        if by_status or by_format:
            # Every status when the list names none (``child_formats.copied``).
            key += ' AND image_status=?'
            if 'disk_format=' in params:
                key += ' AND image_disk_format=?'
        assert any(' INDEX %s (%s)' % (index, key) in plan
                   for index in indexes), plan
    elif kind == 'postgresql':
        plan = ' | '.join(row[0].strip() for row in rows)
        assert any(index in plan for index in indexes), plan
        assert 'Seq Scan' not in plan, plan
        # An Index Only Scan prints the columns without their ::text casts.
        assert bool(re.search(r'image_status\)?(::text)? = ANY', plan)) \
            == (by_status or by_format), plan
        assert bool(re.search(r'_format\)?(::text)? = ANY', plan)) == by_format, plan
        # Every condition compared in the index: no row read for a rejected one.
        assert 'Index Only Scan' in plan or 'Filter:' not in plan, plan
    else:
        (access, key, extra), = [(row[3], row[5], row[-1])
                                 for row in rows]
        assert access == ('range' if by_status or by_format else 'ref'), rows
        assert key in indexes, rows
        assert 'Using index' in extra, rows


# Lists that walk a tag's or property's own index in page order
# (``filters.walked_filter``).
WALKED = ('tag=common', 'tag=t3', 'os_distro=ubuntu', 'os_distro=ubuntu&tag=t5',
          'tag=t5&tag=common', 'visibility=public&tag=t3', 'disk_format=raw&tag=t3',
          'status=active&os_distro=ubuntu')


def pages_of(db, caller, params, count=3):
    """The ids of the first ``count`` pages of ``params`` (following markers)."""
    seen, marker = [], None
    with db_module.connection(db):
        for _ in range(count):
            query = query_of(params + ('&marker=%s' % marker if marker else ''))
            page, marker = records.list_images(db, caller, query)
            seen.append([image['id'] for image in page])
    return seen


@pytest.mark.parametrize('caller', [ADMIN, MEMBER], ids=['admin', 'member'])
@pytest.mark.parametrize('params', WALKED)
def test_walked_pages_are_the_pages_of_a_walk_of_the_images(catalogue, monkeypatch,
                                                            caller, params):
    """Three pages (two markers) of a list that walks a tag's or property's index
    are those of the walk of the images (on MariaDB, reading the ids first:
    ``filters.ids_first``), and those of the plain page query."""
    db = catalogue
    with db_module.connection(db):
        assert records.narrowest_filter(db, query_of(params)) == records.WALK
    walked = pages_of(db, caller, params)
    statements.clear()   # the SQL text of a shape is kept: build it again
    try:
        monkeypatch.setattr(filters, 'walkable', lambda query: False)
        by_images = pages_of(db, caller, params)
        statements.clear()
        monkeypatch.setattr(filters, 'ids_first', lambda *args: False)
        plain = pages_of(db, caller, params)
    finally:
        statements.clear()
    assert [len(page) for page in walked] == [25, 25, 25]
    assert walked == by_images == plain


def test_a_filter_with_a_row_lacking_the_copy_is_not_walked(catalogue):
    """A row an earlier release wrote during a rolling upgrade holds no copy of
    the image's ``created_at``: the list walks the images instead, and still
    shows its image."""
    db = catalogue
    params = 'tag=t3'
    first, = pages_of(db, MEMBER, params, count=1)
    newest = first[0]
    with db_module.connection(db):
        with db_module.write_transaction(db):
            (ImageTag.update(image_created_at=None)
             .where((ImageTag.image == newest) & (ImageTag.value == 't3'))
             .execute(db))
        try:
            assert records.narrowest_filter(db, query_of(params)) is None
            assert pages_of(db, MEMBER, params, count=1) == [first]
        finally:
            with db_module.write_transaction(db):
                (ImageTag.update(image_created_at=child_order.of_image(newest))
                 .where(ImageTag.image == newest).execute(db))
        assert records.narrowest_filter(db, query_of(params)) == records.WALK


# A project that owns no image and is shared none.
STRANGER = identity_module.Identity('u', 'project-99')
# Lists of ``STRANGER`` among ``few_public``'s images: each filter matches many
# images, the images it may list are 50 (every 400th: each ubuntu, in g0, none
# tagged t3), and whether its first page is full.
FEW_PUBLIC = [('', True), ('os_distro=ubuntu', True), ('bench_group=g0', True),
              ('sort=name:asc', True), ('tag=t3', False), ('bench_group=g2', False),
              ('status=active&tag=t3', False), ('visibility=public&min_ram=512', False)]


@pytest.mark.parametrize('params, full', FEW_PUBLIC, ids=[case[0] or 'first-page'
                                                          for case in FEW_PUBLIC])
def test_a_project_reads_the_images_it_may_list_when_they_are_few(few_public, params,
                                                                  full):
    """In a cloud with few public images, a project that owns none lists by reading
    the images it may list (``filters.listable``), not by testing the list's
    filters on every other project's image in page order for a page it cannot
    fill."""
    db = few_public
    kind = db_module.dialect(db)
    query = query_of(params)
    with db_module.connection(db):
        driven_by = records.narrowest_filter(db, query, STRANGER)
        plan = page_plan(db, STRANGER, query)
        page, _ = records.list_images(db, STRANGER, query)
    assert driven_by == filters.listable_position(query, STRANGER)
    assert len(page) == (25 if full else 0)
    assert all(image['visibility'] == 'public' for image in page)
    if kind == 'sqlite':
        assert 'LIST SUBQUERY' in plan, plan
        assert 'SCAN t1 |' not in plan + ' |', plan
    elif kind == 'postgresql':
        assert 'Seq Scan on images' not in plan, plan
        # The public images, from their index (each list here may show them).
        assert 'ix_images_visibility_created_at_id' in plan, plan
    else:
        # The set first, then each of its images by primary key.
        steps = plan.split(' | ')
        assert steps[0].startswith('<derived'), plan
        assert steps[1].split()[1:3] == ['eq_ref', 'PRIMARY'], plan


@pytest.mark.parametrize('params', ['visibility=private', 'visibility=shared',
                                    'visibility=private&os_distro=ubuntu',
                                    'visibility=shared&tag=t3'])
def test_a_list_of_what_a_project_has_none_of_answers_at_once(catalogue, params):
    """A project that owns no image and is shared none lists its private or shared
    images without a page query (``filters.listable`` counts none), whatever the
    other filters match."""
    with db_module.connection(catalogue):
        assert records.narrowest_filter(catalogue, query_of(params), STRANGER) \
            is records.MATCHES_NOTHING
        assert records.list_images(catalogue, STRANGER, query_of(params)) == ([], None)


def test_the_count_of_a_projects_listable_images_reads_a_bounded_number(catalogue):
    """The count that decides whether a project's list reads the images it may list
    (``filters.listable``) reads at most ``DRIVE_LIMIT`` index entries of each of
    its parts (own, public, community, shared with it), however many images each
    holds: MariaDB reads every part of a UNION whole before the union's own LIMIT
    applies (11,000 entries here)."""
    db = catalogue
    kind = db_module.dialect(db)
    if kind == 'sqlite':
        skips.not_applicable('SQLite reports no rows read')
    query = query_of('visibility=all')   # 1,000 own, 5,000 public, 5,000 community
    select = filters.narrowing_filters(query, kind, identity=MEMBER,
                                       limit=filters.DRIVE_LIMIT)[-1]
    sql, values = db.get_sql_context().sql(select).query()
    with db_module.connection(db):
        if kind == 'mysql':
            text, = db.execute_sql('ANALYZE FORMAT=JSON SELECT COUNT(*) FROM (%s) n'
                                   % sql, values).fetchone()
            read = [float(rows) for rows in re.findall(r'"r_rows": ([0-9.]+)', text)]
        else:
            text, = db.execute_sql('EXPLAIN (ANALYZE, FORMAT JSON) SELECT COUNT(*) '
                                   'FROM (%s) n' % sql, values).fetchone()
            read = [float(rows) for rows in re.findall(
                r'"Actual Rows": ([0-9.]+)', json.dumps(text))]
    assert read and max(read) <= filters.DRIVE_LIMIT, text


@pytest.mark.parametrize('params', ['name=image-0000400', 'id=in:00000000-0000-4000-8000-'
                                    '000000000400,00000000-0000-4000-8000-000000000401',
                                    'checksum=00000000000000000000000000000400'])
def test_a_filter_finding_few_images_by_its_own_index_is_not_driven_by_listable_ones(
        few_public, params):
    """A name, id or checksum finds its few images through its own index: the
    images a project may list (50 here) are not counted, nor read instead."""
    db = few_public
    query = query_of(params)
    assert filters.listable_position(query, STRANGER) is None
    with db_module.connection(db):
        assert records.narrowest_filter(db, query, STRANGER) is None
        page, _ = records.list_images(db, STRANGER, query)
    assert [image['name'] for image in page] == ['image-0000400']


def test_a_project_that_may_list_a_fair_share_of_a_small_catalogue_walks_it(databases):
    """Among 1,000 images of which a quarter are public, a project that owns none
    finds a page of 25 within about a hundred images of the page order: it walks
    them rather than read and sort its 250 (``records._outgrown``). A page of 250
    holds them all, so it reads them."""
    db = db_module.open_database(databases.create('sqlite'))
    try:
        migrations.upgrade(db)
        bulk_seed.load(db, 1000)
        with db_module.connection(db):
            walked = query_of('')
            assert records.narrowest_filter(db, walked, STRANGER) is None
            whole = list_params.parse_list_params([('limit', '250')])
            assert records.narrowest_filter(db, whole, STRANGER) == \
                filters.listable_position(whole, STRANGER)
            assert len(records.list_images(db, STRANGER, walked)[0]) == 25
    finally:
        db.close_all()
