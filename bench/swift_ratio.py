"""Swift data path: this service against python-swiftclient alone, on one Swift.

    python bench/swift_ratio.py                 # 512 MiB object + 1 GiB segmented
    python bench/swift_ratio.py --quick         # 128 MiB + 256 MiB, one round

The issue's target: uploads and downloads through the Swift driver reach at least 80%
of what python-swiftclient alone achieves against the same Swift on the same machine.
This script starts the test suite's single-node Swift (tests/fixtures/swift.py) and a
registry + API deployment whose only store is that Swift, then moves the same
in-memory payload three ways, round after round:

``swiftclient``
    ``Connection.put_object``/``get_object`` and nothing else: one PUT for the single
    object; for the segmented one, segment PUTs one after another and a Static Large
    Object manifest (what the driver writes). No hashing: swiftclient does none.
``store``
    ``SwiftStore``'s writer and reader in this process (md5 and the sha512 multihash
    computed while writing, as the API does).
``api``
    ``PUT``/``GET /v2/images/{id}/file`` through the API daemons (gunicorn, registry
    status transitions, the same store code in the API worker).

Each figure is the median of the rounds in MB/s (10^6 bytes per second) with its
ratio to swiftclient's. Every download is compared byte for byte with the payload and
every upload's checksums (the image's md5 and sha512, the store's, Swift's etags) with
the payload's; any mismatch exits 1. The CPU seconds that each process group spent
per measurement (this process, the API workers, the Swift proxy, the object server)
are recorded too, to show where the time goes. The JSON goes to
``bench/results/swift_ratio-<timestamp>.json``.

Swift's data lives on tmpfs (``/dev/shm``) when tmpfs has user xattrs (Linux 6.6 and
later), as the test fixture chooses: its fsyncs are then free, so every path is
measured against a Swift that never waits for a disk (the JSON's
``config.swift_devices_on_tmpfs`` says which).

Uses only the project's own dependencies plus the test fixtures' (pytest imports in
tests/fixtures/swift.py); run it with the interpreter that has the project installed.
"""

import argparse
import datetime
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from oslo_config import cfg  # noqa: E402

import stores  # noqa: E402
from tests.fixtures import deployment, swift  # noqa: E402

MiB = 1024 * 1024
SEND_CHUNK = MiB            # what the clients hand their HTTP library at a time
READ_CHUNK = MiB            # what the clients read from a response at a time
CONTAINER = 'bench'
TARGET_RATIO = 0.8


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--size-mib', type=int, default=512,
                   help='size of the single-object image (default 512)')
    p.add_argument('--large-mib', type=int, default=1024,
                   help='size of the segmented image (default 1024)')
    p.add_argument('--segment-mib', type=int, default=64,
                   help='segment size, swift_store_large_object_chunk_size (64)')
    p.add_argument('--rounds', type=int, default=3,
                   help='rounds of every measurement; the median is reported (3)')
    p.add_argument('--quick', action='store_true',
                   help='128 MiB and 256 MiB, one round: a smoke run')
    p.add_argument('--paths', default='swiftclient,store,api',
                   help='which of swiftclient,store,api to measure')
    p.add_argument('--results', default=os.path.join(HERE, 'results'),
                   help='where the JSON goes (default: bench/results)')
    p.add_argument('--keep', action='store_true',
                   help='keep the work directory (logs) after the run')
    args = p.parse_args(argv)
    if args.quick:
        args.size_mib, args.large_mib, args.rounds = 128, 256, 1
    args.paths = [name.strip() for name in args.paths.split(',') if name.strip()]
    return args


# -- CPU accounting ----------------------------------------------------------------------

_TICK = os.sysconf('SC_CLK_TCK')


def _cpu_seconds(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK   # utime + stime


def _children(pid):
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


class CpuGroups:
    """CPU seconds per process group, read before and after a measurement."""

    def __init__(self, service, glance):
        self._groups = {'bench': lambda: [os.getpid()],
                        'swift-proxy': lambda: [service._processes['proxy'].pid],
                        'swift-object': lambda: [service._processes['object'].pid]}
        if glance is not None:
            arbiter = glance.api.process.pid
            self._groups['api-workers'] = lambda: _children(arbiter)

    def sample(self):
        return {name: sum(_cpu_seconds(pid) for pid in pids())
                for name, pids in self._groups.items()}

    @staticmethod
    def spent(before, after):
        return {name: round(after[name] - before[name], 2) for name in after}


# -- the three paths ---------------------------------------------------------------------

def _chunks(payload):
    view = memoryview(payload)
    for start in range(0, len(view), SEND_CHUNK):
        yield view[start:start + SEND_CHUNK]


class Mismatch(Exception):
    """Bytes or checksums differ from the payload's, or a transfer failed."""


def _compare(payload, chunks):
    """Consume ``chunks`` and check them against ``payload``; the byte count."""
    offset = 0
    for chunk in chunks:
        if payload[offset:offset + len(chunk)] != chunk:
            raise Mismatch('downloaded bytes differ from the payload at or after '
                           'byte %d' % offset)
        offset += len(chunk)
    if offset != len(payload):
        raise Mismatch('downloaded %d bytes, expected %d' % (offset, len(payload)))
    return offset


class SwiftclientPath:
    name = 'swiftclient'

    def __init__(self, service, segment_size):
        self.conn = service.connection()
        self.segment_size = segment_size

    def upload(self, payload, digests, segmented):
        name = 'raw-%s' % uuid.uuid4()
        if not segmented:
            # A bytes body: requests sends it with one sendall, the fastest way
            # swiftclient has.
            etag = self.conn.put_object(CONTAINER, name, payload)
            if etag != digests['md5']:
                raise Mismatch('swiftclient: Swift etag %s, payload md5 %s'
                               % (etag, digests['md5']))
            return name
        manifest = []
        for number, start in enumerate(range(0, len(payload), self.segment_size), 1):
            piece = payload[start:start + self.segment_size]
            segment = '%s-%05d' % (name, number)
            etag = self.conn.put_object(CONTAINER, segment, piece)
            manifest.append({'path': '/%s/%s' % (CONTAINER, segment), 'etag': etag,
                             'size_bytes': len(piece)})
        for entry, expected in zip(manifest, digests['segment_md5s']):
            if entry['etag'] != expected:
                raise Mismatch('swiftclient: segment %s etag %s, payload md5 %s'
                               % (entry['path'], entry['etag'], expected))
        self.conn.put_object(CONTAINER, name, json.dumps(manifest),
                             query_string='multipart-manifest=put')
        return name

    def download(self, name, payload):
        _, body = self.conn.get_object(CONTAINER, name, resp_chunk_size=READ_CHUNK)
        return _compare(payload, body)

    def delete(self, name):
        self.conn.delete_object(CONTAINER, name,
                                query_string='multipart-manifest=delete')


class StorePath:
    name = 'store'

    def __init__(self, store):
        self.store = store

    def upload(self, payload, digests, segmented):
        image_id = str(uuid.uuid4())
        # Size declared for the single object (one PUT), unknown for the segmented one
        # (as from a client that streams without a length).
        writer = self.store.open_writer(image_id,
                                        size=None if segmented else len(payload))
        with writer:
            for chunk in _chunks(payload):
                writer.write(chunk)
            stored = writer.commit()
        if (stored.checksum, stored.multihash) != (digests['md5'], digests['sha512']):
            raise Mismatch('store: checksums %s/%s, payload %s/%s'
                           % (stored.checksum, stored.multihash[:16], digests['md5'],
                              digests['sha512'][:16]))
        return stored.url

    def download(self, url, payload):
        with self.store.open_reader(url) as reader:
            return _compare(payload, reader)

    def delete(self, url):
        self.store.delete(url)


class ApiPath:
    name = 'api'

    def __init__(self, glance):
        self.client = glance.client()

    def upload(self, payload, digests, segmented):
        image = self.client.create_image()
        headers = {'Content-Type': 'application/octet-stream'}
        if not segmented:
            headers['x-openstack-image-size'] = str(len(payload))
        # A bytes body: requests sends it with one sendall, as swiftclient does.
        response = self.client.put('/v2/images/%s/file' % image['id'], data=payload,
                                   headers=headers, timeout=900)
        if response.status_code != 204:
            raise Mismatch('api: upload answered %s %s'
                           % (response.status_code, response.text[:300]))
        record = self.client.image(image['id'])
        if (record['checksum'], record['os_hash_value'], record['size']) != (
                digests['md5'], digests['sha512'], len(payload)):
            raise Mismatch('api: image has %s/%s/%s, payload %s/%s/%s'
                           % (record['checksum'], record['os_hash_value'][:16],
                              record['size'], digests['md5'], digests['sha512'][:16],
                              len(payload)))
        return image['id']

    def download(self, image_id, payload):
        response = self.client.get('/v2/images/%s/file' % image_id, stream=True,
                                   timeout=900)
        if response.status_code != 200:
            raise Mismatch('api: download answered %s' % response.status_code)
        with response:
            return _compare(payload, response.iter_content(READ_CHUNK))

    def delete(self, image_id):
        response = self.client.delete('/v2/images/%s' % image_id)
        if response.status_code != 204:
            raise Mismatch('api: delete answered %s' % response.status_code)


# -- set-up ------------------------------------------------------------------------------

def swift_options(config_file, large_object_mb, segment_mb):
    return {'swift_store_config_file': config_file,
            'swift_store_container': CONTAINER,
            'swift_store_create_container_on_put': True,
            'swift_store_large_object_size': large_object_mb,
            'swift_store_large_object_chunk_size': segment_mb}


def build_store(options):
    store_class = stores.driver_class('swift')
    conf = cfg.ConfigOpts()
    conf.register_opts(store_class.option_list(), group='glance_store')
    conf(args=[], default_config_files=[], default_config_dirs=[])
    for name, value in options.items():
        conf.set_override(name, value, 'glance_store')
    store = store_class(conf, 'glance_store', 'swift')
    store.configure()
    store.probe()
    return store


def hash_speeds(sample=64 * MiB):
    """md5 and sha512 in MB/s on one core of this machine: what an upload through
    the API must spend on top of what Swift does (the API hashes every byte twice;
    swiftclient alone does not hash)."""
    data = os.urandom(sample)
    speeds = {}
    for name in ('md5', 'sha512'):
        digest = hashlib.new(name)
        started = time.perf_counter()
        for start in range(0, sample, MiB):
            digest.update(data[start:start + MiB])
        speeds[name] = round(sample / (time.perf_counter() - started) / 1e6)
    return speeds


def make_payload(size, segment_size):
    started = time.monotonic()
    payload = os.urandom(size)
    digests = {'md5': hashlib.md5(payload).hexdigest(),
               'sha512': hashlib.sha512(payload).hexdigest(),
               'segment_md5s': [hashlib.md5(payload[s:s + segment_size]).hexdigest()
                                for s in range(0, size, segment_size)]}
    print('payload: %d MiB of random bytes and their digests in %.1f s'
          % (size // MiB, time.monotonic() - started), flush=True)
    return payload, digests


# -- the run -----------------------------------------------------------------------------

def measure(path, payload, digests, segmented, cpu):
    """One upload and one download of ``payload`` through ``path``; a record."""
    record = {}
    before = cpu.sample()
    started = time.perf_counter()
    handle = path.upload(payload, digests, segmented)
    elapsed = time.perf_counter() - started
    after = cpu.sample()
    record['upload_mb_s'] = len(payload) / elapsed / 1e6
    record['upload_cpu_s'] = cpu.spent(before, after)
    before = after
    started = time.perf_counter()
    received = path.download(handle, payload)
    elapsed = time.perf_counter() - started
    record['download_mb_s'] = received / elapsed / 1e6
    record['download_cpu_s'] = cpu.spent(before, cpu.sample())
    path.delete(handle)
    return record


def summarize(records):
    summary = {}
    for key in ('upload_mb_s', 'download_mb_s'):
        values = [r[key] for r in records]
        summary[key] = round(statistics.median(values), 1)
        summary[key.replace('_mb_s', '_all')] = [round(v, 1) for v in values]
    for key in ('upload_cpu_s', 'download_cpu_s'):
        groups = records[0][key].keys()
        summary[key] = {g: round(statistics.median(r[key][g] for r in records), 2)
                        for g in groups}
    return summary


def render(results, paths):
    lines = []
    header = ('%-26s %-10s' % ('case', 'direction')
              + ''.join('%18s' % (p + ' MB/s') for p in paths)
              + ''.join('%12s' % (p + '/raw') for p in paths if p != 'swiftclient'))
    lines.append(header)
    lines.append('-' * len(header))
    for case, by_path in results['cases'].items():
        for direction in ('upload', 'download'):
            key = direction + '_mb_s'
            row = '%-26s %-10s' % (case, direction)
            raw = by_path.get('swiftclient', {}).get(key)
            for p in paths:
                value = by_path.get(p, {}).get(key)
                row += '%18s' % ('-' if value is None else '%.1f' % value)
            for p in paths:
                if p == 'swiftclient':
                    continue
                value = by_path.get(p, {}).get(key)
                if raw and value is not None:
                    ratio = value / raw
                    row += '%12s' % ('%.2f%s' % (ratio, '' if ratio >= TARGET_RATIO
                                                 else ' <'))
                else:
                    row += '%12s' % '-'
            lines.append(row)
    lines.append('')
    lines.append('CPU seconds per transfer (median), by process group:')
    for case, by_path in results['cases'].items():
        for p in paths:
            if p not in by_path:
                continue
            for direction in ('upload', 'download'):
                spent = by_path[p][direction + '_cpu_s']
                lines.append('  %-26s %-12s %-9s %s' % (
                    case, p, direction,
                    '  '.join('%s %.1f' % item for item in spent.items())))
    lines.append('')
    lines.append('"<" marks a ratio below the %.0f%% target.' % (TARGET_RATIO * 100))
    lines.append('One core hashes md5 at %(md5)s MB/s, sha512 at %(sha512)s MB/s.'
                 % results['hash_mb_s'])
    lines.append('Load average before/after: %.1f / %.1f on %d CPUs (other work on '
                 'the machine competes with every path, most with the one that '
                 'needs the most CPU).' % (results['load_before'][0],
                                           results['load_after'][0], os.cpu_count()))
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    workdir = tempfile.mkdtemp(prefix='swift-ratio-')
    segment = args.segment_mib * MiB
    # Between the two sizes: the single object is one PUT (its size is declared), the
    # large one is segmented.
    large_object_mb = (args.size_mib + args.large_mib) / 2
    results = {'started': datetime.datetime.now(datetime.timezone.utc).isoformat(),
               'config': {'size_mib': args.size_mib, 'large_mib': args.large_mib,
                          'segment_mib': args.segment_mib, 'rounds': args.rounds,
                          'send_chunk': SEND_CHUNK, 'read_chunk': READ_CHUNK,
                          'cpus': os.cpu_count(), 'swift': swift.SWIFT_VERSION},
               'load_before': os.getloadavg(), 'cases': {}, 'errors': []}
    service = glance = None
    exit_code = 0
    try:
        print('starting Swift ...', flush=True)
        service = swift.SwiftService.start(os.path.join(workdir, 'swift'))
        # The fixture keeps Swift's data on tmpfs when it can (its fsyncs are then
        # free): say where it ran, as the figures depend on it.
        results['config']['swift_devices'] = getattr(service, 'devices', None)
        results['config']['swift_devices_on_tmpfs'] = str(
            getattr(service, 'devices', '')).startswith('/dev/shm/')
        service.connection().put_container(CONTAINER)
        config_file = service.write_reference_file(os.path.join(workdir, 'refs.conf'))
        options = swift_options(config_file, large_object_mb, args.segment_mib)
        paths = []
        if 'swiftclient' in args.paths:
            paths.append(SwiftclientPath(service, segment))
        if 'store' in args.paths:
            paths.append(StorePath(build_store(options)))
        if 'api' in args.paths:
            print('starting the registry and API ...', flush=True)
            os.makedirs(os.path.join(workdir, 'glance'))
            glance = deployment.start(
                os.path.join(workdir, 'glance'),
                api_extra={'DEFAULT': {'log_level': 'WARNING'},
                           'glance_store': dict(options, default_store='swift')},
                registry_extra={'DEFAULT': {'log_level': 'WARNING'}})
            paths.append(ApiPath(glance))
        cpu = CpuGroups(service, glance)
        results['hash_mb_s'] = hash_speeds()
        payload, digests = make_payload(max(args.size_mib, args.large_mib) * MiB,
                                        segment)
        cases = [('%d MiB, one object' % args.size_mib, args.size_mib * MiB, False),
                 ('%d MiB, %d MiB segments' % (args.large_mib, args.segment_mib),
                  args.large_mib * MiB, True)]
        for case, size, segmented in cases:
            if size == len(payload):
                data, data_digests = payload, digests
            else:
                data = payload[:size]
                data_digests = {
                    'md5': hashlib.md5(data).hexdigest(),
                    'sha512': hashlib.sha512(data).hexdigest(),
                    'segment_md5s': [hashlib.md5(data[s:s + segment]).hexdigest()
                                     for s in range(0, size, segment)]}
            records = {p.name: [] for p in paths}
            for number in range(1, args.rounds + 1):
                for path in paths:
                    try:
                        record = measure(path, data, data_digests, segmented, cpu)
                    except Mismatch as exc:
                        results['errors'].append('%s / %s: %s' % (case, path.name, exc))
                        print('FAILED %s / %s: %s' % (case, path.name, exc),
                              flush=True)
                        exit_code = 1
                        continue
                    records[path.name].append(record)
                    print('  %s, round %d, %-11s up %7.1f MB/s  down %7.1f MB/s'
                          % (case, number, path.name, record['upload_mb_s'],
                             record['download_mb_s']), flush=True)
            results['cases'][case] = {name: summarize(recs)
                                      for name, recs in records.items() if recs}
        results['load_after'] = os.getloadavg()
        names = [p.name for p in paths]
        table = render(results, names)
        results['table'] = table
        print()
        print(table)
    finally:
        if glance is not None:
            glance.stop()
        if service is not None:
            service.stop()
        if not args.keep:
            import shutil
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print('work directory kept: %s' % workdir)
    os.makedirs(args.results, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
    out = os.path.join(args.results, 'swift_ratio-%s.json' % stamp)
    with open(out, 'w') as f:
        json.dump(results, f, indent=2)
    print('results: %s' % out)
    return exit_code


if __name__ == '__main__':
    sys.exit(main())
