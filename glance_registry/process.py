"""Process plumbing shared by the registry and the API: config loading, logging and
serving.

Both daemons are WSGI applications served by gunicorn. ``serve`` runs a gunicorn
arbiter in this process; each worker builds its own application by calling the factory
after the fork, so no connection or pool is ever shared between processes.

Every command's ``main(argv=None)`` returns its exit status (``run`` does the common
part), and ``if __name__ == '__main__': sys.exit(main())`` runs it: 0 after a clean
stop, ``EXIT_REFUSED`` (2) when it would not start, with one line saying why.

Logging is oslo.log's, with upstream's options (``debug``, ``log_file``, ``log_dir``,
``use_syslog``, ``use_json``, ``log_config_append``, ``default_log_levels``,
``logging_context_format_string``...), for every command. While a daemon serves a
request, ``bind_request`` puts the request id and the caller's user and project in
oslo.context's thread-local store, where oslo.log's formatter finds them for every
line; gunicorn's own lines go through the same handlers, and each request ends with
one access line at INFO (``glance.access``: client, method, path, status, bytes,
duration, request id).

Part of the contract half: it imports nothing of the registry daemon.
"""

from importlib import metadata
import ipaddress
import logging
import multiprocessing
import os
import re
import resource
import signal
import socket
import ssl
import sys
import syslog

from gunicorn import arbiter as gunicorn_arbiter
from gunicorn import glogging
from gunicorn.app import base as gunicorn_base
from oslo_config import cfg
from oslo_context import context as oslo_context
from oslo_log import _options as oslo_log_options
from oslo_log import handlers as oslo_handlers
from oslo_log import log as oslo_log

from glance_registry import metrics
from glance_registry import request_ids

from glance_registry import header_gate

#: Every line a daemon logs, gunicorn's included: the logger's name says which
#: daemon (and which part of it) speaks.
LOG = logging.getLogger(__name__)

LOG_FORMAT = '%(asctime)s %(process)d %(levelname)s %(name)s %(message)s'

#: The exit status of a daemon that refused to start (bad configuration, unusable
#: database or store).
EXIT_REFUSED = 2


class Refused(Exception):
    """The daemon cannot start; the message says why, in one line."""


#: Connections one worker process holds at most.
WORKER_CONNECTIONS = 4096

#: gunicorn's longest request line (its ``limit_request_line`` cannot be more).
MAX_REQUEST_LINE = 8190


def server_opts(default_host, default_port, default_threads):
    """The ``[DEFAULT]`` options every daemon reads to decide where and how to serve.

    Call it when registering options, not at import: the default number of workers
    counts the cores.
    """
    return [
        cfg.HostAddressOpt('bind_host', default=default_host,
                           help='Address to listen on.'),
        cfg.PortOpt('bind_port', default=default_port, help='Port to listen on.'),
        cfg.IntOpt('workers', default=default_workers(), min=1,
                   sample_default='<number of cores, at least 2, at most 8>',
                   help='Worker processes. Each runs `threads` request threads.'),
        cfg.IntOpt('threads', default=default_threads, min=1,
                   help='Request threads per worker process.'),
        cfg.IntOpt('client_socket_timeout', default=900, min=1,
                   help='Timeout for client connections\' socket operations: once '
                        'a request thread has a request, a client that sends or '
                        'reads nothing for this many seconds is dropped and the '
                        'thread freed.'),
        cfg.IntOpt('client_header_timeout', default=20, min=1,
                   help='Seconds a client has to send a whole request head (of '
                        'its first byte; of the connection, for a new one); then '
                        'it gets 408 and the connection is closed. Heads are read '
                        'off the request threads, so slow clients never hold '
                        'one (docs/performance.rst).'),
        cfg.IntOpt('keepalive_timeout', default=75, min=0,
                   help='Seconds an idle keep-alive connection stays open.'),
        cfg.FloatOpt('keepalive_linger', default=0.005, min=0, max=10,
                     help='Seconds a request thread waits on its kept-alive '
                          'connection for the next request before handing the '
                          'connection back to the worker\'s event loop; it gives '
                          'it back at once when another connection needs a '
                          'thread. Serving a prompt next request on the same '
                          'thread saves the CPU of that hand-off; 0 always hands '
                          'back (docs/performance.rst).'),
        cfg.IntOpt('max_header_line', default=16384, min=1024,
                   help='Maximum line size of message headers to be accepted. '
                        'max_header_line may need to be increased when using large '
                        'tokens (typically those generated when keystone is '
                        'configured to use PKI tokens with big service catalogs). '
                        'The request line (method, path and query) is limited to '
                        'the smaller of this and 8190 bytes (gunicorn\'s most).'),
        cfg.StrOpt('cert_file',
                   help='Certificate file to use when starting the server securely '
                        '(PEM; the chain after the certificate). With key_file, '
                        'the server speaks only HTTPS.'),
        cfg.StrOpt('key_file',
                   help='Private key file to use when starting the server '
                        'securely.'),
        cfg.StrOpt('ca_file',
                   help='CA certificate file to use to verify connecting clients: '
                        'when set, every client must present a certificate it '
                        'signed (TLS client authentication).'),
        cfg.StrOpt('log_level', default='INFO', ignore_case=True, mutable=True,
                   choices=['DEBUG', 'INFO', 'WARNING', 'ERROR'],
                   help='Log level of the daemon\'s own messages (any case); '
                        '`debug = true` means DEBUG whatever this says.'),
    ]


def default_workers():
    """One worker process per core, at least two, at most eight."""
    return max(2, min(multiprocessing.cpu_count(), 8))


def run(argv, register, description, start, log, default_config_files=None,
        command=False, prog=None):
    """What every daemon command's ``main`` does: load the configuration (options
    registered by ``register(conf)``, ``argv`` parsed; default ``sys.argv[1:]``;
    ``default_config_files`` read when it names none), set up logging (``command``
    and ``prog``, the command's name: see ``setup_logging``), then return
    ``start(conf)``, the exit status.

    A bad config file or option value returns ``EXIT_REFUSED`` with one line on
    stderr (there is no log yet), and so does a log that cannot be set up; so does
    ``Refused`` from ``start``, with the line in ``log`` too.
    """
    # oslo.config warns of deprecated options while every value is read, before
    # there is a log: the warnings are held, and logged where the log goes.
    with _ConfigWarnings() as warnings:
        try:
            conf = load_config(sys.argv[1:] if argv is None else argv, register,
                               description, default_config_files=default_config_files)
        except Refused as exc:
            conf = None
            refusal = str(exc)
    if conf is None:
        warnings.write(sys.stderr)
        sys.stderr.write('%s\n' % refusal)
        return EXIT_REFUSED
    try:
        setup_logging(conf, command=command, prog=prog)
    except (OSError, RuntimeError, TypeError, oslo_log.LogConfigError) as exc:
        # A log_file that cannot be opened, use_journal without systemd's bindings,
        # an unknown syslog_log_facility, a log_config_append that cannot be read.
        warnings.write(sys.stderr)
        sys.stderr.write('logging configuration error: %s\n' % exc)
        return EXIT_REFUSED
    warnings.log()
    try:
        return start(conf)
    except Refused as exc:
        refusal = str(exc)
    # Logged outside the except block: oslo.log appends the exception being handled
    # to a line logged inside one, which would repeat the reason.
    log.error('%s', refusal)
    if not conf.use_stderr and not command:   # a command's errors reach stderr
        # The log is a file (or syslog): whoever started the daemon, a terminal
        # or a service manager, must see why it stopped.
        sys.stderr.write('%s\n' % refusal)
    return EXIT_REFUSED


class _ConfigWarnings(logging.Handler):
    """Holds what oslo.config logs (deprecated options) until there is a log."""

    _LOGGER = 'oslo_config'

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)

    def __enter__(self):
        logger = logging.getLogger(self._LOGGER)
        self._propagate = logger.propagate
        logger.propagate = False
        logger.addHandler(self)
        return self

    def __exit__(self, *exc_info):
        logger = logging.getLogger(self._LOGGER)
        logger.removeHandler(self)
        logger.propagate = self._propagate

    def log(self):
        for record in self.records:
            logging.getLogger(record.name).handle(record)

    def write(self, stream):
        for record in self.records:
            stream.write('%s\n' % record.getMessage())


# Values that samples and examples show in place of a secret (compared without case,
# blanks, dashes and underscores): a daemon started with one shares its secret with
# everyone who read the same sample.
_PLACEHOLDER_SECRETS = frozenset([
    'changeme', 'changeit', 'replaceme', 'secret', 'sharedsecret', 'password',
    'placeholder', 'example', 'none', 'null', 'todo', 'xxx', 'glance'])

_GENERATE_SECRET = ("python3 -c 'import secrets; print(secrets.token_hex(32))'")


def require_secret(conf, consequence):
    """``Refused`` unless ``registry_auth_secret`` is set to a value of one's own (not
    a sample's placeholder); ``consequence`` says what this daemon would do without
    it."""
    secret = (conf.registry_auth_secret or '').strip()
    if not secret:
        raise Refused('registry_auth_secret is not set: %s' % consequence)
    if is_placeholder_secret(secret):
        raise Refused('registry_auth_secret is the placeholder %r: set the same secret '
                      'of your own in glance-api.conf and glance-registry.conf (make '
                      'one with: %s)' % (secret, _GENERATE_SECRET))


def is_placeholder_secret(secret):
    """Whether ``secret`` is a sample value (``change-me``, ``<None>``, ...)."""
    plain = ''.join(c for c in secret.lower() if c.isalnum())
    return (plain in _PLACEHOLDER_SECRETS or not plain
            or (secret.startswith('<') and secret.endswith('>')))


_LOOPBACK_NAMES = frozenset(['localhost', 'ip6-localhost', 'ip6-loopback'])


def is_loopback(host):
    """Whether ``bind_host`` keeps a daemon on this machine (127.0.0.0/8, ::1)."""
    try:
        return ipaddress.ip_address(host.strip('[]')).is_loopback
    except ValueError:
        return host.lower() in _LOOPBACK_NAMES


def upstream_config_files(*progs):
    """The files upstream's commands read when the command line names none:
    ``glance.conf`` and ``<prog>.conf`` of each of ``progs`` (later ones win), each
    from the first of ``~/.glance/``, ``~/``, ``/etc/glance/``, ``/etc/`` that has
    it."""
    found = []
    for prog in progs:
        for path in cfg.find_config_files(project='glance', prog=prog):
            if path not in found:
                found.append(path)
    return found


def load_config(argv, register, description=None, default_config_files=None,
                project='glance'):
    """A fresh ``ConfigOpts`` with the caller's options registered and argv parsed.

    ``register(conf)`` registers the options before the command line is parsed.
    Every option's value is checked now (oslo.config checks one when it is first
    read: a bad ``upload_lease_time`` would fail every upload instead of the
    start); a bad file or value raises ``Refused`` ("configuration error: ...").
    """
    conf = cfg.ConfigOpts()
    register(conf)
    # Every command logs through oslo.log (its options are on the command line too:
    # --debug, --log-file...).
    oslo_log.register_options(conf)
    try:
        conf(argv, project=project, description=description,
             default_config_files=default_config_files or [], version=version())
        _read_every_option(conf)
    except cfg.Error as exc:
        raise Refused('configuration error: %s' % exc) from None
    return conf


def version():
    """This service's version, which every command's ``--version`` prints (as
    upstream's do: deployment tools ask it)."""
    try:
        return metadata.version('glance-next')
    except metadata.PackageNotFoundError:   # run from a source tree not installed
        return 'unknown'


#: How oslo.config names where a bad value was set, in its message.
_LOCATION = re.compile(r"from LocationInfo\(location=<Locations\.\w+: [^>]*>, "
                       r"detail='([^']*)'\)")


def _read_every_option(conf, options=None, group='DEFAULT'):
    options = conf if options is None else options
    for name in options:
        try:
            value = options[name]
        except (cfg.ConfigFileValueError, cfg.ConfigSourceValueError) as exc:
            # "Value for option [DEFAULT] workers in /etc/glance/glance-api.conf is
            # not valid: ...", not oslo.config's LocationInfo(...) repr and no group.
            message = _LOCATION.sub(
                lambda found: 'in %s' % _file_setting(conf, group, name,
                                                      found.group(1)),
                str(exc)).replace('option %s ' % name,
                                  'option [%s] %s ' % (group, name), 1)
            raise cfg.Error(message) from None
        if isinstance(value, cfg.ConfigOpts.GroupAttr):
            _read_every_option(conf, value, name)


def _file_setting(conf, group, name, named):
    """The last of the config files that sets ``[group] name``: oslo.config
    names (``named``) the last file read with a section ``group``, which need not
    set it (an operator's override file after glance-api.conf). ``named`` when
    none does (a deprecated name set it)."""
    for path in reversed(conf.config_file or []):
        sections = {}
        try:
            cfg.ConfigParser(path, sections).parse()
        except (OSError, cfg.ParseError):
            continue
        if name in sections.get(group, {}):
            return path
    return named


def logging_opts():
    """oslo.log's options, for the sample configs (registered by ``load_config``)."""
    return [opt for _group, opts in oslo_log_options.list_opts() for opt in opts]


def setup_logging(conf, command=False, prog=None):
    """Log as ``conf``'s oslo.log options say; with no destination, to stderr
    (oslo.log's default is stdout, where commands print their results). A
    ``command`` an operator runs (glance-manage, glance-scrubber, glance-cache-*)
    logs to stderr as well by default, as upstream's do: the file it shares with
    the daemons (log_file of glance-api.conf) is not where its operator looks.
    With ``log_dir`` and no ``log_file``, the file is ``<prog>.log`` in it
    (``glance-api.log``), as upstream's console script ``prog`` names it."""
    if command or not (conf.log_file or conf.log_dir or conf.use_syslog
                       or conf.use_journal or conf.log_config_append):
        conf.set_default('use_stderr', True)
    if prog and conf.log_dir and not conf.log_file:
        # oslo.log would name it after the outermost frame's file: "<frozen
        # runpy>" for every daemon glance-all starts with python -m, all in one.
        conf.set_default('log_file', prog + '.log')
    oslo_log.setup(conf, 'glance')
    if command and not conf.use_stderr:
        # use_stderr = false (upstream's sample, uncommented) sends the log to its
        # file only: the operator who ran the command still sees why it failed,
        # as upstream's commands say it there.
        errors_seen = logging.StreamHandler(sys.stderr)
        errors_seen.setLevel(logging.ERROR)
        errors_seen.setFormatter(logging.Formatter('%(message)s'))
        logging.getLogger().addHandler(errors_seen)
    if prog:
        _name_system_log_lines(conf, prog)
    if not conf.debug and not conf.log_config_append and 'log_level' in conf:
        logging.getLogger().setLevel(conf.log_level.upper())


def _name_system_log_lines(conf, prog):
    """Name syslog's and the journal's lines after ``prog``. oslo.log names them
    after the outermost frame's file: "<frozen runpy>" for every daemon glance-all
    starts with python -m."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, oslo_handlers.OSJournalHandler):
            handler.binary_name = prog
        elif isinstance(handler, oslo_handlers.OSSysLogHandler):
            # The identifier is the process's, set by openlog (as the handler
            # did), with the facility oslo.log checked.
            facility = conf.syslog_log_facility.upper()
            if not facility.startswith('LOG_'):
                facility = 'LOG_' + facility
            syslog.openlog(prog, 0, getattr(syslog, facility))


def _level(conf):
    return 'DEBUG' if conf.debug else conf.log_level.upper()


def bind_request(request_id, user_id=None, project_id=None, global_request_id=None):
    """Name the request this thread serves, and its caller, on every line it logs
    until ``unbind_request``; ``global_request_id``: the id of the request of
    another service that led to it (oslo.log's ``%(global_request_id)s``)."""
    # The constructor stores itself as the thread's current context.
    oslo_context.RequestContext(request_id=request_id, user_id=user_id,
                                project_id=project_id,
                                global_request_id=global_request_id, overwrite=True)


def unbind_request():
    """Lines logged from now on belong to no request (gunicorn threads are reused)."""
    # oslo.context has no public way to clear its thread-local store.
    oslo_context._request_store.context = None


def current_request():
    """The request this thread serves (``bind_request``), for ``bind_current``."""
    return oslo_context.get_current()


def bind_current(request):
    """Name ``request`` (``current_request()`` of another thread; None: none) on
    every line this thread logs until ``unbind_request``: work a request started
    in another thread logs under it."""
    if request is None:
        unbind_request()
    else:
        request.update_store()


def current_request_id():
    """The id of the request this thread serves, if any (``bind_request``)."""
    current = oslo_context.get_current()
    return current.request_id if current is not None else None


def current_global_request_id():
    """The global request id of the request this thread serves, if any."""
    current = oslo_context.get_current()
    return current.global_request_id if current is not None else None


ACCESS_LOG = logging.getLogger('glance.access')


def _content_length(environ):
    try:
        return int(environ.get('CONTENT_LENGTH') or 0)
    except ValueError:
        return 0


class _GunicornLogger(glogging.Logger):
    """gunicorn's messages through the daemon's oslo.log handlers, under a logger of
    the daemon's (``logger_name``: ``glance_api.server``, ...) instead of
    "gunicorn.error"; and one access line per request: gunicorn knows the bytes
    really sent (``sendfile`` too) and when the last one left."""

    logger_name = None

    def setup(self, cfg):
        if self.logger_name:
            self.error_log = logging.getLogger(self.logger_name)
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
            log.propagate = True

    def exception(self, msg, *args, **kwargs):
        # gunicorn logs a socket timeout as a failure, with its traceback. It is a
        # client that neither sent nor read for client_socket_timeout seconds
        # (its access line, already written, says what it got): nothing failed
        # here, and the connection is closed. One line says so.
        if isinstance(sys.exc_info()[1], TimeoutError):
            self.error_log.warning('closed a connection whose client neither sent '
                                   'nor read for client_socket_timeout seconds')
            return
        super().exception(msg, *args, **kwargs)

    def access(self, resp, req, environ, request_time):
        try:
            # gunicorn's own answers (header_gate) name it in their headers only
            # once written: theirs is bound to this thread.
            request_id = next((value for name, value in resp.headers
                               if name.lower() == request_ids.REQUEST_ID_HEADER),
                              current_request_id() or '-')
            path = environ.get('RAW_URI') or environ.get('PATH_INFO', '')
            sent = resp.sent or 0
            if not sent and req.method != 'HEAD':
                # Bodies sent with sendfile() are not counted by gunicorn.
                sent = resp.response_length or 0
            status = (resp.status or '-').split(' ')[0]
            ACCESS_LOG.info('%s "%s %s" status: %s len: %d time: %.6f request: %s',
                            environ.get('REMOTE_ADDR', '-'), req.method, path,
                            status, sent, request_time.total_seconds(), request_id)
            metrics.observe_request(environ.get(metrics.ROUTE_ENVIRON), req.method, status,
                                    request_time.total_seconds(),
                                    _content_length(environ), sent)
        except Exception:
            # As gunicorn's own: a failed access line never fails the request.
            LOG.exception('cannot log or measure a request')
        finally:
            unbind_request()


class _Arbiter(gunicorn_arbiter.Arbiter):
    """gunicorn's arbiter, forking each worker with the signals workers handle
    blocked; the worker unblocks them once its own handlers are in
    (``header_gate.HeaderGateWorker.init_signals``).

    Until then a new worker has the arbiter's handlers, which queue a signal for
    an arbiter loop the worker never runs: a SIGTERM in that window was lost, and
    the worker served on until the graceful timeout killed it. A stop soon after a
    start (or after a SIGHUP, which starts new workers) took 30 s. Blocked, the
    signal waits for the worker's own handler."""

    def spawn_worker(self):
        before = signal.pthread_sigmask(signal.SIG_BLOCK, header_gate.WORKER_SIGNALS)
        try:
            return super().spawn_worker()
        finally:
            # (The worker itself leaves through here only as it exits.)
            signal.pthread_sigmask(signal.SIG_SETMASK, before)


class _Gunicorn(gunicorn_base.BaseApplication):

    def __init__(self, factory, settings, conf=None, log=None):
        self._factory = factory
        self._settings = settings
        self._conf = conf
        self._log = log or LOG
        super().__init__()

    def reload(self):
        # SIGHUP: as upstream's daemons (oslo.service), the config files are read
        # again before the workers are replaced, so the mutable options (debug,
        # log_level, ...) take effect in this process and in the new workers; an
        # immutable one keeps its value (oslo.config warns, naming it). A file
        # that no longer parses keeps the running config.
        if self._conf is not None:
            try:
                self._conf.mutate_config_files()
            except Exception as exc:   # noqa: BLE001 -- the service keeps running
                self._log.error('SIGHUP: the configuration was not reloaded: %s', exc)
            else:
                level = _level(self._conf)
                if not self._conf.log_config_append:
                    logging.getLogger().setLevel(level)
                self._settings['loglevel'] = level.lower()
                self._log.info('SIGHUP: configuration reloaded; log level %s', level)
        super().reload()

    def load_config(self):
        for key, value in self._settings.items():
            self.cfg.set(key, value)

    def run(self):
        # gunicorn's BaseApplication.run, with _Arbiter.
        try:
            _Arbiter(self).run()
        except RuntimeError as exc:
            print('\nError: %s\n' % exc, file=sys.stderr)
            sys.stderr.flush()
            sys.exit(1)

    def load(self):
        return self._factory()


def serve(factory, conf, name, log, worker_exit=None, error_body=None):
    """Serve the WSGI app that ``factory()`` builds, as ``conf``'s server options say.

    ``Refused`` at once, naming the address and the options, when it cannot listen
    there; ``log`` (the daemon's logger) says "listening" once the socket is bound
    and carries gunicorn's own lines. Blocks until the arbiter stops (SIGTERM or
    SIGINT stop it gracefully). ``worker_exit()``, if given, runs in each worker
    as it exits, after its last request. ``error_body(status, reason, message)``
    gives ``(content type, body bytes)`` of the answers gunicorn gives itself (a
    request its parser refuses; ``header_gate.use_error_body``), each daemon in
    its own error shape.
    """
    if error_body is not None:
        header_gate.use_error_body(error_body)
    problem = bind_problem(conf.bind_host, conf.bind_port)
    if problem:
        # gunicorn would retry for five seconds, then exit with "Can't connect".
        raise Refused('cannot listen on %s:%d: %s; set bind_port (or bind_host) in '
                      '[DEFAULT] to a free one' % (conf.bind_host, conf.bind_port,
                                                   problem))

    def when_ready(server):
        log.info('%s listening on %s://%s:%d/ with %d worker(s) x %d thread(s)',
                 name, 'https' if conf.cert_file else 'http',
                 _bracket(conf.bind_host), conf.bind_port, conf.workers,
                 conf.threads)

    settings = {
        'bind': ['%s:%d' % (_bracket(conf.bind_host), conf.bind_port)],
        'workers': conf.workers,
        'threads': conf.threads,
        # gthread (one request per thread, sendfile for file responses, and a
        # heartbeat that keeps running while a thread streams a long upload),
        # with request heads read off the threads (glance_registry.header_gate).
        'worker_class': type('HeaderGateWorker', (header_gate.HeaderGateWorker,), {
            'header_timeout': float(conf.client_header_timeout),
            'socket_timeout': float(conf.client_socket_timeout),
            'linger': conf.keepalive_linger,
            'bind_request': staticmethod(bind_request),
            'unbind_request': staticmethod(unbind_request)}),
        # Connections a worker holds at once (waiting heads and idle keep-alive
        # ones cost a socket each, no thread).
        'worker_connections': WORKER_CONNECTIONS,
        'timeout': conf.client_socket_timeout,
        'graceful_timeout': 30,
        'keepalive': conf.keepalive_timeout,
        # A longer line is answered 400 before the request reaches the app.
        'limit_request_line': min(conf.max_header_line, MAX_REQUEST_LINE),
        'limit_request_field_size': conf.max_header_line,
        # Proxy headers are trusted only as [oslo_middleware]
        # enable_proxy_headers_parsing says (glance_api.http.proxy), never because
        # the peer is on loopback (gunicorn's default trusts X-Forwarded-Proto
        # and SCRIPT_NAME headers from 127.0.0.1).
        'forwarded_allow_ips': '',
        'proc_name': name,
        'accesslog': None,
        'errorlog': '-',
        'loglevel': _level(conf).lower(),
        'logger_class': type('ServerLog', (_GunicornLogger,),
                             {'logger_name': log.name + '.server'}),
        'when_ready': when_ready,
        'child_exit': lambda _arbiter, worker: metrics.worker_exited(worker.pid),
        'worker_exit': lambda _arbiter, _worker: worker_exit and worker_exit(),
        # gunicorn >= 23 opens one control socket per user in ~/.gunicorn, which
        # several daemons on one host would fight over.
        'control_socket_disable': True,
    }
    settings.update(tls_settings(conf))
    _raise_open_files_limit(conf.workers * WORKER_CONNECTIONS + 1024)
    app = _Gunicorn(factory, {k: v for k, v in settings.items()
                              if k in _known_settings()}, conf, log)
    try:
        cleanup = metrics.prepare(conf)
    except OSError as exc:
        raise Refused('cannot serve metrics on %s:%s: %s' % (
            conf.metrics.bind_host, conf.metrics.bind_port, exc)) from None
    arbiter = os.getpid()
    try:
        app.run()
    finally:
        # Every worker leaves through here too (gunicorn's SystemExit unwinds the
        # arbiter's stack it forked from): what the workers share, the metrics
        # directory, is the arbiter's to remove when it stops, not theirs.
        if os.getpid() == arbiter:
            cleanup()


def _raise_open_files_limit(wanted):
    """Raise this process's soft limit of open files towards ``wanted`` (as far as
    the hard limit allows; workers inherit it): systemd's default soft limit,
    1024, is less than the connections one worker may hold."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def tls_settings(conf):
    """gunicorn's TLS settings for ``cert_file``, ``key_file`` and ``ca_file``
    (none without a certificate); ``Refused`` for an incomplete or unusable set,
    before any worker starts (gunicorn would fail in every worker instead)."""
    if not (conf.cert_file or conf.key_file):
        if conf.ca_file:
            raise Refused('ca_file is set but cert_file and key_file are not: '
                          'client certificates are verified only over TLS')
        return {}
    if not (conf.cert_file and conf.key_file):
        raise Refused('When running server in SSL mode, you must specify both a '
                      'cert_file and key_file option value in your configuration '
                      'file')
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(conf.cert_file, conf.key_file)
        if conf.ca_file:
            context.load_verify_locations(conf.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise Refused('TLS configuration error (cert_file %s, key_file %s, ca_file '
                      '%s): %s' % (conf.cert_file, conf.key_file, conf.ca_file,
                                   exc)) from None
    settings = {'certfile': conf.cert_file, 'keyfile': conf.key_file}
    if conf.ca_file:
        settings.update(ca_certs=conf.ca_file, cert_reqs=ssl.CERT_REQUIRED)
    return settings


def bind_problem(host, port):
    """Why a server cannot listen on ``host:port`` (e.g. "Address already in use"),
    or None if it can."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(
            host.strip('[]'), port, type=socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        return exc.strerror
    with socket.socket(family, kind) as probe:
        # As the server will: a port whose last connections linger in TIME_WAIT
        # is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc.strerror
    return None


def _known_settings():
    from gunicorn import config as gunicorn_config
    return set(gunicorn_config.KNOWN_SETTINGS and
               (s.name for s in gunicorn_config.KNOWN_SETTINGS))


def _bracket(host):
    return '[%s]' % host if ':' in host and not host.startswith('[') else host
