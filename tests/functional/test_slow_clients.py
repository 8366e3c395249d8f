"""Slow clients do not starve the daemons (``glance_registry.header_gate``): 1,000
connections that never finish their request head (bounded, on loopback) leave a
normal request's latency under 100 ms, and are closed with 408 after
``client_header_timeout``."""

import os
import signal
import socket
import statistics
import time

import pytest

from tests.fixtures import deployment as deployment_fixture
from tests.fixtures import raw_http
from tests.fixtures import slow_clients

SLOW = 1000
HEADER_TIMEOUT = 4


@pytest.fixture(scope='module')
def gated(tmp_path_factory):
    """2 workers x 8 threads: far fewer threads than slow clients."""
    with deployment_fixture.running(
            tmp_path_factory.mktemp('slow'),
            api_extra={'DEFAULT': {'client_header_timeout': HEADER_TIMEOUT}},
            registry_extra={'DEFAULT': {'client_header_timeout': HEADER_TIMEOUT}}
    ) as deployment:
        yield deployment


def test_slow_header_clients_leave_normal_requests_fast(gated):
    with slow_clients.SlowHeaders(gated.url, SLOW, interval=0.5) as slow:
        time.sleep(1)
        latencies = [slow_clients.latency(gated.url) for _ in range(20)]
        with gated.client(deployment_fixture.new_project()) as client:
            assert client.post('/v2/images', json={'name': 'served'}).status_code == 201
        assert slow.open_connections() == SLOW   # still held, not refused
    assert statistics.median(latencies) < 0.1, latencies
    assert max(latencies) < 1.0, latencies


def test_a_head_not_finished_in_time_gets_408_and_is_closed(gated):
    for url in (gated.url, gated.registry.url):
        host, port = url.rsplit('/', 1)[-1].split(':')
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            started = time.monotonic()
            sock.sendall(b'GET /versions HTTP/1.1\r\nHost: slow\r\n')
            answer = b''
            while True:
                # A byte now and then: a slow client, not an idle one.
                try:
                    sock.sendall(b'X')
                except OSError:
                    break
                sock.settimeout(0.5)
                try:
                    data = sock.recv(4096)
                except socket.timeout:
                    continue
                except ConnectionResetError:
                    break
                if not data:
                    break
                answer += data
            elapsed = time.monotonic() - started
        assert answer.startswith(b'HTTP/1.1 408 '), answer
        assert b'\r\nx-openstack-request-id: req-' in answer, answer
        assert HEADER_TIMEOUT - 0.5 < elapsed < HEADER_TIMEOUT + 3


def test_slow_connections_are_all_closed_after_the_header_timeout(gated):
    with slow_clients.SlowHeaders(gated.url, 200, interval=0.5) as slow:
        deadline = time.monotonic() + HEADER_TIMEOUT + 5
        while slow.open_connections() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert slow.open_connections() == 0
    # And the daemon serves as before.
    assert slow_clients.latency(gated.url) < 1.0


def test_a_pipelined_unfinished_head_is_gated_too(gated):
    """A complete request followed, in the same packet, by the start of the next:
    the first is answered, the second waits off the threads and gets 408."""
    host, port = gated.url.rsplit('/', 1)[-1].split(':')
    with socket.create_connection((host, int(port)), timeout=HEADER_TIMEOUT + 10) as sock:
        started = time.monotonic()
        sock.sendall(b'GET /versions HTTP/1.1\r\nHost: x\r\n\r\n'
                     b'GET /versions HTTP/1.1\r\nHost: x\r\nX-Slow: ')
        answers = raw_http.read_to_close(sock)
        elapsed = time.monotonic() - started
    assert answers.startswith(b'HTTP/1.1 200 ')
    assert answers.count(b'HTTP/1.1 ') == 2
    assert b'HTTP/1.1 408 Request Timeout' in answers
    assert elapsed < HEADER_TIMEOUT + 3


def test_a_head_on_its_way_when_the_workers_are_replaced_is_served_not_408(gated):
    # SIGHUP replaces every worker gracefully: a connection an old worker has
    # accepted, whose head is still arriving, is served by it; it was answered
    # 408 at once (under load, a client's plain GET now and then).
    for daemon in (gated.api, gated.registry):
        host, port = daemon.url.rsplit('/', 1)[-1].split(':')
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(b'GET /versions HTTP/1.1\r\nHost: replaced\r\n')
            time.sleep(0.3)   # the worker has it, waiting for the rest
            os.kill(daemon.process.pid, signal.SIGHUP)
            time.sleep(0.5)   # the worker is stopping
            sock.sendall(b'Connection: close\r\n\r\n')
            answer = raw_http.read_to_close(sock)
        assert answer.startswith(b'HTTP/1.1 '), answer
        assert not answer.startswith(b'HTTP/1.1 408 '), answer
        assert not answer.startswith(b'HTTP/1.1 5'), answer
    assert slow_clients.latency(gated.url) < 1.0


def test_a_client_that_stops_reading_is_closed_with_one_warning_line(
        tmp_path_factory):
    # After client_socket_timeout seconds without reading, its download ends and
    # the connection closes. gunicorn logged that as an ERROR with a traceback; it
    # is the client's doing, and its access line says how much it got.
    with deployment_fixture.running(
            tmp_path_factory.mktemp('stalled-reader'),
            api_extra={'DEFAULT': {'client_socket_timeout': 2}}) as glance, \
            glance.client(deployment_fixture.new_project()) as owner:
        image = owner.create_image(name='read-slowly', disk_format='raw',
                                   container_format='bare')
        assert owner.upload(image['id'], os.urandom(32 * 1024 * 1024)).status_code == 204
        host, port = glance.url.rsplit('/', 1)[-1].split(':')
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((host, int(port)))
            identity = ''.join('%s: %s\r\n' % item for item in owner.headers.items()
                               if item[0].lower().startswith('x-'))
            sock.sendall(b'GET /v2/images/%s/file HTTP/1.1\r\nHost: stalled\r\n%s\r\n'
                         % (image['id'].encode(), identity.encode()))
            assert sock.recv(1024).startswith(b'HTTP/1.1 200 ')
            deadline = time.monotonic() + 20
            while True:   # the worker gives up on the client, and logs why
                with open(glance.api.log_path) as log:
                    text = log.read()
                if 'client_socket_timeout' in text:
                    break
                assert time.monotonic() < deadline, text[-2000:]
                time.sleep(0.2)
        time.sleep(0.5)   # anything logged after the line
        with open(glance.api.log_path) as log:
            text = log.read()
        assert text.count('closed a connection whose client neither sent nor read '
                          'for client_socket_timeout seconds') == 1, text[-2000:]
        assert 'Traceback' not in text and ' ERROR ' not in text, text[-3000:]
        assert slow_clients.latency(glance.url) < 1.0
