"""``glance-manage``'s lifecycle commands (``db purge``, ``db purge_images_table``,
``db check``) and upstream's other spellings, run as the command, on a fresh
database of each backend."""

import datetime
import os
import subprocess
import sys

import pytest

from glance_registry import db as db_module
from glance_registry import models
from glance_registry import opts
from glance_registry.client import errors
from glance_registry.images import locations
from glance_registry.images import members
from glance_registry.images import scrubbing
from glance_registry.images import writes
from tests.unit.registry.conftest import ADMIN
from tests.unit.registry.conftest import BACKEND_PARAMS
from tests.unit.registry.conftest import manage
from tests.unit.registry.conftest import write_database_config

@pytest.fixture(params=BACKEND_PARAMS)
def database(request, databases, tmp_path):
    """``(db, config path)`` of a new, synced database of each backend."""
    url = databases.create(request.param)
    config = write_database_config(str(tmp_path), url)
    manage(config, 'db', 'sync')
    db = db_module.open_database(url)
    yield db, config
    db.close_all()


def _image(db, status='active', deleted_days_ago=None, properties=3,
           data_removed=True):
    """An image with ``properties`` properties, two tags, a location and a member;
    deleted (or ``pending_delete``) ``deleted_days_ago`` days ago if given, and
    unless ``data_removed``, deleted as an API does before it removes the data,
    which was never confirmed."""
    with db_module.connection(db):
        image = writes.create_image(
            db, ADMIN, {'disk_format': 'raw', 'container_format': 'bare',
                        'visibility': 'shared'},
            {'p%d' % n: 'v' for n in range(properties)}, ['a', 'b'])
        image_id = image['id']
        locations.add_location(db, ADMIN, image_id,
                               {'url': 'file:///x/%s' % image_id, 'metadata': {},
                                'status': 'active'},
                               transition=('queued', 'active'), values={'size': 1})
        members.add_member(db, ADMIN, image_id, 'someone')
        if not data_removed:
            writes.delete_image(db, ADMIN, image_id)
        if deleted_days_ago is not None:
            when = models.utcnow() - datetime.timedelta(days=deleted_days_ago)
            (models.Image.update(status=status, deleted=True, deleted_at=when)
             .where(models.Image.id == image_id).execute(db))
    return image_id


def _children(db, image_id):
    with db_module.connection(db):
        return {model._meta.table_name: model.select().where(
            model.image == image_id).count(db)
            for model in (models.ImageProperty, models.ImageTag,
                          models.ImageLocation, models.ImageMember)}


def _exists(db, image_id):
    with db_module.connection(db):
        return models.Image.select().where(models.Image.id == image_id).exists(db)


NONE_LEFT = {'image_properties': 0, 'image_tags': 0, 'image_locations': 0,
             'image_members': 0}
ALL_THERE = {'image_properties': 3, 'image_tags': 2, 'image_locations': 1,
             'image_members': 1}


def test_purge_removes_what_hangs_off_old_deleted_images_only(database):
    db, config = database
    old = _image(db, 'deleted', deleted_days_ago=40)
    recent = _image(db, 'deleted', deleted_days_ago=10)
    pending = _image(db, 'pending_delete', deleted_days_ago=40)
    unremoved = _image(db, 'deleted', deleted_days_ago=40, data_removed=False)
    live = _image(db)
    result = manage(config, 'db', 'purge', '--age_in_days', '30', '--max_rows', '-1')
    assert _children(db, old) == NONE_LEFT
    for kept in (recent, pending, unremoved, live):
        assert _children(db, kept) == ALL_THERE
    # Image rows stay (db purge_images_table removes them), as upstream.
    assert _exists(db, old)
    assert 'image_properties: 3 rows purged' in result.stdout
    assert 'Purged 7 rows' in result.stdout


def test_purge_keeps_the_locations_removed_from_an_image_until_their_data_goes(
        database):
    db, config = database
    image_id = _image(db)
    copy = 'file:///x/copy-%s' % image_id
    with db_module.connection(db):
        locations.add_location(db, ADMIN, image_id, {'url': copy, 'metadata': {},
                                                     'status': 'active'})
        locations.remove_location(db, ADMIN, image_id, copy)
    for command in ('purge', 'purge_images_table'):
        manage(config, 'db', command, '--age_in_days', '0', '--max_rows', '-1')
    # The image's location, and the removed one whose data is still to remove.
    assert _children(db, image_id) == dict(ALL_THERE, image_locations=2)
    assert _exists(db, image_id)


def test_purge_goes_in_batches_reports_progress_and_stops_at_max_rows(database):
    db, config = database
    image_id = _image(db, 'deleted', deleted_days_ago=40, properties=2500)
    result = manage(config, 'db', 'purge', '--age_in_days', '30', '--max_rows', '2100')
    assert 'image_properties: 1000 rows purged so far...' in result.stdout
    assert 'image_properties: 2000 rows purged so far...' in result.stdout
    assert 'image_properties: 2100 rows purged\n' in result.stdout
    assert _children(db, image_id)['image_properties'] == 400
    manage(config, 'db', 'purge', '--age_in_days', '30', '--max_rows', '-1')
    assert _children(db, image_id) == NONE_LEFT


def test_purge_images_table_removes_old_rows_and_their_ids_are_never_reused(database):
    db, config = database
    old = _image(db, 'deleted', deleted_days_ago=200)
    recent = _image(db, 'deleted', deleted_days_ago=100)
    pending = _image(db, 'pending_delete', deleted_days_ago=200)
    unremoved = _image(db, 'deleted', deleted_days_ago=200, data_removed=False)
    result = manage(config, 'db', 'purge_images_table', '--age_in_days', '180',
                    '--max_rows', '-1')
    assert 'images: 1 rows purged' in result.stdout
    assert not _exists(db, old)
    assert _children(db, old) == NONE_LEFT
    assert _exists(db, recent) and _exists(db, pending) and _exists(db, unremoved)
    assert _children(db, unremoved) == ALL_THERE
    with db_module.connection(db):
        scrubbing.confirm_removed(db, ADMIN, unremoved)
    result = manage(config, 'db', 'purge_images_table', '--age_in_days', '180',
                    '--max_rows', '-1')
    assert 'images: 1 rows purged' in result.stdout
    assert not _exists(db, unremoved)
    with db_module.connection(db):
        assert models.PurgedImage.select().where(
            models.PurgedImage.id == old).exists(db)
        with pytest.raises(errors.Conflict) as refused:
            writes.create_image(db, ADMIN, {'id': old})
    assert refused.value.reason == 'duplicate_image'
    assert not _exists(db, old)


def test_purge_images_table_keeps_rows_180_days_by_default_as_upstream(database):
    """Upstream's purge_images_table defaults to 180 days, db purge to 30: an
    operator's cron line without --age_in_days keeps image rows half a year."""
    db, config = database
    old = _image(db, 'deleted', deleted_days_ago=200)
    recent = _image(db, 'deleted', deleted_days_ago=100)
    result = manage(config, 'db', 'purge_images_table')
    assert 'deleted more than 180 days ago' in result.stdout
    assert not _exists(db, old)
    assert _exists(db, recent)


@pytest.mark.parametrize('args, message', [
    (('--age_in_days', '-1'), 'Must supply a non-negative value for age.'),
    (('--age_in_days', '100000'), 'Maximal age is count of days since epoch.'),
    (('--max_rows', '-2'), 'Minimal rows limit is -1.'),
])
@pytest.mark.parametrize('command', ['purge', 'purge_images_table'])
def test_purge_refuses_bounds_upstream_refuses(tmp_path, command, args, message):
    config = write_database_config(str(tmp_path), 'sqlite:///%s/g.sqlite' % tmp_path)
    result = manage(config, 'db', command, *args, check=False)
    assert result.returncode == 2
    assert message in result.stderr


def test_db_check_says_whether_the_schema_needs_a_sync(tmp_path):
    config = write_database_config(str(tmp_path), 'sqlite:///%s/g.sqlite' % tmp_path)
    missing = manage(config, 'db', 'check', check=False)
    assert missing.returncode == 3
    assert 'no database' in missing.stdout and 'db sync' in missing.stdout
    assert manage(config, 'db_version').stdout.strip() == '0'
    # Reading commands create nothing: SQLite would make an empty file on connect.
    assert not list(tmp_path.glob('g.sqlite*'))
    manage(config, 'db_sync', '1')
    behind = manage(config, 'db', 'check', check=False)
    assert behind.returncode == 3
    assert 'not up to date' in behind.stdout and 'db sync' in behind.stdout
    manage(config, 'db_sync', '3')
    assert manage(config, 'db_version').stdout.strip() == '3'
    assert manage(config, 'db', 'check', check=False).returncode == 3
    manage(config, 'db', 'upgrade')
    ok = manage(config, 'db', 'check')
    assert 'Database is up to date' in ok.stdout


@pytest.mark.parametrize('spelling', [('db', 'upgrade'), ('db', 'expand'),
                                      ('db_upgrade',), ('db_sync',),
                                      ('db', 'sync', '--version', 'heads')])
def test_upstream_spellings_of_sync_build_the_whole_schema(tmp_path, spelling):
    config = write_database_config(str(tmp_path), 'sqlite:///%s/g.sqlite' % tmp_path)
    manage(config, *spelling)
    assert manage(config, 'db', 'check').returncode == 0


def test_after_a_sync_upstreams_later_steps_have_nothing_to_do(tmp_path):
    config = write_database_config(str(tmp_path), 'sqlite:///%s/g.sqlite' % tmp_path)
    manage(config, 'db', 'sync')
    for step in ('migrate', 'contract'):
        assert 'Nothing to %s' % step in manage(config, 'db', step).stdout
    # Upstream's version_control stamps a version without migrating: db sync has.
    for spelling in (('db', 'version_control'), ('db', 'version_control', '1'),
                     ('db_version_control',)):
        said = manage(config, *spelling).stdout
        assert 'Nothing to version control' in said and 'db sync' in said
    assert manage(config, 'db', 'check').returncode == 0


def test_upstream_one_word_metadef_commands(tmp_path):
    url = 'sqlite:///%s/g.sqlite' % tmp_path
    config = write_database_config(str(tmp_path), url)
    manage(config, 'db_sync')
    assert '32 namespaces loaded' in manage(config, 'db_load_metadefs').stderr
    (tmp_path / 'out').mkdir()
    manage(config, 'db_export_metadefs', '--path', str(tmp_path / 'out'))
    assert len(list((tmp_path / 'out').iterdir())) == 32
    assert '32 namespaces deleted' in manage(config, 'db_unload_metadefs').stderr


def _check_without_config_file(home):
    """``glance-manage db check`` with no --config-file, ``home`` as its HOME."""
    result = subprocess.run(
        [sys.executable, '-m', 'glance_registry.manage', 'db', 'check'],
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, HOME=str(home)))
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_without_a_config_file_it_reads_upstreams_files(tmp_path):
    # Upstream's install guide runs "glance-manage db_sync" with no --config-file:
    # the database is the one glance-api.conf (or glance-registry.conf) in
    # ~/.glance, ~, /etc/glance or /etc names, never the default connection.
    url = 'sqlite:///%s/g.sqlite' % tmp_path
    manage(write_database_config(str(tmp_path), url), 'db', 'sync')
    home = tmp_path / 'home'
    (home / '.glance').mkdir(parents=True)
    write_database_config(str(home / '.glance'), url, name='glance-api.conf')
    result = _check_without_config_file(home)
    assert 'Database is up to date' in result.stdout


def test_without_a_config_file_the_registrys_database_wins(tmp_path):
    # Upstream's glance-api.conf has a [database] too; here the registry owns it.
    url = 'sqlite:///%s/g.sqlite' % tmp_path
    manage(write_database_config(str(tmp_path), url), 'db', 'sync')
    home = tmp_path / 'home'
    (home / '.glance').mkdir(parents=True)
    write_database_config(str(home / '.glance'), 'sqlite:///%s/api.sqlite' % tmp_path,
                          name='glance-api.conf')
    write_database_config(str(home / '.glance'), url, name='glance-registry.conf')
    _check_without_config_file(home)
    assert not list(tmp_path.glob('api.sqlite*'))


@pytest.mark.parametrize('command', [('db', 'sync'), ('db_sync',)])
def test_a_failing_command_says_why_once(tmp_path, command):
    config = write_database_config(str(tmp_path), 'sqlite:////proc/no-such/g.sqlite')
    result = manage(config, *command, check=False)
    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if 'ERROR' in line]
    assert line.endswith("glance-manage %s failed: [Errno 2] No such file or "
                         "directory: '/proc/no-such'" % ' '.join(command)), line


def test_it_says_what_it_did_on_stderr_with_a_log_file_configured(tmp_path):
    # Upstream's glance-api.conf (which glance-manage reads) sets the daemon's
    # log_file; the operator running glance-manage still sees what it did.
    log_file = tmp_path / 'glance-api.log'
    config = tmp_path / 'glance-api.conf'
    config.write_text('[DEFAULT]\nlog_file = %s\n[database]\nconnection = '
                      'sqlite:///%s/g.sqlite\n' % (log_file, tmp_path))
    result = manage(str(config), 'db_sync')
    assert 'upgraded to version' in result.stderr
    assert 'upgraded to version' in log_file.read_text()


@pytest.mark.parametrize('spelling, said', [
    (('db_expand',), None), (('db_check',), 'Database is up to date'),
    (('db_migrate',), 'Nothing to migrate'), (('db_contract',), 'Nothing to contract'),
])
def test_upstreams_one_word_rolling_upgrade_steps(tmp_path, spelling, said):
    config = write_database_config(str(tmp_path), 'sqlite:///%s/g.sqlite' % tmp_path)
    manage(config, 'db_sync')
    result = manage(config, *spelling)
    assert said is None or said in result.stdout
    assert manage(config, 'db', 'check').returncode == 0


def test_upstreams_positional_arguments(tmp_path):
    # Upstream's "db" actions take their arguments positionally too
    # ("glance-manage db load_metadefs /etc/glance/metadefs"), and its one-word
    # commands only so ("glance-manage db_load_metadefs PATH [merge] ...").
    config = write_database_config(str(tmp_path), 'sqlite:///%s/g.sqlite' % tmp_path)
    manage(config, 'db', 'sync', '3')
    assert manage(config, 'db', 'version').stdout.strip() == '3'
    manage(config, 'db', 'upgrade', 'heads')
    assert manage(config, 'db', 'check').returncode == 0
    catalog = tmp_path / 'catalog'
    catalog.mkdir()
    (catalog / 'ns.json').write_text(
        '{"namespace": "Test::Positional", "display_name": "Positional",'
        ' "visibility": "public", "properties": {"a": {"title": "A",'
        ' "type": "string"}}}')
    assert '1 namespaces loaded' in manage(config, 'db', 'load_metadefs',
                                           str(catalog)).stderr
    (catalog / 'ns.json').write_text(
        '{"namespace": "Test::Positional", "display_name": "Positional",'
        ' "visibility": "public", "properties": {"a": {"title": "A",'
        ' "type": "string"}, "b": {"title": "B", "type": "string"}}}')
    assert '1 skipped' in manage(config, 'db_load_metadefs', str(catalog)).stderr
    assert '1 merged' in manage(config, 'db_load_metadefs', str(catalog),
                                'true').stderr
    for spelling in (('db', 'export_metadefs'), ('db_export_metadefs',)):
        out = tmp_path / ('out-%d' % len(spelling))
        out.mkdir()
        manage(config, *spelling, str(out))
        [written] = out.iterdir()
        assert '"b"' in written.read_text()


@pytest.mark.parametrize('command, status, reason', [
    (('db', 'export_metadefs', '--path', '{tmp}/missing'), 2,
     '{tmp}/missing is not a directory'),
    (('db_sync',), 1, "No such file or directory: '/proc/no-such'"),
])
def test_a_failure_reaches_the_terminal_with_use_stderr_off(tmp_path, command,
                                                            status, reason):
    # Upstream's generated glance-api.conf, uncommented, says use_stderr = false
    # beside its log_file: the operator still sees why glance-manage failed.
    database = ('sqlite:////proc/no-such/g.sqlite' if command == ('db_sync',)
                else 'sqlite:///%s/g.sqlite' % tmp_path)
    config = tmp_path / 'glance-api.conf'
    config.write_text('[DEFAULT]\nuse_stderr = false\nlog_file = %s/api.log\n'
                      '[database]\nconnection = %s\n' % (tmp_path, database))
    if command != ('db_sync',):
        manage(str(config), 'db_sync')
    result = manage(str(config), *[arg.replace('{tmp}', str(tmp_path))
                                   for arg in command], check=False)
    assert result.returncode == status
    assert reason.replace('{tmp}', str(tmp_path)) in result.stderr, result.stderr


@pytest.fixture(params=BACKEND_PARAMS)
def upstream_database(request, databases, tmp_path):
    """``(db, config path)`` of a database holding upstream Glance's schema (the
    part that tells it: alembic's version table and an images table)."""
    url = databases.create(request.param)
    db = db_module.open_database(url)
    with db_module.connection(db):
        db.execute_sql('CREATE TABLE alembic_version (version_num VARCHAR(32) '
                       'NOT NULL PRIMARY KEY)')
        db.execute_sql("INSERT INTO alembic_version VALUES ('2025_2_contract01')")
        db.execute_sql('CREATE TABLE images (id VARCHAR(36) NOT NULL PRIMARY KEY, '
                       'name VARCHAR(255))')
    yield db, write_database_config(str(tmp_path), url)
    db.close_all()


@pytest.mark.parametrize('command', [('db', 'sync'), ('db', 'check'),
                                     ('db', 'version'), ('db_sync',)])
def test_upstreams_own_database_is_named_as_such_and_left_alone(upstream_database,
                                                                 command):
    # An operator moving over keeps [database] connection: "run db sync" (which
    # then failed on 'relation "images" already exists') was the wrong advice.
    db, config = upstream_database
    result = manage(config, *command, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert ("holds upstream Glance's schema (alembic revision 2025_2_contract01), "
            "which this service cannot use") in result.stderr, result.stderr
    assert 'Traceback' not in result.stderr
    with db_module.connection(db):
        assert 'schema_version' not in db.get_tables()


def test_the_registry_refuses_upstreams_own_database(upstream_database):
    from glance_registry import cmd as registry_cmd
    from glance_registry import process
    _db, config = upstream_database
    conf = process.load_config(['--config-file', config], opts.register_opts)
    assert "holds upstream Glance's schema" in registry_cmd.check_database(conf)


@pytest.mark.postgresql
def test_a_postgresql_database_not_encoded_in_utf8_is_refused(databases, tmp_path):
    """A LATIN1 database took 'é' and failed every name, tag or property beyond it
    ('€', emoji) with 500: db sync and the registry refuse it and say how to make
    one that works."""
    from glance_registry import cmd as registry_cmd
    from glance_registry import process
    url = databases.create('postgresql', "ENCODING 'LATIN1' LC_COLLATE 'C' "
                                         "LC_CTYPE 'C' TEMPLATE template0")
    config = write_database_config(str(tmp_path), url)
    for command in (('db', 'sync'), ('db', 'check')):
        result = manage(config, *command, check=False)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "is encoded in LATIN1, which cannot hold every name, tag and " \
            "property: create the database with ENCODING 'UTF8'" in result.stderr
    conf = process.load_config(['--config-file', config], opts.register_opts)
    assert 'is encoded in LATIN1' in registry_cmd.check_database(conf)
    db = db_module.open_database(url)
    with db_module.connection(db):
        assert db.get_tables() == []
    db.close_all()


@pytest.mark.parametrize('version', ['999', '12', '0', '-1'])
def test_sync_refuses_a_schema_version_this_release_does_not_have(tmp_path, version):
    # Upstream's alembic refuses a revision it does not know; taking 999 for
    # "everything" (or 12, a number no migration has, for 11) and saying all is
    # well would hide the operator's typo.
    config = write_database_config(str(tmp_path), 'sqlite:///%s/g.sqlite' % tmp_path)
    result = manage(config, 'db', 'sync', '--version', version, check=False)
    assert result.returncode == 2
    assert 'no schema version %s' % version in result.stderr
    assert '1-11, 13, 15-' in result.stderr
    assert 'Traceback' not in result.stderr
    assert not list(tmp_path.glob('g.sqlite*'))


def test_sync_to_an_earlier_version_says_it_never_goes_back(tmp_path):
    config = write_database_config(str(tmp_path), 'sqlite:///%s/g.sqlite' % tmp_path)
    manage(config, 'db', 'sync', '5')
    result = manage(config, 'db', 'sync', '--version', '3')
    assert 'already at version 5' in result.stderr
    assert 'never goes back' in result.stderr
    assert manage(config, 'db', 'version').stdout.strip() == '5'
