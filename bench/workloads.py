"""The HTTP workloads, each verified as it is measured.

A workload runs against one service at a time and returns a record of
figures. Any wrong status, wrong body, wrong count or wrong byte raises
``BenchError``: a fast wrong answer never counts.

Every loop is bounded twice: by its count and by ``plan.loop_seconds``.
"""

import datetime
import hashlib
import mmap
import os
import statistics
import threading
import time
import urllib.parse

import procmon
from client import JSON_PATCH, UPLOAD_CHUNK, BenchError, Client, Timings

HOST = '127.0.0.1'
GROUPS = 50  # distinct values of the custom property filtered on
TAGS = 20    # distinct values of the second tag filtered on
EXTRA_PROPERTIES = 9  # plus bench_group: 10 custom properties per image
SAMPLE = 4096  # bytes compared against the payload at the start of every read


class Plan:
    """Sizes of one run; ``quick`` is a smoke run."""

    def __init__(self, quick=False):
        self.quick = quick
        self.images = 200 if quick else 5000
        self.create_concurrent = 100 if quick else 500  # measured; the rest is seeded
        self.seed_via_api = False
        self.clients = 8
        self.read_clients = 16        # the concurrent reads (show-16, list-first-16, ...)
        self.concurrent_reads = 800 if quick else 3000
        self.sequential = 50 if quick else 300
        self.shows = 100 if quick else 500
        self.list_first = 50 if quick else 200
        self.list_walks = 3
        self.filter_reps = 30 if quick else 100
        self.upload_bytes = (64 if quick else 1024) * 2**20
        self.download_reps = 15 if quick else 7  # each paired with a ceiling read
        self.upload_samples = 3       # uploads per target, for the spread
        self.first_download_samples = 3
        self.parallel = 4
        self.rss_factor = 4  # the RSS upload sends the payload this many times
        self.loop_seconds = 15 if quick else 30
        self.seed_seconds = 120 if quick else 600

    def as_dict(self):
        return dict(vars(self))


# ------------------------------------------------------------------ helpers

def image_body(name, index):
    """An image with 10 custom properties and 2 tags, as the seeding creates."""
    body = {'name': name, 'disk_format': 'raw', 'container_format': 'bare',
            'bench_group': f'g{index % GROUPS:02d}',
            'tags': ['bench', f't{index % TAGS:02d}']}
    for k in range(EXTRA_PROPERTIES):
        body[f'bench_p{k}'] = f'value-{k}-{index:06d}-{"x" * (k + 8)}'
    return body


def check_created(resp, body):
    image = resp.json()
    if image.get('name') != body['name'] or image.get('status') != 'queued':
        raise BenchError(f'create answered {image.get("name")!r}/{image.get("status")!r}')
    if sorted(image.get('tags') or []) != sorted(body['tags']):
        raise BenchError(f'create lost tags: {image.get("tags")!r}')
    if image.get('bench_group') != body['bench_group'] or 'bench_p8' not in image:
        raise BenchError('create lost custom properties')
    return image


def run_loop(service, items, op, plan, clients=1, deadline=None):
    """Run ``op(client, item)`` over ``items`` with ``clients`` threads, timing each call.

    Stops at the first error (re-raised) or at the deadline (the rest is
    skipped and the record says so).
    """
    deadline = deadline if deadline is not None else plan.loop_seconds
    work = iter(items)
    lock = threading.Lock()
    stop = threading.Event()
    errors = []
    per_thread = [Timings() for _ in range(clients)]
    end_at = time.monotonic() + deadline

    def worker(timings):
        client = Client(HOST, service.port)
        try:
            while not stop.is_set():
                if time.monotonic() > end_at:
                    stop.set()
                    return
                with lock:
                    item = next(work, None)
                if item is None:
                    return
                t0 = time.perf_counter()
                op(client, item)
                timings.add(time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 -- reported, then re-raised
            errors.append(exc)
            stop.set()
        finally:
            client.close()

    total = Timings()
    total.begin()
    if clients == 1:
        worker(per_thread[0])
    else:
        threads = [threading.Thread(target=worker, args=(t,)) for t in per_thread]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    total.finish()
    for t in per_thread:
        total.merge(t)
    if errors:
        raise errors[0] if isinstance(errors[0], BenchError) else BenchError(repr(errors[0]))
    record = total.summary()
    expected = len(items) if hasattr(items, '__len__') else None
    if expected is not None and record['ops'] < expected:
        record['truncated_at_seconds'] = deadline
        record['planned_ops'] = expected
    return record


class Payload:
    """The random bytes uploaded, and what their digests must be."""

    def __init__(self, path, digests):
        self.path = path
        self.size = os.path.getsize(path)
        self.digests = digests  # {'1': {'md5':..,'sha512':..}, '4': {...}}
        self._file = open(path, 'rb')
        self.map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)

    def chunks(self, repeat=1, size=UPLOAD_CHUNK):
        """The payload ``repeat`` times over, in chunks of ``size`` (64 KiB by default)."""
        for _ in range(repeat):
            with open(self.path, 'rb', buffering=0) as f:
                while True:
                    data = f.read(size)
                    if not data:
                        break
                    yield data

    def verifier(self):
        return SampledVerifier(self)


class SampledVerifier:
    """Compares the start of every piece received with the payload at that offset.

    Cheap enough to run inside a timed download (a full md5 would cap the
    client near 500 MB/s); each download also gets one full md5 pass, untimed.
    """

    def __init__(self, payload):
        self.payload = payload
        self.offset = 0

    def __call__(self, view):
        n = len(view)
        k = min(n, SAMPLE)
        off = self.offset
        if off + n > self.payload.size or view[:k].tobytes() != self.payload.map[off:off + k]:
            raise BenchError(f'downloaded bytes differ from the upload at offset {off}')
        self.offset = off + n

    def finish(self):
        if self.offset != self.payload.size:
            raise BenchError(f'download returned {self.offset} bytes, uploaded {self.payload.size}')


def ensure_payload(cache, size, log=print):
    """A file of ``size`` random bytes in the cache, made once, with its digests.

    The digests of the payload repeated 4 times (the RSS upload) are kept too.
    """
    path = os.path.join(cache, f'payload-{size // 2**20}MiB.bin')
    sums = path + '.sums'
    if os.path.exists(path) and os.path.exists(sums) and os.path.getsize(path) == size:
        digests = {}
        with open(sums) as f:
            for line in f:
                rep, algo, value = line.split()
                digests.setdefault(rep, {})[algo] = value
        if set(digests) == {'1', '4'}:
            return Payload(path, digests)
    log(f'generating {size // 2**20} MiB of random payload in {path} (once)')
    os.makedirs(cache, exist_ok=True)
    tmp = path + '.tmp'
    md5, sha = hashlib.md5(), hashlib.sha512()
    with open(tmp, 'wb') as f:
        left = size
        while left:
            block = os.urandom(min(left, 2**20))
            f.write(block)
            md5.update(block)
            sha.update(block)
            left -= len(block)
    digests = {'1': {'md5': md5.hexdigest(), 'sha512': sha.hexdigest()}}
    # md5(payload x4) continues from md5(payload) with three more copies.
    md5_4, sha_4 = md5.copy(), sha.copy()
    for _ in range(3):
        with open(tmp, 'rb') as f:
            while block := f.read(2**20):
                md5_4.update(block)
                sha_4.update(block)
    digests['4'] = {'md5': md5_4.hexdigest(), 'sha512': sha_4.hexdigest()}
    os.replace(tmp, path)
    with open(sums, 'w') as f:
        for rep, d in digests.items():
            for algo, value in d.items():
                f.write(f'{rep} {algo} {value}\n')
    return Payload(path, digests)


class TargetState:
    """What one service holds so far: images seeded, created, uploaded."""

    def __init__(self, service):
        self.service = service
        self.seed_results = {}  # index -> (id, name, created_at, index)
        self.seeded = []        # the same, in index order, once seeding is complete
        self.sequential = []    # ids created by the sequential workload
        self.uploaded = None    # id of the payload-sized active image
        self.pivot = None       # created_at the created_at filter compares to


def _client(state):
    return Client(HOST, state.service.port)


# ---------------------------------------------------------------- workloads

def create_concurrent(state, plan):
    """``plan.create_concurrent`` creates by 8 concurrent clients (measured: create-8).

    The images stay: they are the first of the seeded set ``seed_rest`` completes.
    """
    results = state.seed_results
    lock = threading.Lock()

    def op(client, index):
        body = image_body(f'bench-{index:05d}', index)
        image = check_created(client.request('POST', '/v2/images', body, expect=(201,)), body)
        with lock:
            results[index] = (image['id'], image['name'], image['created_at'], index)

    measured = min(plan.create_concurrent, plan.images)
    record = run_loop(state.service, list(range(measured)), op, plan, clients=plan.clients)
    record['clients'] = plan.clients
    return record


def seed_rest(state, plan):
    """Add images of the same shape until there are ``plan.images`` (not measured).

    Through the API (8 clients), or straight into the database where the
    target offers that (upstream, whose single worker would take minutes)
    unless ``plan.seed_via_api``. Returns how, and how long it took.
    """
    results = state.seed_results
    lock = threading.Lock()

    def op(client, index):
        body = image_body(f'bench-{index:05d}', index)
        image = check_created(client.request('POST', '/v2/images', body, expect=(201,)), body)
        with lock:
            results[index] = (image['id'], image['name'], image['created_at'], index)

    rest = [i for i in range(plan.images) if i not in results]
    t0 = time.perf_counter()
    direct = getattr(state.service, 'seed_directly', None)
    method = 'api'
    if rest and direct is not None and not plan.seed_via_api:
        for row in direct([(i, image_body(f'bench-{i:05d}', i)) for i in rest]):
            results[row[3]] = row
        method = 'database'
    elif rest:
        run_loop(state.service, rest, op, plan, clients=plan.clients,
                 deadline=plan.seed_seconds)
    if len(results) != plan.images:
        raise BenchError(f'seeded {len(results)} of {plan.images} images within '
                         f'{plan.seed_seconds}s')
    state.seeded = [results[i] for i in range(plan.images)]
    stamps = sorted(r[2] for r in state.seeded)
    state.pivot = stamps[len(stamps) // 2]
    return {'seed_method': method, 'seeded': len(rest),
            'seeding_seconds': time.perf_counter() - t0}


def _concurrently(workload, state, plan):
    """``workload`` with ``plan.read_clients`` clients and ``plan.concurrent_reads`` ops."""
    record = workload(state, plan, clients=plan.read_clients, count=plan.concurrent_reads)
    record['clients'] = plan.read_clients
    return record


def show(state, plan, clients=1, count=None):
    """GET /v2/images/{id} over the seeded images, spread out."""
    n = len(state.seeded)
    picks = [state.seeded[(i * 7919) % n][0]  # a prime stride
             for i in range(count or plan.shows)]

    def op(client, image_id):
        image = client.request('GET', f'/v2/images/{image_id}').json()
        if image.get('id') != image_id:
            raise BenchError(f'show {image_id} answered {image.get("id")}')

    return run_loop(state.service, picks, op, plan, clients=clients)


def show_concurrent(state, plan):
    """``show`` by ``plan.read_clients`` concurrent clients (show-16)."""
    return _concurrently(show, state, plan)


def _list(client, query):
    return client.request('GET', '/v2/images?' + query).json().get('images')


def list_first(state, plan, clients=1, count=None):
    """The first page with limit=25."""
    want = min(25, len(state.seeded))

    def op(client, _):
        images = _list(client, 'limit=25')
        if images is None or len(images) != want:
            raise BenchError(f'first page held {len(images or [])} images, expected {want}')

    return run_loop(state.service, range(count or plan.list_first), op, plan,
                    clients=clients)


def list_first_concurrent(state, plan):
    """``list_first`` by ``plan.read_clients`` concurrent clients (list-first-16)."""
    return _concurrently(list_first, state, plan)


def list_all(state, plan):
    """Every image, following ``next`` with limit=100; one op = one full walk."""
    expected = {r[0] for r in state.seeded}
    pages = []

    def op(client, _):
        seen = []
        path = '/v2/images?limit=100'
        for _page in range(len(expected) // 100 + 3):
            doc = client.request('GET', path).json()
            seen.extend(i['id'] for i in doc['images'])
            nxt = doc.get('next')
            if not nxt or not doc['images']:
                break
            path = nxt
        else:
            raise BenchError('pagination did not end')
        if len(seen) != len(expected) or set(seen) != expected:
            raise BenchError(f'full listing gave {len(seen)} images ({len(set(seen))} distinct),'
                             f' expected {len(expected)}')
        pages.append(_page + 1)

    record = run_loop(state.service, range(plan.list_walks), op, plan,
                      deadline=plan.loop_seconds * 2)
    record['unit'] = 'walks/s'
    record['pages_per_walk'] = pages[0] if pages else None
    record['images'] = len(expected)
    return record


def list_filter_property(state, plan, clients=1, count=None):
    """?bench_group=gNN&limit=25: a custom property, ~1/50 of the images."""
    counts = {}
    for r in state.seeded:
        key = f'g{r[3] % GROUPS:02d}'
        counts[key] = counts.get(key, 0) + 1

    def op(client, rep):
        value = f'g{rep % GROUPS:02d}'
        images = _list(client, f'bench_group={value}&limit=25')
        want = min(25, counts.get(value, 0))
        if len(images) != want or any(i.get('bench_group') != value for i in images):
            raise BenchError(f'bench_group={value}: {len(images)} images, expected {want}')

    return run_loop(state.service, range(count or plan.filter_reps), op, plan,
                    clients=clients)


def list_property_concurrent(state, plan):
    """``list_filter_property`` by ``plan.read_clients`` concurrent clients."""
    return _concurrently(list_filter_property, state, plan)


def list_filter_tag(state, plan):
    """?tag=tNN&limit=25: one tag, ~1/20 of the images."""
    counts = {}
    for r in state.seeded:
        key = f't{r[3] % TAGS:02d}'
        counts[key] = counts.get(key, 0) + 1

    def op(client, rep):
        value = f't{rep % TAGS:02d}'
        images = _list(client, f'tag={value}&limit=25')
        want = min(25, counts.get(value, 0))
        if len(images) != want or any(value not in (i.get('tags') or []) for i in images):
            raise BenchError(f'tag={value}: {len(images)} images, expected {want}')

    return run_loop(state.service, range(plan.filter_reps), op, plan)


def list_filter_status(state, plan):
    """?status=in:active,queued&limit=25."""
    want = min(25, len(state.seeded))

    def op(client, _):
        images = _list(client, 'status=in:active,queued&limit=25')
        if len(images) != want or any(i.get('status') not in ('active', 'queued')
                                      for i in images):
            raise BenchError(f'status=in:active,queued: {len(images)} images, expected {want}')

    return run_loop(state.service, range(plan.filter_reps), op, plan)


def _instant(text):
    return datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))


def list_filter_created(state, plan):
    """?created_at=gt:<the median creation time>&limit=25.

    The API shows whole seconds while a database may keep microseconds, so an
    image shown with exactly the pivot's second may rightly match ``gt``.
    """
    pivot = state.pivot
    at = _instant(pivot)
    least = min(25, sum(1 for r in state.seeded if _instant(r[2]) > at))
    most = min(25, sum(1 for r in state.seeded if _instant(r[2]) >= at))
    query = 'created_at=' + urllib.parse.quote(f'gt:{pivot}') + '&limit=25'

    def op(client, _):
        images = _list(client, query)
        early = [i for i in images if _instant(i['created_at']) < at]
        if not least <= len(images) <= most or early:
            raise BenchError(f'created_at=gt:{pivot}: {len(images)} images, expected '
                             f'{least}' + (f' to {most}' if most != least else ''))

    return run_loop(state.service, range(plan.filter_reps), op, plan)


def list_sort_name(state, plan):
    """?sort=name:asc&limit=25: must be exactly the 25 smallest names."""
    want = sorted(r[1] for r in state.seeded)[:25]

    def op(client, _):
        names = [i['name'] for i in _list(client, 'sort=name:asc&limit=25')]
        if names != want:
            raise BenchError(f'sort=name:asc gave {names[:3]}..., expected {want[:3]}...')

    return run_loop(state.service, range(plan.filter_reps), op, plan)


def create_sequential(state, plan):
    """One client creating images one after another (same shape as the seed)."""
    created = state.sequential

    def op(client, index):
        body = image_body(f'bench-seq-{index:05d}', index)
        image = check_created(client.request('POST', '/v2/images', body, expect=(201,)), body)
        created.append(image['id'])

    return run_loop(state.service, range(plan.sequential), op, plan)


def patch(state, plan):
    """PATCH with the json-patch media type: replace the name, add a property."""
    ids = list(state.sequential)
    if not ids:
        raise BenchError('no images to patch (create failed)')

    def op(client, pair):
        n, image_id = pair
        doc = [{'op': 'replace', 'path': '/name', 'value': f'bench-patched-{n:05d}'},
               {'op': 'add', 'path': '/bench_patched', 'value': f'p{n}'}]
        image = client.request('PATCH', f'/v2/images/{image_id}', doc,
                               headers={'Content-Type': JSON_PATCH}).json()
        if image.get('name') != f'bench-patched-{n:05d}' or image.get('bench_patched') != f'p{n}':
            raise BenchError(f'PATCH {image_id} not applied: {image.get("name")!r}')

    return run_loop(state.service, list(enumerate(ids)), op, plan)


def tag_add(state, plan):
    """PUT /v2/images/{id}/tags/{tag}, one new tag per image."""
    ids = list(state.sequential)
    if not ids:
        raise BenchError('no images to tag (create failed)')

    def op(client, pair):
        n, image_id = pair
        client.request('PUT', f'/v2/images/{image_id}/tags/added-{n}', expect=(204,))

    record = run_loop(state.service, list(enumerate(ids)), op, plan)
    client = _client(state)
    try:
        for n in (0, record['ops'] - 1):
            tags = client.request('GET', f'/v2/images/{ids[n]}').json().get('tags') or []
            if f'added-{n}' not in tags:
                raise BenchError(f'tag added-{n} missing from {ids[n]} after 204')
    finally:
        client.close()
    return record


def delete(state, plan):
    """DELETE /v2/images/{id} on the sequentially created images."""
    ids = list(state.sequential)
    if not ids:
        raise BenchError('no images to delete (create failed)')
    deleted = []

    def op(client, image_id):
        client.request('DELETE', f'/v2/images/{image_id}', expect=(204,))
        deleted.append(image_id)

    record = run_loop(state.service, ids, op, plan)
    state.sequential = [i for i in ids if i not in set(deleted)]
    client = _client(state)
    try:
        for image_id in deleted[:3] + deleted[-2:]:
            client.request('GET', f'/v2/images/{image_id}', expect=(404,))
    finally:
        client.close()
    return record


def _create_empty(client, name):
    body = {'name': name, 'disk_format': 'raw', 'container_format': 'bare'}
    return client.request('POST', '/v2/images', body, expect=(201,)).json()['id']


def _check_active(client, image_id, size, digests):
    image = client.request('GET', f'/v2/images/{image_id}').json()
    problems = []
    if image.get('status') != 'active':
        problems.append(f'status {image.get("status")!r}')
    if image.get('size') != size:
        problems.append(f'size {image.get("size")} != {size}')
    if image.get('checksum') != digests['md5']:
        problems.append(f'checksum {image.get("checksum")} != {digests["md5"]}')
    if image.get('os_hash_algo') == 'sha512' and image.get('os_hash_value') != digests['sha512']:
        problems.append('os_hash_value differs from the sha512 of the bytes sent')
    if problems:
        raise BenchError(f'after upload {image_id}: ' + '; '.join(problems))
    return image


def _page_cache_state():
    """MB of dirty and under-writeback pages, machine-wide (``/proc/meminfo``): data
    that another target (or sample) left for the kernel to write meets this one's
    writes at the disk."""
    state = {}
    try:
        with open('/proc/meminfo') as meminfo:
            for line in meminfo:
                key, _, value = line.partition(':')
                if key in ('Dirty', 'Writeback'):
                    state[key.lower() + '_mb'] = round(int(value.split()[0]) / 1024)
    except OSError:
        pass
    return state


def _upload_once(client, payload, chunk, name='bench-upload', before=None,
                 service=None):
    """A new image with the payload uploaded and checked: (image id, seconds).

    ``before`` (a list) gets the page cache's state as the timed PUT starts and,
    with ``service``, the CPU seconds spent during it by the service's process
    tree, by this client and by everything else on the machine."""
    image_id = _create_empty(client, name)
    # Untimed, before every PUT of every target: a service that does not make its
    # data durable (upstream) leaves up to a GiB dirty, and the kernel writes it
    # back about 30 s later, during whichever target's upload then runs.
    os.sync()
    if before is not None:
        state = _page_cache_state()
        before.append(state)
        if service is not None:
            cpu0 = _cpu_now(service)
    t0 = time.perf_counter()
    client.upload(f'/v2/images/{image_id}/file', payload.chunks(size=chunk))
    seconds = time.perf_counter() - t0
    if before is not None and service is not None:
        spent = [b - a for a, b in zip(cpu0, _cpu_now(service))]
        state.update(service_cpu_s=round(spent[0], 2), client_cpu_s=round(spent[1], 2),
                     others_cpu_s=round(spent[2] - spent[0] - spent[1], 2),
                     steal_s=round(spent[3], 2))
    _check_active(client, image_id, payload.size, payload.digests['1'])
    return image_id, seconds


def _cpu_now(service):
    """CPU seconds so far: (the service's tree, this process, the whole machine
    but steal, the time the hypervisor gave this machine's CPUs to others)."""
    mine = os.times()
    with open('/proc/stat') as stat:
        steal = int(stat.readline().split()[8]) / procmon.TICK
    return (procmon.tree_cpu_seconds(service.pid), mine.user + mine.system,
            procmon.machine_busy_seconds()[0] - steal, steal)


def upload(state, plan, payload, chunk=UPLOAD_CHUNK, keep=True):
    """PUT the payload (chunked transfer encoding) to ``plan.upload_samples`` new
    images, one after the other; verify checksum and size of each.

    The figure is the median sample's MB/s; every sample is in ``samples_mbps``
    (sorted) and ``samples_mbps_in_order`` (one upload is one sample: its spread on
    a shared machine is wide); ``per_sample`` has, for each, the dirty and writeback
    MB as it began and the CPU seconds spent during it (``_upload_once``). With
    ``keep`` the last image stays for the download workloads; the others, or all
    without ``keep``, are deleted once verified.
    """
    client = _client(state)
    seconds, before = [], []
    try:
        for sample in range(plan.upload_samples):
            image_id, took = _upload_once(client, payload, chunk, before=before,
                                          service=state.service)
            seconds.append(took)
            if not keep or sample < plan.upload_samples - 1:
                client.request('DELETE', f'/v2/images/{image_id}', expect=(204,))
    finally:
        client.close()
    if keep:
        state.uploaded = image_id
    return _samples_record(payload.size, seconds, chunk_bytes=chunk,
                           per_sample=before)


def _samples_record(size, seconds, **extra):
    in_order = [size / took / 1e6 for took in seconds]
    rates = sorted(in_order)
    return dict(extra, throughput=statistics.median(rates), unit='MB/s',
                samples_mbps=[round(rate, 1) for rate in rates],
                samples_mbps_in_order=[round(rate, 1) for rate in in_order],
                min_mbps=rates[0], max_mbps=rates[-1], bytes=size * len(seconds),
                p50_ms=statistics.median(seconds) * 1000)


def download_first(state, plan, payload):
    """The first download of an image right after its upload (a boot right after
    uploading), with no read in between: ``plan.first_download_samples`` times a
    new image, uploaded (not timed) then downloaded (timed, sampled check)."""
    client = _client(state)
    seconds = []
    try:
        for _ in range(plan.first_download_samples):
            image_id, _took = _upload_once(client, payload, UPLOAD_CHUNK,
                                           name='bench-first-download')
            check = payload.verifier()
            t0 = time.perf_counter()
            got = client.download(f'/v2/images/{image_id}/file', check)
            seconds.append(time.perf_counter() - t0)
            check.finish()
            if got != payload.size:
                raise BenchError(f'first download of {image_id}: {got} bytes, '
                                 f'not {payload.size}')
            client.request('DELETE', f'/v2/images/{image_id}', expect=(204,))
    finally:
        client.close()
    return _samples_record(payload.size, seconds)


def download(state, plan, payload, port=None, ceiling_port=None):
    """One full md5 pass, untimed, then GET the image ``download_reps`` times (sampled check).

    The untimed pass verifies every byte; the timed downloads are warm ones (the
    image read before). The first download after an upload is its own workload,
    ``download_first``, with no read before it.

    With ``ceiling_port`` (the sendfile server's), every timed download is paired
    with one of the same bytes from that server right before it, on the same
    client, so that each pair's ratio is taken under the same load
    (``ceiling_ratios``): the machine's drift between the ceiling's step and the
    target's would otherwise weigh on the verdict.
    """
    if port is None and not state.uploaded:
        raise BenchError('nothing uploaded to download')
    path = f'/v2/images/{state.uploaded}/file' if port is None else '/payload'
    client = Client(HOST, port or state.service.port)
    try:
        md5 = hashlib.md5()
        client.download(path, md5.update)
        if md5.hexdigest() != payload.digests['1']['md5']:
            raise BenchError(f'md5 of the download {md5.hexdigest()} != upload\'s '
                             f'{payload.digests["1"]["md5"]}')
        timings = Timings()
        timings.begin()
        end_at = time.monotonic() + plan.loop_seconds
        ratios = []
        for _ in range(plan.download_reps):
            if time.monotonic() > end_at:
                break
            if ceiling_port is not None:
                ceiling_seconds = _timed_ceiling_read(ceiling_port, payload)
            check = payload.verifier()
            t0 = time.perf_counter()
            timings.bytes += client.download(path, check)
            took = time.perf_counter() - t0
            timings.add(took)
            check.finish()
            if ceiling_port is not None:
                ratios.append(ceiling_seconds / took)
        timings.finish()
    finally:
        client.close()
    record = timings.summary('MB/s')
    # Over the timed reads only: the wall time also holds the paired ceiling reads.
    record['seconds'] = round(sum(timings.latencies), 4)
    record['throughput'] = timings.bytes / sum(timings.latencies) / 1e6
    record['best_throughput'] = payload.size / min(timings.latencies) / 1e6
    if ratios:
        record['ceiling_ratios'] = [round(r, 4) for r in ratios]
        record['ceiling_ratio_median'] = statistics.median(ratios)
    return record


def _timed_ceiling_read(port, payload):
    """Seconds one read of the payload from the sendfile server takes, checked as
    the target's reads are (the same client work on both sides of a pair)."""
    client = Client(HOST, port)
    try:
        check = payload.verifier()
        t0 = time.perf_counter()
        got = client.download('/payload', check)
        took = time.perf_counter() - t0
        check.finish()
    finally:
        client.close()
    if got != payload.size:
        raise BenchError(f'sendfile server sent {got} bytes, not {payload.size}')
    return took


def download_parallel(state, plan, payload, port=None):
    """``plan.parallel`` clients download the uploaded image at once; aggregate MB/s."""
    if port is None and not state.uploaded:
        raise BenchError('nothing uploaded to download')
    path = f'/v2/images/{state.uploaded}/file' if port is None else '/payload'
    barrier = threading.Barrier(plan.parallel + 1)
    per = [Timings() for _ in range(plan.parallel)]
    errors = []

    def worker(timings):
        client = Client(HOST, port or state.service.port)
        try:
            check = payload.verifier()
            barrier.wait(timeout=60)
            t0 = time.perf_counter()
            timings.bytes = client.download(path, check)
            timings.add(time.perf_counter() - t0)
            check.finish()
        except Exception as exc:  # noqa: BLE001 -- collected and re-raised
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(t,)) for t in per]
    for t in threads:
        t.start()
    total = Timings()
    barrier.wait(timeout=60)
    total.begin()
    for t in threads:
        t.join()
    total.finish()
    if errors:
        raise errors[0] if isinstance(errors[0], BenchError) else BenchError(repr(errors[0]))
    for t in per:
        total.merge(t)
    record = total.summary('MB/s')
    record['clients'] = plan.parallel
    return record


def upload_rss(state, plan, payload):
    """Upload the payload ``rss_factor`` times over while sampling the service's RSS.

    The whole process tree (master and children) is summed every 50 ms; each
    process's own peak is kept too. The image is deleted afterwards.
    """
    client = _client(state)
    try:
        idle_total, _ = procmon.tree_rss(state.service.pid)
        image_id = _create_empty(client, 'bench-upload-rss')
        size = payload.size * plan.rss_factor
        with procmon.RssSampler(state.service.pid) as sampler:
            t0 = time.perf_counter()
            client.upload(f'/v2/images/{image_id}/file', payload.chunks(plan.rss_factor))
            wall = time.perf_counter() - t0
        _check_active(client, image_id, size, payload.digests[str(plan.rss_factor)])
        client.request('DELETE', f'/v2/images/{image_id}', expect=(204,))
    finally:
        client.close()
    record = sampler.result()
    record['idle_tree_rss_mb'] = idle_total / 2**20
    record['bytes'] = size
    record['seconds'] = wall
    record['throughput'] = size / wall / 1e6
    record['unit'] = 'MB/s'
    return record


def cleanup(state):
    """Delete the uploaded image so the data directory frees its space."""
    if state.uploaded:
        client = _client(state)
        try:
            client.request('DELETE', f'/v2/images/{state.uploaded}', expect=(204,))
        finally:
            client.close()
        state.uploaded = None
