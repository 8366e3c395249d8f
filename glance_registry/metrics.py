"""Prometheus metrics of both daemons (``[metrics] enabled``, off by default).

gunicorn runs several worker processes: each writes its samples to files in a
directory the arbiter makes at start (prometheus_client's multiprocess mode), and
whoever answers a scrape adds them up. ``prepare(conf)`` does that in the arbiter,
before any worker forks and before any metric exists; metrics are then made lazily
in each worker. Without ``prepare`` (metrics off, or a test's own process) every
``observe_*`` / ``count_*`` here does nothing.

What is measured: every request (``glance_http_requests_total`` by route, method
and status; ``glance_http_request_duration_seconds``; bytes in by
``Content-Length`` and bytes out), the API's registry round trips and their latency,
store errors, uploads in flight and the bytes they stored, and image cache hits and
misses (``count_cache``, for the cache). Served as Prometheus text at ``/metrics``
on the daemon's own port, or, with ``[metrics] bind_port``, on a listener of its own
(run by the arbiter) at any path.

Part of the contract half: it imports nothing of the registry daemon.
"""

import contextlib
import functools
import os
import re
import shutil
import tempfile

from oslo_config import cfg

GROUP = 'metrics'
PATH = '/metrics'
_DIRECTORY = 'PROMETHEUS_MULTIPROC_DIR'

metrics_opts = [
    cfg.BoolOpt('enabled', default=False,
                help='Export Prometheus metrics: at /metrics on the daemon\'s own '
                     'port (without authentication), or on bind_port if set.'),
    cfg.HostAddressOpt('bind_host', default='127.0.0.1',
                       help='Address of the metrics listener, with bind_port.'),
    cfg.PortOpt('bind_port',
                help='Serve the metrics on this port (any path) instead of at '
                     '/metrics on the daemon\'s own port.'),
]

# Seconds: from a cached registry read to a multi-gigabyte upload.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
            30, 60, 300, float('inf'))

_state = {'enabled': False, 'directory': None, 'at_path': False}


def register_opts(conf):
    conf.register_opts(metrics_opts, group=GROUP)


def prepare(conf):
    """In the arbiter, before workers fork: set up multiprocess metrics if
    ``conf`` enables them, and their own listener if it has a port. Returns a
    function that cleans up when the daemon stops."""
    if not conf.metrics.enabled:
        return lambda: None
    directory = tempfile.mkdtemp(prefix='glance-metrics-')
    os.environ[_DIRECTORY] = directory
    from prometheus_client import values
    # Chosen when prometheus_client is imported: choose again, now that the
    # directory is set, in case something imported it before.
    values.ValueClass = values.get_value_class()
    _state.update(enabled=True, directory=directory,
                  at_path=not conf.metrics.bind_port)
    if conf.metrics.bind_port:
        import prometheus_client
        prometheus_client.start_http_server(conf.metrics.bind_port,
                                            addr=conf.metrics.bind_host,
                                            registry=_registry())

    def cleanup():
        shutil.rmtree(directory, ignore_errors=True)
    return cleanup


def worker_exited(pid):
    """Forget a dead worker's gauges (gunicorn's ``child_exit``)."""
    if _state['enabled']:
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(pid)


def serves_at_path():
    """Whether ``/metrics`` is answered on the daemon's own port."""
    return _state['enabled'] and _state['at_path']


def _registry():
    from prometheus_client import CollectorRegistry, multiprocess
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def exposition():
    """``(body, content type)`` of a scrape: every worker's samples added up."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    return generate_latest(_registry()), CONTENT_TYPE_LATEST


#: Where an application names the route that served a request (its pattern), for
#: the route label; requests no route answered are counted as ``unmatched``.
ROUTE_ENVIRON = 'glance.route'


class Endpoint:
    """WSGI middleware answering ``GET /metrics`` while metrics are served on the
    daemon's own port, and passing everything else on."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get('PATH_INFO') != PATH or not serves_at_path():
            return self.app(environ, start_response)
        environ[ROUTE_ENVIRON] = PATH
        body, content_type = exposition()
        start_response('200 OK', [('Content-Type', content_type),
                                  ('Content-Length', str(len(body)))])
        return [body]


@functools.lru_cache(maxsize=1024)
def route_label(pattern):
    """A route pattern as a label: ``/v1/images/(?P<image_id>[^/]+)`` becomes
    ``/v1/images/{image_id}``. Cached: the registry labels every request with one
    of its few route patterns (a ``re.sub`` each time was about 2.4 us)."""
    return re.sub(r'\(\?P<(\w+)>[^)]*\)', r'{\1}', pattern)


@functools.cache
def _instruments():
    # Made on first use, in the worker (pid-specific files).
    from prometheus_client import Counter, Gauge, Histogram
    return {
        'requests': Counter('glance_http_requests', 'Requests answered.',
                            ['route', 'method', 'status']),
        'duration': Histogram('glance_http_request_duration_seconds',
                              'Seconds from the request to its last byte sent.',
                              ['route', 'method'], buckets=_BUCKETS),
        'bytes_in': Counter('glance_http_request_bytes',
                            'Request body bytes (as Content-Length declares).',
                            ['route']),
        'bytes_out': Counter('glance_http_response_bytes',
                             'Response body bytes sent.', ['route']),
        'registry': Histogram('glance_registry_call_duration_seconds',
                              'Round trips from the API to the registry.',
                              ['method', 'outcome'], buckets=_BUCKETS),
        'store_errors': Counter('glance_store_errors', 'Store operations that '
                                'failed.', ['store', 'operation']),
        'uploads': Gauge('glance_uploads_in_flight', 'Uploads receiving data now.',
                         multiprocess_mode='livesum'),
        'uploaded': Counter('glance_uploaded_bytes', 'Image bytes stored by '
                            'uploads that succeeded.', ['store']),
        'cache': Counter('glance_image_cache_requests', 'Image cache lookups.',
                         ['result']),
        'cache_events': Counter('glance_image_cache_events', 'What the image cache '
                                'did: fills (done, abandoned), evictions, images '
                                'too large to cache.', ['event']),
        'cache_bytes': Counter('glance_image_cache_bytes', 'Image bytes the cache '
                               'served, filled and evicted.', ['event']),
    }


def observe_request(route, method, status, seconds, bytes_in, bytes_out):
    if not _state['enabled']:
        return
    metrics = _instruments()
    route = route or 'unmatched'
    metrics['requests'].labels(route, method, status).inc()
    metrics['duration'].labels(route, method).observe(seconds)
    if bytes_in:
        metrics['bytes_in'].labels(route).inc(bytes_in)
    if bytes_out:
        metrics['bytes_out'].labels(route).inc(bytes_out)


def observe_registry_call(method, outcome, seconds):
    """One registry round trip: ``outcome`` is the status code, or ``unreachable``
    / ``no_answer``."""
    if _state['enabled']:
        _instruments()['registry'].labels(method, str(outcome)).observe(seconds)


def count_store_error(store, operation):
    if _state['enabled']:
        _instruments()['store_errors'].labels(store, operation).inc()


def count_uploaded(store, size):
    if _state['enabled']:
        _instruments()['uploaded'].labels(store).inc(size or 0)


def count_cache(hit):
    """An image cache lookup (for the cache): ``hit`` or miss."""
    if _state['enabled']:
        _instruments()['cache'].labels('hit' if hit else 'miss').inc()


def count_cache_event(event, amount=1):
    """Something else the image cache did: ``event`` names a count (``fills``,
    ``evictions``, ...) or, starting with ``bytes_``, a number of bytes."""
    if _state['enabled']:
        if event.startswith('bytes_'):
            _instruments()['cache_bytes'].labels(event[len('bytes_'):]).inc(amount)
        else:
            _instruments()['cache_events'].labels(event).inc(amount)


@contextlib.contextmanager
def upload_in_flight():
    """Count an upload as in flight for the block."""
    if not _state['enabled']:
        yield
        return
    gauge = _instruments()['uploads']
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()
