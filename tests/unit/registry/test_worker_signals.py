"""A worker gets the stop signals sent to it while it starts
(``glance_registry.process._Arbiter``, ``header_gate.HeaderGateWorker``)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

# A real arbiter and HeaderGateWorker; the worker waits for the go file before it
# starts, as a worker on a loaded host is slow to, so that the test's SIGTERM lands
# where a stop soon after a start or a reload finds a new worker.
SERVER = textwrap.dedent('''
    import os, sys, time
    from glance_registry import header_gate, process

    class SlowToStart(header_gate.HeaderGateWorker):
        def init_process(self):
            print(os.getpid(), flush=True)
            while not os.path.exists(sys.argv[1]):
                time.sleep(0.01)
            super().init_process()

    def app(environ, start_response):
        start_response('200 OK', [('Content-Length', '0')])
        return [b'']

    process._Gunicorn(lambda: app, {
        'bind': ['127.0.0.1:0'], 'workers': 1, 'threads': 1,
        'worker_class': SlowToStart, 'graceful_timeout': 30,
        'control_socket_disable': True, 'loglevel': 'warning'}).run()
''')


def test_a_sigterm_sent_while_a_worker_starts_stops_it_once_started(tmp_path):
    go = tmp_path / 'go'
    server = subprocess.Popen([sys.executable, '-c', SERVER, str(go)],
                              stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        worker = int(server.stdout.readline())
        os.kill(worker, signal.SIGTERM)
        go.touch()
        deadline = time.monotonic() + 10
        while _running(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(worker), 'the worker ignored the SIGTERM'
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def _running(pid):
    """Whether ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except FileNotFoundError:
        return False
