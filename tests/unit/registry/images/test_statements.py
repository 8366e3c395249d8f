"""A list's SQL text is built once per shape; each call binds its own values.

Two queries of one shape (the same filters, sort and kind of caller, different
values) must give exactly what peewee renders for the second one from scratch, as
the list did before the text was cached: the same text, the same parameters, with
the same conversions. Rendering needs no connection, so every dialect is checked.
"""

import datetime
import logging

import pytest

from glance_registry import db as db_module
from glance_registry.client import identity as identity_module
from glance_registry.client import list_params
from glance_registry.images import filters
from glance_registry.images import records
from glance_registry.images import statements
from glance_registry.models import Image
from glance_registry.models import ImageProperty
from glance_registry.models import ImageTag

URLS = {
    'sqlite': 'sqlite:///{tmp}/statements.sqlite',
    'postgresql': 'postgresql://u:p@127.0.0.1:9/none',
    'mysql': 'mysql://u:p@127.0.0.1:9/none',
}

ADMIN = identity_module.Identity('u', None, is_admin=True)
ANONYMOUS = identity_module.Identity(None, None)
P1 = identity_module.Identity('u1', 'project-1')
P2 = identity_module.Identity('u2', 'project-2')

LONG_A, LONG_B = 'a' * 300, 'b' * 300

# (first query, second query of the same shape with other values)
SAME_SHAPE = [
    ('limit=5', 'limit=7'),
    ('tag=a', 'tag=b'),
    ('tag=a&tag=b&limit=3', 'tag=c&tag=d&limit=4'),
    ('os_distro=x', 'os_distro=y'),
    ('p=' + LONG_A, 'p=' + LONG_B),
    ('os_distro=x&tag=t&p=' + LONG_A, 'os_distro=z&tag=u&p=' + LONG_B),
    ('name=x', 'name=y'),
    ('id=in:a,b', 'id=in:c,d'),
    ('status=in:active,queued', 'status=in:killed,saving'),
    ('status=active', 'status=queued'),
    ('owner=p1&checksum=c1', 'owner=p2&checksum=c2'),
    ('size_min=1&size_max=10', 'size_min=2&size_max=20'),
    ('min_ram=1&virtual_size=5', 'min_ram=2&virtual_size=6'),
    ('created_at=gt:2026-01-01T00:00:00Z', 'created_at=gt:2026-02-01T10:11:12Z'),
    ('updated_at=lte:2026-01-01T00:00:00Z', 'updated_at=lte:2027-03-01T00:00:00Z'),
    ('created_at=neq:2026-01-01T00:00:00Z', 'created_at=neq:2026-01-02T00:00:00Z'),
    ('visibility=shared&member_status=pending',
     'visibility=shared&member_status=pending'),
    ('visibility=all&member_status=all', 'visibility=all&member_status=all'),
    ('visibility=community', 'visibility=community'),
    ('protected=false&os_hidden=true', 'protected=false&os_hidden=true'),
    ('sort=name:asc&tag=x', 'sort=name:asc&tag=y'),
    ('sort_key=size&sort_dir=asc&sort_key=status&sort_dir=desc&bench=a',
     'sort_key=size&sort_dir=asc&sort_key=status&sort_dir=desc&bench=b'),
]

MARKERS = {
    # sort key -> (a value of the first marker, of the second)
    'created_at': (datetime.datetime(2026, 1, 1, 0, 0, 0, 5),
                   datetime.datetime(2026, 2, 3, 4, 5, 6)),
    'updated_at': (datetime.datetime(2026, 1, 1), datetime.datetime(2026, 5, 1)),
    'id': ('id-a', 'id-b'),
    'name': ('alpha', None),   # NULL sorts as '': still a bound value
    'size': (None, 12),
    'status': ('active', 'queued'),
    'disk_format': ('raw', 'qcow2'),
    'container_format': ('bare', None),
}


@pytest.fixture(params=sorted(URLS))
def db(request, tmp_path):
    database = db_module.open_database(URLS[request.param].format(tmp=tmp_path))
    statements.clear()
    yield database
    statements.clear()


def query_of(text):
    pairs = [tuple(pair.split('=', 1)) for pair in text.split('&') if pair]
    return list_params.parse_list_params(pairs)


def marker_of(query, which):
    return {key: MARKERS[key][which] for key, _ in query.sort}


def rendered_from_scratch(db, identity, query, driven_by, marker):
    """What the page query was before its text was cached: peewee's rendering of
    the query built with the values themselves."""
    return records.page_query(identity, query, db_module.dialect(db), driven_by,
                              marker).bind(db).sql()


@pytest.mark.parametrize('callers', [(ADMIN, ADMIN), (P1, P2), (ANONYMOUS, ANONYMOUS)],
                         ids=['admin', 'members', 'anonymous'])
@pytest.mark.parametrize('first, second', SAME_SHAPE,
                         ids=[pair[0][:40] or 'first-page' for pair in SAME_SHAPE])
def test_a_cached_page_query_binds_the_values_of_each_call(db, caplog, callers, first,
                                                           second):
    caplog.set_level(logging.ERROR, logger=statements.__name__)
    one, two = query_of(first), query_of(second)
    narrowing = len(filters.narrowing_filters(two))
    for driven_by in [None] + list(range(narrowing)):
        for with_marker in (False, True):
            markers = ((marker_of(one, 0), marker_of(two, 1)) if with_marker
                       else (None, None))
            records.page_statement(db, callers[0], one, driven_by, markers[0])
            assert (records.page_statement(db, callers[1], two, driven_by, markers[1])
                    == rendered_from_scratch(db, callers[1], two, driven_by,
                                             markers[1]))
    assert caplog.records == []


def test_every_query_of_a_mixed_series_is_rendered_as_from_scratch(db, caplog):
    """Shapes that differ in anything but values never share a text: the queries
    of every pair above, short and long property values, NULL and non-NULL marker
    values, every caller, one cache."""
    caplog.set_level(logging.ERROR, logger=statements.__name__)
    corpus = [query_of(text) for pair in SAME_SHAPE for text in pair]
    corpus += [query_of('p=short'), query_of('p=' + LONG_A + '&q=short'),
               query_of('tag=a&p=x'), query_of('p=x&tag=a'),
               query_of('status=in:active,queued,killed'), query_of('protected=true'),
               query_of('os_hidden=false&protected=true'), query_of('size_min=1'),
               query_of('size_max=1'), query_of('visibility=private')]
    for which in (0, 1):
        for query in corpus:
            for caller in (ADMIN, P1, ANONYMOUS):
                for driven_by in [None] + list(range(len(filters.narrowing_filters(
                        query)))):
                    for marker in (None, marker_of(query, which)):
                        assert (records.page_statement(db, caller, query, driven_by,
                                                       marker)
                                == rendered_from_scratch(db, caller, query, driven_by,
                                                         marker))
    assert caplog.records == []


def test_queries_of_different_shapes_do_not_share_text(db):
    tag, prop = query_of('tag=a'), query_of('os_distro=a')
    assert (records.page_statement(db, ADMIN, tag)[0]
            != records.page_statement(db, ADMIN, prop)[0])
    assert (records.page_statement(db, P1, tag)[0]
            != records.page_statement(db, ADMIN, tag)[0])


def test_a_value_left_unbound_is_rendered_on_every_call_and_logged(db, caplog):
    def build(value):
        return lambda bind: [Image.select(Image.id).where(
            (Image.name == bind('x')) & (Image.status == value))]

    assert statements.statements(db, 'leaky', build('active'))[0][1] == ['x', 'active']
    assert statements.statements(db, 'leaky', build('queued'))[0][1] == ['x', 'queued']
    assert 'leaky' in caplog.text


# The copies of the image's formats, visibility and owner, as the writers pass
# them with every row (a row without them would take the columns' defaults,
# rendered by peewee each time).
FORMATS = {'image_disk_format': 'qcow2', 'image_container_format': 'bare',
           'image_visibility': 'private', 'image_owner': 'p'}


def property_rows(image_id, value, created_at):
    return [dict(FORMATS, image=image_id, name='p%d' % n, value='%s-%d' % (value, n),
                 image_status='queued', image_created_at=created_at)
            for n in range(3)]


@pytest.mark.parametrize('model, rows_of, ignore_conflicts', [
    (ImageProperty, property_rows, False),
    (ImageTag, lambda image_id, value, created_at: [
        dict(FORMATS, image=image_id, value=value + suffix, image_status='active',
             image_created_at=created_at) for suffix in ('a', 'b')], True),
])
def test_a_cached_insert_binds_the_values_of_each_call(db, caplog, model, rows_of,
                                                       ignore_conflicts):
    caplog.set_level(logging.ERROR, logger=statements.__name__)
    statements.insert_statement(db, model, rows_of(
        'id-1', 'x', datetime.datetime(2026, 1, 1)), ignore_conflicts)
    second = rows_of('id-2', LONG_A, datetime.datetime(2026, 2, 3, 4, 5, 6, 789))
    query = model.insert_many(second)
    if ignore_conflicts:
        query = query.on_conflict_ignore()
    assert (statements.insert_statement(db, model, second, ignore_conflicts)
            == query.bind(db).sql())
    assert caplog.records == []


def test_an_insert_of_an_expression_is_rendered_by_peewee(db):
    status = Image.select(Image.status).where(Image.id == 'id-1')
    rows = [dict(FORMATS, image='id-1', value='t', image_status=status,
                 image_created_at=None)]
    assert (statements.insert_statement(db, ImageTag, rows)
            == ImageTag.insert_many(rows).bind(db).sql())


def test_an_insert_writes_a_none_as_null_in_a_text_of_its_own(db, caplog):
    """Where the Nones are is part of the shape: rows with a None where others
    have a value do not share their text, and nothing is rendered again. (A
    create's rows hold NULL for formats the image has none of: the copies'
    tests, ``test_child_formats``, write them.)"""
    caplog.set_level(logging.ERROR, logger=statements.__name__)
    valued = dict(FORMATS, image='id-1', value='t', image_status='queued',
                  image_created_at=datetime.datetime(2026, 1, 1),
                  image_container_format='bare')
    unset = dict(valued, image_created_at=None, image_container_format=None)
    for rows in ([valued], [unset], [unset, valued], [valued]):
        sql, params = statements.insert_statement(db, ImageTag, rows)
        assert sql.count('NULL') == sum(row[name] is None for row in rows
                                        for name in row)
        assert None not in params
    assert caplog.records == []
