"""``glance-manage``: administer the image database.

    glance-manage [--config-file F] db sync      create or upgrade the schema in place
                                       (also: db upgrade, db expand, db_sync,
                                       db_upgrade: upstream's spellings)
    glance-manage [--config-file F] db version   print the schema version (db_version)
    glance-manage [--config-file F] db check     exit 3 if the schema is behind the code
    glance-manage [--config-file F] db purge [--age_in_days N] [--max_rows M]
                                       remove what hangs off old deleted images
    glance-manage [--config-file F] db purge_images_table [--age_in_days N]
                                       [--max_rows M]   remove old deleted image rows
    glance-manage [--config-file F] db load_metadefs | unload_metadefs |
                                       export_metadefs   the metadata definitions
                                       catalog (glance_registry.metadefs.commands;
                                       also db_load_metadefs, ...)

Without ``--config-file`` it reads upstream's files, as
upstream's install guide runs it: ``glance-api.conf``, ``glance-registry.conf`` and
``glance-manage.conf`` (and ``glance.conf``) from ``~/.glance/``, ``~/``,
``/etc/glance/`` or ``/etc/``.
"""

import logging
import os
import sys
import time

from oslo_config import cfg

from glance_registry import db as db_module
from glance_registry import migrations
from glance_registry import opts
from glance_registry import process
from glance_registry import purge
from glance_registry.metadefs import commands as metadef_commands

LOG = logging.getLogger('glance_registry.manage')


#: ``db check``'s exit status when the schema is behind the code (upstream's for
#: "db expand is needed").
EXIT_UPGRADE_NEEDED = 3


def db_sync(conf):
    """Apply the missing migrations (up to ``--version``, default all); running it
    again changes nothing."""
    target = _target_version(getattr(conf.command, 'version', None)
                             or getattr(conf.command, 'positional_version', None))
    db = _open(conf)
    if db_module.dialect(db) == 'sqlite':
        # First run: SQLite creates the file, but not the directory it lives in.
        os.makedirs(os.path.dirname(os.path.abspath(db.database)), exist_ok=True)
    try:
        applied = migrations.upgrade(db, target)
        version = migrations.current_version(db)
    finally:
        db.close_all()
    if applied:
        LOG.info('database %s upgraded to version %d', db_module.describe(db), version)
    elif target is not None and target < version:
        LOG.info('database %s already at version %d, past --version %d: db sync '
                 'never goes back', db_module.describe(db), version, target)
    else:
        LOG.info('database %s already at version %d', db_module.describe(db), version)
    return 0


def db_version(conf):
    """Print the schema version (0 for an empty or missing database)."""
    db = _open(conf)
    try:
        print(0 if db_module.missing_sqlite(db) else migrations.current_version(db))
    finally:
        db.close_all()
    return 0


def _target_version(version):
    """The schema version ``--version`` names: None (all) for none or upstream's
    ``heads``; ``Refused`` for one no migration of this release has (as upstream's
    alembic refuses a revision it does not know)."""
    if version in (None, 'heads', 'head'):
        return None
    try:
        target = int(version)
    except ValueError:
        raise process.Refused('invalid --version %r: give a schema version number '
                              '(see `db version`) or heads' % version) from None
    known = [migration.VERSION for migration in migrations.MIGRATIONS]
    if target not in known:
        raise process.Refused('invalid --version %r: this release has no schema '
                              'version %d (it has %s)' % (version, target,
                                                          _spans(known)))
    return target


def _spans(numbers):
    """``1-11, 13, 15-20`` for the sorted ``numbers``."""
    spans = []
    for number in numbers:
        if spans and spans[-1][1] == number - 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ', '.join(str(first) if first == last else '%d-%d' % (first, last)
                     for first, last in spans)


def db_check(conf):
    """Exit 0 if the schema is up to date, ``EXIT_UPGRADE_NEEDED`` if not."""
    db = _open(conf)
    try:
        if db_module.missing_sqlite(db):
            print('There is no database at %s. Run `glance-manage db sync` to create '
                  'it.' % db_module.describe(db))
            return EXIT_UPGRADE_NEEDED
        current = migrations.current_version(db)
    finally:
        db.close_all()
    latest = migrations.latest_version()
    if current >= latest:
        print('Database is up to date. No migrations needed.')
        return 0
    print('Your database is not up to date: it is at version %d and this release '
          'needs %d. Run `glance-manage db sync`.' % (current, latest))
    return EXIT_UPGRADE_NEEDED


def db_nothing_to_do(conf):
    """Upstream's rolling-upgrade steps after ``expand``: our migrations only add
    (tables, columns, indexes), so there is never data to migrate nor anything to
    contract. And its ``version_control``, which records a schema version without
    migrating: db sync records the version it reaches."""
    print('Nothing to %s: every migration of this release is done by db sync '
          '(db expand), which also records the schema version.'
          % conf.command.action.replace('db_', '', 1).replace('_', ' '))
    return 0


def db_purge(conf):
    """Remove what hangs off images deleted more than ``--age_in_days`` ago."""
    return _purge(conf, lambda *args: sum(purge.purge(*args).values()),
                  'Purged %d rows deleted more than %d days ago (image rows are '
                  'kept: see db purge_images_table).')


def db_purge_images_table(conf):
    """Remove the rows of images deleted more than ``--age_in_days`` ago."""
    return _purge(conf, purge.purge_images_table,
                  'Purged %d image rows deleted more than %d days ago; their ids '
                  'can never be used again.')


def _purge(conf, run, summary):
    """Run ``run(db, age, max_rows, report)`` (rows purged) with the command's
    bounds, then print ``summary % (rows, age)``."""
    age, max_rows = _purge_bounds(conf)
    db = _open(conf)
    try:
        purged = run(db, age, max_rows, _print_progress)
    finally:
        db.close_all()
    print(summary % (purged, age))
    return 0


def _purge_bounds(conf):
    """``(age_in_days, max_rows)``, checked as upstream does."""
    age, max_rows = conf.command.age_in_days, conf.command.max_rows
    if age < 0:
        raise process.Refused('Must supply a non-negative value for age.')
    if age >= time.time() // 86400:
        raise process.Refused('Maximal age is count of days since epoch.')
    if max_rows < -1:
        raise process.Refused('Minimal rows limit is -1.')
    return age, max_rows


def _print_progress(progress):
    if progress.done:
        print('%s: %d rows purged' % (progress.table, progress.purged), flush=True)
    else:
        print('%s: %d rows purged so far...' % (progress.table, progress.purged),
              flush=True)


def _open(conf):
    return db_module.open_database(conf.database.connection, max_connections=1)


def _add_commands(subparsers):
    db = subparsers.add_parser('db', help='Manage the image database.')
    actions = db.add_subparsers(title='actions', dest='action')
    actions.required = True
    for name in ('sync', 'upgrade', 'expand'):
        sync = actions.add_parser(name, help='Create or upgrade the schema in place.')
        sync.add_argument('--version', help='Stop at this schema version.')
        if name != 'expand':
            # Upstream's "db sync VERSION" too.
            sync.add_argument('positional_version', nargs='?', metavar='version',
                              help='= --version.')
        sync.set_defaults(action_fn=db_sync)
    for name in ('migrate', 'contract', 'version_control'):
        step = actions.add_parser(name, help='Nothing (db sync does everything).')
        if name == 'version_control':
            # Upstream stamps a version without migrating; db sync records its own.
            step.add_argument('version', nargs='?', help='Ignored.')
        step.set_defaults(action_fn=db_nothing_to_do)
    version = actions.add_parser('version', help='Print the schema version.')
    version.set_defaults(action_fn=db_version)
    check = actions.add_parser('check', help='Exit %d if the schema needs db sync.'
                               % EXIT_UPGRADE_NEEDED)
    check.set_defaults(action_fn=db_check)
    # Upstream's defaults: image rows are kept longer than what hangs off them.
    for name, action_fn, what, age in (
            ('purge', db_purge, 'what hangs off images deleted (and tasks)', 30),
            ('purge_images_table', db_purge_images_table, 'the rows of images '
                                                          'deleted', 180)):
        parser = actions.add_parser(name, help='Remove %s more than --age_in_days '
                                               'ago.' % what)
        parser.add_argument('--age_in_days', type=int, default=age,
                            help='Only rows deleted more days ago than this '
                                 '(default %d).' % age)
        parser.add_argument('--max_rows', type=int, default=100,
                            help='At most this many rows per table; -1 for all.')
        parser.set_defaults(action_fn=action_fn)
    metadef_commands.add_commands(actions, _open)
    # Upstream's legacy spellings, one word each.
    for name, action_fn in (('db_sync', db_sync), ('db_upgrade', db_sync),
                            ('db_expand', db_sync), ('db_version', db_version),
                            ('db_check', db_check),
                            ('db_version_control', db_nothing_to_do),
                            ('db_migrate', db_nothing_to_do),
                            ('db_contract', db_nothing_to_do)):
        legacy = subparsers.add_parser(name, help='= db %s' % name[3:])
        if name in ('db_sync', 'db_upgrade'):
            legacy.add_argument('version', nargs='?', help='Stop at this version.')
        if name == 'db_version_control':
            legacy.add_argument('version', nargs='?', help='Ignored.')
        legacy.set_defaults(action=name, action_fn=action_fn)
    metadef_commands.add_commands(subparsers, _open, prefix='db_')


command_opt = cfg.SubCommandOpt('command', title='Commands', handler=_add_commands,
                                help='What to do.')


def _register(conf):
    opts.register_opts(conf)
    conf.register_cli_opt(command_opt)


def main(argv=None):
    """Run the command the arguments name; its exit status (``process.run``)."""
    return process.run(argv, _register, 'Administer Glance.', _run_command, LOG,
                       prog='glance-manage',
                       default_config_files=process.upstream_config_files(
                           # Upstream's, and the registry's, where the database is
                           # here: its [database] wins over the one upstream's
                           # glance-api.conf has. Without them "glance-manage
                           # db_sync", as upstream's install guide runs it, created a
                           # database at the default connection instead.
                           'glance-api', 'glance-registry', 'glance-manage'),
                       command=True)


def _run_command(conf):
    try:
        return conf.command.action_fn(conf)
    except db_module.UnsupportedDatabase as exc:
        raise process.Refused('invalid [database] connection: %s' % exc) from None
    except migrations.UnusableDatabase as exc:
        raise process.Refused(str(exc)) from None
    except process.Refused:
        raise
    except Exception as exc:
        LOG.debug('traceback', exc_info=True)
        failure = exc
    # Logged outside the except block: oslo.log appends the exception being handled
    # to a line logged inside one, which would repeat the reason.
    # "db sync", or one word as upstream's legacy spellings ("db_sync").
    name = ' '.join(dict.fromkeys([conf.command.name,
                                   getattr(conf.command, 'action', None) or
                                   conf.command.name]))
    LOG.error('glance-manage %s failed: %s', name, db_module.cause(failure))
    return 1


if __name__ == '__main__':
    sys.exit(main())
