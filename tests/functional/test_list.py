"""GET /v2/images: paging, sorting, filters and their 400s, over HTTP."""

import datetime
import time
import urllib.parse

import pytest

from tests.fixtures import deployment


def assert_400(response):
    assert response.status_code == 400, response.text
    assert response.json()['code'] == '400 Bad Request'


@pytest.fixture(scope='module')
def catalogue(glance):
    """A project with 30 images of varied attributes, and its client."""
    project = deployment.new_project()
    client = glance.client(project)
    images = []
    pivot = None
    for i in range(30):
        if i == 15:
            # Leave a whole second with no image in it, for created_at filters.
            time.sleep(1.05)
            pivot_time = datetime.datetime.now(datetime.timezone.utc).replace(
                microsecond=0) + datetime.timedelta(seconds=1)
            pivot = pivot_time.strftime('%Y-%m-%dT%H:%M:%SZ')
            while datetime.datetime.now(datetime.timezone.utc) < \
                    pivot_time + datetime.timedelta(seconds=0.05):
                time.sleep(0.05)
        uploaded = i % 4 == 0
        # Uploaded data is a few bytes: raw content (inspection refuses it as any
        # other disk format).
        image = client.create_image(
            name='img-%02d' % (i % 10),
            disk_format='raw' if uploaded else ('raw', 'qcow2', 'iso')[i % 3],
            container_format='bare', os_hidden=(i == 29), protected=(i == 28),
            tags=['all'] + (['even'] if i % 2 == 0 else []) + (['x3'] if i % 3 == 0
                                                                 else []),
            flavour='vanilla' if i < 5 else 'chocolate')
        if uploaded:
            assert client.upload(image['id'], b'z' * (i + 1)).status_code == 204
        images.append(dict(client.image(image['id']), pivot=pivot))
    yield client, images
    client.close()


def ids(response):
    assert response.status_code == 200, response.text
    return [image['id'] for image in response.json()['images']]


def walk(client, query, own=True):
    """Follow ``next`` links from a first page; every id seen, in order.

    ``own`` restricts the list to the client's project, so that public images other
    tests make do not show up.
    """
    seen = []
    url = '/v2/images?' + query
    if own and client.project:
        url += '&owner=%s' % client.project
    for _ in range(100):
        response = client.get(url)
        seen.extend(ids(response))
        body = response.json()
        assert body['schema'] == '/v2/schemas/images'
        if 'next' not in body:
            return seen
        url = body['next']
    raise AssertionError('pagination did not end')


def visible(images):
    return [i for i in images if not i['os_hidden']]


def test_default_page_is_25_newest_first(catalogue):
    client, images = catalogue
    response = client.get('/v2/images?owner=%s' % client.project)
    page = response.json()['images']
    assert len(page) == 25
    created = [image['created_at'] for image in page]
    assert created == sorted(created, reverse=True)
    newest = sorted((i['created_at'] for i in visible(images)), reverse=True)
    assert created == newest[:25]
    body = response.json()
    assert body['first'] == '/v2/images?owner=%s' % client.project
    assert 'marker=' in body['next']


@pytest.mark.parametrize('query, key, reverse', [
    ('sort_key=name&sort_dir=asc', lambda i: i['name'], False),
    ('sort=name:asc,created_at:desc', lambda i: i['name'], False),
    ('sort_key=size&sort_dir=desc', lambda i: i['size'] or -1, True),
    ('sort=disk_format:asc', lambda i: i['disk_format'], False),
    ('sort=created_at:asc', lambda i: i['created_at'], False),
    ('sort_key=status&sort_key=name&sort_dir=desc&sort_dir=asc',
     lambda i: (i['status'], i['name']), None),
])
def test_pagination_walks_every_image_once_in_sort_order(catalogue, query, key,
                                                         reverse):
    client, images = catalogue
    seen = walk(client, query + '&limit=7')
    assert len(seen) == len(set(seen)) == len(visible(images))
    by_id = {image['id']: image for image in images}
    values = [key(by_id[image_id]) for image_id in seen]
    if reverse is None:
        # status descending, then name ascending
        expected = sorted(values, key=lambda v: v[1])
        expected = sorted(expected, key=lambda v: v[0], reverse=True)
    else:
        expected = sorted(values, reverse=reverse)
    assert values == expected


def test_next_link_keeps_the_query(catalogue):
    client, _ = catalogue
    body = client.get('/v2/images?limit=2&tag=even&sort=name:asc').json()
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(body['next']).query))
    assert query['tag'] == 'even' and query['sort'] == 'name:asc'
    assert query['limit'] == '2' and query['marker'] == body['images'][-1]['id']


@pytest.mark.parametrize('query, predicate', [
    ('name=img-03', lambda i: i['name'] == 'img-03'),
    ('name=in:img-01,img-02', lambda i: i['name'] in ('img-01', 'img-02')),
    ('disk_format=iso', lambda i: i['disk_format'] == 'iso'),
    ('disk_format=in:raw,iso', lambda i: i['disk_format'] in ('raw', 'iso')),
    ('status=active', lambda i: i['status'] == 'active'),
    ('status=in:active,queued', lambda i: True),
    ('tag=even', lambda i: 'even' in i['tags']),
    ('tag=even&tag=x3', lambda i: {'even', 'x3'} <= set(i['tags'])),
    ('flavour=vanilla', lambda i: i.get('flavour') == 'vanilla'),
    ('size_min=9', lambda i: (i['size'] or 0) >= 9),
    ('size_max=9&status=active', lambda i: i['size'] is not None and i['size'] <= 9),
    ('protected=true', lambda i: i['protected']),
    ('protected=false', lambda i: not i['protected']),
    ('container_format=bare', lambda i: True),
])
def test_filters_select_exactly_the_matching_images(catalogue, query, predicate):
    client, images = catalogue
    seen = walk(client, query + '&limit=100')
    assert sorted(seen) == sorted(i['id'] for i in visible(images) if predicate(i))


def test_hidden_images_are_listed_only_on_request(catalogue):
    client, images = catalogue
    hidden = [i['id'] for i in images if i['os_hidden']]
    assert not set(hidden) & set(walk(client, 'limit=100'))
    assert walk(client, 'os_hidden=true&limit=100') == hidden


def test_created_at_operators(catalogue):
    client, images = catalogue
    pivot = catalogue_pivot(images)
    later = walk(client, 'created_at=gt:%s&limit=100' % pivot)
    # Images made after the pivot carry it; those made before carry None.
    assert sorted(later) == sorted(i['id'] for i in visible(images) if i['pivot'])
    earlier = walk(client, 'created_at=lte:%s&limit=100' % pivot)
    assert sorted(earlier) == sorted(i['id'] for i in visible(images)
                                     if not i['pivot'])
    assert sorted(walk(client, 'created_at=neq:%s&limit=100' % pivot)) == \
        sorted(i['id'] for i in visible(images))
    assert walk(client, 'updated_at=gte:2999-01-01T00:00:00Z') == []


def catalogue_pivot(images):
    """A whole second between the first 15 images and the rest (see catalogue)."""
    return images[15]['pivot']


def test_limit_is_capped_at_api_limit_max(catalogue):
    client, images = catalogue
    assert len(ids(client.get('/v2/images?limit=5000&owner=%s' % client.project))) \
        == len(visible(images))


def test_other_projects_do_not_see_shared_or_private_images(glance, catalogue):
    _, images = catalogue
    with glance.client(deployment.new_project()) as stranger:
        mine = set(walk(stranger, 'limit=1000', own=False))
        assert not mine & {i['id'] for i in images}


def test_visibility_filter(glance, admin):
    project = deployment.new_project()
    with glance.client(project) as client:
        private = client.create_image(visibility='private')
        community = client.create_image(visibility='community')
        shared = client.create_image()
        with glance.client(deployment.new_project()) as stranger:
            listed = set(walk(stranger, 'visibility=community&limit=1000', own=False))
            assert community['id'] in listed
            assert private['id'] not in listed
            assert community['id'] not in set(walk(stranger, 'limit=1000', own=False))
        assert walk(client, 'visibility=private&limit=100') == [private['id']]
        assert shared['id'] in walk(client, 'visibility=shared&limit=100')
    public = admin.create_image(visibility='public')
    assert public['id'] in walk(admin, 'visibility=public&limit=1000')


@pytest.mark.parametrize('query', [
    'limit=abc', 'limit=-1', 'marker=%s' % '00000000-0000-0000-0000-000000000000',
    'sort_key=flavour', 'sort_dir=sideways', 'sort=name:up',
    'sort=name:asc&sort_key=name', 'size_min=small', 'size_max=1.5',
    'created_at=gt:yesterday', 'created_at=after:2020-01-01T00:00:00Z',
    'protected=yes', 'visibility=secret', 'member_status=maybe',
    'status=like:active', 'name=in:"unterminated', 'changes-since=2020-01-01',
    'os_hidden=perhaps',
])
def test_invalid_list_parameters_are_400(tenant, query):
    assert_400(tenant.get('/v2/images?' + query))


def test_listed_images_carry_their_properties_and_tags(catalogue):
    client, _ = catalogue
    body = client.get('/v2/images?limit=100&flavour=vanilla&owner=%s'
                      % client.project).json()
    assert len(body['images']) == 5
    assert all(image['flavour'] == 'vanilla' and 'all' in image['tags']
               for image in body['images'])
