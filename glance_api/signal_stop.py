"""A stop that a signal handler may ask for: what the long-running commands
(``glance-all``, ``glance-scrubber``) wait on between their rounds.

A handler runs in the main thread between two of its bytecodes, wherever that
thread is. ``threading.Event.set()`` takes a lock that the interrupted thread may
hold in its own ``Event.wait()``, and waiting for a child process takes the lock
its interrupted ``poll()`` holds: either hung the command instead of stopping it.
``SignalStop.set()`` takes no lock (a flag and a byte written to a pipe), and
``wait`` wakes on that byte at once.
"""

import os
import select


class SignalStop:
    """``set()``, ``is_set()`` and ``wait(timeout)`` as ``threading.Event``'s, with a
    ``set()`` safe in a signal handler. One per process, made before the signal
    handlers that set it are installed."""

    def __init__(self):
        self._set = False
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        # poll, not select: a descriptor numbered past 1024 is fine.
        self._poller = select.poll()
        self._poller.register(self._read, select.POLLIN)

    def set(self, *_signal):
        """Ask for the stop; also a signal handler as it is (``signal.signal(
        signal.SIGTERM, stop.set)``)."""
        self._set = True
        try:
            os.write(self._write, b'\0')
        except BlockingIOError:
            pass   # the pipe is full of earlier asks: it wakes wait() already

    def is_set(self):
        return self._set

    def wait(self, timeout=None):
        """Wait until the stop is asked for or ``timeout`` seconds pass; whether
        it was asked for."""
        if not self._set:
            self._poller.poll(None if timeout is None else timeout * 1000)
        return self._set
