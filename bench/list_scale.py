"""The first page of a large image list, measured at the API.

Seeds a fresh embedded deployment with N images (default 100,000), each with 10
custom properties and 2 tags, straight into its SQLite database through the registry's
own models (creating that many through the API would take most of an hour), starts
``glance-all`` on it and times ``GET /v2/images?limit=25`` as an admin and as a project
member, plus a filtered first page. Prints p50/p99 and writes a JSON record to
bench/results/.

    python bench/list_scale.py [--images 100000] [--requests 300] [--data-dir DIR]

Seeding 100,000 images takes minutes: with ``--data-dir`` the seeded deployment is
kept there and reused by the next run that names it (seeded only when it holds no
database yet).

Target (issue 5): first page in at most 20 ms p50 at the API.
"""

import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECTS = 20


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def seed(data_dir, count):
    """Create the schema and ``count`` images; returns the project ids used."""
    from glance_registry import db, migrations, models
    os.makedirs(data_dir, exist_ok=True)
    database = db.open_database('sqlite:///' + os.path.join(data_dir, 'glance.sqlite'))
    migrations.upgrade(database)
    projects = [uuid.uuid4().hex for _ in range(PROJECTS)]
    start = datetime.datetime(2026, 1, 1)
    batch = 2000
    with db.connection(database):
        for first in range(0, count, batch):
            images, properties, tags = [], [], []
            for i in range(first, min(first + batch, count)):
                image_id = str(uuid.uuid4())
                when = start + datetime.timedelta(seconds=i)
                images.append({
                    'id': image_id, 'name': 'image-%06d' % i,
                    'status': 'active' if i % 3 else 'queued',
                    'visibility': ('public', 'shared', 'private')[i % 3],
                    'owner': projects[i % PROJECTS], 'disk_format': 'qcow2',
                    'container_format': 'bare', 'size': i, 'created_at': when,
                    'updated_at': when})
                properties.extend({'image': image_id, 'name': 'prop_%d' % p,
                                   'value': 'value-%d-%d' % (p, i % 50)}
                                  for p in range(10))
                tags.extend({'image': image_id, 'value': tag}
                            for tag in ('tag-%d' % (i % 7), 'common'))
            with db.write_transaction(database):
                models.Image.insert_many(images).execute(database)
                models.ImageProperty.insert_many(properties).execute(database)
                models.ImageTag.insert_many(tags).execute(database)
    database.close()
    return projects


def timed(session, url, requests_count):
    latencies = []
    for _ in range(requests_count):
        started = time.perf_counter()
        response = session.get(url)
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200 or not response.json()['images']:
            raise SystemExit('unexpected answer %d from %s' % (response.status_code,
                                                               url))
    latencies.sort()
    return {'p50_ms': round(statistics.median(latencies), 2),
            'p99_ms': round(latencies[int(len(latencies) * 0.99) - 1], 2),
            'requests': requests_count}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=100000)
    parser.add_argument('--requests', type=int, default=300)
    parser.add_argument('--data-dir',
                        help='keep the seeded deployment here and reuse it on the '
                             'next run (default: a temporary directory, removed)')
    args = parser.parse_args()

    if args.data_dir:
        workdir = os.path.abspath(args.data_dir)
        os.makedirs(workdir, exist_ok=True)
    else:
        workdir = tempfile.mkdtemp(prefix='glance-list-scale-')
    data_dir = os.path.join(workdir, 'data')
    projects_file = os.path.join(workdir, 'projects.json')
    if args.data_dir and os.path.exists(projects_file):
        with open(projects_file) as f:
            seeded = json.load(f)
        if seeded['images'] != args.images:
            raise SystemExit('%s holds %d images, not %d' % (workdir, seeded['images'],
                                                           args.images))
        projects = seeded['projects']
        print('reusing %d seeded images in %s' % (args.images, workdir))
    else:
        started = time.monotonic()
        projects = seed(data_dir, args.images)
        with open(projects_file, 'w') as f:
            json.dump({'images': args.images, 'projects': projects}, f)
        print('seeded %d images in %.0f s' % (args.images,
                                              time.monotonic() - started))
    port, registry_port = free_port(), free_port()
    glance_all = os.path.join(os.path.dirname(sys.executable), 'glance-all')
    log = open(os.path.join(workdir, 'glance-all.log'), 'wb')
    process = subprocess.Popen([glance_all, '--data-dir', data_dir, '--port', str(port),
                                '--registry-port', str(registry_port)],
                               stdout=log, stderr=subprocess.STDOUT)
    url = 'http://127.0.0.1:%d' % port
    started = time.monotonic()
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                requests.get(url + '/versions', timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    with open(log.name, errors='replace') as f:
                        print(f.read()[-3000:])
                    raise SystemExit('glance-all did not start')
                time.sleep(0.2)
        startup_seconds = round(time.monotonic() - started, 2)
        print('glance-all answered after %.1f s' % startup_seconds)
        admin = requests.Session()
        member = requests.Session()
        member.headers.update({'X-Project-Id': projects[0], 'X-Roles': 'member,reader'})
        for session in (admin, member):
            timed(session, url + '/v2/images?limit=25', 20)  # warm up
        results = {
            'admin first page': timed(admin, url + '/v2/images?limit=25', args.requests),
            'member first page': timed(member, url + '/v2/images?limit=25',
                                       args.requests),
            'member, ?tag=common': timed(member, url + '/v2/images?limit=25&tag=common',
                                         args.requests),
            'member, ?prop_3=value-3-0': timed(
                member, url + '/v2/images?limit=25&prop_3=value-3-0', args.requests),
        }
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        log.close()
        if not args.data_dir:
            shutil.rmtree(workdir, ignore_errors=True)
    print('%-28s %8s %8s' % ('first page of %d images' % args.images, 'p50 ms',
                              'p99 ms'))
    for name, figures in results.items():
        print('%-28s %8.1f %8.1f' % (name, figures['p50_ms'], figures['p99_ms']))
    os.makedirs(os.path.join(HERE, 'results'), exist_ok=True)
    out = os.path.join(HERE, 'results', 'list_scale-%s.json'
                       % time.strftime('%Y%m%dT%H%M%SZ', time.gmtime()))
    with open(out, 'w') as f:
        json.dump({'images': args.images, 'results': results,
                   'startup_seconds': startup_seconds,
                   'loadavg': os.getloadavg()}, f, indent=1)
    print('wrote', out)


if __name__ == '__main__':
    main()
