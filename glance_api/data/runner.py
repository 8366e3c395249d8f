"""The one bounded runner of an API worker's background work: import tasks and the
verification of added locations (issue 18 item 7).

``task_pool_threads`` threads run the work; at most ``task_pool_queue_size`` more
wait for one. Work is admitted with ``reserve()`` *before* anything is written
(the task, the pending location), so that a refusal leaves nothing behind: beyond
the bound the request is refused with a clear 503 instead of starting one more
thread, and a read that would resume stalled work simply leaves it for a later one.
The threads start with the first work after the fork (``glance_api.app.start_worker``
starts them at once).
"""

import concurrent.futures
import logging
import threading

from oslo_config import cfg

from glance_api.http import errors
from glance_registry import process

LOG = logging.getLogger(__name__)

runner_opts = [
    # Upstream reads it from [wsgi]; an upstream config keeps its value.
    cfg.IntOpt('task_pool_threads', default=16, min=1,
               deprecated_opts=[cfg.DeprecatedOpt('task_pool_threads',
                                                  group='wsgi')],
               help='Threads of each API worker process that run background work: '
                    'image import tasks and the verification of added locations.'),
    cfg.IntOpt('task_pool_queue_size', default=64, min=0,
               help='Background work that may wait for one of the task_pool_threads '
                    'in each API worker; beyond it, a new import (or location to '
                    'verify) is refused with 503 until some finishes. Upstream '
                    'queues without bound.'),
]


def register_opts(conf):
    conf.register_opts(runner_opts)


class Busy(errors.Unavailable):
    """The runner is full: refused before anything was written."""


class Runner:
    """At most ``threads`` pieces of work at once, ``queue`` more waiting."""

    def __init__(self, threads, queue):
        self.threads = threads
        self.capacity = threads + queue
        self._slots = threading.BoundedSemaphore(self.capacity)
        self._lock = threading.Lock()
        self._executor = None

    @classmethod
    def from_conf(cls, conf):
        return cls(conf.task_pool_threads, conf.task_pool_queue_size)

    def start(self):
        """Create the threads' pool (in the worker process, after the fork)."""
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    self.threads, thread_name_prefix='glance-task')
        return self._executor

    def reserve(self, what):
        """A ``Slot`` for one piece of work; ``Busy`` (503) when the runner is full.
        ``what`` names the work in the refusal."""
        if not self._slots.acquire(blocking=False):
            raise Busy('This API worker is already running or queueing %d background '
                       'tasks; %s is refused. Try again when some have finished.'
                       % (self.capacity, what))
        return Slot(self)

    def try_reserve(self):
        """A ``Slot``, or None when the runner is full."""
        if not self._slots.acquire(blocking=False):
            return None
        return Slot(self)


class Slot:
    """A place in the runner: ``run`` the work in it, or ``release`` it unused."""

    def __init__(self, runner):
        self._runner = runner
        self._held = True

    def run(self, function, *args):
        """Run ``function(*args)`` on a thread of the runner; the slot is freed when
        it returns. Errors are logged: the work records its own outcome. Its lines
        name the request this thread serves, which started it."""
        request = process.current_request()

        def work():
            process.bind_current(request)
            try:
                function(*args)
            except Exception:   # noqa: BLE001 -- a thread has no one to raise to
                LOG.exception('background work %s failed', getattr(
                    function, '__qualname__', function))
            finally:
                process.unbind_request()
                self.release()
        self._runner.start().submit(work)

    def release(self):
        if self._held:
            self._held = False
            self._runner._slots.release()
