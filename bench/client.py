"""A small keep-alive HTTP client for the benchmark, and the latency record.

Built on ``http.client`` rather than ``requests``: the client shares two cores
with the service under test, so every microsecond it spends per request is
taken from the server. One ``Client`` belongs to one thread.
"""

import http.client
import json
import select
import time

# The media type upstream requires for PATCH /v2/images/{id}.
JSON_PATCH = 'application/openstack-images-v2.1-json-patch'
UPLOAD_CHUNK = 64 * 1024  # what python-glanceclient sends per chunk
READ_BUFFER = 1024 * 1024


class BenchError(Exception):
    """A request answered wrongly: the run must not count it, and fails."""


class Response:
    __slots__ = ('status', 'headers', 'body')

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


class Client:
    """One keep-alive connection to one service, reconnecting when closed.

    A connection the server closed while idle (a keep-alive timeout, or
    upstream's ``Connection: close``) is detected before reuse, as urllib3
    does, so no request is ever retried and a POST is never sent twice.
    """

    def __init__(self, host, port, timeout=300.0, headers=None):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.headers = headers or {}  # sent with every request (identity headers)
        self.conn = None

    def _connection(self):
        conn = self.conn
        if conn is not None and conn.sock is not None:
            readable, _, _ = select.select([conn.sock], [], [], 0)
            if readable:  # EOF (or stray bytes) on an idle connection
                conn.close()
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.conn = conn
        return conn

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, headers=None, expect=(200,)):
        """Send one request, read the whole answer, check its status."""
        hdrs = {'Accept': 'application/json', **self.headers}
        if headers:
            hdrs.update(headers)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault('Content-Type', 'application/json')
        conn = self._connection()
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise BenchError(f'{method} {path}: {type(exc).__name__}: {exc}') from exc
        if resp.status not in expect:
            raise BenchError(f'{method} {path}: HTTP {resp.status} (expected '
                             f'{"/".join(map(str, expect))}): {data[:300]!r}')
        return Response(resp.status, resp.headers, data)

    def upload(self, path, source, expect=(204,)):
        """PUT a body with chunked transfer encoding, as python-glanceclient does.

        ``source`` yields the chunks (64 KiB each); it is never buffered whole.
        """
        conn = self._connection()
        hdrs = {'Content-Type': 'application/octet-stream', 'Accept': 'application/json',
                **self.headers}
        try:
            conn.request('PUT', path, body=source, headers=hdrs, encode_chunked=True)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise BenchError(f'PUT {path}: {type(exc).__name__}: {exc}') from exc
        if resp.status not in expect:
            raise BenchError(f'PUT {path}: HTTP {resp.status} (expected '
                             f'{"/".join(map(str, expect))}): {data[:300]!r}')
        return Response(resp.status, resp.headers, data)

    def download(self, path, sink=None, expect=(200,)):
        """GET a body into a reused buffer; ``sink(memoryview)`` sees every piece.

        Returns the number of bytes received.
        """
        conn = self._connection()
        try:
            conn.request('GET', path, headers=self.headers)
            resp = conn.getresponse()
            if resp.status not in expect:
                data = resp.read()
                raise BenchError(f'GET {path}: HTTP {resp.status}: {data[:300]!r}')
            buf = bytearray(READ_BUFFER)
            view = memoryview(buf)
            total = 0
            while True:
                n = resp.readinto(buf)
                if not n:
                    break
                total += n
                if sink is not None:
                    sink(view[:n])
            if resp.length not in (None, 0):
                raise BenchError(f'GET {path}: body ended {resp.length} bytes early')
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise BenchError(f'GET {path}: {type(exc).__name__}: {exc}') from exc
        return total


class Timings:
    """Per-operation latencies and the wall time of a measured loop."""

    def __init__(self):
        self.latencies = []
        self.start = None
        self.end = None
        self.bytes = 0

    def begin(self):
        self.start = time.perf_counter()

    def finish(self):
        self.end = time.perf_counter()

    def add(self, seconds):
        self.latencies.append(seconds)

    def merge(self, other):
        self.latencies.extend(other.latencies)
        self.bytes += other.bytes

    def summary(self, unit='ops/s'):
        """Throughput over the wall time, and p50/p99 latency in milliseconds."""
        wall = self.end - self.start
        ops = len(self.latencies)
        out = {'ops': ops, 'seconds': round(wall, 4)}
        if unit == 'MB/s':
            out['bytes'] = self.bytes
            out['throughput'] = self.bytes / wall / 1e6 if wall > 0 else None
        else:
            out['throughput'] = ops / wall if wall > 0 else None
        out['unit'] = unit
        lat = sorted(self.latencies)
        out['p50_ms'] = percentile(lat, 50) * 1000 if lat else None
        out['p99_ms'] = percentile(lat, 99) * 1000 if lat else None
        return out


def percentile(sorted_values, pct):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil without floats
    return sorted_values[int(rank) - 1]
