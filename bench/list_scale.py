"""Every filter and sort of the Images API list, at a small and a large catalogue.

Loads two catalogues (default 1,000 and 1,000,000 images, each with 3 custom
properties, 2 tags and, when shared, a member) in bulk through SQL
(``bench/bulk_seed.py``: minutes for a million, where the API would take a day),
starts ``glance-all`` on each (both at once) and times the first page
(``limit=25``) of every list in ``LISTS`` as an admin and, for a few, as a project
member, alternating between the sizes request by request.
Prints p50/p99 per list at each size, the ratio large/small and whether it is
within the target (issue 16: at most 2x), and writes a JSON record with the load
average of each measurement to ``bench/results/``.

    python bench/list_scale.py [--sizes 1000,1000000] [--requests 60]
        [--data-dir DIR] [--database-url postgresql://postgres@127.0.0.1/NAME]

The machine is shared: read the ratio, not the absolute figures, and look at the
load average beside them. With ``--data-dir`` the seeded databases are kept and
reused (SQLite only). With ``--database-url`` (a server database this script may
empty: one per size, ``NAME_<size>``) the catalogue is loaded on PostgreSQL or
MariaDB and ``glance-all`` is pointed at it.

With ``--upstream`` the same catalogue is also loaded into upstream Glance's schema
(``glance-manage db sync``, then the same SQL, ``bulk_seed.statements(...,
schema='upstream')``; SQLite, or ``NAME_up_<size>`` on PostgreSQL) and upstream
(``bench/targets.py``: uWSGI, 1 process on SQLite, its recommended 4 on PostgreSQL)
is timed on the same admin lists, in the same alternation, with fewer requests
(``--upstream-requests``) and at most ``--upstream-budget`` seconds a list and size.
Upstream's noauth pipeline ignores the project headers, so the member lists are
ours only. Needs ``GLANCE_BENCH_CACHE`` (or ``bench/.cache``) for upstream's
virtualenv, as ``bench/run.py`` does.
"""

import argparse
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
import urllib.parse

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.append(HERE)  # targets.py (upstream) and its sibling modules

from bench import bulk_seed, revision  # noqa: E402

# (query string, what the first page holds at a large size: full, few or none)
LISTS = [
    ('', 'full'),
    ('name=image-0000123', 'few'),
    ('name=nope', 'none'),
    ('id=in:00000000-0000-4000-8000-000000000123,'
     '00000000-0000-4000-8000-000000000124', 'few'),
    ('status=queued', 'full'),
    ('status=killed', 'none'),
    ('status=in:active,queued', 'full'),
    ('visibility=public', 'full'),
    ('visibility=community', 'full'),
    ('visibility=shared&member_status=all', 'full'),
    ('owner=project-03', 'full'),
    ('disk_format=qcow2', 'full'),
    ('disk_format=iso', 'none'),
    ('container_format=ovf', 'none'),
    ('size_min=1', 'full'),
    ('size_min=1000000000000', 'none'),
    ('size_max=20000', 'few'),
    ('os_hidden=true', 'few'),
    ('protected=true', 'few'),
    ('min_ram=512', 'full'),
    ('checksum=00000000000000000000000000000123', 'few'),
    ('created_at=gt:2026-01-01T00:05:00Z', 'full'),
    ('created_at=lt:2026-01-01T00:00:10Z', 'few'),
    ('updated_at=gte:2026-01-01T00:05:00Z', 'full'),
    ('updated_at=lt:2026-01-01T00:00:10Z', 'few'),
    ('tag=common', 'full'),
    ('tag=t3', 'full'),
    ('tag=nope', 'none'),
    ('bench_group=g7', 'full'),
    ('bench_unique=u123', 'few'),
    ('bench_group=nope', 'none'),
    ('os_distro=ubuntu&tag=t5', 'full'),
    ('status=queued&os_distro=ubuntu', 'full'),
    ('status=queued&bench_unique=u120', 'few'),
    ('status=queued&bench_group=g7', 'none'),
    ('status=queued&tag=t3', 'none'),
    # Every qcow2 image is even, every g7 and t3 one odd: counted from the
    # indexes holding the rows' copies of the image's formats (migration 21).
    ('disk_format=qcow2&bench_group=g7', 'none'),
    ('disk_format=qcow2&tag=t3', 'none'),
    # project-05's images are odd, g7's never end in 5 (i % 10 == 7): none
    # together, counted from the owner copied onto the property rows (migration
    # 22; before it, every g7 image was walked).
    ('owner=project-05&bench_group=g7', 'none'),
    ('sort=name:asc', 'full'),
    ('sort=name:desc', 'full'),
    ('sort=status:asc', 'full'),
    ('sort=size:desc', 'full'),
    ('sort=disk_format:asc', 'full'),
    ('sort=container_format:desc', 'full'),
    ('sort=updated_at:desc', 'full'),
    ('sort=created_at:asc', 'full'),
    ('sort=id:asc', 'full'),
    # Later pages, from the image in the middle of the catalogue (``{middle}``).
    ('marker={middle}', 'full'),
    ('sort=name:asc&marker={middle}', 'full'),
    # Sorts by a key most images share: the marker is deep inside its group.
    ('sort=status:asc&marker={middle}', 'full'),
    ('sort=disk_format:asc&marker={middle}', 'full'),
    ('sort=container_format:desc&marker={middle}', 'full'),
    ('sort=size:desc&marker={middle}', 'full'),
    # Filtered on columns of the images, deep in the default order.
    ('status=active&marker={middle}', 'full'),
    ('visibility=public&marker={middle}', 'full'),
    ('status=active&disk_format=qcow2&marker={middle}', 'full'),
    ('status=in:active,queued&marker={middle}', 'full'),
]
# The member is project-03: its private images are odd (so none in g2) and all
# debian. The last two are counted from the visibility and owner copied onto the
# property rows (migration 22; before it, they walked every image of the
# property, 2% and 20% of the catalogue, for none).
MEMBER_LISTS = ['', 'tag=t3', 'bench_group=g7', 'os_distro=ubuntu&tag=t5', 'sort=name:asc',
                'visibility=private&bench_group=g2', 'visibility=private&os_distro=ubuntu']
TARGET_RATIO = 2.0


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def load(database_url, count):
    """Create the schema and ``count`` images at ``database_url``."""
    from glance_registry import db, migrations
    database = db.open_database(database_url)
    migrations.upgrade(database)
    bulk_seed.load(database, count)
    database.close_all()


def server_database(base_url, size, create=True):
    """The URL of database ``<name>_<size>`` on the server of ``base_url``, made
    new and empty if ``create``."""
    parsed = urllib.parse.urlsplit(base_url)
    name = '%s_%s' % (parsed.path.lstrip('/') or 'glance_list_scale', size)
    if not create:
        return urllib.parse.urlunsplit(parsed._replace(path='/' + name))
    admin = parsed._replace(path='/' + ('postgres' if parsed.scheme.startswith('postgres')
                                        else 'mysql'))
    from glance_registry import db
    database = db.open_database(urllib.parse.urlunsplit(admin))
    with db.connection(database):
        if db.dialect(database) == 'postgresql':
            database.connection().autocommit = True
        database.execute_sql('DROP DATABASE IF EXISTS %s' % name)
        database.execute_sql('CREATE DATABASE %s' % name)
    database.close_all()
    return urllib.parse.urlunsplit(parsed._replace(path='/' + name))


def timed(session, url):
    """One request's latency in ms; exits on a wrong answer."""
    started = time.perf_counter()
    response = session.get(url)
    took = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit('unexpected answer %d from %s: %s'
                         % (response.status_code, url, response.text[:300]))
    return took, len(response.json()['images'])


def summary(latencies, images, loads):
    latencies = sorted(latencies)
    return {'p50_ms': round(statistics.median(latencies), 2),
            'p99_ms': round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 2),
            'requests': len(latencies), 'images': images,
            'loadavg_1m': round(statistics.mean(loads), 2)}


def start_service(workdir, database_url):
    """``glance-all`` on the catalogue of ``workdir``: (process, list URL)."""
    data_dir = os.path.join(workdir, 'data')
    os.makedirs(data_dir, exist_ok=True)
    extra = []
    if database_url:
        conf = os.path.join(workdir, 'database.conf')
        with open(conf, 'w') as f:
            f.write('[database]\nconnection = %s\n' % database_url)
        extra = ['--config-file', conf]
    port, registry_port = free_port(), free_port()
    glance_all = os.path.join(os.path.dirname(sys.executable), 'glance-all')
    log = open(os.path.join(workdir, 'glance-all.log'), 'wb')
    process = subprocess.Popen([glance_all, '--data-dir', data_dir, '--port', str(port),
                                '--registry-port', str(registry_port)] + extra,
                               stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    log.close()
    url = 'http://127.0.0.1:%d/v2/images?limit=25' % port
    deadline = time.monotonic() + 300
    while True:
        try:
            requests.get(url, timeout=5)
            return process, url
        except requests.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                with open(log.name, errors='replace') as f:
                    print(f.read()[-3000:])
                raise SystemExit('glance-all did not start')
            time.sleep(0.2)


def measure(services, requests_count, upstream=None, upstream_requests=10,
            upstream_budget=20.0):
    """Time every list on every service, alternating between them request by
    request, so that the machine's other work weighs on each size alike.

    ``services`` and ``upstream`` map a size to a list URL; upstream takes part in
    the admin lists only, for ``upstream_requests`` requests or ``upstream_budget``
    seconds a list and size, whichever ends first.
    """
    upstream = upstream or {}
    keys = [('ours', size) for size in services] + [('upstream', size) for size in upstream]
    urls = {('ours', size): url for size, url in services.items()}
    urls.update({('upstream', size): url for size, url in upstream.items()})
    sessions = {}
    for key in keys:
        admin, member = requests.Session(), requests.Session()
        member.headers.update({'X-Project-Id': 'project-03', 'X-Roles': 'member,reader'})
        sessions[key] = {'admin': admin, 'member': member}
    results = {key: {} for key in keys}
    for who, lists in (('admin', [q for q, _ in LISTS]), ('member', MEMBER_LISTS)):
        for query in lists:
            taking = [k for k in keys if k[0] == 'ours' or who == 'admin']
            samples = {key: [] for key in taking}
            spent = {key: 0.0 for key in taking}
            loads = []
            for rep in range(requests_count + 3):
                order = taking if rep % 2 else taking[::-1]
                for key in order:
                    if key[0] == 'upstream' and (rep >= upstream_requests + 3
                                                 or spent[key] > upstream_budget):
                        continue
                    url = urls[key] + ('&' + query.format(
                        middle=bulk_seed.image_id(key[1] // 2)) if query else '')
                    took, images = timed(sessions[key][who], url)
                    spent[key] += took / 1000
                    if rep >= 3 or (key[0] == 'upstream' and spent[key] > upstream_budget):
                        # The first three warm the connection and caches (unless a slow
                        # upstream list spent its budget on them: then they count).
                        samples[key].append((took, images))
                loads.append(os.getloadavg()[0])
            for key in taking:
                results[key]['%s ?%s' % (who, query)] = summary(
                    [took for took, _ in samples[key]], samples[key][-1][1], loads)
    ours = {size: results[('ours', size)] for size in services}
    theirs = {size: results[('upstream', size)] for size in upstream}
    return ours, theirs


def start_upstream(workdir, size, database_url, venv):
    """Upstream Glance on a catalogue of ``size`` images loaded into its schema right
    after its ``glance-manage db sync``: (service, list URL)."""
    import targets
    database = None
    processes = 1  # more fail with "database is locked" on SQLite
    if database_url:
        processes = targets.UPSTREAM_RECOMMENDED_PROCESSES
        parsed = urllib.parse.urlsplit(server_database(database_url, 'up_%d' % size))
        database = ('PostgreSQL', parsed._replace(scheme='postgresql+psycopg2').geturl())
        targets.ensure_upstream_driver(venv)
    timings = {}

    def load_upstream(service):
        started = time.monotonic()
        if database:
            import psycopg2
            conn = psycopg2.connect(database[1].replace('postgresql+psycopg2', 'postgresql'))
            dialect = 'postgresql'
        else:
            import sqlite3
            conn = sqlite3.connect(service.sqlite_path)
            dialect = 'sqlite'
        try:
            cursor = conn.cursor()
            for sql in bulk_seed.statements(dialect, size, schema='upstream'):
                # With parameters (none) psycopg2 reads the statements' escaped '%%'.
                cursor.execute(sql, ())
            conn.commit()
            if dialect == 'postgresql':
                conn.autocommit = True
                conn.cursor().execute('ANALYZE')
            else:
                conn.execute('ANALYZE')
        finally:
            conn.close()
        timings['seconds'] = round(time.monotonic() - started, 1)

    service = targets.UpstreamService(workdir, venv, name='upstream-%d' % size,
                                      processes=processes, database=database,
                                      after_sync=load_upstream)
    service.start()
    print('loaded %d images into upstream\'s schema in %.0f s (load %.1f)'
          % (size, timings['seconds'], os.getloadavg()[0]), flush=True)
    return service, 'http://127.0.0.1:%d/v2/images?limit=25' % service.port, timings


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', default='1000,1000000')
    parser.add_argument('--requests', type=int, default=60)
    parser.add_argument('--data-dir',
                        help='keep the seeded SQLite catalogues here and reuse them')
    parser.add_argument('--database-url',
                        help='load the catalogues on this PostgreSQL or MariaDB '
                             'server instead (databases <name>_<size>)')
    parser.add_argument('--reuse-database', action='store_true',
                        help='with --database-url: the databases are already loaded')
    parser.add_argument('--upstream', action='store_true',
                        help='load upstream Glance\'s schema too and time it side by side')
    parser.add_argument('--upstream-requests', type=int, default=10,
                        help='requests per list and size for upstream (default 10)')
    parser.add_argument('--upstream-budget', type=float, default=20.0,
                        help='seconds per list and size for upstream (default 20)')
    parser.add_argument('--cache', default=os.environ.get('GLANCE_BENCH_CACHE',
                                                        os.path.join(HERE, '.cache')),
                        help='where upstream\'s virtualenv is (as bench/run.py)')
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(',')]
    root = os.path.abspath(args.data_dir) if args.data_dir else tempfile.mkdtemp(
        prefix='glance-list-scale-')
    seeding, processes, services = {}, [], {}
    upstream_services, upstream_urls, upstream_seeding = [], {}, {}
    venv = None
    if args.upstream:
        import targets
        venv = targets.ensure_upstream(os.path.abspath(args.cache))
    try:
        for size in sizes:
            workdir = os.path.join(root, str(size))
            os.makedirs(os.path.join(workdir, 'data'), exist_ok=True)
            if args.database_url and args.reuse_database:
                database_url = server_database(args.database_url, size, create=False)
            elif args.database_url:
                database_url = server_database(args.database_url, size)
            else:
                database_url = None
            sqlite_path = os.path.join(workdir, 'data', 'glance.sqlite')
            if (database_url and not args.reuse_database) or (
                    not database_url and not os.path.exists(sqlite_path)):
                started = time.monotonic()
                load(database_url or 'sqlite:///' + sqlite_path, size)
                seeding[size] = round(time.monotonic() - started, 1)
                print('loaded %d images in %.0f s (load %.1f)'
                      % (size, seeding[size], os.getloadavg()[0]), flush=True)
            else:
                print('reusing %d images in %s' % (size, workdir))
            process, url = start_service(workdir, database_url)
            processes.append(process)
            services[size] = url
            if args.upstream:
                # A fresh directory each run: upstream's catalogue is always loaded anew.
                up_dir = tempfile.mkdtemp(prefix='upstream-', dir=workdir)
                service, url, timing = start_upstream(up_dir, size, args.database_url, venv)
                upstream_services.append(service)
                upstream_urls[size] = url
                upstream_seeding[size] = timing['seconds']
        measured, upstream_measured = measure(
            services, args.requests, upstream_urls, args.upstream_requests,
            args.upstream_budget)
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(60)
        for service in upstream_services:
            service.stop()
            shutil.rmtree(os.path.dirname(service.data), ignore_errors=True)
        if not args.data_dir:
            shutil.rmtree(root, ignore_errors=True)
    small, large = sizes[0], sizes[-1]
    print('%-58s %9s %9s %6s %5s  %s' % ('list (limit=25)', 'p50 %dk' % (small // 1000),
                                         'p50 %dk' % (large // 1000), 'ratio', 'load',
                                         'target (<= %.0fx)' % TARGET_RATIO))
    verdicts = {}
    for name in measured[small]:
        before, after = measured[small][name], measured[large][name]
        ratio = after['p50_ms'] / before['p50_ms']
        verdicts[name] = 'met' if ratio <= TARGET_RATIO else 'MISSED'
        print('%-58s %9.1f %9.1f %6.2f %5.1f  %s' % (
            name[:58], before['p50_ms'], after['p50_ms'], ratio, after['loadavg_1m'],
            verdicts[name]))
    comparison = {}
    if upstream_measured:
        print('\nupstream Glance, same catalogue and lists (p50 ms; ours/up at %dk: '
              'below 1 is ours faster)' % (large // 1000))
        print('%-58s %9s %9s %6s %9s' % ('list (limit=25)', 'up %dk' % (small // 1000),
                                         'up %dk' % (large // 1000), 'ratio', 'ours/up'))
        for name in upstream_measured[small]:
            before = upstream_measured[small][name]
            after = upstream_measured[large][name]
            ours_after = measured[large][name]
            comparison[name] = {
                'upstream_ratio': round(after['p50_ms'] / before['p50_ms'], 2),
                'ours_over_upstream_large': round(ours_after['p50_ms'] / after['p50_ms'], 3)}
            print('%-58s %9.1f %9.1f %6.2f %9.3f' % (
                name[:58], before['p50_ms'], after['p50_ms'],
                comparison[name]['upstream_ratio'],
                comparison[name]['ours_over_upstream_large']))
    os.makedirs(os.path.join(HERE, 'results'), exist_ok=True)
    out = os.path.join(HERE, 'results', 'list_scale-%s.json'
                       % time.strftime('%Y%m%dT%H%M%SZ', time.gmtime()))
    commit = revision.ours()
    with open(out, 'w') as f:
        json.dump({'commit': commit, 'sizes': sizes, 'seeding_seconds': seeding,
                   'database': (urllib.parse.urlsplit(args.database_url).scheme
                                if args.database_url else 'sqlite'),
                   'lists': dict(LISTS), 'results': measured, 'verdicts': verdicts,
                   'upstream': ({'results': upstream_measured, 'comparison': comparison,
                                 'seeding_seconds': upstream_seeding,
                                 'requests': args.upstream_requests,
                                 'budget_seconds': args.upstream_budget,
                                 'versions': targets.upstream_versions(venv),
                                 'config': [s.config for s in upstream_services]}
                                if args.upstream else None),
                   'loadavg_end': os.getloadavg()}, f, indent=1)
    print('wrote', out)


if __name__ == '__main__':
    main()
