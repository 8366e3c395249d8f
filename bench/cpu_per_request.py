"""CPU seconds per request of this project's daemons, by process, per workload.

The benchmark's throughput moves with the machine's load; the CPU a request costs
the service moves much less. This starts ``glance-all`` as ``ours-1x1`` does (one
API and one registry worker, one thread each), seeds images as ``run.py`` does
(10 custom properties and 2 tags each), then runs each metadata workload ``--reps``
times from one keep-alive client (or ``--clients`` of them) and reads the CPU time (user + system, every
thread) that each process of the service's tree spent meanwhile, from ``/proc``::

    python bench/cpu_per_request.py [--images 200] [--reps 1000] [--only show,...]

Prints, per workload, the CPU milliseconds per request of the API worker, of the
registry worker, and of the whole tree (the masters and ``glance-all`` idle, but
they count), and this process's own (the clients'). Figures are kernel clock ticks (10 ms) summed over all the requests:
use enough of them. Nothing is compared with upstream here; ``run.py`` does that.
"""

import argparse
import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import procmon  # noqa: E402
import targets  # noqa: E402
import workloads  # noqa: E402
from client import Client  # noqa: E402

TICK = os.sysconf('SC_CLK_TCK')


def cpu_seconds(pid):
    """User + system CPU seconds of a process (all its threads), or None."""
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b')') + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def tree_cpu(root):
    return {pid: cpu_seconds(pid) for pid in procmon.process_tree(root)}


def label(pid, root):
    """What a process of glance-all's tree (``root``) is: ``glance-all``, or the
    API's or registry's master (``api-master``) or worker (``api-worker``)."""
    depth, parent = 0, pid
    while parent and parent != root:
        parent = procmon.parent_of(parent)
        depth += 1
    if depth == 0:
        return 'glance-all'
    role = 'registry' if 'registry' in procmon.describe(pid) else 'api'
    return f'{role}-{"master" if depth == 1 else "worker"}'


def workload_paths(images):
    """name -> a function of the repetition giving the path to GET."""
    ids = [image['id'] for image in images]
    middle = images[len(images) // 2]
    return {
        'show': lambda rep: f'/v2/images/{ids[rep % len(ids)]}',
        'list-first': lambda rep: '/v2/images?limit=25',
        'list-property': lambda rep: ('/v2/images?bench_group='
                                      f'g{rep % workloads.GROUPS:02d}&limit=25'),
        'list-tag': lambda rep: f'/v2/images?tag=t{rep % workloads.TAGS:02d}&limit=25',
        'list-status': lambda rep: '/v2/images?status=in:active,queued&limit=25',
        'list-created': lambda rep: ('/v2/images?created_at=gt:'
                                     f'{middle["created_at"]}&limit=25'),
        'list-sort': lambda rep: '/v2/images?sort=name:asc&limit=25',
    }


def send_all(path, reps, pool):
    """GET ``path(rep)`` for every rep, spread over the keep-alive clients of
    ``pool``, one thread each (the caller's own thread for a single client)."""
    if len(pool) == 1:
        for rep in range(reps):
            pool[0].request('GET', path(rep))
        return

    def send(offset):
        for rep in range(offset, reps, len(pool)):
            pool[offset].request('GET', path(rep))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(pool))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=200)
    parser.add_argument('--reps', type=int, default=1000)
    parser.add_argument('--only', default='')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--clients', type=int, default=1,
                        help='concurrent keep-alive clients (threads of this '
                             'process), each sending reps / clients requests')
    parser.add_argument('--json', help='also write the figures to this file')
    args = parser.parse_args()
    run_dir = tempfile.mkdtemp(prefix='cpu-per-request-')
    service = targets.OursService('ours', run_dir, targets.find_glance_all(),
                                  workers=1, threads=args.threads)
    print(f'load average at start: {open("/proc/loadavg").read().split()[:3]}')
    service.start()
    try:
        client = Client(targets.HOST, service.port)
        images = []
        for index in range(args.images):
            body = workloads.image_body(f'cpu-{index:05d}', index)
            images.append(client.request('POST', '/v2/images', body,
                                         expect=(201,)).json())
        paths = workload_paths(images)
        names = [n for n in paths if not args.only or n in args.only.split(',')]
        results = {}
        for name in names:
            path = paths[name]
            pool = [client] + [Client(targets.HOST, service.port)
                               for _ in range(args.clients - 1)]
            for rep in range(50):  # warm up: imports, caches, connections
                pool[rep % len(pool)].request('GET', path(rep))
            before = tree_cpu(service.pid)
            own_before = time.process_time()
            start = time.perf_counter()
            send_all(path, args.reps, pool)
            wall = time.perf_counter() - start
            after = tree_cpu(service.pid)
            own = (time.process_time() - own_before) * 1000 / args.reps
            for each in pool[1:]:
                each.close()
            per = {}
            for pid, spent in after.items():
                if spent is None or before.get(pid) is None:
                    continue
                key = label(pid, service.pid)
                per[key] = per.get(key, 0) + (spent - before[pid]) * 1000 / args.reps
            total = sum(per.values())
            results[name] = dict(per, total=total, wall_ms=wall * 1000 / args.reps)
            busy = '  '.join(f'{k} {v:.3f}' for k, v in sorted(per.items()) if v)
            results[name]['client'] = own
            print(f'{name:15s} {busy}  total {total:.3f} ms CPU/request  '
                  f'(wall {wall * 1000 / args.reps:.2f} ms; this client {own:.3f} ms)',
                  flush=True)
        print(f'load average at end: {open("/proc/loadavg").read().split()[:3]}')
        if args.json:
            with open(args.json, 'w') as f:
                json.dump({'images': args.images, 'reps': args.reps,
                           'results': results}, f, indent=1)
    finally:
        service.stop()


if __name__ == '__main__':
    main()
