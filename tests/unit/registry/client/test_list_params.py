"""Parsing the list API's query parameters, as upstream Glance parses them."""

import datetime

import pytest

from glance_registry.client import errors
from glance_registry.client import list_params


def parse(*pairs, **kwargs):
    return list_params.parse_list_params(pairs, **kwargs)


def test_defaults_are_25_images_newest_first_hidden_excluded_accepted_shares():
    query = parse()
    assert query.limit == 25
    assert query.marker is None
    assert query.sort == (('created_at', 'desc'), ('id', 'desc'))
    assert query.visibility is None
    assert query.member_status == 'accepted'
    assert query.os_hidden is False
    assert query.protected is None


@pytest.mark.parametrize('value,hidden', [('true', True), ('True', True), ('1', True),
                                          ('yes', True), ('false', False),
                                          ('False', False), ('0', False)])
def test_os_hidden_takes_any_boolean_spelling_as_upstream(value, hidden):
    assert parse(('os_hidden', value)).os_hidden is hidden


def test_limit_is_capped_at_the_maximum():
    assert parse(('limit', '5000')).limit == 1000
    assert parse(('limit', '50'), limit_max=20).limit == 20
    assert parse(limit_default=7).limit == 7
    assert parse(('limit', '0')).limit == 0


@pytest.mark.parametrize('pairs,expected', [
    ([('sort_key', 'name')], (('name', 'desc'), ('id', 'desc'))),
    ([('sort_key', 'name'), ('sort_dir', 'asc')], (('name', 'asc'), ('id', 'desc'))),
    # One direction applies to every key.
    ([('sort_key', 'name'), ('sort_key', 'size'), ('sort_dir', 'asc')],
     (('name', 'asc'), ('size', 'asc'), ('id', 'desc'))),
    ([('sort_key', 'name'), ('sort_key', 'size'), ('sort_dir', 'asc'),
      ('sort_dir', 'desc')], (('name', 'asc'), ('size', 'desc'), ('id', 'desc'))),
    ([('sort_dir', 'asc')], (('created_at', 'asc'), ('id', 'desc'))),
    ([('sort', 'name:asc,size')], (('name', 'asc'), ('size', 'desc'), ('id', 'desc'))),
    ([('sort', ' status:asc , id:asc ')], (('status', 'asc'), ('id', 'asc'))),
    # id given as a key is not appended again; a repeated key counts once.
    ([('sort_key', 'id'), ('sort_dir', 'asc')], (('id', 'asc'),)),
    ([('sort', 'name:asc,name:desc')], (('name', 'asc'), ('id', 'desc'))),
])
def test_sorting_syntaxes(pairs, expected):
    assert parse(*pairs).sort == expected


def test_filters_are_collected():
    query = parse(('name', 'in:a,"b, c",d'), ('status', 'active'), ('owner', 'p'),
                  ('tag', 'x'), ('tag', 'y'), ('os_distro', 'cirros'),
                  ('size_min', '10'), ('size_max', '20'), ('protected', 'true'),
                  ('os_hidden', 'true'), ('visibility', 'community'),
                  ('member_status', 'all'), ('min_ram', '512'),
                  ('created_at', 'gte:2026-01-02T03:04:05Z'),
                  ('updated_at', '2026-01-02T03:04:05+01:00'),
                  ('checksum', 'c'), ('os_hash_value', 'h'), ('marker', 'm'))
    assert query.matches == (('name', ('a', 'b, c', 'd')), ('status', ('active',)),
                             ('owner', ('p',)), ('min_ram', (512,)),
                             ('checksum', ('c',)), ('os_hash_value', ('h',)))
    assert query.tags == ('x', 'y')
    assert query.properties == (('os_distro', 'cirros'),)
    assert (query.size_min, query.size_max) == (10, 20)
    assert query.protected is True and query.os_hidden is True
    assert query.visibility == 'community' and query.member_status == 'all'
    assert query.times == (
        ('created_at', 'gte', datetime.datetime(2026, 1, 2, 3, 4, 5)),
        ('updated_at', 'eq', datetime.datetime(2026, 1, 2, 2, 4, 5)))
    assert query.marker == 'm'


@pytest.mark.parametrize('value,expected', [
    ('cirros', ('cirros',)),
    ('eq:a:b', ('a:b',)),
    ('in:a', ('a',)),
    ('in:a,b', ('a', 'b')),
    ('in:"glass, darkly",share me', ('glass, darkly', 'share me')),
    ('in:a,,b', ('a', '', 'b')),
    # A value twice matches what it matches once: it is kept once.
    ('in:b,a,b,"a"', ('b', 'a')),
    # A whole ISO 8601 time is a value, not "operator:value".
    ('2026-01-01T10:00:00', ('2026-01-01T10:00:00',)),
])
def test_exact_and_in_values(value, expected):
    assert parse(('name', value)).matches == (('name', expected),)


@pytest.mark.parametrize('pairs,names', [
    ([('limit', 'ten')], 'limit'),
    ([('limit', '-1')], 'limit'),
    ([('limit', '1.5')], 'limit'),
    ([('limit', ' 1')], 'limit'),
    ([('sort_key', 'owner')], 'owner'),
    ([('sort_key', '')], 'sort key'),
    ([('sort_dir', 'up')], 'up'),
    ([('sort', 'name:up')], 'up'),
    ([('sort', 'bogus:asc')], 'bogus'),
    ([('sort', 'name'), ('sort_key', 'size')], 'sort'),
    ([('sort', 'name'), ('sort_dir', 'asc')], 'sort'),
    ([('sort_key', 'name'), ('sort_key', 'size'), ('sort_key', 'id'),
      ('sort_dir', 'asc'), ('sort_dir', 'desc')], 'sort_dir'),
    ([('sort_dir', 'asc'), ('sort_dir', 'desc')], 'sort_dir'),
    ([('name', 'in:"a,b')], 'name'),
    ([('name', 'in:a"b"')], 'name'),
    ([('name', 'in:"a"b')], 'name'),
    ([('name', 'like:a')], 'like'),
    ([('status', 'neq:active')], 'neq'),
    ([('created_at', 'yesterday')], 'created_at'),
    ([('created_at', 'gt:2026-13-01T00:00:00Z')], 'created_at'),
    # Valid ISO 8601, but in UTC past the years a datetime holds.
    ([('created_at', 'gt:9999-12-31T23:59:59-01:00')], 'created_at'),
    ([('updated_at', 'lte:0001-01-01T00:00:00+00:01')], 'updated_at'),
    ([('updated_at', 'after:2026-01-01T00:00:00Z')], 'after'),
    ([('created_at', 'in:2026-01-01T00:00:00Z')], 'in'),
    ([('size_min', 'big')], 'size_min'),
    ([('size_max', '1e3')], 'size_max'),
    ([('min_ram', 'lots')], 'min_ram'),
    ([('protected', 'True')], 'protected'),
    ([('protected', '1')], 'protected'),
    ([('os_hidden', 'maybe')], 'os_hidden'),
    ([('visibility', 'secret')], 'visibility'),
    ([('member_status', 'maybe')], 'member_status'),
    ([('changes-since', '2026-01-01T00:00:00Z')], 'changes-since'),
    ([('deleted', 'true')], 'deleted'),
    ([('name', 'a'), ('name', 'b')], 'name'),
    ([('limit', '1'), ('limit', '2')], 'limit'),
    ([('tag', 't%d' % n) for n in range(33)], 'filters'),
    ([('p%d' % n, 'v') for n in range(20)] + [('tag', 't')] * 13, 'filters'),
])
def test_invalid_parameters_are_bad_requests_naming_the_parameter(pairs, names):
    with pytest.raises(errors.BadRequest) as raised:
        list_params.parse_list_params(pairs)
    assert names in raised.value.message


@pytest.mark.parametrize('text,expected', [
    ('2026-01-02T03:04:05Z', datetime.datetime(2026, 1, 2, 3, 4, 5)),
    ('2026-01-02T03:04:05.250000Z', datetime.datetime(2026, 1, 2, 3, 4, 5, 250000)),
    ('2026-01-02T03:04:05-02:00', datetime.datetime(2026, 1, 2, 5, 4, 5)),
    ('2026-01-02T03:04:05', datetime.datetime(2026, 1, 2, 3, 4, 5)),
    ('2026-01-02', datetime.datetime(2026, 1, 2)),
    ('not a time', None),
    ('', None),
])
def test_times_are_iso_8601_normalised_to_naive_utc(text, expected):
    assert list_params.parse_time(text) == expected


@pytest.mark.parametrize('limit, expected', [(None, 25), (0, 0), (7, 7), (1000, 1000),
                                             (1001, 1000)])
def test_a_page_holds_the_limit_asked_never_more_than_the_maximum(limit, expected):
    assert list_params.page_size(limit, 25, 1000) == expected


def test_a_default_over_the_maximum_is_capped_too():
    assert list_params.page_size(None, 50, 10) == 10
