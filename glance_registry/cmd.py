"""``glance-registry``: serve the registry REST API over the image database.

Refuses to start, with one clear log line, when the shared secret is unset, the
database schema is older than the code (``glance-manage db sync`` fixes that) or the
property protection file cannot be used. A database server it cannot reach yet is
tried again, as upstream's oslo.db does (``[database] max_retries``,
``retry_interval``): a host booting may start the registry before its database.
"""

import logging
import sys
import time

import orjson
import peewee

from glance_api.access import policy
from glance_registry import app
from glance_registry import db as db_module
from glance_registry import guard
from glance_registry import migrations
from glance_registry import opts
from glance_registry import process
from glance_registry.client import errors
from glance_registry.images import child_access
from glance_registry.images import child_formats
from glance_registry.images import child_order
from glance_registry.images import child_status

LOG = logging.getLogger('glance_registry')


class DatabaseUnreachable(Exception):
    """The database server could not be reached (it may not be up yet)."""


def check_database(conf):
    """An error message if the database is unusable by this code, else None;
    ``DatabaseUnreachable`` if its server cannot be reached."""
    try:
        db = db_module.open_database(conf.database.connection, max_connections=1)
    except db_module.UnsupportedDatabase as exc:
        return 'invalid [database] connection: %s' % exc
    if db_module.missing_sqlite(db):   # checked before connecting
        return ('no database at %s: run `glance-manage db sync` to create it'
                % db_module.describe(db))
    try:
        current = migrations.current_version(db)
    except migrations.UnusableDatabase as exc:
        return str(exc)
    except (peewee.OperationalError, peewee.InterfaceError) as exc:
        if db_module.dialect(db) == 'sqlite':   # a file: no server to wait for
            return 'cannot read the schema version of %s: %s' % (
                db_module.describe(db), exc)
        raise DatabaseUnreachable('cannot reach %s: %s' % (
            db_module.describe(db), str(exc).strip())) from None
    except Exception as exc:
        return 'cannot read the schema version of %s: %s' % (
            db_module.describe(db), exc)
    finally:
        # Workers fork after this: none may inherit a connection.
        db.close_all()
    latest = migrations.latest_version()
    if current < latest:
        return ('database at version %d, code needs %d: run `glance-manage db sync`'
                % (current, latest))
    if current > latest:
        return ('database at version %d is newer than this code (%d): upgrade the '
                'registry' % (current, latest))
    return None


def main(argv=None):
    """Serve the registry until stopped; the exit status (``process.run``)."""
    return process.run(argv, opts.register_opts, 'The Glance registry daemon.', _serve,
                       LOG, prog='glance-registry',
                       default_config_files=process.upstream_config_files(
                           'glance-registry'))


def _serve(conf):
    process.require_secret(conf, 'refusing to start an unauthenticated registry')
    problem = _wait_for_database(conf)
    if problem:
        raise process.Refused('refusing to start: %s' % problem)
    try:
        # The guard's rules: a file that cannot be used stops us here, once.
        rules = guard.Guard.from_config(conf)
        policy.check_policy_file(rules.enforcer, LOG)
        if rules.protections is not None:
            rules.protections.warn_backtracking(LOG)
    except ValueError as exc:   # protections.InvalidConfiguration too
        raise process.Refused('refusing to start: %s' % exc) from None
    _repair_child_copies(conf)
    process.serve(lambda: app.create_app(conf), conf, 'glance-registry', LOG,
                  error_body=_error_body)
    return 0


def _repair_child_copies(conf):
    """``child_status.repair_recent``, the ``repair_recent`` of
    ``child_formats`` and ``child_access`` and ``child_order.fill_recent``: what a
    registry of the release before changed while it still ran after ``db sync``
    (a rolling upgrade). Before the workers fork: none may inherit a connection."""
    db = db_module.open_database(conf.database.connection, max_connections=1,
                                 lock_wait_timeout=conf.database.lock_wait_timeout)
    try:
        repaired = child_status.repair_recent(db)
        formats = child_formats.COPIES.repair_recent(db)
        access = child_access.COPIES.repair_recent(db)
        filled = child_order.fill_recent(db)
    except (peewee.OperationalError, peewee.InterfaceError) as exc:
        LOG.warning('could not check the copies of recent images on their '
                    'properties and tags: %s', exc)
        return
    finally:
        db.close_all()
    if repaired:
        LOG.warning('copied the status of %d recently changed images onto their '
                    'properties and tags (written by a registry of an earlier '
                    'release since `db sync`)', repaired)
    if formats:
        LOG.warning('copied the formats of %d recently changed images onto their '
                    'properties and tags (written by a registry of an earlier '
                    'release since `db sync`)', formats)
    if access:
        LOG.warning('copied the owner and visibility of %d recently changed images '
                    'onto their properties and tags (written by a registry of an '
                    'earlier release since `db sync`)', access)
    if filled:
        LOG.warning('copied the creation time of %d recently changed images onto '
                    'their properties and tags (written by a registry of an earlier '
                    'release since `db sync`)', filled)


def _wait_for_database(conf):
    """``check_database``, tried again every ``retry_interval`` seconds while the
    server cannot be reached, at most ``max_retries`` times (-1: until it can)."""
    retries_left = conf.database.max_retries
    while True:
        try:
            return check_database(conf)
        except DatabaseUnreachable as exc:
            unreachable = str(exc)
        if retries_left == 0:
            return unreachable
        # Logged outside the except block: oslo.log would append the exception.
        LOG.warning('%s; trying again in %d s (%s)', unreachable,
                    conf.database.retry_interval,
                    'until it answers' if retries_left < 0
                    else '%d attempts left' % retries_left)
        if retries_left > 0:
            retries_left -= 1
        time.sleep(conf.database.retry_interval)


def _error_body(status, reason, message):
    """A request gunicorn refused, in the registry's error shape
    (docs/registry-api.rst): ``bad_request`` with reason ``malformed_request``
    whatever its 4xx (414 and 431 for a line or head over the limits)."""
    if status >= 500:
        error = errors.RegistryError(message, reason='internal_error')
    else:
        error = errors.BadRequest(message, reason='malformed_request')
    return 'application/json', orjson.dumps(error.to_dict())


if __name__ == '__main__':
    sys.exit(main())
