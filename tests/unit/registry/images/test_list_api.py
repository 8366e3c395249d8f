"""Listing images over HTTP: filters, sorting and keyset pagination on every backend."""

import functools
import random

import pytest
import requests

from glance_registry import db as db_module
from glance_registry import models
from glance_registry.client import errors
from glance_registry.client import identity as identity_module
from glance_registry.client import list_params
from glance_registry.images import filters
from glance_registry.images import records
from tests.fixtures import skips

FORMATS = {'disk_format': 'qcow2', 'container_format': 'bare'}


def keys_of(records, catalog):
    by_id = {image['id']: key for key, image in catalog.items() if key != 'scope'}
    return {by_id[record['id']] for record in records}


@pytest.fixture(scope='module')
def catalog_owner():
    from glance_registry.client import identity
    return identity.Identity('catalog-user', 'catalog-project-%s' % random.getrandbits(32))


@pytest.fixture(scope='module')
def catalog(registry, catalog_owner):
    """A few images that the filter table below selects from, by key."""
    client, owner = registry.client, catalog_owner
    scope = 'catalog-%s' % random.getrandbits(64)

    def make(name, properties=None, **values):
        return client.create_image(owner, dict(values, name=name, properties=dict(
            properties or {}, test_scope=scope)))

    def activate(image, size, checksum=None):
        client.transition_status(owner, image['id'], 'queued', 'saving')
        return client.transition_status(
            owner, image['id'], 'saving', 'active',
            values={'size': size, 'checksum': checksum, 'os_hash_algo': 'sha512',
                    'os_hash_value': checksum and checksum * 4})

    made = {
        'alpha': make('alpha', {'os_distro': 'ubuntu'}, disk_format='raw',
                      container_format='bare', tags=['x', 'y'], protected=True,
                      min_ram=512),
        'beta': make('beta', {'os_distro': 'cirros'}, tags=['x'], **FORMATS),
        'glass': make('glass, darkly', disk_format='qcow2', container_format='ovf',
                      tags=['y']),
        'share': make('share me', disk_format='iso', container_format='bare',
                      visibility='public'),
        'hidden': make('hidden', os_hidden=True),
        'nameless': make(None, {'long': 'v' * 300}),
        'long2': make('long2', {'long': 'v' * 255 + 'w' * 45}),
        'deleted': make('deleted'),
    }
    made['alpha'] = activate(made['alpha'], 100, 'a' * 32)
    made['share'] = activate(made['share'], 1000, 'b' * 32)
    made['glass'] = client.transition_status(owner, made['glass']['id'], 'queued',
                                             'saving', values={'size': 50})
    client.delete_image(owner, made['deleted']['id'])
    made['scope'] = scope
    return made


LISTED = {'alpha', 'beta', 'glass', 'share', 'nameless', 'long2'}

FILTERS = [
    ([], LISTED),
    ([('name', 'alpha')], {'alpha'}),
    ([('name', 'in:alpha,"glass, darkly"')], {'alpha', 'glass'}),
    ([('name', 'in:"share me",beta,nope')], {'share', 'beta'}),
    ([('name', 'eq:share me')], {'share'}),
    ([('status', 'active')], {'alpha', 'share'}),
    ([('status', 'in:saving,queued')], {'beta', 'glass', 'nameless', 'long2'}),
    ([('disk_format', 'qcow2')], {'beta', 'glass'}),
    ([('disk_format', 'in:raw,iso')], {'alpha', 'share'}),
    ([('container_format', 'ovf')], {'glass'}),
    ([('tag', 'x')], {'alpha', 'beta'}),
    ([('tag', 'x'), ('tag', 'y')], {'alpha'}),
    ([('tag', 'z')], set()),
    ([('os_distro', 'cirros')], {'beta'}),
    ([('os_distro', 'CIRROS')], set()),
    ([('long', 'v' * 300)], {'nameless'}),
    ([('long', 'v' * 255 + 'w' * 45)], {'long2'}),
    ([('long', 'v' * 255)], set()),
    ([('size_min', '100')], {'alpha', 'share'}),
    ([('size_max', '100')], {'alpha', 'glass'}),
    ([('size_min', '50'), ('size_max', '100')], {'alpha', 'glass'}),
    ([('protected', 'true')], {'alpha'}),
    ([('protected', 'false')], LISTED - {'alpha'}),
    ([('os_hidden', 'true')], {'hidden'}),
    ([('os_hidden', 'false')], LISTED),
    ([('visibility', 'public')], {'share'}),
    ([('visibility', 'private')], set()),
    ([('min_ram', '512')], {'alpha'}),
    ([('checksum', 'a' * 32)], {'alpha'}),
    ([('os_hash_value', 'b' * 128)], {'share'}),
    ([('owner', 'someone-else')], set()),
    ([('created_at', 'lt:2000-01-01T00:00:00Z')], set()),
    ([('created_at', 'gt:2000-01-01T00:00:00Z')], LISTED),
    ([('updated_at', 'neq:2000-01-01T00:00:00Z')], LISTED),
    ([('created_at', 'gte:2999-01-01T00:00:00+02:00')], set()),
]


@pytest.mark.parametrize('params,expected', FILTERS,
                         ids=['&'.join('%s=%s' % (k, v[:20]) for k, v in p) or 'none'
                              for p, _ in FILTERS])
def test_filters_select_the_matching_images(client, catalog, catalog_owner, params,
                                            expected):
    records, next_marker = client.list_images(
        catalog_owner, [('test_scope', catalog['scope'])] + params)
    assert keys_of(records, catalog) == expected
    assert next_marker is None


def test_owner_and_id_filters(client, catalog, catalog_owner):
    scope = [('test_scope', catalog['scope'])]
    records, _ = client.list_images(catalog_owner,
                                    scope + [('owner', catalog_owner.project_id)])
    assert keys_of(records, catalog) == LISTED
    records, _ = client.list_images(catalog_owner, scope + [('id', catalog['beta']['id'])])
    assert keys_of(records, catalog) == {'beta'}
    records, _ = client.list_images(catalog_owner, scope + [
        ('id', 'in:%s,%s' % (catalog['beta']['id'], catalog['deleted']['id']))])
    assert keys_of(records, catalog) == {'beta'}


def test_the_most_filters_a_list_takes_work_on_every_backend(client, catalog,
                                                            catalog_owner):
    # test_scope is the first of list_params.MAX_FILTERS; 'x' matches alpha and beta.
    many = ([('test_scope', catalog['scope'])] + [('tag', 'x')] * 15
            + [('os_distro', 'ubuntu')] * 15 + [('status', 'in:queued,active')])
    assert len(many) == list_params.MAX_FILTERS
    records, _ = client.list_images(catalog_owner, many)
    assert keys_of(records, catalog) == {'alpha'}
    with pytest.raises(errors.BadRequest):
        client.list_images(catalog_owner, many + [('tag', 'y')])


def test_a_long_in_filter_reaches_the_registry(client, catalog, catalog_owner):
    # Its commas travel unencoded: %2C tripled 1,000 one-letter names past gunicorn's
    # request-line limit.
    names = ','.join(['alpha'] + ['n'] * 1000)
    records, _ = client.list_images(catalog_owner, [
        ('test_scope', catalog['scope']), ('name', 'in:' + names)])
    assert keys_of(records, catalog) == {'alpha'}


def test_time_filters_compare_full_precision(client, catalog, catalog_owner):
    scope = [('test_scope', catalog['scope'])]
    # The record shows whole seconds; the stored time has microseconds, so the
    # image was updated at or after its shown second and before the next one.
    shown = catalog['beta']['updated_at']
    records, _ = client.list_images(catalog_owner, scope + [
        ('updated_at', 'gte:' + shown), ('id', catalog['beta']['id'])])
    assert keys_of(records, catalog) == {'beta'}
    records, _ = client.list_images(catalog_owner, scope + [
        ('updated_at', 'lt:' + shown), ('id', catalog['beta']['id'])])
    assert records == []


def test_records_in_a_list_are_the_same_as_shown_one_by_one(client, catalog,
                                                            catalog_owner):
    records, _ = client.list_images(catalog_owner, [('test_scope', catalog['scope'])])
    for record in records:
        assert client.get_image(catalog_owner, record['id']) == record


# -- sorting and pagination ----------------------------------------------------------

NAMES = [None, '', 'a', 'a ', 'A', 'alpha', 'Alpha', 'beta', 'ünïcode', 'zeta', '10',
         '9', 'b b']


@pytest.fixture(scope='module')
def shelf(registry):
    """30 images with repeating, sometimes null, sort keys."""
    from glance_registry.client import identity
    client = registry.client
    owner = identity.Identity('shelf-user', 'shelf-%s' % random.getrandbits(32))
    scope = 'shelf-%s' % random.getrandbits(64)
    rng = random.Random(7)
    made = []
    for i in range(30):
        disk, container = rng.choice([(None, None), ('raw', 'bare'), ('qcow2', 'bare'),
                                      ('qcow2', 'ovf'), ('iso', 'ova')])
        image = client.create_image(owner, {
            'name': rng.choice(NAMES), 'disk_format': disk,
            'container_format': container, 'properties': {'test_scope': scope}})
        if disk and rng.random() < 0.7:
            size = rng.choice([None, 0, 1, 10, 10, 2 ** 40])
            image = client.transition_status(owner, image['id'], 'queued', 'saving',
                                             values={'size': size})
            if rng.random() < 0.5:
                image = client.transition_status(owner, image['id'], 'saving',
                                                 'active', values={'size': size})
        made.append(image)
    return owner, scope, made


_NULLS = {'name': '', 'disk_format': '', 'container_format': '', 'size': -1}


def expected_order(records, sort):
    def compare(left, right):
        for key, direction in sort:
            a = left[key] if left[key] is not None else _NULLS[key]
            b = right[key] if right[key] is not None else _NULLS[key]
            if a != b:
                result = -1 if a < b else 1
                return result if direction == 'asc' else -result
        return 0
    return sorted(records, key=functools.cmp_to_key(compare))


def walk(client, owner, params, limit):
    seen, marker, pages = [], None, 0
    while True:
        page_params = list(params) + [('limit', str(limit))]
        if marker:
            page_params.append(('marker', marker))
        page, marker = client.list_images(owner, page_params)
        pages += 1
        seen.extend(page)
        if marker is None:
            return seen, pages
        assert len(page) == limit


SORTS = [
    ([('sort', 'name:asc,size:desc')], [('name', 'asc'), ('size', 'desc')]),
    ([('sort_key', 'size'), ('sort_key', 'name'), ('sort_dir', 'desc'),
      ('sort_dir', 'asc')], [('size', 'desc'), ('name', 'asc')]),
    ([('sort', 'disk_format:desc,container_format:asc,status:asc')],
     [('disk_format', 'desc'), ('container_format', 'asc'), ('status', 'asc')]),
    ([('sort_key', 'status')], [('status', 'desc')]),
    ([('sort', 'name')], [('name', 'desc')]),
    ([('sort', 'id:asc')], [('id', 'asc')]),
    ([('sort_key', 'size'), ('sort_dir', 'asc')], [('size', 'asc')]),
]


@pytest.mark.parametrize('params,sort', SORTS,
                         ids=['&'.join('%s=%s' % p for p in params) for params, _ in SORTS])
def test_pages_walk_the_sorted_list_exactly(client, shelf, params, sort):
    owner, scope, made = shelf
    expected = expected_order(made, sort + [('id', 'desc')] if sort[-1][0] != 'id'
                              else sort)
    seen, pages = walk(client, owner, [('test_scope', scope)] + params, limit=7)
    assert [r['id'] for r in seen] == [r['id'] for r in expected]
    assert pages == 5


@pytest.mark.parametrize('params', [[], [('sort', 'updated_at:asc,name:desc')],
                                    [('sort', 'created_at:asc')]])
def test_time_sorted_pages_match_one_big_page(client, shelf, params):
    owner, scope, made = shelf
    one_page, marker = client.list_images(owner, [('test_scope', scope),
                                                  ('limit', '100')] + params)
    assert marker is None and len(one_page) == 30
    seen, _ = walk(client, owner, [('test_scope', scope)] + params, limit=4)
    assert [r['id'] for r in seen] == [r['id'] for r in one_page]
    if not params:
        created = [r['created_at'] for r in seen]
        assert created == sorted(created, reverse=True)


def test_limit_zero_returns_nothing_and_a_full_last_page_has_no_marker(client, shelf):
    owner, scope, _ = shelf
    assert client.list_images(owner, [('test_scope', scope), ('limit', '0')]) == ([], None)
    page, marker = client.list_images(owner, [('test_scope', scope), ('limit', '30')])
    assert len(page) == 30 and marker is None
    page, marker = client.list_images(owner, [('test_scope', scope), ('limit', '29')])
    assert len(page) == 29 and marker == page[-1]['id']


def test_default_limit_is_25(client, shelf):
    owner, scope, _ = shelf
    page, marker = client.list_images(owner, [('test_scope', scope)])
    assert len(page) == 25 and marker == page[-1]['id']


def test_marker_must_be_an_image_the_caller_can_see(client, shelf, project):
    owner, scope, made = shelf
    stranger = project()
    with pytest.raises(errors.BadRequest) as raised:
        client.list_images(owner, [('marker', 'no-such-image')])
    assert 'marker' in raised.value.message
    with pytest.raises(errors.BadRequest):
        client.list_images(stranger, [('marker', made[0]['id'])])
    deleted = client.create_image(owner, {})
    client.delete_image(owner, deleted['id'])
    with pytest.raises(errors.BadRequest):
        client.list_images(owner, [('marker', deleted['id'])])


@pytest.mark.parametrize('query,parameter', [
    ('limit=ten', 'limit'),
    ('limit=-1', 'limit'),
    ('sort=name:up', 'up'),
    ('sort=name&sort_key=size', 'sort'),
    ('sort_key=owner', 'owner'),
    ('sort_key=name&sort_key=size&sort_key=id&sort_dir=asc&sort_dir=desc', 'sort_dir'),
    ('name=in:%22a,b', 'name'),
    ('name=like:a', 'like'),
    ('created_at=gt:yesterday', 'created_at'),
    ('size_min=big', 'size_min'),
    ('protected=yes', 'protected'),
    ('visibility=secret', 'visibility'),
    ('member_status=maybe', 'member_status'),
    ('changes-since=2026-01-01T00:00:00Z', 'changes-since'),
    ('os_hidden=maybe', 'os_hidden'),
    ('name=%FF', 'UTF-8'),
    ('name=a%00b', 'NUL'),
    ('os_distro=%00', 'NUL'),
])
def test_invalid_list_parameters_are_bad_requests(registry, query, parameter):
    response = requests.get(registry.url + '/v1/images?' + query,
                            auth=registry.auth())
    assert response.status_code == 400, response.text
    error = response.json()['error']
    assert error['code'] == 'bad_request'
    assert parameter in error['message']


@pytest.fixture
def in_process(registry):
    """The registry's database, opened in this process, counting its queries."""
    db = db_module.open_database(registry.database_url)
    queries = []
    db.query_hooks.append(lambda event: queries.append(event.sql))
    yield db, queries
    db.close_all()


def test_a_list_costs_a_few_queries_whatever_the_page_size(
        in_process, shelf):
    db, queries = in_process
    owner, scope, _ = shelf
    counts = {}
    for limit in (1, 5, 30):
        for marker in (None, shelf[2][3]['id']):
            params = [('test_scope', scope), ('limit', str(limit))]
            if marker:
                params.append(('marker', marker))
            query = list_params.parse_list_params(params)
            del queries[:]
            with db_module.connection(db):
                listed, _ = records.list_images(db, owner, query)
            assert listed
            counts[limit, marker is not None] = len(queries)
    # The count of the property filter's matches, of the images the owner may
    # list, and of the property's images it may list (its 30 each), the page of
    # images, then one UNION of their properties, tags, locations and the
    # caller's memberships; and the marker's row when there is one. (Driven by
    # the images it may list instead, a page smaller than them would also count
    # the catalogue: ``records._outgrown``. The property's own count, first of
    # the fewest, drives it.)
    for limit in (1, 5, 30):
        assert counts[limit, False] == 3, counts
        assert counts[limit, True] == 4, counts


def test_showing_an_image_is_one_query(in_process, shelf):
    db, queries = in_process
    owner, _, shelved = shelf
    del queries[:]
    with db_module.connection(db):
        record = records.get_image(db, owner, shelved[0]['id'])
    assert record['id'] == shelved[0]['id']
    assert len(queries) == 1


def sqlite_first_page_plan(in_process, caller, params):
    """SQLite's plan for the first page of a list with ``params``, as one line."""
    db, _ = in_process
    if db_module.dialect(db) != 'sqlite':
        skips.not_applicable('an SQLite query plan')
    query = list_params.parse_list_params([('limit', '25')] + params)
    select = (models.Image.select(models.Image.id)
              .where(filters.list_condition(query, caller, 'sqlite'))
              .order_by(*filters.order_by(query.sort)).limit(26))
    sql, sql_params = select.bind(db).sql()
    with db_module.connection(db):
        return ' | '.join(row[-1] for row in
                          db.execute_sql('EXPLAIN QUERY PLAN ' + sql, sql_params))


@pytest.mark.parametrize('caller', [
    pytest.param(identity_module.Identity('u', None, is_admin=True), id='admin'),
    pytest.param(identity_module.Identity('u', 'plan-project'), id='project-member'),
])
@pytest.mark.parametrize('filters_, index', [
    pytest.param([], 'ix_images_created_at_id', id='no-filter'),
    pytest.param([('status', 'active')], 'ix_images_status_created_at_id',
                 id='status'),
    pytest.param([('status', 'in:active,queued')], 'ix_images_created_at_id',
                 id='status-in'),
])
def test_the_default_first_page_walks_a_created_at_index_on_sqlite(in_process,
                                                                   caller, filters_,
                                                                   index):
    """No sort of every visible (or active) image to return one page (seconds at
    100,000)."""
    plan = sqlite_first_page_plan(in_process, caller, filters_)
    assert 'USING INDEX %s' % index in plan, plan
    assert 'TEMP B-TREE' not in plan, plan


@pytest.mark.parametrize('direction', ['asc', 'desc'])
def test_a_first_page_sorted_by_name_walks_the_name_index_on_sqlite(in_process,
                                                                    direction):
    """Only images with the same name are sorted (by id), not every visible image."""
    plan = sqlite_first_page_plan(in_process,
                                  identity_module.Identity('u', 'plan-project'),
                                  [('sort', 'name:' + direction)])
    assert 'USING INDEX ix_images_name_sort' in plan, plan
    assert 'TEMP B-TREE FOR ORDER BY' not in plan, plan
