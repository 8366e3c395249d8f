"""The HTTP surface: authentication, routing, request validation, error bodies."""

import socket
import time
import uuid

import orjson
import peewee
import pytest
import requests
import webob

from glance_registry import app as app_module
from glance_registry import client as client_module
from glance_registry import validation
from glance_registry.client import errors
from glance_registry.client import identity
from glance_registry.client import transport
from glance_registry.images import records
from tests.fixtures import raw_http
from tests.fixtures import registry_signing
from tests.fixtures import skips
from tests.integration import swift_helpers
from tests.unit.registry.conftest import ADMIN

CALLER = identity.Identity('user', 'http-project')


def scoped_count(registry, scope):
    """How many images carry ``scope`` (seen by an admin)."""
    response = requests.get(registry.url + '/v1/images',
                            params={'test_scope': scope, 'visibility': 'all',
                                    'limit': '1000'},
                            auth=registry.auth(ADMIN))
    assert response.status_code == 200
    return len(response.json()['images'])


def post(registry, body, headers=None, caller=CALLER, raw=False):
    """POST /v1/images with ``body``, signed for ``caller`` unless ``headers`` are
    given (a function of the body's bytes returning the headers to send)."""
    data = body if raw else orjson.dumps(body)
    if headers is None:
        auth, headers = registry.auth(caller), {}
    else:
        auth, headers = None, dict(headers(data))
    headers.setdefault('Content-Type', 'application/json')
    return requests.post(registry.url + '/v1/images', data=data, headers=headers,
                         auth=auth)


# -- authentication ------------------------------------------------------------------

def _signed(secret, body, **sign_kwargs):
    return registry_signing.headers_for(CALLER, secret, 'POST', '/v1/images', body,
                                        **sign_kwargs)


def _forged(registry, body):
    return _signed('not-the-secret', body)


def _tampered(registry, body):
    headers = _signed(registry.secret, body)
    headers[identity.HEADER_ADMIN] = '1'
    return headers


def _expired(registry, body):
    return _signed(registry.secret, body, ttl=10, now=time.time() - 60)


def _unsigned(registry, body):
    headers = _signed(registry.secret, body)
    del headers[identity.HEADER_SIGNATURE]
    return headers


def _non_ascii(registry, body):
    headers = _signed(registry.secret, body)
    headers[identity.HEADER_SIGNATURE] = '\u00e9\u00e9'.encode('latin-1')
    return headers


def _superscript_expiry(registry, body):
    headers = _signed(registry.secret, body)
    headers[identity.HEADER_EXPIRES] = '\u00b2'.encode('latin-1')
    return headers


def _for_another_body(registry, body):
    return _signed(registry.secret, b'{"name": "harmless"}')


@pytest.mark.parametrize('make_headers', [lambda r, b: {}, _unsigned, _forged,
                                          _tampered, _expired, _non_ascii,
                                          _superscript_expiry, _for_another_body],
                         ids=['none', 'unsigned', 'forged', 'tampered', 'expired',
                              'non-ascii', 'superscript-expiry', 'another-body'])
def test_requests_without_a_valid_signature_are_refused_and_write_nothing(
        registry, scope, make_headers):
    body = {'name': 'x', 'properties': {'test_scope': scope}}
    headers = make_headers(registry, orjson.dumps(body))
    response = post(registry, body, headers=lambda data: headers)
    assert response.status_code == 401
    assert response.json()['error']['code'] == 'unauthorized'
    assert response.json()['error']['reason'] == 'invalid_credentials'
    assert scoped_count(registry, scope) == 0
    image = registry.client.create_image(CALLER, {'properties': {'test_scope': scope}})
    for method, path in [('GET', '/v1/images'), ('GET', '/v1/images/' + image['id']),
                         ('PATCH', '/v1/images/' + image['id']),
                         ('DELETE', '/v1/images/' + image['id']),
                         ('PUT', '/v1/images/%s/status' % image['id']),
                         ('PUT', '/v1/images/%s/tags/t' % image['id']),
                         ('PUT', '/v1/images/%s/reservation' % image['id']),
                         ('GET', '/v1/images/%s/members' % image['id']),
                         ('POST', '/v1/images/%s/members' % image['id']),
                         ('GET', '/v1/images/%s/members/m' % image['id']),
                         ('PUT', '/v1/images/%s/members/m' % image['id']),
                         ('DELETE', '/v1/images/%s/members/m' % image['id']),
                         ('GET', '/v1/usage'),
                         ('POST', '/v1/images/%s/locations' % image['id']),
                         ('PUT', '/v1/images/%s/locations' % image['id']),
                         ('DELETE', '/v1/images/%s/locations' % image['id']),
                         ('PUT', '/v1/images/%s/locations/lease' % image['id']),
                         ('POST', '/v1/location-references'),
                         ('GET', '/no/such/path')]:
        response = requests.request(method, registry.url + path, headers=headers,
                                    json={'values': {'name': 'changed'}})
        assert response.status_code == 401, (method, path)
    assert registry.client.get_image(CALLER, image['id']) == image


class _Recording:
    """A registry client transport that keeps the headers of every call it sends."""

    def __init__(self, url):
        self.transport = transport.Transport(url, pool_size=1)
        self.sent = []

    def request(self, method, path, headers, body, timeout, fresh=False):
        self.sent.append(dict(headers))
        return self.transport.request(method, path, headers, body, timeout, fresh)

    def close(self):
        self.transport.close()


def test_a_captured_signature_is_good_for_no_other_request(registry, scope):
    owner = identity.Identity('user', 'replay-%s' % uuid.uuid4().hex, ('member',))
    image = registry.client.create_image(owner, {'name': 'before',
                                                 'properties': {'test_scope': scope}})
    other = registry.client.create_image(owner, {'name': 'other'})
    recording = _Recording(registry.url)
    client = client_module.RegistryClient(registry.url, registry.secret,
                                          transport=recording)
    client.get_image(owner, image['id'])
    captured = dict(recording.sent[-1])
    path = '/v1/images/' + image['id']
    # The captured set is good for the very request it came with...
    assert requests.get(registry.url + path, headers=captured).status_code == 200
    replays = [
        ('PATCH', path, None, {'values': {'name': 'renamed'}}),
        ('DELETE', path, None, None),
        ('GET', path, {'anything': 'x'}, None),
        ('GET', '/v1/images/' + other['id'], None, None),
        ('GET', '/v1/images', {'test_scope': scope}, None),
        ('POST', '/v1/images', None, {'name': 'planted', 'owner': 'victim',
                                      'properties': {'test_scope': scope}}),
        ('PUT', path + '/tags/planted', None, None),
        ('PUT', path + '/status', None, {'from': 'queued', 'to': 'saving'}),
    ]
    for method, target, params, body in replays:
        response = requests.request(method, registry.url + target, params=params,
                                    json=body, headers=captured)
        assert response.status_code == 401, (method, target, response.text)
        error = response.json()['error']
        assert (error['code'], error['reason']) == ('unauthorized',
                                                   'invalid_credentials')
        assert 'signature' in error['message'] and 'request' in error['message']
    # ... and nothing was written by the replays.
    assert registry.client.get_image(owner, image['id']) == image
    assert scoped_count(registry, scope) == 1
    client.close()


def test_a_signature_made_over_a_minute_ago_has_expired(registry):
    headers = registry_signing.headers_for(CALLER, registry.secret, 'GET', '/v1/images',
                                           now=time.time() - 61)
    response = requests.get(registry.url + '/v1/images', headers=headers)
    assert response.status_code == 401
    assert 'expired' in response.json()['error']['message']


def test_a_caller_whose_project_id_nothing_could_be_owned_by_is_a_bad_request(
        registry, scope):
    """An image, task or catalog namespace is owned by its creator's project, in a
    column of 255 characters (the API refuses a longer X-Project-Id too): a longer
    one was 500 database_error on PostgreSQL and MariaDB (SQLite took it)."""
    client = registry.client
    for length, expected in ((256, 400), (255, 200)):
        caller = identity.Identity('user', 'p' * (length - 32) + uuid.uuid4().hex,
                                   ('member',))
        calls = [
            lambda: client.create_image(caller, {'properties': {'test_scope': scope}}),
            lambda: client.create_task(caller, {'id': str(uuid.uuid4()),
                                                'type': 'import'}, ttl=60),
            lambda: client.create_metadef_namespace(
                caller, {'namespace': 'ns-%s' % uuid.uuid4().hex}),
        ]
        for call in calls:
            try:
                call()
                status = 200
            except errors.RegistryError as exc:
                assert (exc.reason, exc.message) == (
                    'invalid_request',
                    "The caller's project id is longer than 255 characters")
                status = exc.status
            assert status == expected, length
        assert scoped_count(registry, scope) == (expected == 200)


def test_a_token_is_no_credential_unless_service_tokens_are_accepted(registry):
    response = requests.get(registry.url + '/v1/images',
                            headers={'X-Auth-Token': 'any', 'X-Identity-Status':
                                     'Confirmed', 'X-Roles': 'service,admin'})
    assert response.status_code == 401
    # A signed request may carry a token too: the signature decides.
    assert requests.get(registry.url + '/v1/images', auth=registry.auth(CALLER),
                        headers={'X-Auth-Token': 'any'}).status_code == 200


def test_healthcheck_needs_no_credentials(registry):
    response = requests.get(registry.url + '/healthcheck')
    assert response.status_code == 200
    assert response.text == 'OK'
    assert registry.client.healthy()


# -- routing -------------------------------------------------------------------------

@pytest.mark.parametrize('method,path,allow', [
    ('PUT', '/v1/images', 'GET, POST'),
    ('DELETE', '/v1/images', 'GET, POST'),
    ('POST', '/v1/images/%(id)s', 'DELETE, GET, PATCH'),
    ('PUT', '/v1/images/%(id)s', 'DELETE, GET, PATCH'),
    ('GET', '/v1/images/%(id)s/status', 'PUT'),
    ('GET', '/v1/images/%(id)s/tags/a', 'DELETE, PUT'),
    ('PUT', '/v1/images/%(id)s/members', 'GET, POST'),
    ('POST', '/v1/images/%(id)s/members/p', 'DELETE, GET, PUT'),
    ('GET', '/v1/images/%(id)s/reservation', 'PUT'),
    ('POST', '/v1/usage', 'GET'),
    ('GET', '/v1/images/%(id)s/locations', 'DELETE, POST, PUT'),
    ('POST', '/v1/images/%(id)s/locations/lease', 'PUT'),
    ('GET', '/v1/location-references', 'POST'),
    ('POST', '/healthcheck', 'GET'),
])
def test_wrong_method_on_a_known_path_is_405_with_allow(registry, method, path, allow):
    path = path % {'id': uuid.uuid4()}
    response = requests.request(method, registry.url + path,
                                auth=registry.auth())
    assert response.status_code == 405
    assert response.headers['Allow'] == allow
    assert response.json()['error']['code'] == 'method_not_allowed'
    assert response.json()['error']['reason'] == 'method_not_allowed'


@pytest.mark.parametrize('path', ['/', '/v1', '/v2/images', '/v1/images/x/files',
                                  '/v1/images/x/tags'])
def test_unknown_path_is_404_json(registry, path):
    response = requests.get(registry.url + path, auth=registry.auth())
    assert response.status_code == 404
    assert response.json()['error']['code'] == 'not_found'
    assert response.json()['error']['reason'] == 'resource_not_found'


@pytest.mark.parametrize('path', ['/v1/images/%FF', '/v1/images/a%00b',
                                  '/v1/images/x/tags/%00'])
def test_undecodable_or_nul_paths_are_bad_requests(registry, path):
    response = requests.get(registry.url + path, auth=registry.auth())
    assert response.status_code == 400
    assert response.json()['error']['code'] == 'bad_request'
    assert response.json()['error']['reason'] == 'invalid_request'


def test_request_id_is_echoed_or_made_up(registry):
    response = requests.get(registry.url + '/v1/images?limit=1',
                            auth=registry.auth(),
                            headers={'X-Openstack-Request-Id': 'req-abc'})
    assert response.headers['X-Openstack-Request-Id'] == 'req-abc'
    response = requests.get(registry.url + '/v1/images/nope', auth=registry.auth())
    assert response.headers['X-Openstack-Request-Id'].startswith('req-')
    response = requests.get(registry.url + '/v1/images/nope')
    assert response.headers['X-Openstack-Request-Id'].startswith('req-')


# -- request bodies ------------------------------------------------------------------

BAD_CREATES = [
    ({'name': 1}, 'name'),
    ({'name': 'x' * 256}, 'name'),
    ({'name': 'nul\x00'}, 'name'),
    ({'owner': 'x' * 256}, 'owner'),
    ({'owner': ['p']}, 'owner'),
    ({'min_ram': True}, 'min_ram'),
    ({'min_ram': '512'}, 'min_ram'),
    ({'min_ram': 1.5}, 'min_ram'),
    ({'min_ram': -1}, 'min_ram'),
    ({'min_disk': 2 ** 31}, 'min_disk'),
    ({'protected': 'yes'}, 'protected'),
    ({'os_hidden': 1}, 'os_hidden'),
    ({'visibility': 'secret'}, 'visibility'),
    ({'visibility': None}, 'visibility'),
    ({'id': 'not-a-uuid'}, 'id'),
    ({'id': 7}, 'id'),
    ({'disk_format': 'x' * 256}, 'disk_format'),
    ({'status': 'active'}, 'status'),
    ({'size': 5}, 'size'),
    ({'checksum': 'abc'}, 'checksum'),
    ({'created_at': '2026-01-01T00:00:00Z'}, 'created_at'),
    ({'properties': {'k': 1}}, "'k'"),
    ({'properties': {'k': None}}, "'k'"),
    ({'properties': {'k': 'v' * 65536}}, "'k'"),
    ({'properties': {'k' * 256: 'v'}}, 'properties key'),
    ({'properties': {'': 'v'}}, 'properties key'),
    ({'properties': {'name': 'v'}}, 'name'),
    ({'properties': {'deleted': 'v'}}, 'deleted'),
    ({'tags': 'a'}, 'tags'),
    ({'tags': [1]}, 'tags'),
    ({'tags': ['']}, 'tags'),
    ({'tags': ['x' * 256]}, 'tags'),
]


@pytest.mark.parametrize('body,field', BAD_CREATES,
                         ids=['%s-%d' % (field, i) for i, (_, field) in
                              enumerate(BAD_CREATES)])
def test_invalid_create_bodies_are_bad_requests_naming_the_field(
        registry, scope, body, field):
    properties = dict(body.get('properties', {}), test_scope=scope)
    response = post(registry, dict(body, properties=properties))
    assert response.status_code == 400, response.text
    error = response.json()['error']
    assert (error['code'], error['reason']) == ('bad_request', 'invalid_value')
    assert field in error['message']
    assert scoped_count(registry, scope) == 0


@pytest.mark.parametrize('value, message', [
    ('a\x00b', "'os_distro' contains a NUL character"),
    ('v' * 65536, "'os_distro' is longer than 65535 characters"),
    (1, "'os_distro' must be a string, not integer"),
])
def test_a_bad_property_value_is_named_once_quoted(registry, scope, value, message):
    # It was "'property 'os_distro'' contains ...": quotes within quotes.
    response = post(registry, {'properties': {'os_distro': value, 'test_scope': scope}})
    assert response.status_code == 400, response.text
    assert response.json()['error']['message'] == message


@pytest.mark.parametrize('data,content_type', [
    (b'{"name": ', 'application/json'),
    (b'not json', 'application/json'),
    (b'["a list"]', 'application/json'),
    (b'"a string"', 'application/json'),
    (b'null', 'application/json'),
    (b'', 'application/json'),
    (b'{"name": "\xff"}', 'application/json'),
    (b'{"name": "a"}', 'text/plain'),
    # Past Python's int-string limit; the query string cannot get there (gunicorn
    # refuses a request line over 4 KiB).
    (b'{"min_ram": ' + b'9' * 5000 + b'}', 'application/json'),
])
def test_malformed_bodies_are_bad_requests(registry, data, content_type):
    response = requests.post(registry.url + '/v1/images', data=data,
                             auth=registry.auth(CALLER),
                             headers={'Content-Type': content_type})
    assert response.status_code == 400, response.text
    assert response.json()['error']['code'] == 'bad_request'
    assert response.json()['error']['reason'] == 'invalid_request'


@pytest.mark.parametrize('number', [b'18446744073709551616', b'-9223372036854775809',
                                    b'1' + b'0' * 30])
def test_an_integer_beyond_64_bits_is_refused_not_read_as_a_float(registry, number):
    # orjson reads such an integer as a float: it was stored so in free-form
    # location metadata, and a min_ram of 1e+30 was "not an integer".
    response = post(registry, b'{"min_ram": 1, "properties": {"x": "y"}, '
                              b'"n": %s}' % number, raw=True)
    assert response.status_code == 400, response.text
    error = response.json()['error']
    assert error['reason'] == 'invalid_request'
    assert error['message'].startswith('The body holds an integer out of range: ')


def test_a_float_beside_integers_in_range_is_read_as_before(registry, scope):
    # The second, stricter reading keeps 64-bit integers (and the float) intact.
    response = post(registry, {'min_ram': 2 ** 63 - 1, 'size': 1.5,
                               'properties': {'test_scope': scope}})
    assert response.status_code == 400, response.text
    assert 'size' in response.json()['error']['message']


def test_a_body_nested_too_deep_is_refused(registry):
    response = post(registry, b'{"properties": ' + b'[' * 100 + b']' * 100 + b'}',
                    raw=True)
    assert response.status_code == 400, response.text
    assert 'levels deep' in response.json()['error']['message']


def test_checking_a_wide_body_costs_about_what_it_takes_to_read(registry):
    # A 16 MiB body of eight million small values: reading it costs about 200 MB
    # (orjson's list); checking its depth and numbers must not hold a record per
    # value on top (64 bytes each: 700 MB in all for one request).
    arbiter = registry.daemon.process.pid
    with open('/proc/%d/task/%d/children' % (arbiter, arbiter)) as f:
        workers = [int(pid) for pid in f.read().split()]
    before = [swift_helpers.rss(pid) for pid in workers]
    if not swift_helpers.reset_peak_rss(workers):
        skips.unavailable('/proc/<pid>/clear_refs', 'cannot reset the registry '
                          'workers\' peak memory (VmHWM)')
    count = (validation.MAX_BODY - 64) // 2
    response = post(registry, b'{"properties": [' + b'0,' * (count - 1) + b'0]}',
                    raw=True)
    assert response.status_code == 400, response.text
    growth = [swift_helpers.peak_rss(pid) - start
              for pid, start in zip(workers, before)]
    assert max(growth) < 400 * 1024 * 1024, growth


@pytest.mark.parametrize('body', [
    {'x' * 1_000_000: 1},
    {'k%d' % n: n for n in range(50_000)},
    {'id': 'x' * 1_000_000},
    {'visibility': 'x' * 1_000_000},
], ids=['a huge unknown member', 'many unknown members', 'a huge id',
        'a huge visibility'])
def test_a_refused_body_is_named_shortened_not_sent_back_whole(registry, body):
    response = post(registry, body)
    assert response.status_code == 400, response.text[:200]
    assert len(response.json()['error']['message']) < 400


@pytest.mark.parametrize('framing', ['cut short of its Content-Length',
                                     'chunked, cut short', 'chunked, bad chunk size'])
def test_a_body_the_caller_stops_sending_is_a_bad_request_and_writes_nothing(
        registry, scope, framing):
    body = orjson.dumps({'name': 'x', 'properties': {'test_scope': scope}})
    headers = dict(_signed(registry.secret, body), Host='r',
                   **{'Content-Type': 'application/json'})
    if framing == 'cut short of its Content-Length':
        headers['Content-Length'] = str(len(body))
        sent = body[:-5]
    else:
        headers['Transfer-Encoding'] = 'chunked'
        sent = (b'%x\r\n%s\r\n' % (len(body), body) if framing == 'chunked, cut short'
                else b'zz\r\n' + body + b'\r\n0\r\n\r\n')
    connection = raw_http.RawConnection(registry.url)
    try:
        connection.send_head('POST', '/v1/images', headers)
        connection.sock.sendall(sent)
        connection.sock.shutdown(socket.SHUT_WR)   # the caller stops sending
        status, _, answer = connection.response('POST')
    finally:
        connection.close()
    assert status == 400, answer
    assert answer['error']['reason'] == 'invalid_request'
    assert answer['error']['message'].startswith('The body could not be read: '), answer
    assert scoped_count(registry, scope) == 0


def test_a_huge_body_is_too_large(registry):
    response = post(registry, b'{"name": "' + b'x' * (17 * 1024 * 1024) + b'"}',
                    raw=True)
    assert response.status_code == 413
    assert response.json()['error']['code'] == 'too_large'
    assert response.json()['error']['reason'] == 'body_too_large'


BAD_UPDATES = [
    ({'values': []}, 'values'),
    ({'values': {'status': 'active'}}, 'status'),
    ({'values': {'id': str(uuid.uuid4())}}, 'id'),
    ({'values': {'size': 1}}, 'size'),
    ({'values': {'min_ram': False}}, 'min_ram'),
    ({'values': {'name': 'x' * 256}}, 'name'),
    ({'properties': {'k': 5}}, "'k'"),
    ({'properties': ['k']}, 'properties'),
    ({'tags': {'a': 1}}, 'tags'),
    ({'tags': [None]}, 'tags'),
    ({'name': 'top level'}, 'name'),
]


@pytest.mark.parametrize('body,field', BAD_UPDATES,
                         ids=['%s-%d' % (f, i) for i, (_, f) in enumerate(BAD_UPDATES)])
def test_invalid_update_bodies_are_bad_requests_and_change_nothing(registry, body, field):
    image = registry.client.create_image(CALLER, {'name': 'before', 'tags': ['t'],
                                                  'properties': {'k': 'v'}})
    response = requests.patch(registry.url + '/v1/images/' + image['id'],
                              data=orjson.dumps(body),
                              auth=registry.auth(CALLER),
                              headers={'Content-Type': 'application/json'})
    assert response.status_code == 400, response.text
    assert field in response.json()['error']['message']
    assert registry.client.get_image(CALLER, image['id']) == image


BAD_TRANSITIONS = [
    ({'to': 'saving'}, 'from'),
    ({'from': 'queued'}, 'to'),
    ({'from': 'queued', 'to': 'bogus'}, 'bogus'),
    ({'from': 1, 'to': 'saving'}, 'from'),
    ({'from': 'queued', 'to': 'saving', 'values': {'name': 'x'}}, 'name'),
    ({'from': 'queued', 'to': 'saving', 'values': {'size': -1}}, 'size'),
    ({'from': 'queued', 'to': 'saving', 'values': {'size': True}}, 'size'),
    ({'from': 'queued', 'to': 'saving', 'values': {'checksum': 'x' * 33}}, 'checksum'),
    ({'from': 'queued', 'to': 'saving', 'locations': {}}, 'locations'),
    ({'from': 'queued', 'to': 'saving', 'locations': [{}]}, 'url'),
    ({'from': 'queued', 'to': 'saving', 'locations': [{'url': 5}]}, 'url'),
    ({'from': 'queued', 'to': 'saving',
      'locations': [{'url': 'file:///x', 'metadata': []}]}, 'metadata'),
    ({'from': 'queued', 'to': 'saving',
      'locations': [{'url': 'file:///x', 'extra': 1}]}, 'extra'),
    ({'from': 'queued', 'to': 'saving', 'extra': 1}, 'extra'),
]


@pytest.mark.parametrize('body,field', BAD_TRANSITIONS,
                         ids=['%s-%d' % (f, i) for i, (_, f) in
                              enumerate(BAD_TRANSITIONS)])
def test_invalid_status_bodies_are_bad_requests_and_change_nothing(
        registry, body, field):
    image = registry.client.create_image(CALLER, {'disk_format': 'raw',
                                                  'container_format': 'bare'})
    response = requests.put(registry.url + '/v1/images/%s/status' % image['id'],
                            data=orjson.dumps(body),
                            auth=registry.auth(CALLER),
                            headers={'Content-Type': 'application/json'})
    assert response.status_code == 400, response.text
    assert field in response.json()['error']['message']
    assert registry.client.get_image(CALLER, image['id']) == image


# -- reasons -------------------------------------------------------------------------

_RAW = {'disk_format': 'raw', 'container_format': 'bare'}


def _refusals(client, owner, stranger, image, private, missing):
    """``(what, call, error class, reason, details)``: one refusal of each kind the
    image operations make, the details the caller gets with it."""
    image_id = image['id']
    return [
        ('unknown image', lambda: client.get_image(owner, missing), errors.NotFound,
         'image_not_found', {'image_id': missing}),
        ('duplicate id', lambda: client.create_image(owner, {'id': image_id}),
         errors.Conflict, 'duplicate_image', {'image_id': image_id}),
        ('lost compare-and-swap', lambda: client.transition_status(
            owner, image_id, 'saving', 'active'), errors.Conflict, 'status_changed',
         {'image_id': image_id, 'current_status': 'queued'}),
        ('move not in the table', lambda: client.transition_status(
            owner, image_id, 'queued', 'deactivated'), errors.Conflict,
         'invalid_transition', {'image_id': image_id, 'current_status': 'queued'}),
        ('reserving while queued', lambda: client.reserve(owner, image_id, 1, None),
         errors.Conflict, 'not_uploading',
         {'image_id': image_id, 'current_status': 'queued'}),
        ('no formats', lambda: client.transition_status(owner, private['id'],
                                                        'queued', 'saving'),
         errors.BadRequest, 'missing_formats',
         {'image_id': private['id'], 'missing': ['disk_format', 'container_format']}),
        ('missing tag', lambda: client.delete_tag(owner, image_id, 'none'),
         errors.NotFound, 'tag_not_found', {'image_id': image_id, 'tag': 'none'}),
        ('missing property', lambda: client.update_image(
            owner, image_id, properties={'none': None}), errors.Conflict,
         'missing_property', {'image_id': image_id, 'properties': ['none']}),
        ('member of a private image', lambda: client.add_member(
            owner, private['id'], 'p'), errors.Forbidden, 'not_shared',
         {'image_id': private['id'], 'visibility': 'private'}),
        ('unknown member', lambda: client.get_member(owner, image_id, 'p'),
         errors.NotFound, 'member_not_found', {'image_id': image_id, 'member_id': 'p'}),
        ('unknown location', lambda: client.remove_location(owner, image_id, 'x:/y'),
         errors.NotFound, 'location_not_found', {'image_id': image_id, 'url': 'x:/y'}),
        ("another project's usage", lambda: client.usage(stranger, owner.project_id),
         errors.Forbidden, 'admin_only', {'project_id': owner.project_id}),
        ('references, not an admin', lambda: client.location_references(owner, ['u']),
         errors.Forbidden, 'admin_only', {}),
        ('unknown marker', lambda: client.list_images(owner, [('marker', missing)]),
         errors.BadRequest, 'invalid_marker', {'marker': missing}),
        ('bad limit', lambda: client.list_images(owner, [('limit', 'ten')]),
         errors.BadRequest, 'invalid_value', {'field': 'limit'}),
        ('over a limit', lambda: client.add_tag(owner, image_id, 'new', max_tags=0),
         errors.TooLarge, 'over_limit', {'limit': 'max_tags', 'maximum': 0}),
    ]


def test_every_refusal_says_its_reason_and_details(registry, project):
    client = registry.client
    owner, stranger = project(), project()
    image = client.create_image(owner, dict(_RAW, visibility='shared'))
    private = client.create_image(owner, {'visibility': 'private'})
    protected = client.create_image(owner, {'protected': True})
    refusals = _refusals(client, owner, stranger, image, private, str(uuid.uuid4()))
    refusals.append(('protected', lambda: client.delete_image(owner, protected['id']),
                     errors.Forbidden, 'protected', {'image_id': protected['id']}))
    for what, call, cls, reason, details in refusals:
        with pytest.raises(cls) as raised:
            call()
        assert (raised.value.reason, raised.value.details) == (reason, details), what
    assert client.get_image(owner, image['id'])['status'] == 'queued'


# -- errors inside the registry (in process) ------------------------------------------

def call(application, method, path, caller=CALLER, secret='s'):
    headers = registry_signing.headers_for(caller, secret, method, path)
    request = webob.Request.blank(path, method=method, headers=headers)
    return request.get_response(application)


def test_a_bug_answers_500_json_without_internals(monkeypatch, caplog):
    def broken(*args):
        raise RuntimeError('secret internal detail')
    monkeypatch.setattr(records, 'get_image', broken)
    application = app_module.Registry(peewee.SqliteDatabase(':memory:'), 's')
    response = call(application, 'GET', '/v1/images/x')
    assert response.status_code == 500
    error = response.json['error']
    assert error['code'] == 'internal_error'
    assert 'secret internal detail' not in response.text
    assert 'Traceback' not in response.text
    assert response.headers['X-Openstack-Request-Id'] in error['message']
    assert 'secret internal detail' in caplog.text


@pytest.mark.parametrize('exc,status,message', [
    (peewee.OperationalError('attempt to write a readonly database'), 503, 'read-only'),
    (peewee.OperationalError('unable to open database file'), 503, 'opened'),
    (peewee.OperationalError('database is locked'), 503, 'busy'),
    (peewee.OperationalError('could not connect to server'), 503, 'unavailable'),
    (peewee.InterfaceError('connection already closed'), 503, 'unavailable'),
    (peewee.InternalError('cannot execute UPDATE in a read-only transaction'), 503,
     'read-only'),
    (peewee.ProgrammingError('syntax error at or near "x"'), 500, 'Internal'),
])
def test_database_errors_map_to_503_or_500(monkeypatch, exc, status, message):
    def failing(*args):
        raise exc
    monkeypatch.setattr(records, 'get_image', failing)
    application = app_module.Registry(peewee.SqliteDatabase(':memory:'), 's')
    response = call(application, 'GET', '/v1/images/x')
    assert response.status_code == status
    assert message in response.json['error']['message']
    assert str(exc) not in response.text


def test_token_headers_are_trusted_only_from_keystonemiddleware():
    """Without auth_token in front (which strips them from clients), identity headers
    next to a token prove nothing."""
    application = app_module.Registry(peewee.SqliteDatabase(':memory:'), 's',
                                      accept_service_tokens=True)
    request = webob.Request.blank('/v1/images/x', headers={
        'X-Auth-Token': 't', 'X-Identity-Status': 'Confirmed', 'X-Roles': 'service',
        'X-Project-Id': 'p'})
    response = request.get_response(application)
    assert response.status_code == 401
    assert response.json['error']['code'] == 'unauthorized'
