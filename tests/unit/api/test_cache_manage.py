"""``glance-cache-manage`` (``glance_api.cache_manage``) without an API: what it does
before it sends anything."""

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
    def do_GET(self):
        body = json.dumps({'cached_images': [], 'queued_images': []}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_an_ipv6_host_is_reached_as_upstreams_command_reaches_it(capsys):
    try:
        server = _IPv6Server(('::1', 0), _CacheAPI)
    except OSError:
        pytest.skip('no IPv6 loopback here')
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        status = cache_manage.main(['-H', '::1', '-p', str(server.server_address[1]),
                                    'list-queued'])
    finally:
        server.shutdown()
        server.server_close()
    assert (status, capsys.readouterr().out) == (0, 'Found 0 queued images\n')
