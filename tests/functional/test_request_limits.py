"""Limits at the door: JSON bodies (``[oslo_middleware] max_request_body_size``),
authorisation before a body is read, and ``max_header_line``.

The bodies here are declared huge and never sent: an API that read them (or waited
for them) before answering would not answer within the test's wait.
"""

import gzip
import json
import socket
import time

import requests

import pytest

from tests.fixtures import deployment as deployment_fixture
from tests.fixtures import raw_http

HUGE = 256 * 1024 * 1024
BODY_LIMIT = 4096
HEADER_LINE = 2048
PATCH_TYPE = deployment_fixture.PATCH_2_1


@pytest.fixture(scope='module')
def limited(tmp_path_factory):
    """A deployment with a small JSON body limit and header line limit."""
    with deployment_fixture.running(
            tmp_path_factory.mktemp('limits'),
            api_extra={'DEFAULT': {'max_header_line': HEADER_LINE},
                       'oslo_middleware': {'max_request_body_size': BODY_LIMIT}},
            registry_extra={'DEFAULT': {'max_header_line': HEADER_LINE}}) as deployment:
        yield deployment


def _identity(project, roles='member,reader'):
    return {'X-Project-Id': project, 'X-User-Id': 'u-' + project, 'X-Roles': roles}


def _send_head_only(url, method, path, headers, content_length=HUGE):
    """A request whose head declares ``content_length`` bytes, none of which is
    sent; ``(status, headers, body, seconds to the answer)``, and whether the
    server then closed the connection."""
    connection = raw_http.RawConnection(url)
    try:
        started = time.monotonic()
        connection.send_head(method, path, dict(
            {'Host': connection.netloc, 'Accept': 'application/json',
             'Content-Length': str(content_length)}, **headers))
        assert connection.answered(wait=10), 'no answer while the body was unsent'
        status, response_headers, body = connection.response(method)
        elapsed = time.monotonic() - started
        return status, response_headers, body, elapsed, connection.closed_by_server()
    finally:
        connection.close()


def test_json_body_declared_over_the_default_limit_is_413_unread(glance):
    project = deployment_fixture.new_project()
    status, headers, body, elapsed, closed = _send_head_only(
        glance.url, 'POST', '/v2/images',
        dict(_identity(project), **{'Content-Type': 'application/json'}))
    assert status == 413, body
    assert 'max_request_body_size (114688 bytes)' in body['message']
    assert elapsed < 5
    # The unread 256 MiB are not drained: the connection ends after the answer.
    assert headers.get('Connection', '').lower() == 'close'
    assert closed
    with glance.client(project) as client:
        # Nothing was created (other tests' public images are listed too).
        assert client.get('/v2/images', params={'owner': project}).json()[
            'images'] == []


def test_chunked_json_body_over_the_limit_is_413_after_the_limit(limited):
    project = deployment_fixture.new_project()
    connection = raw_http.RawConnection(limited.url)
    try:
        connection.send_head('POST', '/v2/images', dict(
            _identity(project), Host=connection.netloc, Accept='application/json',
            **{'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked'}))
        # One chunk past the limit, then the client keeps the body open: the
        # answer must not wait for its end.
        chunk = b'{"name": "' + b'x' * BODY_LIMIT
        connection.sock.sendall(b'%x\r\n%b\r\n' % (len(chunk), chunk))
        assert connection.answered(wait=10)
        status, _, body = connection.response('POST')
    finally:
        connection.close()
    assert status == 413, body
    assert '(%d bytes)' % BODY_LIMIT in body['message']


def _created_then_stopped(glance, project, framing_headers, sent):
    """``(status, headers, body)`` of the API's answer to a ``POST /v2/images`` as
    ``project`` whose JSON body, framed by ``framing_headers``, is ``sent`` before
    the client stops sending."""
    connection = raw_http.RawConnection(glance.url)
    try:
        connection.send_head('POST', '/v2/images', dict(
            _identity(project), Host=connection.netloc, Accept='application/json',
            **{'Content-Type': 'application/json'}, **framing_headers))
        connection.sock.sendall(sent)
        connection.sock.shutdown(socket.SHUT_WR)
        assert connection.answered(wait=10)
        return connection.response('POST')
    finally:
        connection.close()


@pytest.mark.parametrize('framing', [
    b'zz\r\n{"name": "x"}\r\n0\r\n\r\n',   # a chunk size that is no number
    b'5\r\n{"nam\r\n',                        # the client stops before the end
])
def test_a_malformed_or_cut_short_chunked_json_body_is_400(glance, framing):
    # It was 500, with gunicorn's reader's exception logged as an error.
    project = deployment_fixture.new_project()
    status, headers, body = _created_then_stopped(
        glance, project, {'Transfer-Encoding': 'chunked'}, framing)
    assert status == 400, body
    assert body['message'].startswith('The request body could not be read: it is '
                                      'cut short or its chunked framing is malformed')
    assert headers.get('Connection', '').lower() == 'close'
    with glance.client(project) as client:
        assert client.get('/v2/images', params={'owner': project}).json()[
            'images'] == []


def test_a_json_body_cut_short_of_its_content_length_is_400(glance):
    # What arrived parses: the image was created from a request never finished.
    project = deployment_fixture.new_project()
    body = json.dumps({'name': 'cut-short'}).encode()
    status, _, answer = _created_then_stopped(
        glance, project, {'Content-Length': str(len(body) + 10)}, body)
    assert status == 400, answer
    assert answer['message'] == (
        'The request body could not be read: it is cut short (%d of the %d bytes of '
        'its Content-Length).' % (len(body), len(body) + 10))
    with glance.client(project) as client:
        assert client.get('/v2/images', params={'owner': project}).json()[
            'images'] == []


@pytest.mark.parametrize('codings', ['gzip, chunked', 'deflate,chunked',
                                     'COMPRESS, chunked'])
def test_a_body_in_a_transfer_coding_other_than_chunked_is_501(glance, codings):
    # gunicorn handed these codings on undecoded: the compressed bytes were
    # stored as the image, its size and checksum theirs.
    project = deployment_fixture.new_project()
    with glance.client(project) as client:
        image = client.create_image()
        upload = raw_http.RawUpload(glance.url, image['id'], headers=dict(
            _identity(project), **{'Transfer-Encoding': codings}))
        try:
            upload.send(gzip.compress(b'image data' * 100))
            upload.end()
            status, _, answer = upload.response()
        finally:
            upload.close()
        assert status == 501, answer
        assert answer['message'] == (
            'Transfer-Encoding %s is not supported: send the body as it is, with a '
            'Content-Length or chunked.' % ', '.join(
                coding.strip() for coding in codings.split(',')
                if coding.strip().lower() != 'chunked'))
        image = client.image(image['id'])
        assert (image['status'], image['size']) == ('queued', None)


def test_a_json_body_in_a_transfer_coding_other_than_chunked_is_501(glance):
    project = deployment_fixture.new_project()
    status, _, answer = _created_then_stopped(
        glance, project, {'Transfer-Encoding': 'gzip, chunked'},
        b'%x\r\n%b\r\n0\r\n\r\n' % (13, b'{"name": "x"}'))
    assert status == 501, answer
    with glance.client(project) as client:
        assert client.get('/v2/images', params={'owner': project}).json()[
            'images'] == []


def test_a_json_body_in_a_content_coding_is_415(glance):
    # It was parsed compressed: 400 "Malformed JSON", which hid why.
    project = deployment_fixture.new_project()
    with glance.client(project) as client:
        response = client.post('/v2/images', data=gzip.compress(b'{"name": "x"}'),
                               headers={'Content-Type': 'application/json',
                                        'Content-Encoding': 'gzip'})
        assert response.status_code == 415, response.text
        assert response.json()['message'] == (
            'Content-Encoding gzip is not supported: send the body as it is.')
        assert client.get('/v2/images', params={'owner': project}).json()[
            'images'] == []


def _create_body(size):
    """An image-create document of exactly ``size`` bytes."""
    document = {'disk_format': 'raw', 'container_format': 'bare', 'pad': ''}
    document['pad'] = 'p' * (size - len(json.dumps(document)))
    body = json.dumps(document).encode()
    assert len(body) == size
    return body


@pytest.mark.parametrize('size, expected', [(BODY_LIMIT, 201), (BODY_LIMIT + 1, 413)])
def test_json_body_limit_is_configurable(limited, size, expected):
    with limited.client(deployment_fixture.new_project()) as client:
        response = client.post('/v2/images', data=_create_body(size),
                               headers={'Content-Type': 'application/json'})
        assert response.status_code == expected, response.text
        assert len(client.get('/v2/images').json()['images']) == (expected == 201)


def test_image_data_is_not_a_json_body(limited):
    with limited.client(deployment_fixture.new_project()) as client:
        image = client.create_image()
        data = b'\0' * (BODY_LIMIT * 4)
        assert client.upload(image['id'], data).status_code == 204
        assert client.image(image['id'])['size'] == len(data)


def test_reader_patch_is_forbidden_before_its_body_is_read(glance):
    project = deployment_fixture.new_project()
    with glance.client(project) as owner:
        image = owner.create_image(name='kept')
    status, _, body, elapsed, _ = _send_head_only(
        glance.url, 'PATCH', '/v2/images/%s' % image['id'],
        dict(_identity(project, 'reader'), **{'Content-Type': PATCH_TYPE}))
    assert status == 403, body
    assert 'modify_image' in body['message']
    assert elapsed < 5
    with glance.client(project) as owner:
        assert owner.image(image['id'])['name'] == 'kept'


@pytest.mark.parametrize('method, path, content_type, roles, expected', [
    # A create is judged on the image its body describes, as upstream (a rule may
    # require its attributes): a body declared over the limit is refused unread
    # all the same.
    ('POST', '/v2/images', 'application/json', 'reader', 413),
    ('POST', '/v2/images/{image}/members', 'application/json', 'reader', 403),
    ('POST', '/v2/images/{image}/locations', 'application/json', 'reader', 403),
    ('PUT', '/v2/images/{image}/members/{other}', 'application/json', 'member', 404),
])
def test_body_requests_are_authorised_before_reading(glance, method, path,
                                                     content_type, roles, expected):
    project = deployment_fixture.new_project()
    with glance.client(project) as owner:
        image = owner.create_image(visibility='shared')
    status, _, body, elapsed, _ = _send_head_only(
        glance.url, method, path.format(image=image['id'], other='someone'),
        dict(_identity(project, roles), **{'Content-Type': content_type}))
    assert status == expected, body
    assert elapsed < 5


def test_header_line_over_max_header_line_is_refused(limited):
    with limited.client(deployment_fixture.new_project()) as client:
        fits = client.get('/v2/images', headers={'X-Padding': 'p' * (HEADER_LINE - 64)})
        assert fits.status_code == 200, fits.text
        too_long = client.get('/v2/images',
                              headers={'X-Padding': 'p' * (HEADER_LINE + 1)})
        assert too_long.status_code == 431   # upstream (eventlet): 400


def test_header_line_limit_applies_to_the_registry_too(limited):
    too_long = requests.get(limited.registry.url + '/healthcheck',
                            headers={'X-Padding': 'p' * (HEADER_LINE + 1)}, timeout=10)
    assert too_long.status_code == 431
    assert requests.get(limited.registry.url + '/healthcheck', timeout=10).ok


@pytest.mark.parametrize('name, request_bytes, status', [
    ('malformed request line', b'GARBAGE\r\n\r\n', 400),
    ('malformed header name', b'GET /versions HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n',
     400),
    ('chunked with a Content-Length',
     b'PUT /versions HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n'
     b'Content-Length: 5\r\n\r\n0\r\n\r\n', 400),
    ('request line too long', b'GET /' + b'a' * 9000 + b' HTTP/1.1\r\nHost: a\r\n\r\n',
     414),
    ('header line too long', b'GET /versions HTTP/1.1\r\nHost: a\r\nX-Long: '
     + b'p' * (HEADER_LINE + 1) + b'\r\n\r\n', 431),
])
def test_what_the_http_parser_refuses_is_answered_in_each_daemons_error_shape(
        limited, name, request_bytes, status):
    # gunicorn answered these with its own HTML page. No Accept header was read:
    # the API answers as it answers "*/*" (what glanceclient and openstacksdk send,
    # and both show; glanceclient crashes on the JSON shape), the registry in JSON.
    for daemon in (limited.api, limited.registry):
        host, port = daemon.url.rsplit('/', 1)[-1].split(':')
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(request_bytes)
            answer = raw_http.read_to_close(sock)
        head, _, body = answer.partition(b'\r\n\r\n')
        assert head.split(b' ', 2)[1] == str(status).encode(), (name, answer)
        if daemon is limited.api:   # upstream's HTML page
            assert b'\r\nContent-Type: text/html' in head, (name, answer)
            assert b'<h1>%d ' % status in body, (name, answer)
        else:                        # the registry's (docs/registry-api.rst)
            assert b'\r\nContent-Type: application/json' in head, (name, answer)
            error = json.loads(body)
            assert error['error']['reason'] == 'malformed_request', error
            assert error['error']['code'] == 'bad_request', error
