"""``glance-manage db load_metadefs | unload_metadefs | export_metadefs``.

Upstream's spellings and options::

    glance-manage db load_metadefs [--path DIR] [--merge] [--prefer_new] [--overwrite]
    glance-manage db unload_metadefs
    glance-manage db export_metadefs [--path DIR]

Upstream's positional arguments work too: ``db load_metadefs DIR``, ``db
export_metadefs DIR``, and its one-word commands' ``db_load_metadefs [DIR [merge
[prefer_new [overwrite]]]]`` (each a boolean word such as ``true``) and
``db_export_metadefs [DIR]``.

Exit status: 0 done, 1 some file could not be loaded (the others were), 2 options
or paths the command cannot work with (or a database not synced), said on stderr
too when the log goes elsewhere.
"""

import logging

from oslo_utils import strutils

from glance_registry import migrations, process
from glance_registry.metadefs import catalog

LOG = logging.getLogger('glance_registry.manage')


def add_commands(actions, open_database, prefix=''):
    """Add the three actions to ``glance-manage db``'s ``actions`` subparsers;
    ``open_database(conf)`` opens the configured database. ``prefix`` names them
    as upstream's legacy one-word commands (``db_load_metadefs``...)."""
    load = actions.add_parser(
        prefix + 'load_metadefs', help='Load metadata definition files into the catalog '
                              '(default: the standard catalog).')
    load.add_argument('--path', help='A catalog file, or a directory of them '
                                     '(default: [DEFAULT] metadata_source_path, '
                                     'else the standard catalog).')
    load.add_argument('--merge', action='store_true',
                      help='Add what the files have to namespaces that exist '
                           'already (otherwise those are skipped).')
    load.add_argument('--prefer_new', action='store_true',
                      help='With --merge: what differs takes the files\' values.')
    load.add_argument('--overwrite', action='store_true',
                      help='With --merge: namespaces end exactly as the files say '
                           '(what the files lack is removed).')
    load.add_argument('positional_path', nargs='?', metavar='path', help='= --path.')
    if prefix:
        # Upstream's one-word command takes its flags as positional words.
        for flag in ('merge', 'prefer_new', 'overwrite'):
            load.add_argument('positional_' + flag, nargs='?', metavar=flag,
                              help='= --%s when true (true, yes, 1).' % flag)
    load.set_defaults(action_fn=lambda conf: load_metadefs(conf, open_database))
    unload = actions.add_parser(prefix + 'unload_metadefs',
                                help='Delete the whole catalog: every namespace and '
                                     'resource type.')
    unload.set_defaults(action_fn=lambda conf: unload_metadefs(conf, open_database))
    export = actions.add_parser(prefix + 'export_metadefs',
                                help='Write every namespace to a catalog file.')
    export.add_argument('--path', help='The directory to write to (default: '
                                       '[DEFAULT] metadata_source_path).')
    export.add_argument('positional_path', nargs='?', metavar='path',
                        help='= --path.')
    export.set_defaults(action_fn=lambda conf: export_metadefs(conf, open_database))


def _path(conf):
    return (conf.command.path or getattr(conf.command, 'positional_path', None)
            or conf.metadata_source_path)


def _flag(conf, name):
    return getattr(conf.command, name) or strutils.bool_from_string(
        getattr(conf.command, 'positional_' + name, None))


def load_metadefs(conf, open_database):
    return _run(conf, open_database, lambda db: _report(catalog.load(
        db, _path(conf) or catalog.standard_catalog(), merge=_flag(conf, 'merge'),
        prefer_new=_flag(conf, 'prefer_new'), overwrite=_flag(conf, 'overwrite'))))


def _report(report):
    LOG.info('metadata definitions: %d namespaces loaded, %d merged, %d unchanged, '
             '%d skipped (they exist: see --merge), %d files failed',
             len(report.loaded), len(report.merged), len(report.unchanged),
             len(report.skipped), len(report.failed))
    return 1 if report.failed else 0


def unload_metadefs(conf, open_database):
    def unload(db):
        LOG.info('metadata definitions: %d namespaces deleted', catalog.unload(db))
        return 0
    return _run(conf, open_database, unload)


def export_metadefs(conf, open_database):
    path = _path(conf)
    if not path:
        raise process.Refused('export_metadefs needs --path (or [DEFAULT] '
                              'metadata_source_path)')

    def export(db):
        written = catalog.export(db, path)
        LOG.info('metadata definitions: %d namespaces written to %s', len(written),
                 path)
        return 0
    return _run(conf, open_database, export)


def _run(conf, open_database, work):
    db = open_database(conf)
    try:
        version = migrations.current_version(db)
        if version < migrations.latest_version():
            raise process.Refused('database at version %d, code needs %d: run '
                                  '`glance-manage db sync` first'
                                  % (version, migrations.latest_version()))
        try:
            return work(db)
        except (catalog.CatalogError, FileNotFoundError) as exc:
            raise process.Refused(str(exc)) from None
    finally:
        db.close_all()
