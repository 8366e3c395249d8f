"""Each property and tag row carries its image's status (``child_status``), through
every status change, so that a list filtered by status and by a tag or property
counts the images matching both from one index; rows an earlier release wrote
without it still count, and a registry repairs at start what such a release
changed since ``db sync``."""

import contextlib
import datetime

import pytest

from glance_registry import db as db_module
from glance_registry import migrations
from glance_registry.images import child_access
from glance_registry.images import child_formats
from glance_registry.images import child_order
from glance_registry.images import child_status
from glance_registry.images import writes
from glance_registry.models import Image
from glance_registry.models import ImageProperty
from glance_registry.models import ImageTag
from tests.fixtures import processes
from tests.unit.registry.conftest import ADMIN
from tests.unit.registry.conftest import data_rules_config
from tests.unit.registry.conftest import sync

RAW = {'disk_format': 'raw', 'container_format': 'bare'}


@pytest.fixture
def database(registry):
    """A connection to the registry's own database, for the rows' copies."""
    db = db_module.open_database(registry.database_url)
    with db_module.connection(db):
        yield db
    db.close_all()


def copies(db, image_id):
    """The distinct ``image_status`` values of the image's property and tag rows."""
    return {value for model in (ImageProperty, ImageTag)
            for value, in model.select(model.image_status)
            .where(model.image == image_id).tuples().execute(db)}


def listed(client, caller, scope, params):
    return [image['id'] for image in
            client.list_images(caller, [('test_scope', scope)] + params)[0]]


@contextlib.contextmanager
def registry_started(url, tmp_path):
    """A registry of this release started on ``url`` (starting, it repairs the
    rows' copies), stopped after."""
    daemon = processes.registry_daemon(str(tmp_path), url, processes.new_secret(),
                                       extra=data_rules_config(str(tmp_path))).start()
    try:
        yield daemon
    finally:
        daemon.stop()


def test_the_copies_follow_every_status_change(client, database, project,
                                               make_image):
    owner = project()
    image = make_image(owner, {'os_distro': 'cirros'}, tags=['a', 'b'], **RAW)
    assert copies(database, image['id']) == {'queued'}
    client.transition_status(owner, image['id'], 'queued', 'saving', lease=60)
    assert copies(database, image['id']) == {'saving'}
    client.add_tag(owner, image['id'], 'added-while-saving')
    client.add_location(owner, image['id'], 'file:///child-%s' % image['id'],
                        transition=('saving', 'active'), values={'size': 3})
    assert copies(database, image['id']) == {'active'}
    client.update_image(owner, image['id'], properties={'later': 'x'},
                        tags=['replaced'])
    assert copies(database, image['id']) == {'active'}
    client.transition_status(owner, image['id'], 'active', 'deactivated')
    assert copies(database, image['id']) == {'deactivated'}
    client.transition_status(owner, image['id'], 'deactivated', 'active')
    client.delete_image(owner, image['id'], delayed=True)
    assert copies(database, image['id']) == {'pending_delete'}
    client.restore_image(ADMIN, image['id'])
    assert copies(database, image['id']) == {'active'}
    client.delete_image(owner, image['id'])
    assert copies(database, image['id']) == {'deleted'}


def test_status_and_a_property_or_tag_that_match_no_image_together(
        client, project, make_image, scope):
    """Each filter matches images, none both: the list is empty, and shows the
    image once one matches both."""
    owner = project()
    queued = make_image(owner, {'kind': 'other'}, tags=['other'], **RAW)
    active = make_image(owner, {'kind': 'wanted'}, tags=['wanted'], **RAW)
    client.add_location(owner, active['id'], 'file:///child-%s' % active['id'],
                        transition=('queued', 'active'), values={'size': 3})
    for params in ([('status', 'queued'), ('kind', 'wanted')],
                   [('status', 'queued'), ('tag', 'wanted')],
                   [('status', 'in:queued,killed'), ('kind', 'wanted')]):
        assert listed(client, owner, scope, params) == []
    assert listed(client, owner, scope, [('status', 'active'), ('kind', 'wanted')]) \
        == [active['id']]
    client.update_image(owner, queued['id'], properties={'kind': 'wanted'})
    assert listed(client, owner, scope, [('status', 'queued'), ('kind', 'wanted')]) \
        == [queued['id']]


def test_rows_an_earlier_release_wrote_count_for_every_status(
        client, database, project, make_image, scope):
    """A registry of the release before ``db sync`` knows no ``image_status``: its
    rows hold the column's default, which every status filter counts."""
    owner = project()
    image = make_image(owner, **RAW)
    with db_module.write_transaction(database):
        ImageProperty.insert(image=image['id'], name='old', value='release').execute(
            database)   # as an earlier release inserts it: no image_status
        ImageTag.insert(image=image['id'], value='old-release').execute(database)
    assert copies(database, image['id']) == {child_status.UNKNOWN, 'queued'}
    assert listed(client, owner, scope, [('status', 'queued'), ('old', 'release')]) \
        == [image['id']]
    assert listed(client, owner, scope, [('status', 'queued'),
                                         ('tag', 'old-release')]) == [image['id']]


def test_a_registry_repairs_at_start_what_an_earlier_release_changed(
        registry, databases, tmp_path):
    """An earlier release changes statuses without copying them: the next
    registry to start copies them onto the rows of recently changed images."""
    url = databases.create(registry.backend)
    sync(url)
    db = db_module.open_database(url)
    with db_module.connection(db):
        image = writes.create_image(db, ADMIN, dict(RAW), properties={'k': 'v'},
                                    tags=['t'])
        with db_module.write_transaction(db):   # as an earlier release moves it
            Image.update(status='active').where(Image.id == image['id']).execute(db)
        assert copies(db, image['id']) == {'queued'}
    try:
        with registry_started(url, tmp_path) as daemon, db_module.connection(db):
            assert copies(db, image['id']) == {'active'}
        assert 'copied the status of 1 recently changed images' in daemon.log_tail()
    finally:
        db.close_all()


@pytest.mark.parametrize('since', [child_status.stale_since,
                                   child_formats.COPIES.stale_since,
                                   child_access.COPIES.stale_since,
                                   child_order.unfilled_since],
                         ids=['status', 'formats', 'access', 'created_at'])
def test_the_repair_reads_only_the_recent_images_rows(tmp_path, since):
    """A registry starts after a busy day: the read of its repair of the status
    copies (and of the formats', ``child_formats``, and its fill of the created_at
    ones, ``child_order``) walks the images
    changed since, by their ``updated_at`` index, not every property and tag."""
    db = db_module.open_database('sqlite:///%s/plan.sqlite' % tmp_path)
    migrations.upgrade(db)
    sql, params = since(datetime.datetime(2026, 1, 1)).sql()
    with db_module.connection(db):
        plan = [row[-1] for row in db.execute_sql('EXPLAIN QUERY PLAN ' + sql,
                                                  params).fetchall()]
    db.close_all()
    assert plan[0].startswith('SEARCH t1 USING '), plan
    assert plan[0].endswith('INDEX ix_images_updated_at_id (updated_at>?)'), plan
    assert not any(step.startswith('SCAN') for step in plan), plan
