#!/usr/bin/env python3
"""Import and image cache against upstream Glance: ``python bench/import_cache.py [--quick]``.

The benchmark parts of issue 12 (import) and issue 13 (image cache), with the harness
of ``bench/run.py`` (its targets, client, RSS sampler, payload, sendfile server and
table). Three services run side by side on loopback:

``upstream``
    upstream Glance 33 under uWSGI as in ``run.py`` (1 process x 1 thread, HTTP
    router in front), plus its import configuration (``enabled_import_methods``,
    ``[os_glance_staging_store]``, ``[import_filtering_opts]`` allowing the loopback
    server) and its cache (``image_cache_dir``; the ``cache`` and ``cachemanage``
    filters of ``[paste_deploy] flavor = keystone+cachemanagement``). Its noauth
    pipeline cannot import (a task needs an owner, the noauth context has no
    project: HTTP 500), so that pipeline runs with ``authtoken`` taken out and the
    client sends the identity headers keystonemiddleware would set (``IDENTITY``).
``ours``
    ``glance-all`` with 1 API worker (16 threads) and 1 registry worker,
    ``[import_filtering_opts]`` allowing the loopback server, no cache.
``ours-cache``
    the same with ``image_cache_dir`` set.

Workloads (each run against every target that has the feature, who goes first
rotating):

``import-direct``, ``import-direct-4x``
    glance-direct: ``PUT /stage`` (chunked, 64 KiB) then ``POST /import``, polled
    every 50 ms until ``active``; MB/s over stage + import; the API process tree's
    peak RSS. The payload (64 MiB quick, 1 GiB full), then 4 times that.
``import-web``, ``import-web-4x``
    web-download from the loopback sendfile server (``ceilings.py serve``, which
    also gives the download ceiling): MB/s from ``POST /import`` to ``active``;
    peak RSS. Flat RSS = the 4x figure equals the 1x one.
``upload-inspected``, ``upload-uninspected`` (ours)
    ``PUT /file`` of the payload as ``raw``/``bare`` (inspected: the format
    inspectors run in the upload pass) and as ``raw``/``ovf`` (a container that is
    not inspected; the rest of the upload path is the same), alternating.
``download-cold``
    the first read of freshly uploaded images (each image once): cache off
    (``ours``), cache on and filled by this read (``ours-cache``, ``upstream``).
``download-cached``
    later reads of an image the cold read cached (after ``GET /v2/cache`` lists
    it), against the sendfile ceiling (best of 5 reads, measured right before the
    cold downloads and right after the cached ones; the better counts).
``ceiling-pairs``
    the sendfile ceiling and the cached read interleaved (ceiling, cached,
    ceiling, cached, ...: ``--pairs`` of each) on ``ours-cache``'s cached image;
    the median of the per-pair ratios cached / ceiling judges "cached >= 90% of
    the ceiling" on pairs measured under the same load.
``swift-download-cold``, ``swift-download-cached``, ``swift-ceiling-pairs``
    the same against a Swift store, the case the cache exists for: a single-node
    Swift (``tests/fixtures/swift.py``) **on disk** under the run directory (not
    tmpfs: its writes drop the data from the page cache, so a first read comes
    from the disk), and two more targets whose only store it is, ``ours-swift``
    (no cache) and ``ours-swift-cache``. The cold reads run in ``--swift-rounds``
    rounds, alternating which target goes first; each reads ``--reps`` new images
    back to back.

After the cold reads of a cached target the benchmark waits (untimed) until
``GET /v2/cache`` lists every image read, at most ``FILL_SECONDS_PER_GIB`` per
GiB filled (a fill's copy and ``fdatasync`` of 1 GiB take seconds on this disk,
and the fills of back-to-back reads overlap), and records how long after the
last read each was listed (``seconds_until_listed``).

Every import is checked (``active``, size, md5, sha512) and every download compared
with the payload. The JSON goes to ``bench/results/import_cache-<timestamp>.json``
with the commit, the load average and each target's processes x threads.
"""

import argparse
import datetime
import hashlib
import os
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import ceilings  # noqa: E402
import procmon  # noqa: E402
import report  # noqa: E402
import revision  # noqa: E402
import run  # noqa: E402
import targets  # noqa: E402
import workloads as wl  # noqa: E402
from client import BenchError, Client, Timings  # noqa: E402

HOST = targets.HOST
POLL = 0.05
IMPORT_TIMEOUT = 1800
# How long the fills of the cold reads may take to be listed, per GiB read: three
# back-to-back 1 GiB fills wrote 3 GiB, and this machine's disk writes ~290 MB/s
# with fdatasync (the 10 s the benchmark once waited was shorter than that).
FILL_SECONDS_PER_GIB = 60
FILL_SECONDS_MIN = 30

UPSTREAM_EXTRA = """
[DEFAULT]
# Header-less requests (the harness's readiness probe) get the anonymous context.
allow_anonymous_access = true
enabled_import_methods = [glance-direct,web-download]
image_cache_dir = {data}/cache
worker_self_reference_url = http://{host}:{port}

[import_filtering_opts]
allowed_hosts = [127.0.0.1]
allowed_ports = [{static_port}]
"""
OURS_FILTERING = """
[import_filtering_opts]
allowed_hosts = [127.0.0.1]
allowed_ports = [{static_port}]
"""
OURS_CACHE = """
[DEFAULT]
image_cache_dir = {data}/cache
"""
# The Swift targets' only store (a single object up to 5 GiB, as upstream's
# default; the container is created on the first PUT).
OURS_SWIFT = """
[glance_store]
default_store = swift
swift_store_config_file = {refs}
swift_store_container = bench
swift_store_create_container_on_put = true
"""
# Upstream's noauth context has no project, and a task needs an owner: import fails
# with "NOT NULL constraint failed: tasks.owner" (HTTP 500). So upstream runs its
# keystone+cachemanagement pipeline with authtoken taken out: its "context" filter
# reads the identity headers keystonemiddleware would set, which the client sends.
# (No token is validated: that favours upstream.)
IDENTITY = {'X-Identity-Status': 'Confirmed', 'X-Project-Id': 'bench-project',
            'X-User-Id': 'bench-user', 'X-Roles': 'admin,member,reader'}
UPSTREAM_FLAVOR = 'keystone+cachemanagement'


def upstream_paste_ini(venv):
    """Upstream's glance-api-paste.ini with authtoken out of keystone+cachemanagement."""
    with open(os.path.join(venv, 'etc', 'glance', 'glance-api-paste.ini')) as f:
        text = f.read()
    line = ('keystone+cachemanagement = cors http_proxy_to_wsgi versionnegotiation '
            'osprofiler authtoken context cache cachemanage rootapp')
    if line not in text:
        raise targets.TargetError('upstream\'s paste pipeline is not the one expected')
    return text.replace(line, line.replace(' authtoken', ''))


HEADERS = {'upstream': IDENTITY}
SHAPES = {
    'upstream': '1 uWSGI process x 1 thread (+ its HTTP router process)',
    'ours': '1 API worker x 16 threads + 1 registry worker x 8 threads',
    'ours-cache': '1 API worker x 16 threads + 1 registry worker x 8 threads',
    'ours-swift': '1 API worker x 16 threads + 1 registry worker x 8 threads; '
                  'Swift store (1 proxy, 1 object server, 1 replica, on disk)',
    'ours-swift-cache': '1 API worker x 16 threads + 1 registry worker x 8 threads; '
                        'Swift store (1 proxy, 1 object server, 1 replica, on disk)',
}
SWIFT_TARGETS = ('ours-swift', 'ours-swift-cache')
STEPS = [
    ('import-direct', 'glance-direct import {size}', ('upstream', 'ours')),
    ('import-direct-4x', 'glance-direct import {big}', ('upstream', 'ours')),
    ('import-web', 'web-download import {size}', ('upstream', 'ours')),
    ('import-web-4x', 'web-download import {big}', ('upstream', 'ours')),
    ('upload-inspected', 'upload raw/bare {size} (inspected)', ('ours',)),
    ('upload-uninspected', 'upload raw/ovf {size} (not inspected)', ('ours',)),
    ('download-cold', 'cold download {size} (first read)', ('upstream', 'ours', 'ours-cache')),
    ('download-cached', 'cached download {size}', ('upstream', 'ours-cache')),
    ('ceiling-pairs', 'cached vs ceiling, interleaved {size}', ('ours-cache',)),
    ('cold-pairs', 'cold, cache on vs off, interleaved {size}', ('ours-cache',)),
    ('swift-download-cold', 'Swift: cold download {size}', SWIFT_TARGETS),
    ('swift-cold-pairs', 'Swift: cold, cache on vs off, interleaved {size}',
     ('ours-swift-cache',)),
    ('swift-download-cached', 'Swift: cached download {size}', ('ours-swift-cache',)),
    ('swift-ceiling-pairs', 'Swift: cached vs ceiling, interleaved {size}',
     ('ours-swift-cache',)),
]
SWIFT_STEPS = ('swift-download-cold', 'swift-cold-pairs', 'swift-download-cached',
               'swift-ceiling-pairs')
COLD_PAIR_METRICS = [('cache on MB/s (median)', 'throughput'),
                     ('cache off MB/s (median)', 'off_mb_s'),
                     ('on/off, median of pairs', 'pair_ratio'),
                     ('glance CPU s/read, off', 'service_cpu_s_off'),
                     ('glance CPU s/read, on, until last byte', 'service_cpu_s_on_read'),
                     ('glance CPU s/read, on (+fill)', 'service_cpu_s_on')]
SWIFT_COLD_PAIR_METRICS = COLD_PAIR_METRICS + [
    ('Swift CPU s/read, off', 'swift_cpu_s_off'),
    ('Swift CPU s/read, on (+fill)', 'swift_cpu_s_on')]
PAIR_METRICS = [('cached MB/s (median)', 'throughput'),
                ('ceiling MB/s (median)', 'ceiling_mb_s'),
                ('cached/ceiling, median of pairs', 'pair_ratio')]
IMPORT_METRICS = [('MB/s', 'throughput'), ('peak tree RSS MB', 'peak_tree_rss_mb'),
                  ('tree RSS before MB', 'idle_tree_rss_mb')]
report.METRICS.update({name: IMPORT_METRICS for name, _, _ in STEPS[:4]})
report.METRICS.update({'upload-inspected': [('MB/s', 'throughput')],
                       'upload-uninspected': [('MB/s', 'throughput')],
                       'download-cold': [('MB/s', 'throughput'), ('p50 ms', 'p50_ms')],
                       'download-cached': [('MB/s', 'throughput'), ('p50 ms', 'p50_ms')],
                       'swift-download-cold': [('MB/s', 'throughput'),
                                               ('p50 ms', 'p50_ms')],
                       'swift-download-cached': [('MB/s', 'throughput'),
                                                 ('p50 ms', 'p50_ms')],
                       'ceiling-pairs': PAIR_METRICS,
                       'cold-pairs': COLD_PAIR_METRICS,
                       'swift-cold-pairs': SWIFT_COLD_PAIR_METRICS,
                       'swift-ceiling-pairs': PAIR_METRICS})
report.CEILING_OF.update({'download-cold': 'sendfile', 'download-cached': 'sendfile',
                          'swift-download-cached': 'sendfile'})


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--quick', action='store_true', help='64 MiB payload instead of 1 GiB')
    p.add_argument('--reps', type=int, default=3,
                   help='repetitions of the 1x imports, uploads and cold downloads (3)')
    p.add_argument('--cache', default=os.environ.get('GLANCE_BENCH_CACHE')
                   or os.path.join(HERE, '.cache'))
    p.add_argument('--results', default=os.path.join(HERE, 'results'))
    p.add_argument('--glance-all', default=None)
    p.add_argument('--only', default=','.join(name for name, _, _ in STEPS))
    p.add_argument('--keep', action='store_true', help='keep the data directories')
    p.add_argument('--pairs', type=int, default=9,
                   help='ceiling/cached pairs of the interleaved measurements (9)')
    p.add_argument('--swift-cache-dir', default=None,
                   help='a diagnostic: put ours-swift-cache\'s image_cache_dir under '
                        'this directory (e.g. /dev/shm) instead of its data directory, '
                        'on the disk Swift uses')
    p.add_argument('--swift-rounds', type=int, default=2,
                   help='rounds of the Swift cold reads, each of --reps images per '
                        'target (2)')
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(',') if s.strip()]
    return args


# ------------------------------------------------------------------ workloads

def _image(client, name, container='bare'):
    body = {'name': name, 'disk_format': 'raw', 'container_format': container}
    return client.request('POST', '/v2/images', body, expect=(201,)).json()['id']


def _wait_active(client, image_id):
    deadline = time.monotonic() + IMPORT_TIMEOUT
    while time.monotonic() < deadline:
        image = client.request('GET', f'/v2/images/{image_id}').json()
        if image['status'] == 'active':
            return
        if image['status'] in ('killed', 'deleted') or image.get('os_glance_failed_import'):
            raise BenchError(f'import of {image_id} failed: status {image["status"]}, '
                             f'failed stores {image.get("os_glance_failed_import")!r}')
        time.sleep(POLL)
    raise BenchError(f'import of {image_id} not active after {IMPORT_TIMEOUT}s')


def _wait_tasks_done(client, image_id, timeout=120):
    """Wait until the image's import tasks have ended: the image turns ``active``
    before its task releases the import lock and records its result, and a DELETE in
    between races the task (upstream: "did not hold the lock upon completion", or
    "database is locked" on SQLite: HTTP 500). Untimed."""
    deadline = time.monotonic() + timeout
    while True:
        tasks = client.request('GET', f'/v2/images/{image_id}/tasks').json().get('tasks', [])
        if tasks and all(t.get('status') in ('success', 'failure') for t in tasks):
            return
        if time.monotonic() > deadline:
            raise BenchError(f'import task of {image_id} not finished {timeout}s after '
                             f'the image became active: {tasks!r}')
        time.sleep(POLL)


def import_once(service, payload, method, repeat, static_port):
    """One import of the payload ``repeat`` times over; MB/s and the tree's peak RSS."""
    client = Client(HOST, service.port, headers=HEADERS.get(service.name))
    size = payload.size * repeat
    try:
        idle, _ = procmon.tree_rss(service.pid)
        image_id = _image(client, f'bench-{method}')
        with procmon.RssSampler(service.pid) as sampler:
            t0 = time.perf_counter()
            if method == 'glance-direct':
                client.upload(f'/v2/images/{image_id}/stage', payload.chunks(repeat))
                staged = time.perf_counter() - t0
                body = {'method': {'name': 'glance-direct'}}
            else:
                staged = None
                body = {'method': {'name': 'web-download',
                                   'uri': f'http://127.0.0.1:{static_port}/payload'
                                          f'?repeat={repeat}'}}
            client.request('POST', f'/v2/images/{image_id}/import', body, expect=(202,))
            _wait_active(client, image_id)
            wall = time.perf_counter() - t0
        wl._check_active(client, image_id, size, payload.digests[str(repeat)])
        _wait_tasks_done(client, image_id)
        client.request('DELETE', f'/v2/images/{image_id}', expect=(204,))
    finally:
        client.close()
    rec = sampler.result()
    rec.update(idle_tree_rss_mb=idle / 2**20, bytes=size, seconds=wall,
               throughput=size / wall / 1e6, unit='MB/s')
    if staged is not None:
        rec['stage_seconds'] = staged
    return rec


def upload_once(service, payload, container):
    client = Client(HOST, service.port, headers=HEADERS.get(service.name))
    try:
        image_id = _image(client, f'bench-upload-{container}', container)
        t0 = time.perf_counter()
        client.upload(f'/v2/images/{image_id}/file', payload.chunks())
        wall = time.perf_counter() - t0
        wl._check_active(client, image_id, payload.size, payload.digests['1'])
        client.request('DELETE', f'/v2/images/{image_id}', expect=(204,))
    finally:
        client.close()
    return wall


def _timed_download(client, path, payload, timings):
    check = payload.verifier()
    t0 = time.perf_counter()
    timings.bytes += client.download(path, check)
    timings.add(time.perf_counter() - t0)
    check.finish()


class CpuMeter:
    """CPU seconds spent between ``start()`` and ``stop()``: the service's process
    tree (its API worker's fill threads included), the Swift servers when it has
    them, this client, and the whole machine (busy of total: other helpers' work
    shows there)."""

    def __init__(self, service):
        self.service = service
        self.swift_pids = getattr(service, 'swift_pids', ())
        self._start = None

    def _sample(self):
        busy, total = procmon.machine_busy_seconds()
        times = os.times()
        return {'service': procmon.tree_cpu_seconds(self.service.pid),
                'swift': procmon.cpu_seconds(self.swift_pids),
                'client': times.user + times.system,
                'machine_busy': busy, 'machine_total': total}

    def start(self):
        self._start = self._sample()

    def stop(self):
        end = self._sample()
        spent = {key: end[key] - self._start[key] for key in end}
        if not self.swift_pids:
            del spent['swift']
        return spent


def _wait_listed(client, image_ids, timeout):
    """Seconds until ``GET /v2/cache`` listed each image as cached, from now
    (polled every 0.2 s: fills end after the client's last byte, and the fills of
    back-to-back reads overlap); None for an image not listed within ``timeout``."""
    started = time.monotonic()
    waiting, listed = set(image_ids), {}
    while waiting:
        cached = client.request('GET', '/v2/cache').json().get('cached_images', [])
        now = time.monotonic() - started
        for entry in cached:
            if entry.get('image_id') in waiting:
                waiting.discard(entry['image_id'])
                listed[entry['image_id']] = now
        if not waiting or now > timeout:
            break
        time.sleep(0.2)
    return [listed.get(image_id) for image_id in image_ids]


def fill_timeout(payload, reps):
    return max(FILL_SECONDS_MIN, FILL_SECONDS_PER_GIB * payload.size * reps / 2**30)


def cold_downloads(service, payload, reps, cached):
    """Upload ``reps`` images (untimed), read each once (timed): the first read.
    With a cache, wait until every image is listed as cached (untimed)."""
    client = Client(HOST, service.port, headers=HEADERS.get(service.name))
    timings = Timings()
    meter = CpuMeter(service)
    ids = []
    listed = None
    cpu = {}
    try:
        for n in range(reps):
            image_id = _image(client, f'bench-cold-{n}')
            client.upload(f'/v2/images/{image_id}/file', payload.chunks())
            ids.append(image_id)
        meter.start()
        timings.begin()
        for image_id in ids:
            _timed_download(client, f'/v2/images/{image_id}/file', payload, timings)
        timings.finish()
        cpu['reads'] = meter.stop()
        if cached:
            timeout = fill_timeout(payload, reps)
            listed = _wait_listed(client, ids, timeout)
            cpu['reads_and_fills'] = meter.stop()
            if None in listed:
                missing = [i for i, t in zip(ids, listed) if t is None]
                raise BenchError(f'{service.name}: GET /v2/cache does not list '
                                 f'{", ".join(missing)} {timeout:.0f}s after their '
                                 f'first reads (listed after: {listed})')
        md5 = hashlib.md5()
        client.download(f'/v2/images/{ids[-1]}/file', md5.update)
        if md5.hexdigest() != payload.digests['1']['md5']:
            raise BenchError(f'{service.name}: md5 of a re-read differs from the upload\'s')
    finally:
        client.close()
    rec = timings.summary('MB/s')
    rec['image_ids'] = ids
    rec['all_throughputs'] = [payload.size / t / 1e6 for t in timings.latencies]
    rec['cached_after_first_read'] = None if listed is None else True
    rec['seconds_until_listed'] = listed
    rec['cpu_seconds'] = cpu
    return rec


def cold_pairs(off, on, payload, pairs):
    """Cold reads with the cache off and on, interleaved: ``pairs`` times, a new
    image uploaded to each (untimed), then each read once, who goes first
    alternating. After the read with the cache, the benchmark waits (untimed)
    until its fill is listed, so no fill overlaps the next read: this is the
    cost of a miss that fills, under the load of the moment; the back-to-back
    reads of ``download-cold`` add the fills' overlap. CPU seconds per read
    include the fill (up to its listing); ``cpu_seconds_until_last_byte`` stops
    at the client's last byte (what the download itself and the fill's work
    beside it cost, without what the fill does afterwards)."""
    clients = {s.name: Client(HOST, s.port, headers=HEADERS.get(s.name))
               for s in (off, on)}
    mb = {off.name: [], on.name: []}
    cpu = {off.name: [], on.name: []}
    read_cpu = {off.name: [], on.name: []}
    listed = []
    try:
        for number in range(pairs):
            ids = {}
            for service in (off, on):
                client = clients[service.name]
                ids[service.name] = _image(client, f'bench-cold-pair-{number}')
                client.upload(f'/v2/images/{ids[service.name]}/file', payload.chunks())
            for service in ((off, on) if number % 2 == 0 else (on, off)):
                client, image_id = clients[service.name], ids[service.name]
                meter = CpuMeter(service)
                timings = Timings()
                meter.start()
                _timed_download(client, f'/v2/images/{image_id}/file', payload, timings)
                read_cpu[service.name].append(meter.stop())
                if service is on:
                    (seconds,) = _wait_listed(client, [image_id],
                                              fill_timeout(payload, 1))
                    if seconds is None:
                        raise BenchError(f'{on.name}: {image_id} not listed in '
                                         'GET /v2/cache after its first read')
                    listed.append(seconds)
                cpu[service.name].append(meter.stop())
                mb[service.name].append(payload.size / timings.latencies[0] / 1e6)
            for service in (off, on):
                clients[service.name].request(
                    'DELETE', f'/v2/images/{ids[service.name]}', expect=(204,))
    finally:
        for client in clients.values():
            client.close()
    ratios = [a / b for a, b in zip(mb[on.name], mb[off.name])]

    def median_cpu(name, key, of=cpu):
        return statistics.median(c.get(key, 0.0) for c in of[name])

    return {'throughput': statistics.median(mb[on.name]), 'unit': 'MB/s',
            'off_mb_s': statistics.median(mb[off.name]),
            'pair_ratio': statistics.median(ratios), 'pair_ratios': ratios,
            'on_throughputs': mb[on.name], 'off_throughputs': mb[off.name],
            'seconds_until_listed': listed, 'pairs': pairs,
            'service_cpu_s_off': median_cpu(off.name, 'service'),
            'service_cpu_s_on': median_cpu(on.name, 'service'),
            'service_cpu_s_on_read': median_cpu(on.name, 'service', read_cpu),
            'service_cpu_s_off_read': median_cpu(off.name, 'service', read_cpu),
            'swift_cpu_s_off': median_cpu(off.name, 'swift'),
            'swift_cpu_s_on': median_cpu(on.name, 'swift'),
            'cpu_seconds': cpu, 'cpu_seconds_until_last_byte': read_cpu}


def cached_downloads(service, payload, image_id, reps):
    client = Client(HOST, service.port, headers=HEADERS.get(service.name))
    timings = Timings()
    try:
        timings.begin()
        for _ in range(reps):
            _timed_download(client, f'/v2/images/{image_id}/file', payload, timings)
        timings.finish()
    finally:
        client.close()
    rec = timings.summary('MB/s')
    rec['best_throughput'] = payload.size / min(timings.latencies) / 1e6
    return rec


def ceiling_pairs(service, payload, image_id, static_port, pairs):
    """The sendfile ceiling and a cached read of ``image_id``, interleaved: ``pairs``
    times (ceiling, cached), after one untimed read of each. Each pair's ratio
    compares two reads a few hundred milliseconds apart, under the same load."""
    server = Client(HOST, static_port)
    client = Client(HOST, service.port, headers=HEADERS.get(service.name))
    ceiling, cached = Timings(), Timings()
    path = f'/v2/images/{image_id}/file'
    try:
        server.download('/payload')
        client.download(path)
        for _ in range(pairs):
            _timed_download(server, '/payload', payload, ceiling)
            _timed_download(client, path, payload, cached)
    finally:
        server.close()
        client.close()
    # cached MB/s / ceiling MB/s = ceiling's seconds / cached seconds
    ratios = [s_s / c_s for s_s, c_s in zip(ceiling.latencies, cached.latencies)]
    mb = [payload.size / t / 1e6 for t in cached.latencies]
    ceiling_mb = [payload.size / t / 1e6 for t in ceiling.latencies]
    return {'throughput': statistics.median(mb), 'unit': 'MB/s',
            'ceiling_mb_s': statistics.median(ceiling_mb),
            'pair_ratio': statistics.median(ratios),
            'pair_ratios': ratios, 'cached_throughputs': mb,
            'ceiling_throughputs': ceiling_mb, 'pairs': pairs,
            'pairs_at_or_above_90_percent': sum(r >= 0.9 for r in ratios)}


def delete_images(service, ids):
    client = Client(HOST, service.port, headers=HEADERS.get(service.name))
    try:
        for image_id in ids:
            client.request('DELETE', f'/v2/images/{image_id}', expect=(204,))
    finally:
        client.close()


def _median_record(records):
    rec = dict(records[len(records) // 2])
    rec['throughput'] = statistics.median(r['throughput'] for r in records)
    rec['all_throughputs'] = [r['throughput'] for r in records]
    return rec


# ------------------------------------------------------------------ the run

def start_swift(run_dir, doc):
    """A single-node Swift on disk under ``run_dir`` and its reference file; the
    SwiftService (stop it), or None (the error is in ``doc``)."""
    sys.path.insert(0, os.path.dirname(HERE))
    from tests.fixtures import swift   # the test suite's fixture: pytest imports
    try:
        service = swift.SwiftService.start(os.path.join(run_dir, 'swift'),
                                           on_tmpfs=False)
    except RuntimeError as exc:
        doc['errors'].append(f'swift: {exc}')
        run.log(f'swift: FAIL {exc}')
        return None
    refs = service.write_reference_file(os.path.join(run_dir, 'swift-refs.conf'))
    doc['swift'] = {'version': swift.SWIFT_VERSION, 'devices': service.devices,
                    'devices_on_tmpfs': service.devices.startswith('/dev/shm'),
                    'file_system': _file_system_of(service.devices), 'refs': refs}
    run.log(f'swift {swift.SWIFT_VERSION} ready, devices on '
            f'{doc["swift"]["file_system"]} ({service.devices})')
    return service


def _file_system_of(path):
    """The type of the file system ``path`` is on, from /proc/mounts."""
    best, kind = '', 'unknown'
    path = os.path.realpath(path)
    with open('/proc/mounts') as mounts:
        for line in mounts:
            fields = line.split()
            point = fields[1]
            if (path == point or path.startswith(point.rstrip('/') + '/')) and \
                    len(point) > len(best):
                best, kind = point, fields[2]
    return kind


def start_services(args, run_dir, cache, static_port, doc, swift_service=None):
    file_steps = [s for s in args.only if s not in SWIFT_STEPS]
    glance_all = targets.find_glance_all(args.glance_all)
    services = {}
    if file_steps:
        venv = targets.ensure_upstream(cache, log=run.log)
        services = {
            'upstream': targets.UpstreamService(
                run_dir, venv, flavor=UPSTREAM_FLAVOR, paste_ini=upstream_paste_ini(venv),
                extra_conf=UPSTREAM_EXTRA.replace('{static_port}', str(static_port))),
            'ours': targets.OursService(
                'ours', run_dir, glance_all, workers=1,
                extra_conf=OURS_FILTERING.format(static_port=static_port)),
            'ours-cache': targets.OursService('ours-cache', run_dir, glance_all,
                                              workers=1, extra_conf=OURS_CACHE),
        }
    if swift_service is not None:
        swift_conf = OURS_SWIFT.replace('{refs}', doc['swift']['refs'])
        cache_conf = OURS_CACHE
        if args.swift_cache_dir:
            # A diagnostic: the cache on another device than Swift's disk (an API
            # node's cache is never on its Swift's disks; here both share one).
            where = os.path.join(os.path.abspath(args.swift_cache_dir),
                                 'import_cache-' + os.path.basename(run_dir))
            cache_conf = f'[DEFAULT]\nimage_cache_dir = {where}\n'
            doc['swift']['cache_dir'] = where
            doc['swift']['cache_file_system'] = _file_system_of(args.swift_cache_dir)
        services['ours-swift'] = targets.OursService(
            'ours-swift', run_dir, glance_all, workers=1, extra_conf=swift_conf)
        services['ours-swift-cache'] = targets.OursService(
            'ours-swift-cache', run_dir, glance_all, workers=1,
            extra_conf=swift_conf + cache_conf)
        for name in SWIFT_TARGETS:
            services[name].swift_pids = [p.pid for p in
                                         swift_service._processes.values()]
    started = {}
    for name, service in services.items():
        entry = doc['targets'][name] = {'results': {}, 'shape': SHAPES[name]}
        try:
            service.start()
            started[name] = service
            entry['config'] = service.config
            if name in SWIFT_TARGETS:
                entry['config']['store'] = 'swift (on %s)' % doc['swift']['file_system']
            run.log(f'{name} ready on port {service.port} ({SHAPES[name]})')
        except targets.TargetError as exc:
            entry['error'] = str(exc)
            doc['errors'].append(f'{name}: {exc}\n{exc.detail}')
            run.log(f'{name}: FAIL {exc}\n{exc.detail}')
            service.stop()
    if 'upstream' in started:
        entry = doc['targets']['upstream']
        entry['versions'] = targets.upstream_versions(services['upstream'].venv)
    return started


def _record(doc, name, step, fn):
    try:
        rec = fn()
    except Exception as exc:  # noqa: BLE001 -- recorded, the run goes on, rc says so
        rec = {'error': f'{type(exc).__name__}: {exc}'}
        doc['errors'].append(f'{name} {step}: {rec["error"]}')
    rec['loadavg'] = os.getloadavg()
    doc['targets'][name]['results'][step] = rec
    run.log(f'  {name:<11} {step:<18} {run.headline(rec)}')
    return rec


def run_steps(args, services, payload, static_port, doc):
    order = [n for n in ('upstream', 'ours', 'ours-cache') if n in services]
    rotation = 0

    def turn(names):
        nonlocal rotation
        names = [n for n in order if n in names]
        k = rotation % len(names) if names else 0
        rotation += 1
        return names[k:] + names[:k]

    for step, method, repeat in (('import-direct', 'glance-direct', 1),
                                 ('import-web', 'web-download', 1),
                                 ('import-direct-4x', 'glance-direct', 4),
                                 ('import-web-4x', 'web-download', 4)):
        if step not in args.only:
            continue
        reps = args.reps if repeat == 1 else 1
        per = {name: [] for name in services}
        failed = set()
        for _ in range(reps):
            for name in turn(('upstream', 'ours')):
                if name in failed:
                    continue
                try:
                    per[name].append(import_once(services[name], payload, method, repeat,
                                                 static_port))
                except Exception as exc:  # noqa: BLE001 -- recorded below
                    failed.add(name)
                    per[name] = exc
        for name in turn(('upstream', 'ours')):
            result = per[name]
            _record(doc, name, step, lambda r=result: _raise_or(r, _median_record))

    if 'upload-inspected' in args.only and 'ours' in services:
        walls = {'bare': [], 'ovf': []}
        for n in range(args.reps):
            for container in (('bare', 'ovf') if n % 2 == 0 else ('ovf', 'bare')):
                walls[container].append(upload_once(services['ours'], payload, container))
        for step, container in (('upload-inspected', 'bare'), ('upload-uninspected', 'ovf')):
            _record(doc, 'ours', step, lambda c=container: {
                'throughput': payload.size / statistics.median(walls[c]) / 1e6, 'unit': 'MB/s',
                'all_throughputs': [payload.size / w / 1e6 for w in walls[c]],
                'container_format': c})

    if 'download-cold' in args.only:
        sendfile_ceiling(payload, static_port, doc)
        kept = {}
        for name in turn(('upstream', 'ours', 'ours-cache')):
            cached = name != 'ours'
            rec = _record(doc, name, 'download-cold',
                          lambda n=name, c=cached: cold_downloads(services[n], payload,
                                                                  args.reps, c))
            if 'image_ids' in rec:
                kept[name] = rec['image_ids']
        if 'download-cached' in args.only:
            for name in turn(('upstream', 'ours-cache')):
                if name in kept:
                    _record(doc, name, 'download-cached',
                            lambda n=name: cached_downloads(services[n], payload,
                                                            kept[n][-1], max(args.reps, 3)))
        if 'cold-pairs' in args.only and 'ours' in services and 'ours-cache' in services:
            _record(doc, 'ours-cache', 'cold-pairs',
                    lambda: cold_pairs(services['ours'], services['ours-cache'], payload,
                                       args.pairs))
        if 'ceiling-pairs' in args.only and 'ours-cache' in kept:
            _record(doc, 'ours-cache', 'ceiling-pairs',
                    lambda: ceiling_pairs(services['ours-cache'], payload,
                                          kept['ours-cache'][-1], static_port,
                                          args.pairs))
        sendfile_ceiling(payload, static_port, doc)
        for name, ids in kept.items():
            delete_images(services[name], ids)

    if 'swift-download-cold' in args.only and all(n in services for n in SWIFT_TARGETS):
        swift_steps(args, services, payload, static_port, doc)


def swift_steps(args, services, payload, static_port, doc):
    """Cold reads from Swift with the cache off and on, in rounds that alternate
    who goes first; then the cached reads and the interleaved pairs."""
    sendfile_ceiling(payload, static_port, doc)
    per = {name: [] for name in SWIFT_TARGETS}
    kept = {name: [] for name in SWIFT_TARGETS}
    failed = {}
    for number in range(args.swift_rounds):
        order = SWIFT_TARGETS if number % 2 == 0 else SWIFT_TARGETS[::-1]
        for name in order:
            if name in failed:
                continue
            try:
                rec = cold_downloads(services[name], payload, args.reps,
                                     name == 'ours-swift-cache')
            except Exception as exc:  # noqa: BLE001 -- recorded below
                failed[name] = exc
                continue
            rec['loadavg'] = os.getloadavg()
            run.log(f'  {name:<16} swift cold, round {number + 1}: '
                    f'{run.headline(rec)}, each {_mbs(rec["all_throughputs"])}'
                    + (f', listed after {rec["seconds_until_listed"]}'
                       if rec.get('seconds_until_listed') else ''))
            per[name].append(rec)
            kept[name].extend(rec['image_ids'])
    for name in SWIFT_TARGETS:
        _record(doc, name, 'swift-download-cold',
                lambda n=name: _raise_or(failed.get(n) or per[n], _merged_cold))
    off = doc['targets']['ours-swift']['results']['swift-download-cold']
    on = doc['targets']['ours-swift-cache']['results']['swift-download-cold']
    if 'throughput' in off and 'throughput' in on:
        on['on_over_off'] = on['throughput'] / off['throughput']
        run.log(f'  swift cold, cache on / off: {on["on_over_off"]:.2f} (medians '
                f'of every read)')
    if 'swift-cold-pairs' in args.only:
        _record(doc, 'ours-swift-cache', 'swift-cold-pairs',
                lambda: cold_pairs(services['ours-swift'], services['ours-swift-cache'],
                                   payload, args.pairs))
    cached_image = kept['ours-swift-cache'][-1] if kept['ours-swift-cache'] else None
    if cached_image and 'swift-download-cached' in args.only:
        _record(doc, 'ours-swift-cache', 'swift-download-cached',
                lambda: cached_downloads(services['ours-swift-cache'], payload,
                                         cached_image, max(args.reps, 3)))
    if cached_image and 'swift-ceiling-pairs' in args.only:
        _record(doc, 'ours-swift-cache', 'swift-ceiling-pairs',
                lambda: ceiling_pairs(services['ours-swift-cache'], payload,
                                      cached_image, static_port, args.pairs))
    for name, ids in kept.items():
        delete_images(services[name], ids)


def _mbs(values):
    return '/'.join(f'{v:.0f}' for v in values) + ' MB/s'


def _merged_cold(records):
    """The cold reads of every round as one record: MB/s = the median of every
    read (each of a new image); the rounds kept as they were."""
    every = [v for rec in records for v in rec['all_throughputs']]
    latencies = [rec[k] for rec in records for k in ('p50_ms',) if k in rec]
    merged = {'throughput': statistics.median(every), 'unit': 'MB/s',
              'all_throughputs': every, 'rounds': records,
              'p50_ms': statistics.median(latencies) if latencies else None}
    listed = [t for rec in records for t in (rec.get('seconds_until_listed') or [])]
    if listed:
        merged['seconds_until_listed'] = listed
    return merged


def _raise_or(result, fn):
    if isinstance(result, Exception):
        raise result
    if not result:
        raise BenchError('not run')
    return fn(result)


def sendfile_ceiling(payload, static_port, doc):
    """The best of 5 reads from the sendfile server; measured before and after the
    downloads, the better of the two counts (the machine is shared: a ceiling says
    what it gave at all)."""
    more = wl.Plan(True)
    more.download_reps = 5
    try:
        rec = wl.download(wl.TargetState(None), more, payload, port=static_port)
    except BenchError as exc:
        doc['ceilings'].setdefault('sendfile', {'error': str(exc)})
        doc['errors'].append(f'ceiling sendfile: {exc}')
        return
    rec['throughput'] = rec.pop('best_throughput')
    run.log(f'  ceiling {report.CEILING_LABELS["sendfile"]}: {rec["throughput"]:.0f} MB/s')
    doc.setdefault('sendfile_ceiling_measurements', []).append(rec)
    best = doc['ceilings'].get('sendfile', {})
    if rec['throughput'] > best.get('throughput', 0):
        doc['ceilings']['sendfile'] = rec


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    plan = wl.Plan(quick=args.quick)
    started = datetime.datetime.now(datetime.timezone.utc)
    stamp = started.strftime('%Y%m%dT%H%M%SZ')
    cache = os.path.abspath(args.cache)
    run_dir = os.path.join(cache, 'runs', 'import_cache-' + stamp)
    os.makedirs(run_dir)
    size, big = plan.upload_bytes, plan.upload_bytes * plan.rss_factor
    labels = {name: text.format(size=run.human(size), big=run.human(big))
              for name, text, _ in STEPS}
    doc = {'schema': 1, 'started': started.isoformat(), 'command': sys.argv,
           'plan': {'quick': args.quick, 'payload_bytes': size, 'large_bytes': big,
                    'reps': args.reps, 'poll_seconds': POLL},
           'steps': args.only, 'labels': labels, 'machine': run.machine_info(),
           'ours_revision': revision.ours(), 'targets': {}, 'ceilings': {},
           'errors': []}
    load = os.getloadavg()[0]
    run.log(f'load average {load:.1f} on {os.cpu_count()} cores'
            + (' (busy machine: read the ratios, not the absolutes)' if load > 1 else ''))
    payload = wl.ensure_payload(cache, size, log=run.log)
    static_port = targets.free_port()
    static_log = open(os.path.join(run_dir, 'sendfile-server.log'), 'ab')
    static = ceilings.start_static_server(payload.path, static_port, static_log)
    services = {}
    swift_service = None
    try:
        run._wait_port(static_port, static)
        if any(step in args.only for step in SWIFT_STEPS):
            swift_service = start_swift(run_dir, doc)
        services = start_services(args, run_dir, cache, static_port, doc, swift_service)
        run_steps(args, services, payload, static_port, doc)
    finally:
        for service in services.values():
            service.stop()
        if swift_service is not None:
            swift_service.stop()
            if not args.keep:
                shutil.rmtree(swift_service.workdir, ignore_errors=True)
                if doc.get('swift', {}).get('cache_dir'):
                    shutil.rmtree(doc['swift']['cache_dir'], ignore_errors=True)
        static.terminate()
        static.wait(timeout=10)
        static_log.close()
        if not args.keep:
            for service in services.values():
                shutil.rmtree(service.data, ignore_errors=True)
    doc['machine']['loadavg_at_end'] = os.getloadavg()
    doc['finished'] = datetime.datetime.now(datetime.timezone.utc).isoformat()
    steps = [s for s, _, _ in STEPS if s in args.only]
    print(report.render(doc, steps, labels))
    print('\nProcesses x threads: ' + '; '.join(f'{n}: {SHAPES[n]}' for n in doc['targets']))
    print(f'Load average at start {doc["machine"]["loadavg_at_start"]}, '
          f'at end {doc["machine"]["loadavg_at_end"]}')
    path = report.write_json(doc, args.results, 'import_cache-' + stamp)
    print(f'JSON: {path}')
    return 1 if doc['errors'] else 0


if __name__ == '__main__':
    sys.exit(main())
