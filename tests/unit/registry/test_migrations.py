"""``glance-manage db sync|version``, the schema it builds, and the registry's refusal
to serve a database whose schema is older than the code."""

import os
import threading

import peewee
import pytest

from glance_registry import db as db_module
from glance_registry import migrations
from glance_registry import models
from glance_registry.client import identity
from glance_registry.images import locations
from glance_registry.images import members
from glance_registry.images import quotas
from glance_registry.images import records
from glance_registry.images import writes
from glance_registry.metadefs import models as metadef_models
from glance_registry.migrations import m0001_initial
from glance_registry.migrations import m0003_location_leases
from glance_registry.migrations import m0005_name_sort_index
from glance_registry.migrations import m0007_metadefs
from glance_registry.migrations import m0009_list_filter_indexes
from glance_registry.migrations import m0016_mysql_list_columns
from glance_registry.migrations import m0018_cache_copies
from glance_registry.migrations import m0019_child_status
from glance_registry.migrations import m0020_child_created_at
from glance_registry.migrations import m0021_child_formats
from glance_registry.migrations import m0022_child_access
from glance_registry.migrations import steps
from tests.fixtures import processes
from tests.unit.registry.conftest import BACKEND_PARAMS
from tests.unit.registry.conftest import manage
from tests.unit.registry.conftest import sync
from tests.unit.registry.conftest import write_database_config


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
    # On SQLite each migration is serialised on its own, so runners may share them.
    assert sorted(v for applied in results for v in applied) == [
        m.VERSION for m in migrations.MIGRATIONS]


def test_upgrade_stops_at_a_target_version(databases):
    db = db_module.open_database(databases.create('sqlite'))
    assert migrations.upgrade(db, target=0) == []
    assert migrations.current_version(db) == 0
    assert migrations.upgrade(db, target=1) == [1]
    assert migrations.current_version(db) == 1
    assert migrations.upgrade(db) == [m.VERSION for m in migrations.MIGRATIONS[1:]]
    assert migrations.current_version(db) == migrations.latest_version()
    db.close_all()


def test_the_models_describe_the_migrated_schema(registry):
    db = db_module.open_database(registry.database_url)
    with db_module.connection(db):
        _assert_models_describe(db)
    db.close_all()


def _assert_models_describe(db):
    for model in models.MODELS + metadef_models.MODELS:
        table = model._meta.table_name
        columns = {c.name: c for c in db.get_columns(table)}
        if db_module.dialect(db) == 'mysql':
            # Migration 16's generated columns, which only the list's SQL reads.
            for generated_table, column, _, _ in m0016_mysql_list_columns.COLUMNS:
                if table == generated_table:
                    del columns[column]
        fields = {f.column_name: f for f in model._meta.sorted_fields}
        assert set(columns) == set(fields), table
        for name, field in fields.items():
            assert columns[name].null == field.null, (table, name)
            assert columns[name].primary_key == field.primary_key, (table, name)
        indexed = {tuple(index.columns) for index in db.get_indexes(table)}
        for fields_, _unique in model._meta.indexes:
            wanted = tuple(model._meta.fields[f].column_name for f in fields_)
            assert wanted in indexed, (table, wanted)


def test_string_columns_compare_binary_on_every_backend(registry):
    """'a', 'A' and 'a ' are three different names, tags and sort positions."""
    db = db_module.open_database(registry.database_url)
    now = models.utcnow()
    image_id = 'collation-%s' % processes.new_secret()[:20]
    with pytest.raises(_RolledBack), db_module.connection(db):
        with db_module.write_transaction(db):
            models.Image.insert(id=image_id, status='queued', created_at=now,
                                updated_at=now, owner='collation-test').execute(db)
            for tag in ('a', 'A', 'a '):
                models.ImageTag.insert(image=image_id, value=tag).execute(db)
            assert (models.ImageTag.select()
                    .where((models.ImageTag.image == image_id)
                           & (models.ImageTag.value == 'a'))
                    .count(db)) == 1
            with pytest.raises(peewee.IntegrityError):
                with db.atomic():
                    models.ImageTag.insert(image=image_id, value='a').execute(db)
            raise _RolledBack()
    db.close_all()


def test_catalog_names_compare_binary_on_every_backend(registry):
    """'a', 'A' and 'a ' are three different tags of one namespace."""
    db = db_module.open_database(registry.database_url)
    now = models.utcnow()
    Tag = metadef_models.Tag
    with pytest.raises(_RolledBack), db_module.connection(db):
        with db_module.write_transaction(db):
            namespace_id = metadef_models.Namespace.insert(
                namespace='collation-%s' % processes.new_secret()[:20],
                visibility='private', created_at=now, updated_at=now).execute(db)
            for tag in ('a', 'A', 'a '):
                Tag.insert(namespace=namespace_id, name=tag, created_at=now,
                           updated_at=now).execute(db)
            assert (Tag.select().where((Tag.namespace == namespace_id)
                                       & (Tag.name == 'a')).count(db)) == 1
            with pytest.raises(peewee.IntegrityError):
                with db.atomic():
                    Tag.insert(namespace=namespace_id, name='a', created_at=now,
                               updated_at=now).execute(db)
            raise _RolledBack()
    db.close_all()


class _RolledBack(Exception):
    """Leaves the shared test database as it was."""


@pytest.fixture
def registry_workdir(tmp_path):
    return str(tmp_path)


def test_registry_refuses_to_start_on_an_old_schema(databases, registry_workdir):
    # current_version() itself is exercised on every backend by `db version` above.
    url = databases.create('sqlite')
    migrations.upgrade(db_module.open_database(url), target=1)
    daemon = processes.registry_daemon(registry_workdir, url, processes.new_secret())
    with pytest.raises(RuntimeError) as raised:
        daemon.start(timeout=20)
    assert ('database at version 1, code needs %d: run `glance-manage db sync`'
            % migrations.latest_version()) in str(raised.value)
    assert daemon.process.returncode != 0


def test_registry_refuses_to_start_without_a_secret(databases, registry_workdir):
    url = databases.create('sqlite')
    migrations.upgrade(db_module.open_database(url))
    daemon = processes.registry_daemon(registry_workdir, url, '')
    with pytest.raises(RuntimeError) as raised:
        daemon.start(timeout=20)
    assert 'registry_auth_secret is not set' in str(raised.value)


def test_registry_refuses_to_start_with_an_unusable_protection_file(
        databases, registry_workdir):
    url = databases.create('sqlite')
    migrations.upgrade(db_module.open_database(url))
    missing = os.path.join(registry_workdir, 'no-such-protections.conf')
    daemon = processes.registry_daemon(
        registry_workdir, url, processes.new_secret(),
        extra={'DEFAULT': {'property_protection_file': missing}})
    with pytest.raises(RuntimeError) as raised:
        daemon.start(timeout=20)
    assert 'cannot read property protection file %s' % missing in str(raised.value)


def test_db_sync_upgrades_a_version_1_database_in_place_keeping_its_data(
        empty_database, tmp_path):
    db = db_module.open_database(empty_database)
    assert migrations.upgrade(db, target=1) == [1]
    # Rows written as version 1 wrote them, through its own frozen tables.
    tables = {model.__name__: model for model in m0001_initial._tables()}
    now = models.utcnow()
    image_ids = ['%08d-0000-0000-0000-000000000000' % n for n in range(3)]
    with db_module.connection(db), db.bind_ctx(tables.values()):
        for image_id, status, size in zip(image_ids, ('active', 'saving', 'deleted'),
                                          (100, None, 7)):
            tables['Image'].create(
                id=image_id, name='old-' + status, status=status, owner='old-project',
                size=size, disk_format='raw', container_format='bare',
                created_at=now, updated_at=now, deleted=status == 'deleted')
        tables['ImageProperty'].create(image=image_ids[0], name='os_distro',
                                       value='cirros')
        tables['ImageTag'].create(image=image_ids[0], value='tagged')
        tables['ImageLocation'].create(image=image_ids[0], url='file:///old',
                                       metadata='{"k": 1}')
        tables['ImageMember'].create(image=image_ids[0], member='friend',
                                     status='accepted', created_at=now,
                                     updated_at=now)
    db.close_all()

    manage(write_database_config(str(tmp_path), empty_database), 'db', 'sync')

    db = db_module.open_database(empty_database)
    assert migrations.current_version(db) == migrations.latest_version()
    owner = identity.Identity('u', 'old-project')
    friend = identity.Identity('f', 'friend')
    with db_module.connection(db):
        active = records.get_image(db, friend, image_ids[0])
        assert (active['name'], active['size'], active['properties'], active['tags'],
                active['member_status']) == ('old-active', 100, {'os_distro': 'cirros'},
                                             ['tagged'], 'accepted')
        assert active['locations'] == [{'url': 'file:///old', 'metadata': {'k': 1},
                                        'status': 'active'}]
        assert [m['member_id'] for m in members.list_members(db, owner, image_ids[0])] \
            == ['friend']
        assert [image.reserved for image in models.Image.select().execute(db)] == [0, 0, 0]
        assert quotas.usage(db, owner).to_dict() == {
            'image_size_total': 100, 'image_count_total': 2,
            'image_count_uploading': 1, 'image_stage_total': 0}
        # The new column and table work on the upgraded database.
        assert writes.reserve(db, owner, image_ids[1], 50, 150) == {
            'usage': 150, 'reserved': 50}
        assert writes.create_image(db, owner, {}, quota={'max_images': 3})['owner'] \
            == 'old-project'
        # Version 3: old locations hold no lease, and are found by URL.
        assert [(row.lease_owner, row.lease_expires_at, row.attempts)
                for row in models.ImageLocation.select().execute(db)] == [(None, None, 0)]
        admin = identity.Identity('a', None, ('admin',), is_admin=True)
        assert locations.references(db, admin, ['file:///old']) == {
            'file:///old': [image_ids[0]]}
        # Version 19: each property and tag carries its image's status.
        assert [(row.image_status) for model in (models.ImageProperty, models.ImageTag)
                for row in model.select().execute(db)] == ['active', 'active']
        # Version 20: and its created_at.
        assert [row.image_created_at for model in (models.ImageProperty,
                                                   models.ImageTag)
                for row in model.select().execute(db)] \
            == [models.Image.select(models.Image.created_at)
                .where(models.Image.id == image_ids[0]).scalar(db)] * 2
        # Version 21: and its formats.
        assert [(row.image_disk_format, row.image_container_format)
                for model in (models.ImageProperty, models.ImageTag)
                for row in model.select().execute(db)] == [('raw', 'bare')] * 2
        # Version 22: and its visibility and owner.
        assert {(row.image_visibility, row.image_owner)
                for model in (models.ImageProperty, models.ImageTag)
                for row in model.select().execute(db)} \
            == set(models.Image.select(models.Image.visibility, models.Image.owner)
                   .where(models.Image.id == image_ids[0]).tuples().execute(db))
        _assert_models_describe(db)
    db.close_all()


@pytest.mark.parametrize('migration, table, index', [
    (m0003_location_leases, 'image_locations', 'ix_image_locations_url'),
    (m0007_metadefs, 'metadef_tags', 'uq_metadef_tags_namespace_id_name'),
    (m0009_list_filter_indexes, 'images', 'ix_images_status_created_at_id'),
    (m0018_cache_copies, 'cache_copies', m0018_cache_copies.INDEX),
    (m0019_child_status, 'image_tags', m0019_child_status.TAG_INDEX),
    (m0020_child_created_at, 'image_properties', m0020_child_created_at.PROPERTY_INDEX),
    (m0021_child_formats, 'image_tags', m0021_child_formats.TAG_INDEX),
    (m0022_child_access, 'image_properties', m0022_child_access.PROPERTY_INDEX),
], ids=['3', '7', '9', '18', '19', '20', '21', '22'])
def test_a_migration_runs_again_after_an_interruption(empty_database, migration,
                                                      table, index):
    """MariaDB commits each ALTER or CREATE at once: a sync stopped half-way is run
    again."""
    db = db_module.open_database(empty_database)
    migrations.upgrade(db, target=migration.VERSION)
    with db_module.connection(db):
        migration.upgrade(db)
        indexes = [found.name for found in db.get_indexes(table)]
    db.close_all()
    assert indexes.count(index) == 1


def test_db_sync_finishes_an_initial_schema_interrupted_half_way(empty_database):
    """MariaDB commits each CREATE at once: a first sync stopped half-way leaves some
    tables and indexes and no version. Run again, it builds the rest (it failed on
    'Table images already exists' for ever)."""
    db = db_module.open_database(empty_database)
    migrations.upgrade(db, target=1)
    with db_module.connection(db):
        # What the interrupted run had not done yet.
        db.execute_sql('DELETE FROM schema_version')
        db.execute_sql('DROP TABLE tasks')
        db.execute_sql('DROP INDEX ix_image_members_member_status%s' % (
            ' ON image_members' if db_module.dialect(db) == 'mysql' else ''))
    assert migrations.upgrade(db)[0] == 1
    with db_module.connection(db):
        assert migrations.current_version(db) == migrations.latest_version()
        _assert_models_describe(db)
    db.close_all()


def test_sorting_by_name_has_an_expression_index_where_the_database_has_them(
        empty_database):
    db = db_module.open_database(empty_database)
    migrations.upgrade(db)
    with db_module.connection(db):
        m0005_name_sort_index.upgrade(db)   # again: a no-op
        names = [index.name for index in db.get_indexes('images')]
    dialect = db_module.dialect(db)
    db.close_all()
    # MariaDB has no expression indexes.
    assert names.count('ix_images_name_sort') == (0 if dialect == 'mysql' else 1)


def test_lists_have_generated_columns_and_their_indexes_on_mariadb(empty_database):
    """MariaDB indexes ``COALESCE(name, '')`` and ``LEFT(value, 255)`` through
    virtual columns in their source columns' collations (keeping migration 1's
    prefix index for the previous release's registries); elsewhere migration 16
    does nothing. Run again, it changes nothing."""
    db = db_module.open_database(empty_database)
    migrations.upgrade(db, target=16)
    with db_module.connection(db):
        m0016_mysql_list_columns.upgrade(db)   # again: a no-op
        dialect = db_module.dialect(db)
        indexes = {}
        for table in ('images', 'image_properties'):
            indexes.update({index.name: index.columns
                            for index in db.get_indexes(table)})
        columns = db.execute_sql(
            'SELECT table_name, column_name, collation_name, extra '
            'FROM information_schema.columns WHERE table_schema = DATABASE() '
            "AND column_name IN ('name', 'name_sort', 'value', 'value_prefix')"
        ).fetchall() if dialect == 'mysql' else []
    db.close_all()
    wanted = {'ix_images_name_sort_id': ['name_sort', 'id'],
              'ix_images_name_sort_asc_id': ['name_sort', 'id'],
              'ix_image_properties_name_value_prefix': ['name', 'value_prefix',
                                                        'image_id'],
              'ix_images_os_hidden_created_at_visible': [
                  'os_hidden', 'created_at', 'id', 'deleted', 'visibility', 'owner']}
    if dialect != 'mysql':
        assert not set(wanted) & set(indexes)
        assert 'ix_image_properties_name_value' in indexes
        return
    assert {name: indexes.get(name) for name in wanted} == wanted
    assert 'ix_image_properties_name_value' in indexes
    found = {(table, column): (collation, extra.upper())
             for table, column, collation, extra in columns}
    for table, column, source, _ in m0016_mysql_list_columns.COLUMNS:
        assert found[(table, column)][0] == found[(table, source)][0]
        assert 'VIRTUAL' in found[(table, column)][1]   # nothing stored in the rows


def _child_indexes(url):
    """The indexes of the property and tag tables of ``url``, synced, by name."""
    db = db_module.open_database(url)
    migrations.upgrade(db)
    with db_module.connection(db):
        found = {index.name: index for table in ('image_properties', 'image_tags')
                 for index in db.get_indexes(table)}
    db.close_all()
    return found


def test_property_and_tag_indexes_hold_the_status_and_formats_from_version_21(
        empty_database):
    """Migration 19 replaced the (name, value prefix) and (value) indexes with ones
    that go on with the image's status; migration 21 replaces those with ones that
    go on with its status, formats and id."""
    found = _child_indexes(empty_database)
    assert {m0021_child_formats.PROPERTY_INDEX, m0021_child_formats.TAG_INDEX} \
        <= set(found)
    replaced = m0019_child_status.REPLACED + m0021_child_formats.REPLACED
    assert not {name for _, name in replaced} & set(found)
    for name in (m0021_child_formats.PROPERTY_INDEX, m0021_child_formats.TAG_INDEX):
        key = '%s %s' % (found[name].sql, found[name].columns)
        for column in ('image_status', 'image_disk_format', 'image_container_format',
                       'image_id'):
            assert column in key, found[name]


def test_migration_21_finishes_a_sync_stopped_after_adding_its_columns(
        empty_database):
    """MariaDB commits the ALTER at once: a sync stopped before the fill leaves the
    columns at their default ('', which every format filter counts) and migration
    19's indexes in place. Run again, it fills every row and swaps the indexes."""
    db = db_module.open_database(empty_database)
    migrations.upgrade(db, target=20)
    image = {'id': '00000000-0000-0000-0000-000000000021'}
    now = models.utcnow()
    with db_module.connection(db):
        # As version 20 wrote them (the models know the columns of 21).
        models.Image.insert(id=image['id'], status='queued', disk_format='qcow2',
                            created_at=now, updated_at=now).execute(db)
        db.execute_sql("INSERT INTO image_properties (image_id, name, value, "
                       "image_status) VALUES (%s, 'k', 'v', 'queued')" % db.param,
                       [image['id']])
        db.execute_sql("INSERT INTO image_tags (image_id, value, image_status) "
                       "VALUES (%s, 't', 'queued')" % db.param, [image['id']])
        for table in ('image_properties', 'image_tags'):
            steps.add_missing_columns(db, table, [
                (copy, "VARCHAR(64) NULL DEFAULT ''")
                for copy in m0021_child_formats.COLUMNS.values()])
    assert migrations.upgrade(db, target=21) == [21]
    with db_module.connection(db):
        copies = {row for model in (models.ImageProperty, models.ImageTag)
                  for row in model.select(model.image_disk_format,
                                          model.image_container_format)
                  .where(model.image == image['id']).tuples().execute(db)}
        indexes = {index.name for table in ('image_properties', 'image_tags')
                   for index in db.get_indexes(table)}
    db.close_all()
    assert copies == {('qcow2', None)}
    assert {m0021_child_formats.PROPERTY_INDEX, m0021_child_formats.TAG_INDEX} \
        <= indexes
    assert not {name for _, name in m0021_child_formats.REPLACED} & indexes


def test_property_and_tag_indexes_hold_the_visibility_and_owner_from_version_22(
        empty_database):
    """Migration 22 adds (name, value prefix, image_visibility, image_owner,
    image_id) and (value, image_visibility, image_owner, image_id) beside the
    status and formats indexes, which it leaves as they are."""
    found = _child_indexes(empty_database)
    assert {m0021_child_formats.PROPERTY_INDEX, m0021_child_formats.TAG_INDEX,
            m0022_child_access.PROPERTY_INDEX, m0022_child_access.TAG_INDEX} \
        <= set(found)
    for name in (m0022_child_access.PROPERTY_INDEX, m0022_child_access.TAG_INDEX):
        key = '%s %s' % (found[name].sql, found[name].columns)
        for column in ('image_visibility', 'image_owner', 'image_id'):
            assert column in key, found[name]
        assert 'image_status' not in key, found[name]


def test_migration_22_fills_the_copies_of_rows_written_before_it(empty_database):
    """Rows written at version 21 get their image's visibility and owner (its
    first 64 characters; NULL for an image without one)."""
    db = db_module.open_database(empty_database)
    migrations.upgrade(db, target=21)
    owned = {'id': '00000000-0000-0000-0000-000000000022', 'owner': 'p' * 70,
             'visibility': 'community'}
    unowned = {'id': '00000000-0000-0000-0000-000000000023', 'owner': None,
               'visibility': 'public'}
    now = models.utcnow()
    with db_module.connection(db):
        for image in (owned, unowned):
            db.execute_sql(
                "INSERT INTO images (id, status, visibility, owner, protected, "
                "os_hidden, min_disk, min_ram, deleted, reserved, created_at, "
                "updated_at) VALUES (%s, 'queued', %s, %s, %s, %s, 0, 0, %s, 0, "
                "%s, %s)" % ((db.param,) * 8),
                [image['id'], image['visibility'], image['owner'], False, False,
                 False, now, now])
            db.execute_sql("INSERT INTO image_properties (image_id, name, value, "
                           "image_status) VALUES (%s, 'k', 'v', 'queued')" % db.param,
                           [image['id']])
            db.execute_sql("INSERT INTO image_tags (image_id, value, image_status) "
                           "VALUES (%s, 't', 'queued')" % db.param, [image['id']])
    assert migrations.upgrade(db) == [22]
    with db_module.connection(db):
        copies = {image['id']: {row for model in (models.ImageProperty,
                                                  models.ImageTag)
                                for row in model.select(model.image_visibility,
                                                        model.image_owner)
                                .where(model.image == image['id']).tuples().execute(db)}
                  for image in (owned, unowned)}
    db.close_all()
    assert copies == {owned['id']: {('community', 'p' * 64)},
                      unowned['id']: {('public', None)}}


def test_property_and_tag_indexes_walk_them_in_page_order_from_version_20(
        empty_database):
    """Migration 20 adds (name, value prefix, image_created_at, image_id) and
    (value, image_created_at, image_id) beside the status (and, from 21, formats)
    indexes."""
    found = _child_indexes(empty_database)
    assert {m0020_child_created_at.PROPERTY_INDEX,
            m0020_child_created_at.TAG_INDEX} <= set(found)
    for name in (m0020_child_created_at.PROPERTY_INDEX,
                 m0020_child_created_at.TAG_INDEX):
        assert 'image_created_at' in '%s %s' % (found[name].sql,
                                                found[name].columns), found[name]


@pytest.mark.postgresql
def test_child_tables_compare_image_ids_as_images_id_does(databases):
    """On PostgreSQL a comparison between columns of two collations cannot use an
    index: correlated subqueries on ``image_id`` need the collation of ``images.id``."""
    url = databases.create('postgresql')
    sync(url)
    db = db_module.open_database(url)
    with db_module.connection(db):
        collations = dict(db.execute_sql(
            "SELECT table_name || '.' || column_name, collation_name "
            "FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND column_name IN ('id', 'image_id') AND table_name LIKE 'image%%'"
        ).fetchall())
    db.close_all()
    assert collations.pop('images.id') == 'C'
    assert {name: collation for name, collation in collations.items()
            if name.endswith('.image_id')} == {
        '%s.image_id' % table: 'C' for table in ('image_properties', 'image_tags',
                                                 'image_locations', 'image_members')}
