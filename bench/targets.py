"""The services under test: install, configure, start, stop.

* ``upstream``: OpenStack Glance from PyPI, in its own virtualenv under the
  cache directory, run the way its documentation describes: the WSGI app
  ``glance.wsgi.api:application`` under uWSGI in HTTP mode (with
  ``http-auto-chunked`` and ``http-chunked-input``), SQLite after
  ``glance-manage db sync``, the file store, no authentication, and ONE worker
  process (with more, upstream fails with "database is locked" on SQLite).
* ``ours``: this project's ``glance-all`` with the same embedded defaults
  (SQLite + file store, noauth) and the same worker count: 1 API worker and
  1 registry worker.
* ``ours-recommended``: ``glance-all`` with no extra configuration, i.e. the
  worker counts we recommend.
* ``upstream-recommended``: upstream with the 4 uWSGI processes of the uWSGI
  file it ships (``httpd/glance-api-uwsgi.ini``: ``processes = 4``, no
  ``threads``, so 1 thread each).
* ``ours-w<N>`` and ``upstream-p<N>``: N workers per daemon (ours, default
  threads) or N uWSGI processes (upstream, 1 thread each), for the scaling run.

On ``--database postgresql`` every target gets a database of its own, made
fresh for the run on the machine's PostgreSQL (``PostgresDatabases``).

Every service is started in its own session, so stopping it stops its whole
process tree and nothing else.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import procmon

UPSTREAM_GLANCE = 'glance==33.0.0'
UPSTREAM_UWSGI = 'uwsgi==2.0.31'
# Upstream's PostgreSQL driver (run.py --database postgresql, list_scale.py).
UPSTREAM_PG_DRIVER = 'psycopg2-binary>=2.9,<3'
HOST = '127.0.0.1'

TARGET_NAMES = ('upstream', 'ours', 'ours-1x1', 'ours-recommended')
# Also accepted (``valid_target``): upstream-recommended, ours-w<N>, upstream-p<N>.
EXTRA_TARGET_PATTERNS = ('upstream-recommended', 'ours-w<N>', 'upstream-p<N>')
# upstream's shipped httpd/glance-api-uwsgi.ini: "processes = 4" and no "threads".
UPSTREAM_RECOMMENDED_PROCESSES = 4


class TargetError(Exception):
    """A service could not be installed or started; ``detail`` is the end of its log."""

    def __init__(self, message, detail=''):
        super().__init__(message)
        self.detail = detail


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _stat_field(pid, index):
    """A field of /proc/PID/stat after the command name (0 = state, 1 = ppid, 2 = pgid)."""
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            stat = f.read()
        return stat[stat.rindex(b')') + 2:].split()[index].decode()
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid):
    state = _stat_field(pid, 0)
    return state is not None and state != 'Z'


def _tail(path, lines=30):
    try:
        with open(path, 'rb') as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode(errors='replace')
    except OSError:
        return ''
    return '\n'.join(text.splitlines()[-lines:])


# ---------------------------------------------------------------- upstream

def upstream_venv(cache):
    return os.path.join(cache, 'upstream-' + UPSTREAM_GLANCE.replace('==', '-'))


def ensure_upstream(cache, log=print):
    """Install upstream Glance and uWSGI into a virtualenv once; reuse it after.

    Returns the virtualenv path. A marker file written after a successful
    install makes the next runs skip pip entirely.
    """
    venv = upstream_venv(cache)
    marker = os.path.join(venv, '.bench-installed')
    wanted = f'{UPSTREAM_GLANCE} {UPSTREAM_UWSGI} {UPSTREAM_PG_DRIVER}\n'
    try:
        with open(marker) as f:
            if f.read() == wanted:
                return venv
    except OSError:
        pass
    log(f'installing {UPSTREAM_GLANCE} and {UPSTREAM_UWSGI} into {venv} '
        '(once; uWSGI compiles, ~2 minutes)')
    if os.path.exists(venv):
        shutil.rmtree(venv)
    os.makedirs(cache, exist_ok=True)
    install_log = os.path.join(cache, 'upstream-install.log')
    with open(install_log, 'w') as out:
        steps = [
            [sys.executable, '-m', 'venv', venv],
            [os.path.join(venv, 'bin', 'python'), '-m', 'pip', 'install',
             '--disable-pip-version-check', '--upgrade', 'pip'],
            [os.path.join(venv, 'bin', 'python'), '-m', 'pip', 'install',
             '--disable-pip-version-check', UPSTREAM_GLANCE, UPSTREAM_UWSGI,
             UPSTREAM_PG_DRIVER],
        ]
        for cmd in steps:
            rc = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, timeout=1800)
            if rc != 0:
                raise TargetError(f'{" ".join(cmd)} failed (rc={rc}); see {install_log}',
                                  _tail(install_log))
    with open(marker, 'w') as f:
        f.write(wanted)
    return venv


def upstream_versions(venv):
    """Versions of the packages that matter, from the virtualenv's pip."""
    out = subprocess.run([os.path.join(venv, 'bin', 'python'), '-m', 'pip', 'list',
                          '--format', 'json', '--disable-pip-version-check'],
                         capture_output=True, text=True, timeout=120)
    try:
        pkgs = {p['name'].lower(): p['version'] for p in json.loads(out.stdout)}
    except ValueError:
        return {}
    keep = ('glance', 'glance-store', 'uwsgi', 'sqlalchemy', 'webob', 'oslo.db',
            'oslo.policy', 'eventlet', 'routes')
    return {k: pkgs[k] for k in keep if k in pkgs}


GLANCE_API_CONF = """\
[DEFAULT]
enabled_backends = fs:file
# The standalone-server worker count; uWSGI's "processes" is what applies here.
workers = 1
use_stderr = true
debug = false

[glance_store]
default_backend = fs

[fs]
filesystem_store_datadir = {data}/images

[os_glance_staging_store]
filesystem_store_datadir = {data}/staging

[os_glance_tasks_store]
filesystem_store_datadir = {data}/tasks

[database]
connection = {database_url}

[paste_deploy]
config_file = {paste_config}
# The empty flavor selects the "glance-api" pipeline: no auth.
flavor = {flavor}

[oslo_policy]
policy_file = {data}/policy.yaml
{extra_conf}"""

# The noauth pipeline builds an is_admin=True context with no roles, but the
# default RBAC rules since Wallaby test "role:admin", so every call is a 403.
# Declaring every caller an admin is what noauth means.
GLANCE_POLICY = '"context_is_admin": "@"\n'

# The uWSGI options of upstream's "Running Glance in HTTPD" guide (uWSGI
# server HTTP mode); one process unless the target asks for more.
UWSGI_INI = """\
[uwsgi]
{socket_option} = {host}:{port}
module = glance.wsgi.api:application
virtualenv = {venv}
master = true
processes = {processes}
enable-threads = true
lazy-apps = true
thunder-lock = true
socket-timeout = 10
http-auto-chunked = true
http-chunked-input = true
http-raw-body = true
buffer-size = 65535
add-header = Connection: close
die-on-term = true
exit-on-reload = false
need-app = true
# Names the processes (master, worker, http router) for the RSS report only.
auto-procname = true
"""


class Service:
    """A started service: its port, its process (the root of its tree), its log."""

    name = None

    def __init__(self, name, run_dir):
        self.name = name
        self.data = os.path.join(run_dir, name)
        self.log_path = os.path.join(run_dir, f'{name}.log')
        self.port = None
        self.proc = None
        self.config = {}

    @property
    def pid(self):
        return self.proc.pid

    def _spawn(self, cmd, env=None):
        self._log = open(self.log_path, 'ab')
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True, cwd=self.data)

    def wait_ready(self, timeout=120):
        """Poll GET /v2/images until it answers 200; fail if the process dies."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TargetError(f'{self.name} exited with {self.proc.returncode} during '
                                  f'start-up; see {self.log_path}', _tail(self.log_path))
            conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
            try:
                conn.request('GET', '/v2/images?limit=1')
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    return
                last = f'HTTP {resp.status}'
            except OSError as exc:
                last = str(exc)
            finally:
                conn.close()
            time.sleep(0.25)
        raise TargetError(f'{self.name} not ready after {timeout}s ({last}); '
                          f'see {self.log_path}', _tail(self.log_path))

    def stop(self, timeout=20):
        """SIGTERM the service's process group and tree; SIGKILL what is left after ``timeout``.

        Only this service's own processes are signalled: its session (started
        with ``start_new_session``) and any descendant that left it.
        """
        if self.proc is None:
            return
        try:
            pids = self._own_processes()
            self._signal(pids, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while pids and time.monotonic() < deadline:
                time.sleep(0.1)
                self.proc.poll()
                pids = [pid for pid in pids if _alive(pid)]
            if pids:
                self._signal(pids, signal.SIGKILL)
            self.proc.wait(timeout=10)
        finally:
            self._close_log()

    def _own_processes(self):
        members = set(procmon.process_tree(self.proc.pid))
        for name in os.listdir('/proc'):
            if name.isdigit() and _stat_field(int(name), 2) == str(self.proc.pid):
                members.add(int(name))
        return sorted(pid for pid in members if _alive(pid))

    def _signal(self, pids, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def _close_log(self):
        log = getattr(self, '_log', None)
        if log is not None:
            log.close()
            self._log = None


class UpstreamService(Service):
    """Upstream Glance under uWSGI, configured as its documentation says."""

    def __init__(self, run_dir, venv, socket_option='http', name='upstream', flavor='',
                 extra_conf='', paste_ini=None, processes=1, database=None,
                 after_sync=None):
        super().__init__(name, run_dir)
        # Called with the service after ``glance-manage db sync``, before uWSGI starts
        # (list_scale.py loads its catalogue there).
        self.after_sync = after_sync
        self.venv = venv
        self.processes = processes
        # (label, SQLAlchemy URL) of a server database; None is SQLite in the data dir.
        self.database = database
        self.socket_option = socket_option
        self.flavor = flavor          # [paste_deploy] flavor: '' is no auth, no cache
        self.extra_conf = extra_conf  # glance-api.conf text appended (whole sections)
        self.paste_ini = paste_ini    # a glance-api-paste.ini of its own, else upstream's

    def start(self):
        os.makedirs(self.data)
        for sub in ('images', 'staging', 'tasks'):
            os.makedirs(os.path.join(self.data, sub))
        self.port = free_port()
        fmt = {'data': self.data, 'venv': self.venv, 'host': HOST, 'port': self.port,
               'socket_option': self.socket_option, 'flavor': self.flavor,
               'processes': self.processes,
               'database_url': (self.database[1] if self.database
                                else f'sqlite:///{self.data}/glance.sqlite'),
               'paste_config': os.path.join(self.venv, 'etc', 'glance', 'glance-api-paste.ini')}
        if self.paste_ini is not None:
            fmt['paste_config'] = os.path.join(self.data, 'glance-api-paste.ini')
            with open(fmt['paste_config'], 'w') as f:
                f.write(self.paste_ini)
        # Formatted too: it may name {data} or {port}.
        fmt['extra_conf'] = self.extra_conf.format(**fmt)
        files = {'glance-api.conf': GLANCE_API_CONF, 'policy.yaml': GLANCE_POLICY,
                 'uwsgi.ini': UWSGI_INI}
        for fname, template in files.items():
            with open(os.path.join(self.data, fname), 'w') as f:
                f.write(template.format(**fmt))
        env = dict(os.environ, OS_GLANCE_CONFIG_DIR=self.data,
                   PATH=os.path.join(self.venv, 'bin') + os.pathsep + os.environ.get('PATH', ''))
        env.pop('PYTHONPATH', None)
        with open(self.log_path, 'ab') as log:
            rc = subprocess.call([os.path.join(self.venv, 'bin', 'glance-manage'),
                                  '--config-file', os.path.join(self.data, 'glance-api.conf'),
                                  'db', 'sync'], stdout=log, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=env, cwd=self.data, timeout=300)
        if rc != 0:
            raise TargetError(f'glance-manage db sync failed (rc={rc}); see {self.log_path}',
                              _tail(self.log_path))
        if self.after_sync is not None:
            self.after_sync(self)
        self._spawn([os.path.join(self.venv, 'bin', 'uwsgi'), '--ini',
                     os.path.join(self.data, 'uwsgi.ini')], env=env)
        plural = 'es' if self.processes > 1 else ''
        self.config = {'server': f'uWSGI ({self.socket_option} mode), {self.processes} '
                                 f'process{plural}, 1 thread each',
                       'shape': f'{self.processes} process{plural} x 1 thread'
                                + (' (+ the uWSGI HTTP router process)'
                                   if self.socket_option == 'http' else ''),
                       'processes': self.processes, 'threads': 1,
                       'database': self.database[0] if self.database else 'SQLite',
                       'store': 'file', 'auth': 'noauth',
                       'uwsgi_ini': UWSGI_INI.format(**fmt)}
        if self.flavor or self.extra_conf:
            self.config.update(flavor=self.flavor, extra_conf=fmt['extra_conf'])
        self.wait_ready()

    @property
    def sqlite_path(self):
        """Upstream's SQLite file, when it runs on SQLite."""
        return None if self.database else os.path.join(self.data, 'glance.sqlite')

    def seed_directly(self, bodies):
        """Seed images without the API (see ``seed_upstream_rows``)."""
        if self.database:
            import psycopg2  # noqa: the project's PostgreSQL driver; --database postgresql only
            conn = psycopg2.connect(self.database[1].replace('postgresql+psycopg2://',
                                                             'postgresql://'))
            return seed_upstream_rows(conn, bodies, placeholder='%s')
        import sqlite3
        conn = sqlite3.connect(os.path.join(self.data, 'glance.sqlite'), timeout=60)
        return seed_upstream_rows(conn, bodies)


def seed_upstream_sqlite(database, bodies, spacing=0.01):
    """``seed_upstream_rows`` into the SQLite file ``database``."""
    import sqlite3
    return seed_upstream_rows(sqlite3.connect(database, timeout=60), bodies, spacing=spacing)


def seed_upstream_rows(conn, bodies, spacing=0.01, placeholder='?'):
    """Insert images straight into upstream's database, as its API would have stored them.

    ``bodies`` are (index, create-request body) pairs; ``conn`` a DB-API
    connection (SQLite, or psycopg2 with ``placeholder='%s'``), closed here.
    Upstream is pinned, so its schema is known; seeding 5,000 images through
    its one single-threaded worker would take minutes, this takes a second.
    Everything seeded is then read back through the API by the list
    workloads, which check every id.
    Returns [(id, name, created_at as the API shows it, index)].
    """
    import datetime
    import uuid
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    base = now - datetime.timedelta(seconds=spacing * len(bodies) + 5)
    images, props, tags, seeded = [], [], [], []
    for n, (index, body) in enumerate(bodies):
        image_id = str(uuid.uuid4())
        created = base + datetime.timedelta(seconds=spacing * n)
        stamp = created.strftime('%Y-%m-%d %H:%M:%S.%f')
        images.append((image_id, body['name'], 'queued', stamp, stamp, body['disk_format'],
                       body['container_format']))
        for key, value in body.items():
            if key not in ('name', 'disk_format', 'container_format', 'tags'):
                props.append((image_id, key, value, stamp, stamp))
        for tag in body['tags']:
            tags.append((image_id, tag, stamp, stamp))
        seeded.append((image_id, body['name'], created.strftime('%Y-%m-%dT%H:%M:%SZ'), index))
    # Booleans as parameters: SQLite stores them as 0/1, PostgreSQL's columns are boolean.
    images = [row[:5] + (False,) + row[5:] + (False, False) for row in images]
    props = [row + (False,) for row in props]
    tags = [row + (False,) for row in tags]

    def sql(text):
        return text.replace('?', placeholder)

    try:
        cursor = conn.cursor()
        cursor.executemany(sql(
            'INSERT INTO images (id, name, size, status, created_at, updated_at, deleted,'
            ' disk_format, container_format, min_disk, min_ram, protected, visibility,'
            ' os_hidden) VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, 0, 0, ?, \'shared\', ?)'),
            images)
        cursor.executemany(sql(
            'INSERT INTO image_properties (image_id, name, value, created_at, updated_at,'
            ' deleted) VALUES (?, ?, ?, ?, ?, ?)'), props)
        cursor.executemany(sql(
            'INSERT INTO image_tags (image_id, value, created_at, updated_at, deleted)'
            ' VALUES (?, ?, ?, ?, ?)'), tags)
        conn.commit()
    finally:
        conn.close()
    return seeded


def find_glance_all(explicit=None):
    """This project's ``glance-all``: --glance-all, else beside this Python, else PATH."""
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise TargetError(f'--glance-all {explicit} is not an executable')
        return explicit
    beside = os.path.join(os.path.dirname(sys.executable), 'glance-all')
    if os.access(beside, os.X_OK):
        return beside
    found = shutil.which('glance-all')
    if found:
        return found
    raise TargetError('glance-all not found beside this Python nor on PATH; install the '
                      'project (pip install -e .) or pass --glance-all PATH')


class OursService(Service):
    """This project's all-in-one launcher: registry daemon plus API."""

    def __init__(self, name, run_dir, glance_all, workers=None, threads=None,
                 extra_conf='', database=None):
        super().__init__(name, run_dir)
        self.glance_all = glance_all
        self.workers = workers
        self.threads = threads
        self.extra_conf = extra_conf  # config text after [DEFAULT] workers; may name {data}
        # (label, URL) of a server database; None is glance-all's SQLite in its data dir.
        self.database = database

    def start(self):
        os.makedirs(self.data)
        self.port = free_port()
        registry_port = free_port()
        cmd = [self.glance_all, '--data-dir', os.path.join(self.data, 'data'),
               '--host', HOST, '--port', str(self.port), '--registry-port', str(registry_port)]
        extra = None
        if self.workers is not None or self.extra_conf or self.database:
            extra = ''
            if self.workers is not None:
                extra = f'[DEFAULT]\nworkers = {self.workers}\n'
                if self.threads is not None:
                    extra += f'threads = {self.threads}\n'
            extra += self.extra_conf.format(data=self.data)
            if self.database:
                extra += f'\n[database]\nconnection = {self.database[1]}\n'
            path = os.path.join(self.data, 'extra.conf')
            with open(path, 'w') as f:
                f.write(extra)
            cmd += ['--config-file', path]
        self._spawn(cmd)
        self.config = {'command': ' '.join(cmd), 'extra_conf': extra,
                       'workers': self.workers if self.workers is not None else 'default',
                       'shape': self.shape(), **self.counts(),
                       'database': self.database[0] if self.database else 'SQLite',
                       'store': 'file', 'auth': 'noauth'}
        self.wait_ready()

    def counts(self):
        """Processes and threads of each daemon, as this configuration runs them."""
        # glance-all's defaults (glance_api/opts.py, glance_registry/opts.py).
        workers = self.workers or max(2, min(os.cpu_count() or 1, 8))
        return {'processes': workers, 'api_threads': self.threads or 16,
                'registry_threads': self.threads or 8}

    def shape(self):
        """Processes x threads of each daemon, as text."""
        c = self.counts()
        workers, api, registry = c['processes'], c['api_threads'], c['registry_threads']
        return (f'API {workers} process{"es" if workers > 1 else ""} x {api} '
                f'thread{"s" if api > 1 else ""}, registry {workers} x {registry}')


def valid_target(name):
    """Whether ``make_service`` knows ``name``."""
    return (name in TARGET_NAMES or name == 'upstream-recommended'
            or _numbered(name, 'ours-w') is not None
            or _numbered(name, 'upstream-p') is not None)


def is_upstream(name):
    return name == 'upstream' or name.startswith('upstream-')


def _numbered(name, prefix):
    rest = name[len(prefix):] if name.startswith(prefix) else ''
    return int(rest) if rest.isdigit() and 1 <= int(rest) <= 16 else None


def make_service(name, run_dir, *, upstream_venv=None, glance_all=None, socket_option='http',
                 databases=None):
    """The service named ``name``; ``databases`` (a ``PostgresDatabases``) gives it a
    fresh server database, else it runs on SQLite."""
    if is_upstream(name):
        processes = (1 if name == 'upstream' else UPSTREAM_RECOMMENDED_PROCESSES
                     if name == 'upstream-recommended' else _numbered(name, 'upstream-p'))
        if processes is None:
            raise ValueError(name)
        database = databases.create(name, driver='postgresql+psycopg2') if databases else None
        return UpstreamService(run_dir, upstream_venv, socket_option, name=name,
                               processes=processes, database=database)
    database = databases.create(name) if databases else None
    if name == 'ours':
        return OursService(name, run_dir, glance_all, workers=1, database=database)
    if name == 'ours-1x1':
        return OursService(name, run_dir, glance_all, workers=1, threads=1, database=database)
    if name == 'ours-recommended':
        return OursService(name, run_dir, glance_all, workers=None, database=database)
    workers = _numbered(name, 'ours-w')
    if workers is not None:
        return OursService(name, run_dir, glance_all, workers=workers, database=database)
    raise ValueError(name)


# ---------------------------------------------------------------- PostgreSQL

DEFAULT_POSTGRESQL_URL = 'postgresql://postgres@127.0.0.1:5432/postgres'


class PostgresDatabases:
    """Fresh databases on a PostgreSQL server, one per target and run, dropped at the end.

    ``admin_url`` names a database to connect to for ``CREATE DATABASE`` (as the
    tests' fixtures do, ``tests/fixtures/databases.py``). Needs psycopg2, which
    this project needs on PostgreSQL anyway; upstream's virtualenv gets
    ``psycopg2-binary`` (``ensure_upstream_driver``).
    """

    label = 'PostgreSQL'

    def __init__(self, admin_url, stamp):
        import urllib.parse
        self.admin_url = admin_url
        self.parsed = urllib.parse.urlsplit(admin_url)
        self.prefix = 'bench_' + stamp.lower()
        self.created = []

    def _connect(self, dbname=None):
        import psycopg2
        p = self.parsed
        conn = psycopg2.connect(dbname=dbname or p.path.lstrip('/') or 'postgres',
                                host=p.hostname or '127.0.0.1', port=p.port or 5432,
                                user=p.username, password=p.password, connect_timeout=5)
        conn.autocommit = True
        return conn

    def server_version(self):
        conn = self._connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute('SHOW server_version')
                return cursor.fetchone()[0]
        finally:
            conn.close()

    def create(self, target, driver='postgresql'):
        """(label, URL with ``driver`` as its scheme) of a new, empty database."""
        name = f'{self.prefix}_{target.replace("-", "_")}'
        conn = self._connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS {name}')
                cursor.execute(f'CREATE DATABASE {name}')
        finally:
            conn.close()
        self.created.append(name)
        return self.label, self.parsed._replace(scheme=driver, path='/' + name).geturl()

    def analyze_all(self):
        """ANALYZE every database made so far: what autovacuum does in production
        after a catalogue is loaded (this machine's server runs with it off)."""
        for name in self.created:
            conn = self._connect(name)
            try:
                with conn.cursor() as cursor:
                    cursor.execute('ANALYZE')
            finally:
                conn.close()

    def autovacuum(self):
        """The server's ``autovacuum`` setting ('on' or 'off')."""
        conn = self._connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute('SHOW autovacuum')
                return cursor.fetchone()[0]
        finally:
            conn.close()

    def drop_all(self):
        for name in reversed(self.created):
            try:
                conn = self._connect()
                with conn.cursor() as cursor:
                    cursor.execute(f'DROP DATABASE IF EXISTS {name} WITH (FORCE)')
                conn.close()
            except Exception as exc:  # noqa: BLE001 -- the name is unique; left behind
                print(f'could not drop database {name}: {exc}')
        self.created = []


def ensure_upstream_driver(venv, log=print):
    """psycopg2 in upstream's virtualenv (once), for its SQLAlchemy on PostgreSQL."""
    python = os.path.join(venv, 'bin', 'python')
    if subprocess.call([python, '-c', 'import psycopg2'], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL) == 0:
        return
    log(f'installing psycopg2-binary into {venv} (once)')
    out = subprocess.run([python, '-m', 'pip', 'install', '--disable-pip-version-check',
                          'psycopg2-binary'], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise TargetError('pip install psycopg2-binary into upstream\'s virtualenv failed',
                          (out.stdout + out.stderr)[-3000:])
