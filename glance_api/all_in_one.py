"""``glance-all``: the registry and the API together, on the embedded default.

    glance-all [--data-dir ./data] [--host 127.0.0.1] [--port 9292]
               [--registry-port 9191] [--cert-file PEM --key-file KEY [--ca-file CA]]
               [--config-file FILE ...]

Everything lives under the data directory: the SQLite database (created or upgraded
on start), the file store's images, the registry's shared secret and the generated
config of both daemons. ``--config-file`` files come after the generated ones, so
they override anything but what glance-all's own flags decide: where each daemon
listens and how the API reaches the registry (``bind_host``, ``bind_port``,
``registry_host``, ``registry_port``, ``registry_auth_secret``), since one file read
by both daemons cannot give each its own port. Ctrl-C or SIGTERM stops both daemons
cleanly.
"""

import argparse
import ctypes
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import warnings

import requests
from urllib3.exceptions import InsecureRequestWarning

from glance_api import signal_stop
from glance_registry import process

LOG = logging.getLogger('glance-all')


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog='glance-all', description='Run the image registry and API on one machine '
                                       '(SQLite + file store, no authentication).')
    parser.add_argument('--data-dir', default='./data',
                        help='Where the database and image data live (default ./data).')
    parser.add_argument('--host', default='127.0.0.1',
                        help='Address the API listens on (default 127.0.0.1).')
    parser.add_argument('--port', type=int, default=9292,
                        help='API port (default 9292).')
    parser.add_argument('--registry-port', type=int, default=9191,
                        help='Registry port, on 127.0.0.1 (default 9191).')
    parser.add_argument('--cert-file',
                        help='Serve the API over HTTPS with this certificate (PEM); '
                             'the API\'s cert_file.')
    parser.add_argument('--key-file', help='The private key of --cert-file.')
    parser.add_argument('--ca-file',
                        help='Require API clients to present a certificate this CA '
                             'signed; the API\'s ca_file.')
    parser.add_argument('--config-file', action='append', default=[],
                        help='Extra config file read by both daemons after the '
                             'generated one; repeatable. Where the daemons listen '
                             'and reach each other is always these flags\' '
                             '(bind_port and registry_port in it are not used).')
    parser.add_argument('--version', action='version', version=process.version())
    args = parser.parse_args(argv)
    # Checked before anything is created or started: the API would refuse them only
    # once the database is migrated and the registry runs.
    if bool(args.cert_file) != bool(args.key_file):
        parser.error('--cert-file and --key-file go together: give both (the '
                     'certificate and its private key) or neither; %s is missing'
                     % ('--key-file' if args.cert_file else '--cert-file'))
    if args.ca_file and not args.cert_file:
        parser.error('--ca-file needs --cert-file and --key-file (client '
                     'certificates are checked over HTTPS only)')
    return args


# What glance-all keeps under --data-dir is readable by its owner only: the configs
# and registry.secret hold the registry's secret, the database and images the data.
_PRIVATE_FILE = 0o600
_PRIVATE_DIR = 0o700
# The database and the files SQLite keeps beside it in WAL mode.
_DATABASE_FILES = ('glance.sqlite', 'glance.sqlite-wal', 'glance.sqlite-shm')


def _open_private(path, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    """``path`` opened for writing, mode 0600 even if it existed with another."""
    fd = os.open(path, flags | os.O_CLOEXEC, _PRIVATE_FILE)
    os.fchmod(fd, _PRIVATE_FILE)
    return os.fdopen(fd, 'w')


def _make_private_dirs(data_dir, images_dir):
    """Create the data and image directories 0700 (those that exist keep their
    mode, but the files glance-all keeps in them are made 0600)."""
    for path in (data_dir, images_dir):
        try:
            os.mkdir(path, _PRIVATE_DIR)
        except FileExistsError:
            continue
        os.chmod(path, _PRIVATE_DIR)   # mkdir's mode passes through the umask
    for name in _DATABASE_FILES + ('registry.secret',):
        try:
            os.chmod(os.path.join(data_dir, name), _PRIVATE_FILE)
        except FileNotFoundError:
            pass


def _secret(data_dir):
    path = os.path.join(data_dir, 'registry.secret')
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        value = secrets.token_hex(32)
        with _open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL) as f:
            f.write(value)
        return value


def _write_config(path, sections, note='override with --config-file'):
    with _open_private(path) as f:
        f.write('# Generated by glance-all on every start; %s.\n' % note)
        for section, values in sections.items():
            f.write('[%s]\n' % section)
            for key, value in values.items():
                f.write('%s = %s\n' % (key, value))
            f.write('\n')


def main(argv=None):
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format=process.LOG_FORMAT)
    # Before anything is written to the data directory: a start that cannot
    # listen leaves a new one uncreated. (Else the readiness check could also be
    # answered by whatever holds the port.)
    taken = False
    for host, port, flag in (('127.0.0.1', args.registry_port, '--registry-port'),
                             (args.host, args.port, '--port')):
        problem = process.bind_problem(host, port)
        if problem:
            LOG.error('port %d already in use on %s (%s); choose another with %s; '
                      'not starting', port, host, problem, flag)
            taken = True
    if taken:
        return 1
    data_dir = os.path.abspath(args.data_dir)
    images_dir = os.path.join(data_dir, 'images')
    os.makedirs(os.path.dirname(data_dir), exist_ok=True)
    # Inherited by both daemons: SQLite's files and the file store's images are
    # created 0600 (directories 0700) whatever the caller's umask.
    os.umask(0o077)
    _make_private_dirs(data_dir, images_dir)
    database = 'sqlite:///' + os.path.join(data_dir, 'glance.sqlite')
    secret = _secret(data_dir)
    # How the API reaches the registry: in the files read first too, so that a
    # command given one of them (glance-cache-prefetcher --config-file
    # data/glance-api.generated.conf ...) reaches this registry.
    link = {'registry_host': '127.0.0.1', 'registry_port': args.registry_port,
            'registry_auth_secret': secret}
    # Read before the operator's files: defaults they may override. Both daemons
    # know where imports stage data (the registry admits it as a location) and the
    # store (the registry admits only its locations).
    defaults = {'DEFAULT': dict(link, node_staging_uri='file://' + os.path.join(
                    data_dir, 'staging')),
                'glance_store': {'default_store': 'file',
                                 'filesystem_store_datadir': images_dir}}
    registry_conf = os.path.join(data_dir, 'glance-registry.generated.conf')
    api_conf = os.path.join(data_dir, 'glance-api.generated.conf')
    _write_config(registry_conf, dict(defaults, database={'connection': database}))
    _write_config(api_conf, defaults)
    # Read after them: what the flags decide. A bind_port in a file both daemons
    # read would put the registry on the API's port.
    registry_flags = os.path.join(data_dir, 'glance-registry.flags.conf')
    api_flags = os.path.join(data_dir, 'glance-api.flags.conf')
    flags_note = 'its flags decide these, after every --config-file'
    _write_config(registry_flags, {'DEFAULT': dict(
        link, bind_host='127.0.0.1', bind_port=args.registry_port)}, flags_note)
    # TLS on the API only: the registry listens on loopback, on this host.
    api_tls = {name: os.path.abspath(value) for name, value in (
        ('cert_file', args.cert_file), ('key_file', args.key_file),
        ('ca_file', args.ca_file)) if value}
    scheme = 'https' if api_tls else 'http'
    _write_config(api_flags, {'DEFAULT': dict(link, bind_host=args.host,
                                              bind_port=args.port, **api_tls)},
                  flags_note)
    extra = [arg for path in args.config_file
             for arg in ('--config-file', os.path.abspath(path))]
    registry_files = ['--config-file', registry_conf] + extra + [
        '--config-file', registry_flags]
    api_files = ['--config-file', api_conf] + extra + ['--config-file', api_flags]
    python = sys.executable

    # Neither the database nor the image data: an operator's --config-file may
    # name others, so "db sync" says which database it migrates and glance-api
    # where each store is, as each reads its options (no password).
    sync = subprocess.run([python, '-m', 'glance_registry.manage'] + registry_files
                          + ['db', 'sync'])
    if sync.returncode:
        # Not always the migration: whatever stopped the command (a log_dir
        # that does not exist, a database that cannot be reached) is on the
        # line it printed just before.
        LOG.error('glance-manage db sync failed (the line above says why); '
                  'not starting')
        return sync.returncode

    daemons = _Daemons()
    signal.signal(signal.SIGTERM, daemons.stop_requested.set)
    signal.signal(signal.SIGINT, daemons.stop_requested.set)
    signal.signal(signal.SIGHUP, daemons.reload)
    try:
        registry = daemons.start([python, '-m', 'glance_registry.cmd'] + registry_files)
        if not _wait_healthy('http://127.0.0.1:%d/healthcheck' % args.registry_port,
                             registry, daemons.stop_requested):
            if not daemons.stop_requested.is_set():
                LOG.error('the registry did not start; stopping')
            return 1
        api = daemons.start([python, '-m', 'glance_api.cmd'] + api_files)
        host = '[%s]' % args.host if ':' in args.host else args.host
        if _wait_healthy('%s://%s:%d/versions'
                         % (scheme,
                            '127.0.0.1' if args.host in ('0.0.0.0', '::') else host,
                            args.port), api, daemons.stop_requested):
            LOG.info('ready: Images API v2 at %s://%s:%d/ (registry on '
                     '127.0.0.1:%d); Ctrl-C stops', scheme, host, args.port,
                     args.registry_port)
        # Run until either daemon exits or a signal asks both to stop.
        while daemons.running():
            daemons.stop_requested.wait(_TICK)
        if not daemons.stop_requested.is_set():
            for name, child in zip(('registry', 'API'), daemons.children):
                if child.poll() is not None:
                    LOG.error('the %s exited (code %s); stopping', name,
                              child.returncode)
    finally:
        daemons.stop()   # waits for each child
    failed = [c.returncode for c in daemons.children if c.returncode not in (0, -15)]
    return 1 if failed else 0


#: Seconds between glance-all's looks at its daemons (a stop asked for wakes it).
_TICK = 0.5


class _Daemons:
    """The daemons glance-all started, and how they stop.

    SIGTERM and SIGINT (Ctrl-C) only set ``stop_requested``; glance-all's main
    loop does the stopping. A handler that waited for a daemon itself could
    interrupt the main loop inside that daemon's ``poll()``, which holds the lock
    ``wait()`` needs: the wait then spun for its whole timeout, and glance-all
    took 40 s to stop a registry that had exited at once.
    """

    def __init__(self):
        self.children = []
        self.stop_requested = signal_stop.SignalStop()

    def start(self, argv):
        child = _start_daemon(argv)
        self.children.append(child)
        return child

    def reload(self, *_):
        """SIGHUP: the daemons' "read your config again" (upstream's reload).
        Passed on, it does not stop glance-all (its default action would, with
        the registry and the API stopped at once rather than in turn). Sending a
        signal never waits, so it is done here."""
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGHUP)

    def running(self):
        return not self.stop_requested.is_set() and all(
            child.poll() is None for child in self.children)

    def stop(self):
        """Stop the API first, and the registry only once it is gone: requests the
        API is still finishing (an upload's last status change) need the
        registry."""
        for child in reversed(self.children):
            if child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()


def _start_daemon(argv):
    """Start a daemon in a process group (a session) of its own.

    A terminal's Ctrl-C signals its whole foreground process group: had the daemons
    been in glance-all's, the registry would stop at once (and gunicorn stops at
    once on SIGINT), failing the uploads the API was finishing. Only glance-all
    gets it; its ``stop`` then stops the API gracefully (SIGTERM), and the
    registry once the API is gone.
    """
    return subprocess.Popen(argv, start_new_session=True,
                            preexec_fn=_stop_with_parent)


def _stop_with_parent():
    # In the child, before exec: SIGTERM when glance-all dies, however it dies
    # (even SIGKILL), since Ctrl-C no longer reaches the daemons themselves.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass   # not Linux: the daemons outlive a killed glance-all


_PR_SET_PDEATHSIG = 1


def _wait_healthy(url, process, stop, timeout=60):
    """Whether ``url`` answers before ``process`` exits, ``stop`` is asked for or
    ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None or stop.is_set():
            return False
        try:
            # Only whether it answers: its certificate is the operator's to check.
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', InsecureRequestWarning)
                if requests.get(url, timeout=2, verify=False).status_code < 500:
                    return True
        except requests.exceptions.SSLError:
            # A client certificate is required (ca_file): TLS itself is up.
            return True
        except requests.RequestException:
            pass
        stop.wait(0.2)
    return False


if __name__ == '__main__':
    sys.exit(main())
