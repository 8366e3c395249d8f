"""``glance-cache-manage`` (``glance_api.cache_manage``) without an API: what it does
before it sends anything, and with what answers as one."""

import http.server
import io
import json
import socket
import threading

import pytest

from glance_api import cache_manage


@pytest.mark.parametrize('command', ['delete-all-cached-images',
                                     'delete-all-queued-images'])
def test_delete_all_without_an_answer_deletes_nothing_and_says_so(
        monkeypatch, capsys, command):
    # From cron or a pipe, standard input is empty: input() raises EOFError.
    monkeypatch.setattr('sys.stdin', io.StringIO(''))
    sent = []
    monkeypatch.setattr(cache_manage, '_run', lambda *args: sent.append(args) or 0)
    assert cache_manage.main([command]) == 1
    assert sent == []
    assert 'Nothing deleted: no answer on standard input (--force deletes without ' \
           'asking).' in capsys.readouterr().err


def test_help_describes_one_command_as_upstream_does(capsys):
    with pytest.raises(SystemExit) as exited:
        cache_manage.main(['help', 'queue-image'])
    assert exited.value.code == 0
    assert capsys.readouterr().out == (
        'usage: glance-cache-manage [options] queue-image IMAGE_ID\n\n'
        'Queue IMAGE_ID for caching on the next prefetch.\n')


def test_help_without_a_command_prints_the_whole_usage(capsys):
    with pytest.raises(SystemExit) as exited:
        cache_manage.main(['help'])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith('usage: glance-cache-manage')
    assert 'delete-all-queued-images' in out


def test_help_for_an_unknown_command_is_a_usage_error_naming_the_commands(capsys):
    with pytest.raises(SystemExit) as exited:
        cache_manage.main(['help', 'list-cache'])
    assert exited.value.code == 2
    assert "no command 'list-cache'; the commands: list-cached, list-queued" in \
        capsys.readouterr().err


class _IPv6Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


class _CacheAPI(http.server.BaseHTTPRequestHandler):
    """Answers every GET with ``body``."""

    body = json.dumps({'cached_images': [], 'queued_images': []}).encode()

    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def _command_against(server, *argv):
    """``glance-cache-manage ARGV`` run against ``server`` (its port given), which
    is stopped afterwards; the exit status."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        return cache_manage.main(['-p', str(server.server_address[1]), *argv])
    finally:
        server.shutdown()
        server.server_close()


def _answering(body):
    return http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), type('_Answer', (_CacheAPI,), {'body': body}))


def test_an_ipv6_host_is_reached_as_upstreams_command_reaches_it(capsys):
    try:
        server = _IPv6Server(('::1', 0), _CacheAPI)
    except OSError:
        pytest.skip('no IPv6 loopback here')
    status = _command_against(server, '-H', '::1', 'list-queued')
    assert (status, capsys.readouterr().out) == (0, 'Found 0 queued images\n')


_ENTRY = {'image_id': 'x', 'hits': 1, 'last_accessed': 1.5, 'last_modified': None,
          'size': 3}


@pytest.mark.parametrize('body, what', [
    (b'<html>Sign in</html>', 'is not JSON'),
    (b'[]', 'is not a JSON object'),
    (b'{"versions": []}', 'has no list of cached images'),
    (json.dumps({'cached_images': 5, 'queued_images': []}).encode(),
     'has no list of cached images'),
    (json.dumps({'cached_images': [{'image_id': 'x'}], 'queued_images': []}).encode(),
     'has no list of cached images'),
    (json.dumps({'cached_images': [dict(_ENTRY, size='big')],
                 'queued_images': []}).encode(), 'has no list of cached images'),
    (json.dumps({'cached_images': [], 'queued_images': [1, None]}).encode(),
     'has no list of queued image ids'),
])
@pytest.mark.parametrize('command', ['list-cached', 'list-queued'])
def test_an_answer_of_another_service_is_one_line_not_a_traceback(
        capsys, command, body, what):
    # --host/--port naming another service, or a proxy answering with its page.
    server = _answering(body)
    port = server.server_address[1]
    assert _command_against(server, command) == 1
    out, err = capsys.readouterr()
    assert out == ''
    assert err == 'http://127.0.0.1:%d/v2/cache is no image cache API: its answer ' \
        '%s.\n' % (port, what)


def test_a_time_past_any_date_is_listed_as_not_available(capsys):
    server = _answering(json.dumps({
        'cached_images': [dict(_ENTRY, last_accessed=1e300)],
        'queued_images': []}).encode())
    assert _command_against(server, 'list-cached') == 0
    assert capsys.readouterr().out.splitlines() == [
        'Found 1 cached images',
        'ID                                    Last Accessed (UTC)  '
        'Last Modified (UTC)          Size   Hits',
        'x                                     N/A                  '
        'N/A                             3      1']
