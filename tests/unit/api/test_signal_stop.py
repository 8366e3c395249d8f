"""How the long-running commands stop on SIGTERM and SIGINT: the handler only
records the stop (``glance_api.signal_stop``), and the command's main loop acts on
it."""

import os
import signal
import subprocess
import sys
import textwrap
import threading

from glance_api import all_in_one
from glance_api import signal_stop


def test_a_sigterm_ends_a_wait_for_the_stop_at_once():
    waiter = subprocess.Popen([sys.executable, '-c', textwrap.dedent('''
        import signal, sys, time
        from glance_api import signal_stop
        stop = signal_stop.SignalStop()
        signal.signal(signal.SIGTERM, stop.set)
        print('waiting', flush=True)
        started = time.monotonic()
        asked = stop.wait(60)
        print(asked, round(time.monotonic() - started))
        ''')], stdout=subprocess.PIPE, text=True)
    try:
        assert waiter.stdout.readline() == 'waiting\n'
        waiter.send_signal(signal.SIGTERM)
        assert waiter.communicate(timeout=30)[0] == 'True 0\n'
    finally:
        waiter.kill()
        waiter.wait()


def test_a_wait_without_a_stop_lasts_its_timeout():
    stop = signal_stop.SignalStop()
    assert stop.wait(0.01) is False
    stop.set()
    stop.set()
    assert stop.wait(60) is True and stop.is_set()


def test_glance_alls_stop_signal_arriving_during_a_daemons_poll_returns_at_once():
    daemons = all_in_one._Daemons()
    daemon = daemons.start([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        # Where a signal finds glance-all's main loop most often: inside the
        # daemon's poll(), which holds the lock a wait() in the handler would need.
        with daemon._waitpid_lock:
            handler = threading.Thread(target=daemons.stop_requested.set,
                                       args=(signal.SIGTERM, None), daemon=True)
            handler.start()
            handler.join(2)
            assert not handler.is_alive()
        assert not daemons.running()
        assert daemon.poll() is None   # the main loop stops it, next
        daemons.stop()
        assert daemon.returncode == -signal.SIGTERM
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()


def test_a_stop_made_when_a_thousand_files_are_open_still_waits():
    # select() refuses descriptors numbered past 1024.
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        stop = signal_stop.SignalStop()
        assert stop.wait(0.01) is False
        stop.set()
        assert stop.wait(60) is True
    finally:
        for fd in held:
            os.close(fd)
