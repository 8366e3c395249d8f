"""Reading web URLs safely (stores.web) against real servers on loopback.

DNS answers are the one fault a test cannot produce for real, so the rebinding
tests replace ``socket.getaddrinfo`` with a resolver they control; everything else
talks to real sockets.
"""

import contextlib
import ipaddress
import socket
import subprocess
import threading
import time

import pytest

from stores import web
from tests.fixtures import web_server
from tests.fixtures.web_server import pattern


@pytest.fixture(scope='module')
def server():
    with web_server.running() as server:
        yield server


@pytest.fixture(scope='module')
def other():
    """A second server on loopback: what a redirect must not reach."""
    with web_server.running() as server:
        yield server


def loopback(*servers, **options):
    """A policy allowing 127.0.0.1 on the given servers' ports only."""
    return web.UrlPolicy(allowed_hosts=('127.0.0.1',),
                         allowed_ports=tuple(s.port for s in servers), **options)


def read(policy, url, **kwargs):
    with web.open_url(policy, url, **kwargs) as response:
        return response.status, b''.join(response.iter_content(1000))


# -- the policy ------------------------------------------------------------------------

# (policy options, url, refused)
POLICIES = [
    ({}, 'http://93.184.215.14/disk', False),
    ({}, 'http://93.184.215.14:8080/disk', True),
    ({}, 'ftp://93.184.215.14/disk', True),
    ({}, 'http://127.0.0.1/disk', True),
    ({}, 'http://10.1.2.3/disk', True),
    ({}, 'http://172.16.0.1/disk', True),
    ({}, 'http://192.168.1.1/disk', True),
    ({}, 'http://169.254.169.254/latest/meta-data', True),
    ({}, 'http://100.64.0.1/disk', True),
    ({}, 'http://0.0.0.0/disk', True),
    ({}, 'http://224.0.0.1/disk', True),
    ({}, 'http://240.0.0.1/disk', True),
    ({}, 'http://[::1]/disk', True),
    ({}, 'http://[::ffff:127.0.0.1]/disk', True),
    ({}, 'http://[::ffff:10.0.0.1]/disk', True),
    ({}, 'http://[64:ff9b::a9fe:a9fe]/disk', True),
    ({}, 'http://[fe80::1]/disk', True),
    ({}, 'http://[fc00::1]/disk', True),
    ({}, 'http://[2606:4700::1111]/disk', False),
    ({'allowed_hosts': ('127.0.0.1',)}, 'http://127.0.0.1/disk', False),
    ({'allowed_hosts': ('::1',)}, 'http://[0:0::1]/disk', False),
    ({'allowed_hosts': ('127.0.0.1',)}, 'http://127.0.0.2/disk', True),
    ({'disallowed_hosts': ('127.0.0.1',)}, 'http://93.184.215.14/disk', False),
    ({'disallowed_hosts': ('93.184.215.14',)}, 'http://93.184.215.14/disk', True),
    ({'allowed_ports': (), 'disallowed_ports': (80,)}, 'http://93.184.215.14/', True),
    ({'allowed_ports': (81,), 'disallowed_ports': (81,)}, 'http://1.1.1.1:81/', False),
    ({}, 'http:///disk', True),
    ({}, 'http://1.1.1.1:99999/disk', True),
]


@pytest.mark.parametrize('options,url,refused', POLICIES)
def test_policy_refuses_internal_addresses_unless_allowed_hosts_names_them(
        options, url, refused):
    assert (web.UrlPolicy(**options).refusal(url) is not None) is refused


def test_a_name_resolving_to_an_internal_address_is_refused(server, monkeypatch):
    resolve = fake_resolver(monkeypatch, {'images.test': ['127.0.0.1']})
    policy = web.UrlPolicy(allowed_ports=(server.port,))
    with pytest.raises(web.Refused) as caught:
        read(policy, 'http://images.test:%d/data/10' % server.port)
    assert str(caught.value) == web.REFUSED
    assert 'internal address 127.0.0.1' in caught.value.detail
    assert resolve.calls == ['images.test'] and server.requests.get('/data/10') is None


def test_one_internal_address_among_public_ones_refuses_the_name(monkeypatch):
    fake_resolver(monkeypatch, {'images.test': [['93.184.215.14', '10.0.0.7']]})
    with pytest.raises(web.Refused):
        read(web.UrlPolicy(), 'http://images.test/disk')


# -- reading ---------------------------------------------------------------------------

def test_reads_an_allowed_url(server):
    response_status, body = read(loopback(server), server.url + '/data/100000')
    assert (response_status, body) == (200, pattern(100000))


def test_loopback_is_refused_by_default_without_a_connection(server):
    policy = web.UrlPolicy(allowed_ports=(server.port,))
    before = dict(server.requests)
    with pytest.raises(web.Refused) as caught:
        read(policy, server.url + '/data/10')
    assert str(caught.value) == web.REFUSED and '127.0.0.1' not in str(caught.value)
    assert server.requests == before


def test_redirects_within_the_policy_are_followed(server):
    url = server.redirect(server.redirect(server.url + '/data/50', 307))
    with web.open_url(loopback(server), url) as response:
        assert response.url == server.url + '/data/50'
        assert b''.join(response.iter_content(7)) == pattern(50)


@pytest.mark.parametrize('target', [
    lambda server, other: other.url + '/data/10',                   # port refused
    lambda server, other: 'http://127.0.0.2:%d/data/10' % server.port,  # host
    lambda server, other: 'file:///etc/passwd',                     # scheme
    lambda server, other: 'http://localhost:%d/data/10' % server.port,
])
def test_a_redirect_to_a_refused_url_is_refused(server, other, target):
    url = server.redirect(target(server, other))
    before = dict(other.requests)
    with pytest.raises(web.Refused) as caught:
        read(loopback(server), url)
    assert str(caught.value) == web.REFUSED
    assert other.requests == before


def test_a_relative_redirect_is_checked_too(server):
    # Same server, same port: allowed; the hop is resolved against the URL.
    assert read(loopback(server), server.redirect('/data/3'))[1] == pattern(3)


def test_redirects_are_bounded(server):
    url = server.url + '/data/1'
    for _ in range(web.MAX_REDIRECTS + 1):
        url = server.redirect(url)
    with pytest.raises(web.Failed) as caught:
        read(loopback(server), url)
    assert str(caught.value) == web.FAILED
    assert 'redirects more than 5 times' in caught.value.detail


def test_size_cap_refuses_a_declared_length_over_it(server):
    with pytest.raises(web.TooLarge) as caught:
        read(loopback(server), server.url + '/data/2000', max_bytes=1999)
    assert 'more than 1999' in caught.value.detail
    assert read(loopback(server), server.url + '/data/2000', max_bytes=2000)[1] == (
        pattern(2000))


@contextlib.contextmanager
def answering(answer):
    """A server of one connection on loopback that reads the request and calls
    ``answer(conn)`` (raw bytes, for answers http.server will not give); yields
    ``(policy, url)``."""
    with socket.create_server(('127.0.0.1', 0)) as listener:
        port = listener.getsockname()[1]

        def serve():
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                answer(conn)

        threading.Thread(target=serve, daemon=True).start()
        yield (web.UrlPolicy(allowed_hosts=('127.0.0.1',), allowed_ports=(port,)),
               'http://127.0.0.1:%d/' % port)


def test_size_cap_stops_a_body_longer_than_declared():
    # A server that declares nothing and sends forever.
    def answer(conn):
        conn.sendall(b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n')
        try:
            while True:
                conn.sendall(b'x' * 65536)
        except OSError:
            pass

    with answering(answer) as (policy, url), \
            web.open_url(policy, url, max_bytes=100000) as response:
        with pytest.raises(web.TooLarge) as caught:
            for _ in response.iter_content(65536):
                pass
    assert 'larger than 100000' in caught.value.detail
    assert response.bytes_read <= 100000 + 65536


def test_a_chunk_is_given_as_far_as_it_has_come():
    # A source that trickles: its reader sees it moving, chunk by partial chunk.
    release = threading.Event()

    def answer(conn):
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n' + b'a' * 10)
        release.wait(10)
        conn.sendall(b'b' * 10)

    with answering(answer) as (policy, url), web.open_url(policy, url) as response:
        chunks = response.iter_content(65536)
        started = time.monotonic()
        assert next(chunks) == b'a' * 10
        assert time.monotonic() - started < 5
        release.set()
        assert list(chunks) == [b'b' * 10]



def test_a_server_slow_to_answer_times_out(server):
    server.stall = 3
    started = time.monotonic()
    try:
        with pytest.raises(web.Failed) as caught:
            read(loopback(server), server.url + '/stall-headers', timeouts=(2, 0.5),
                 retries=0)
    finally:
        server.stall = 0
    assert time.monotonic() - started < 2.5
    assert str(caught.value) == web.FAILED and 'timed out' in caught.value.detail


def test_an_unreachable_port_fails_after_bounded_retries():
    with socket.socket() as sock:   # a port nothing listens on
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    policy = web.UrlPolicy(allowed_hosts=('127.0.0.1',), allowed_ports=(port,))
    with pytest.raises(web.Failed) as caught:
        read(policy, 'http://127.0.0.1:%d/x' % port, retries=1)
    assert str(caught.value) == web.FAILED
    assert 'refused' in caught.value.detail.lower()


def test_a_busy_server_is_asked_again_a_bounded_number_of_times(server):
    server.busy['twice'] = 2
    assert read(loopback(server), server.url + '/busy/twice', retries=2) == (200, b'ok')
    assert server.requests['/busy/twice'] == 3
    server.busy['always'] = 10
    status, _ = read(loopback(server), server.url + '/busy/always', retries=2)
    assert status == 503 and server.requests['/busy/always'] == 3


def test_error_statuses_are_answered_not_raised(server):
    # The callers decide (the store maps 404 to NotFound); the status is there.
    assert read(loopback(server), server.url + '/status/404')[0] == 404


# -- one resolution, and the connection to the address checked ------------------------

class fake_resolver:
    """Replaces socket.getaddrinfo for the names in ``answers``: each call for a
    name returns its next list of addresses (the last one again when they run
    out); other names and addresses resolve as usual."""

    def __init__(self, monkeypatch, answers):
        self.answers = {name: list(value) for name, value in answers.items()}
        self.calls = []
        real = socket.getaddrinfo

        def getaddrinfo(host, port, *args, **kwargs):
            if host not in self.answers:
                return real(host, port, *args, **kwargs)
            self.calls.append(host)
            answers = self.answers[host]
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
            if isinstance(answer, str):
                answer = [answer]
            return [(socket.AF_INET6 if ':' in a else socket.AF_INET,
                     socket.SOCK_STREAM, 6, '', (a, port)) for a in answer]

        monkeypatch.setattr(socket, 'getaddrinfo', getaddrinfo)


def test_the_name_is_resolved_once_and_the_checked_address_is_connected_to(
        server, monkeypatch):
    # DNS rebinding: the first answer passes the check, later ones point
    # elsewhere. Only the first is ever used.
    with web_server.running('127.0.0.2', server.port) as evil:
        resolve = fake_resolver(monkeypatch, {'images.test': [['127.0.0.1'],
                                                              ['127.0.0.2']]})
        policy = web.UrlPolicy(allowed_hosts=('images.test',),
                               allowed_ports=(server.port,))
        url = 'http://images.test:%d/host' % server.port
        status, body = read(policy, url)
        assert status == 200
        # The original name went in the Host header, to the checked address.
        assert body == b'images.test:%d' % server.port
        assert resolve.calls == ['images.test']
        assert evil.requests == {}


def test_each_redirect_hop_is_resolved_and_checked_on_its_own(server, monkeypatch):
    resolve = fake_resolver(monkeypatch, {'images.test': ['127.0.0.1'],
                                          'metadata.test': ['169.254.169.254']})
    policy = web.UrlPolicy(allowed_hosts=('images.test', 'metadata.test'),
                           allowed_ports=(server.port, 80))
    # metadata.test is allowed by name, but it is not images.test: its internal
    # address is allowed only because allowed_hosts names the host. Without it:
    strict = web.UrlPolicy(allowed_hosts=('images.test',),
                           allowed_ports=(server.port, 80))
    url = 'http://images.test:%d/redirect?to=http://metadata.test/latest' % (
        server.port)
    with pytest.raises(web.Refused):
        read(strict, url)
    assert resolve.calls == ['images.test']
    assert policy.refusal('http://metadata.test/latest') is None


# -- https: the checked address, the original name in SNI and the certificate ---------

@pytest.fixture(scope='module')
def certificate(tmp_path_factory):
    """A self-signed certificate for images.test: ``(cert file, key file)``."""
    directory = tmp_path_factory.mktemp('tls')
    cert, key = directory / 'cert.pem', directory / 'key.pem'
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
                    '-keyout', str(key), '-out', str(cert), '-days', '2',
                    '-subj', '/CN=images.test',
                    '-addext', 'subjectAltName=DNS:images.test'],
                   check=True, capture_output=True)
    return str(cert), str(key)


def test_https_connects_to_the_checked_address_and_verifies_the_name(
        certificate, monkeypatch):
    with web_server.running(certificate=certificate) as tls_server:
        fake_resolver(monkeypatch, {'images.test': ['127.0.0.1'],
                                    'other.test': ['127.0.0.1']})
        policy = web.UrlPolicy(allowed_hosts=('images.test', 'other.test'),
                               allowed_ports=(tls_server.port,))
        tls = web.Tls(verify=True, ca_file=certificate[0])
        url = 'https://images.test:%d/host' % tls_server.port
        assert read(policy, url, tls=tls) == (200, b'images.test:%d'
                                              % tls_server.port)
        # The certificate is for images.test: another name is not accepted at
        # the same address.
        with pytest.raises(web.Failed) as caught:
            read(policy, 'https://other.test:%d/host' % tls_server.port, tls=tls,
                 retries=0)
        assert 'certificate' in caught.value.detail.lower() or (
            'hostname' in caught.value.detail.lower())


def test_a_source_that_keeps_up_gives_whole_chunks(certificate, monkeypatch):
    # Over TLS one read of the connection gives one record, 16 KiB at most: given
    # as they came, an import's 1 MiB chunks became 64 passes of inspection,
    # hashing and store writes each.
    with web_server.running(certificate=certificate) as tls_server:
        fake_resolver(monkeypatch, {'images.test': ['127.0.0.1']})
        policy = web.UrlPolicy(allowed_hosts=('images.test',),
                               allowed_ports=(tls_server.port,))
        size, chunk_size = 4 * 1024 * 1024, 1024 * 1024
        url = 'https://images.test:%d/data/%d' % (tls_server.port, size)
        with web.open_url(policy, url, tls=web.Tls(ca_file=certificate[0])) \
                as response:
            chunks = list(response.iter_content(chunk_size))
        assert b''.join(chunks) == pattern(size)
        assert len(chunks) <= 2 * size // chunk_size


def test_a_chunked_source_that_keeps_up_gives_whole_chunks():
    # One read of a chunked body gives one of its pieces at most (8 KiB here).
    size, piece, chunk_size = 1024 * 1024, 8192, 256 * 1024
    body = b''.join(b'%x\r\n' % piece + bytes(piece) + b'\r\n'
                    for _ in range(size // piece)) + b'0\r\n\r\n'

    def answer(conn):
        conn.sendall(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' + body)

    with answering(answer) as (policy, url), web.open_url(policy, url) as response:
        chunks = list(response.iter_content(chunk_size))
    assert b''.join(chunks) == bytes(size)
    assert len(chunks) <= 2 * size // chunk_size


def test_addresses_are_parsed_as_the_resolver_gives_them():
    policy = web.UrlPolicy()
    assert policy.address_refusal('x.test', ipaddress.ip_address('8.8.8.8')) is None
    assert policy.address_refusal('x.test', ipaddress.ip_address('::1')) is not None


def test_through_a_proxy_the_url_is_still_checked_and_the_proxy_asked(
        server, monkeypatch):
    # The test server answers absolute-form requests too, as a forward proxy would.
    fake_resolver(monkeypatch, {'images.test': ['127.0.0.1'],
                                'inside.test': ['10.0.0.1']})
    policy = web.UrlPolicy(allowed_hosts=('images.test', 'inside.test'),
                           allowed_ports=(80,))
    proxies = {'http': server.url}
    before = server.requests.get('/data/12', 0)
    assert read(policy, 'http://images.test/data/12', proxies=proxies) == (
        200, pattern(12))
    assert server.requests['/data/12'] == before + 1
    strict = web.UrlPolicy(allowed_hosts=('images.test',), allowed_ports=(80,))
    with pytest.raises(web.Refused):
        read(strict, 'http://inside.test/data/12', proxies=proxies)
    assert server.requests['/data/12'] == before + 1


def test_credentials_go_to_the_first_origin_only(server, other):
    url = server.redirect(other.url + '/host')
    with web.open_url(loopback(server, other), url, headers={
            'X-Auth-Token': 'secret', 'X-Other': 'kept'}) as response:
        assert response.read(100) == b'127.0.0.1:%d' % other.port
    assert server.last_headers['X-Auth-Token'] == 'secret'
    assert 'X-Auth-Token' not in other.last_headers
    assert other.last_headers['X-Other'] == 'kept'


def test_unusual_urls_are_refused_or_escaped_never_an_error(server, monkeypatch):
    policy = loopback(server)
    assert policy.refusal('http://ex\u00e4mple.test/disk') is not None   # not listed
    assert web.UrlPolicy().refusal('http://' + 'a' * 70 + '.test/') is not None
    # A path that is not ASCII is sent escaped.
    assert read(policy, server.url + '/missing/\u00e4')[0] == 404
    assert server.requests['/missing/%C3%A4'] == 1
