"""Each property and tag row carries its image's ``created_at`` (``child_order``),
so that a list filtered by a tag or property walks that filter's own index in page
order; rows an earlier release wrote without it are filled by the next registry to
start (and lists do not walk them meanwhile: ``test_list_plans``)."""

import datetime

import pytest

from glance_registry import db as db_module
from glance_registry.client import identity as identity_module
from glance_registry.client import list_params
from glance_registry.images import child_status
from glance_registry.images import filters
from glance_registry.images import records
from glance_registry.images import statements
from glance_registry.images import writes
from glance_registry.models import Image
from glance_registry.models import ImageProperty
from glance_registry.models import ImageTag
from tests.fixtures import processes
from tests.unit.registry.conftest import ADMIN
from tests.unit.registry.conftest import BACKEND_PARAMS
from tests.unit.registry.conftest import data_rules_config
from tests.unit.registry.conftest import sync
from tests.unit.registry.images.test_child_status import RAW
from tests.unit.registry.images.test_child_status import database  # noqa: F401


def copies(db, image_id):
    """The distinct ``image_created_at`` values of the image's property and tag
    rows."""
    return {value for model in child_status.CHILDREN
            for value, in model.select(model.image_created_at)
            .where(model.image == image_id).tuples().execute(db)}


def created_at(db, image_id):
    return Image.select(Image.created_at).where(Image.id == image_id).scalar(db)


def test_every_property_and_tag_row_holds_its_images_created_at(
        client, database, project, make_image):  # noqa: F811 (a fixture)
    owner = project()
    image = make_image(owner, {'os_distro': 'cirros'}, tags=['a'], **RAW)
    client.add_tag(owner, image['id'], 'added')
    client.update_image(owner, image['id'], properties={'later': 'x'})
    client.update_image(owner, image['id'], properties={'replaced': 'y'},
                        tags=['replaced'])
    assert copies(database, image['id']) == {created_at(database, image['id'])}
    assert {name for name, in ImageProperty.select(ImageProperty.name).where(
        ImageProperty.image == image['id']).tuples().execute(database)} \
        >= {'os_distro', 'later', 'replaced'}


def test_a_registry_fills_at_start_what_an_earlier_release_wrote(
        registry, databases, tmp_path):
    """An earlier release inserts rows without the copy: the next registry to
    start fills those of recently changed images."""
    url = databases.create(registry.backend)
    sync(url)
    db = db_module.open_database(url)
    with db_module.connection(db):
        image = writes.create_image(db, ADMIN, dict(RAW), properties={'k': 'v'})
        with db_module.write_transaction(db):   # as an earlier release inserts them
            ImageProperty.insert(image=image['id'], name='old',
                                 value='release').execute(db)
            ImageTag.insert(image=image['id'], value='old-release').execute(db)
        assert copies(db, image['id']) == {created_at(db, image['id']), None}
    secret = processes.new_secret()
    daemon = processes.registry_daemon(str(tmp_path), url, secret,
                                       extra=data_rules_config(str(tmp_path))).start()
    try:
        with db_module.connection(db):
            assert copies(db, image['id']) == {created_at(db, image['id'])}
        assert 'copied the creation time of 1 recently changed images' \
            in daemon.log_tail()
    finally:
        daemon.stop()
        db.close_all()


def test_a_walk_pages_through_images_created_at_the_same_instant_as_the_images(
        registry, databases, monkeypatch):
    """Images created in the same instant sort by id, in a walk of a tag's or
    property's index as along the images': every page after a marker among them
    is the same, each image once (a bulk import creates many in one second)."""
    url = databases.create(registry.backend)
    sync(url)
    db = db_module.open_database(url)
    owner = identity_module.Identity('u', 'p')
    other = identity_module.Identity('v', 'q')
    with db_module.connection(db):
        for n in range(12):
            writes.create_image(db, owner if n % 3 else other,
                                dict(RAW, visibility='private' if n % 4 else 'public'),
                                properties={'kind': 'same'}, tags=['same'])
        instant = datetime.datetime(2026, 3, 1, 12, 0, 0)
        with db_module.write_transaction(db):
            Image.update(created_at=instant).execute(db)
            for model in child_status.CHILDREN:
                model.update(image_created_at=instant).execute(db)
    # Lists of two tags or properties are walked once they match this many.
    monkeypatch.setattr(filters, 'DRIVE_LIMIT', 2)

    def pages(caller, params, expected_plan):
        seen, marker = [], None
        with db_module.connection(db):
            while True:
                query = list_params.parse_list_params(
                    [('limit', '5')] + params + ([('marker', marker)] if marker else []))
                assert records.narrowest_filter(db, query) == expected_plan
                page, marker = records.list_images(db, caller, query)
                seen.append([image['id'] for image in page])
                if marker is None:
                    return seen
    try:
        for caller in (ADMIN, owner):
            for params in ([('kind', 'same')], [('tag', 'same')]):
                walked = pages(caller, params, records.WALK)
                statements.clear()
                with monkeypatch.context() as patch:
                    patch.setattr(filters, 'walkable', lambda query: False)
                    by_images = pages(caller, params, None)
                statements.clear()
                ids = [image_id for page in walked for image_id in page]
                assert walked == by_images
                assert len(ids) == len(set(ids)) == (12 if caller is ADMIN else 9)
                assert ids == sorted(ids, reverse=True)
    finally:
        statements.clear()
        db.close_all()


@pytest.mark.parametrize('backend', BACKEND_PARAMS)
def test_a_row_without_the_copy_written_while_a_list_walks_is_not_listed_first(
        backend, databases, monkeypatch):
    """An earlier release tags an old image, without the copy, between the
    statement that found every row of the tag filled and the page's walk (a
    statement of its own, which reads the first one's snapshot). The walk must
    not list it, NULL first, at the head of the page: the page is the list as it
    was before the tag, and the next one, which no longer walks the tag, finds
    the image in its place."""
    url = databases.create(backend)
    sync(url)
    db = db_module.open_database(url)
    base = datetime.datetime(2026, 3, 1, 12, 0, 0)
    with db_module.connection(db):
        ids = []
        for n in range(4):
            monkeypatch.setattr(writes, 'utcnow',
                                lambda n=n: base + datetime.timedelta(seconds=n))
            ids.append(writes.create_image(db, ADMIN, dict(RAW),
                                           tags=['walked'] if n else ())['id'])
    monkeypatch.undo()
    oldest, tagged = ids[0], ids[:0:-1]
    monkeypatch.setattr(filters, 'DRIVE_LIMIT', 2)
    planned = records.narrowest_filter

    def racing(db, query, identity=None):
        plan = planned(db, query, identity)
        if plan == records.WALK:
            other = db_module.open_database(url)
            with db_module.connection(other), db_module.write_transaction(other):
                ImageTag.insert(image=oldest, value='walked').execute(other)
            other.close_all()
        return plan
    monkeypatch.setattr(records, 'narrowest_filter', racing)
    try:
        seen, marker = [], None
        with db_module.connection(db):
            while True:
                query = list_params.parse_list_params(
                    [('tag', 'walked'), ('limit', '2')]
                    + ([('marker', marker)] if marker else []))
                page, marker = records.list_images(db, ADMIN, query)
                seen.append([image['id'] for image in page])
                if marker is None:
                    break
        assert seen[0] == tagged[:2]
        assert [image_id for page in seen for image_id in page] == tagged + [oldest]
    finally:
        statements.clear()
        db.close_all()
