"""``glance-manage``: administer the image database.

    glance-manage [--config-file F] db sync      create or upgrade the schema in place
    glance-manage [--config-file F] db version   print the schema version
    glance-manage [--config-file F] db load_metadefs | unload_metadefs |
                                       export_metadefs   the metadata definitions
                                       catalog (glance_registry.metadefs.commands)
"""

import logging
import os
import sys

from oslo_config import cfg

from glance_registry import db as db_module
from glance_registry import migrations
from glance_registry import opts
from glance_registry import process
from glance_registry.metadefs import commands as metadef_commands

LOG = logging.getLogger('glance_registry.manage')


def db_sync(conf):
    """Apply the missing migrations; running it again changes nothing."""
    db = _open(conf)
    if db_module.dialect(db) == 'sqlite':
        # First run: SQLite creates the file, but not the directory it lives in.
        os.makedirs(os.path.dirname(os.path.abspath(db.database)), exist_ok=True)
    try:
        applied = migrations.upgrade(db)
        version = migrations.current_version(db)
    finally:
        db.close_all()
    if applied:
        LOG.info('database %s upgraded to version %d', db_module.describe(db), version)
    else:
        LOG.info('database %s already at version %d', db_module.describe(db), version)
    return 0


def db_version(conf):
    """Print the schema version (0 for an empty database)."""
    db = _open(conf)
    try:
        print(migrations.current_version(db))
    finally:
        db.close_all()
    return 0


def _open(conf):
    return db_module.open_database(conf.database.connection, max_connections=1)


def _add_commands(subparsers):
    db = subparsers.add_parser('db', help='Manage the image database.')
    actions = db.add_subparsers(title='actions', dest='action')
    actions.required = True
    sync = actions.add_parser('sync', help='Create or upgrade the schema in place.')
    sync.set_defaults(action_fn=db_sync)
    version = actions.add_parser('version', help='Print the schema version.')
    version.set_defaults(action_fn=db_version)
    metadef_commands.add_commands(actions, _open)


command_opt = cfg.SubCommandOpt('command', title='Commands', handler=_add_commands,
                                help='What to do.')


def _register(conf):
    opts.register_opts(conf)
    conf.register_cli_opt(command_opt)


def main(argv=None):
    """Run the command the arguments name; its exit status (``process.run``)."""
    return process.run(argv, _register, 'Administer Glance.', _run_command, LOG)


def _run_command(conf):
    try:
        return conf.command.action_fn(conf)
    except db_module.UnsupportedDatabase as exc:
        raise process.Refused('invalid [database] connection: %s' % exc) from None
    except Exception as exc:
        LOG.error('glance-manage %s %s failed: %s', conf.command.name,
                  conf.command.action, exc)
        LOG.debug('traceback', exc_info=True)
        return 1


if __name__ == '__main__':
    sys.exit(main())
