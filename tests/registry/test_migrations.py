"""``glance-manage db sync|version``, the schema it builds, and the registry's refusal
to serve a database whose schema is older than the code."""

import threading

import peewee
import pytest

from glance_registry import db as db_module
from glance_registry import migrations
from glance_registry import models
from tests.fixtures import processes
from tests.registry.conftest import BACKEND_PARAMS
from tests.registry.conftest import manage
from tests.registry.conftest import write_database_config


@pytest.fixture(params=BACKEND_PARAMS)
def empty_database(request, databases):
    """The URL of a new, empty database of each backend."""
    return databases.create(request.param)


def test_db_sync_builds_the_schema_once_and_db_version_reports_it(
        empty_database, tmp_path):
    config = write_database_config(str(tmp_path), empty_database)
    assert manage(config, 'db', 'version').stdout.strip() == '0'
    manage(config, 'db', 'sync')
    db = db_module.open_database(empty_database)
    assert migrations.current_version(db) == migrations.latest_version()
    with db_module.connection(db):
        tables = db.get_tables()
        recorded = db.execute_sql('SELECT version FROM schema_version').fetchall()
    again = manage(config, 'db', 'sync')
    assert 'already at version %d' % migrations.latest_version() in again.stderr
    with db_module.connection(db):
        assert db.get_tables() == tables
        assert db.execute_sql('SELECT version FROM schema_version').fetchall() == recorded
    db.close_all()
    assert [version for version, in recorded] == [m.VERSION
                                                  for m in migrations.MIGRATIONS]


def test_db_sync_creates_a_new_sqlite_database_and_its_directory(tmp_path):
    url = 'sqlite:///%s/new/dir/glance.sqlite' % tmp_path
    manage(write_database_config(str(tmp_path), url), 'db', 'sync')
    db = db_module.open_database(url)
    assert migrations.current_version(db) == migrations.latest_version()
    db.close_all()


def test_concurrent_syncs_apply_each_migration_once(empty_database):
    results, failures = [], []
    barrier = threading.Barrier(3)

    def sync():
        db = db_module.open_database(empty_database)
        barrier.wait()
        try:
            results.append(migrations.upgrade(db))
        except Exception as exc:
            failures.append(exc)
        finally:
            db.close_all()

    threads = [threading.Thread(target=sync) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(results) == [[], [], [m.VERSION for m in migrations.MIGRATIONS]]


def test_upgrade_stops_at_a_target_version(databases):
    db = db_module.open_database(databases.create('sqlite'))
    assert migrations.upgrade(db, target=0) == []
    assert migrations.current_version(db) == 0
    assert migrations.upgrade(db) == [1]
    db.close_all()


def test_the_models_describe_the_migrated_schema(registry):
    db = db_module.open_database(registry.database_url)
    with db_module.connection(db):
        for model in models.MODELS:
            table = model._meta.table_name
            columns = {c.name: c for c in db.get_columns(table)}
            fields = {f.column_name: f for f in model._meta.sorted_fields}
            assert set(columns) == set(fields), table
            for name, field in fields.items():
                assert columns[name].null == field.null, (table, name)
                assert columns[name].primary_key == field.primary_key, (table, name)
            indexed = {tuple(index.columns) for index in db.get_indexes(table)}
            for fields_, _unique in model._meta.indexes:
                wanted = tuple(model._meta.fields[f].column_name for f in fields_)
                assert wanted in indexed, (table, wanted)
    db.close_all()


def test_string_columns_compare_binary_on_every_backend(registry):
    """'a', 'A' and 'a ' are three different names, tags and sort positions."""
    db = db_module.open_database(registry.database_url)
    models.bind(db)
    now = models.utcnow()
    image_id = 'collation-%s' % processes.new_secret()[:20]
    with pytest.raises(_RolledBack), db_module.connection(db):
        with db_module.write_transaction(db):
            models.Image.create(id=image_id, status='queued', created_at=now,
                                updated_at=now, owner='collation-test')
            for tag in ('a', 'A', 'a '):
                models.ImageTag.create(image=image_id, value=tag)
            assert (models.ImageTag.select()
                    .where((models.ImageTag.image == image_id)
                           & (models.ImageTag.value == 'a'))
                    .count()) == 1
            with pytest.raises(peewee.IntegrityError):
                with db.atomic():
                    models.ImageTag.create(image=image_id, value='a')
            raise _RolledBack()
    db.close_all()


class _RolledBack(Exception):
    """Leaves the shared test database as it was."""


@pytest.fixture
def registry_workdir(tmp_path):
    return str(tmp_path)


def test_registry_refuses_to_start_on_an_old_schema(databases, registry_workdir):
    # current_version() itself is exercised on every backend by `db version` above.
    daemon = processes.registry_daemon(registry_workdir, databases.create('sqlite'),
                                       processes.new_secret())
    with pytest.raises(RuntimeError) as raised:
        daemon.start(timeout=20)
    assert ('database at version 0, code needs %d: run `glance-manage db sync`'
            % migrations.latest_version()) in str(raised.value)
    assert daemon.process.returncode != 0


def test_registry_refuses_to_start_without_a_secret(databases, registry_workdir):
    url = databases.create('sqlite')
    migrations.upgrade(db_module.open_database(url))
    daemon = processes.registry_daemon(registry_workdir, url, '')
    with pytest.raises(RuntimeError) as raised:
        daemon.start(timeout=20)
    assert 'registry_auth_secret is not set' in str(raised.value)
