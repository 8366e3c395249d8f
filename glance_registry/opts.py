"""The registry daemon's options: what ``glance-registry`` and ``glance-manage`` read.

``list_opts`` feeds ``oslo-config-generator --namespace glance.registry`` (see tox.ini);
``register_opts`` is what the commands call before parsing their config.
"""

from oslo_config import cfg

from glance_registry import auth
from glance_registry import client
from glance_registry import guard
from glance_registry import metrics
from glance_registry import process
from glance_registry.client import list_params
from glance_registry.metadefs import catalog

DEFAULT_CONNECTION = 'sqlite:////var/lib/glance/glance.sqlite'

database_opts = [
    cfg.StrOpt('connection', default=DEFAULT_CONNECTION, secret=True,
               help='URL of the image database: sqlite:////absolute/path, '
                    'postgresql://user:password@host:port/dbname or '
                    'mysql://user:password@host:port/dbname. SQLAlchemy-style '
                    'schemes (postgresql+psycopg2://, mysql+pymysql://) are '
                    'accepted too. Create or upgrade the schema with '
                    '`glance-manage db sync` before starting the registry.'),
    cfg.IntOpt('max_pool_size', default=0, min=0,
               help='Database connections kept per registry worker process, and '
                    'with max_overflow the most it opens at once (as upstream\'s '
                    'SQLAlchemy pool). 0 means one per request thread (the '
                    '`threads` option).'),
    cfg.IntOpt('max_overflow', default=50, min=0,
               help='With max_pool_size: connections opened beyond it under load '
                    '(upstream\'s default, 50).'),
    cfg.IntOpt('pool_timeout', default=30, min=1,
               help='Seconds a request waits for a free pooled connection before '
                    'it fails with 503.'),
    cfg.IntOpt('connection_recycle_time', default=3600, min=1,
               help='Seconds after which a pooled connection is closed and '
                    'replaced, so servers and proxies that drop idle connections '
                    'never hand us a dead one.'),
    cfg.IntOpt('max_retries', default=10, min=-1,
               help='Times the registry tries again to reach the database server '
                    'when it starts (as upstream\'s oslo.db): it may start before '
                    'its database. -1 tries until the server answers; 0 refuses to '
                    'start at once.'),
    cfg.IntOpt('retry_interval', default=10, min=1,
               help='Seconds between those attempts.'),
    cfg.IntOpt('sqlite_busy_timeout', default=10, min=1,
               help='Seconds a SQLite writer waits for another writer to finish '
                    'before the request fails with 503.'),
    cfg.IntOpt('lock_wait_timeout', default=30, min=1,
               help='Seconds a statement on PostgreSQL or MariaDB waits for a row '
                    'that another transaction holds locked before the request '
                    'fails with 503 (PostgreSQL\'s lock_timeout, which is '
                    'unbounded by default; MariaDB\'s innodb_lock_wait_timeout, '
                    '50 by default). Keep it below the API\'s '
                    'registry_client_timeout: a request stuck behind a lock then '
                    'gets a clear answer instead of the API\'s timeout, and the '
                    'registry thread and connection it held are freed.'),
]


def _secret_opt():
    # One definition of the shared secret, in the client module: the registry and
    # its clients must agree on it.
    return next(opt for opt in client.client_opts if opt.dest == 'registry_auth_secret')


def _server_opts():
    return process.server_opts('127.0.0.1', 9191, 8)


def register_opts(conf):
    """Register every option the registry daemon and ``glance-manage`` read."""
    conf.register_opts(_server_opts())
    conf.register_opt(_secret_opt())
    auth.register_opts(conf)
    guard.register_opts(conf)
    conf.register_opts(list_params.limit_opts)
    conf.register_opts(database_opts, group='database')
    catalog.register_opts(conf)
    metrics.register_opts(conf)


def list_opts():
    """The options, by group, for oslo-config-generator."""
    return [
        (None, _server_opts() + [_secret_opt()] + auth.auth_opts
         + list_params.limit_opts + catalog.catalog_opts),
        ('database', database_opts),
        (None, process.logging_opts()),
        (metrics.GROUP, metrics.metrics_opts),
    ] + guard.list_opts()
