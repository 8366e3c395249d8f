"""Each property and tag row carries its image's disk and container formats
(``child_formats``), through every write of them, so that a list filtered by a
format and by a tag or property counts the images matching both from one index;
rows an earlier release wrote without them still count, and a registry repairs at
start what such a release changed since ``db sync``."""

import pytest

from glance_registry import db as db_module
from glance_registry.images import child_formats
from glance_registry.images import writes
from glance_registry.models import Image
from glance_registry.models import ImageProperty
from glance_registry.models import ImageTag
from tests.unit.registry.conftest import ADMIN
from tests.unit.registry.conftest import sync
from tests.unit.registry.images.test_child_status import database  # noqa: F401
from tests.unit.registry.images.test_child_status import listed
from tests.unit.registry.images.test_child_status import registry_started


def copies(db, image_id):
    """The distinct ``(disk, container)`` copies on the image's property and tag
    rows."""
    return {row for model in (ImageProperty, ImageTag)
            for row in model.select(model.image_disk_format,
                                    model.image_container_format)
            .where(model.image == image_id).tuples().execute(db)}


def test_the_copies_follow_every_write_of_the_formats(client, database, project,
                                                      make_image):
    owner = project()
    image = make_image(owner, {'os_distro': 'cirros'}, tags=['a'])
    assert copies(database, image['id']) == {(None, None)}
    client.update_image(owner, image['id'], values={'disk_format': 'qcow2'},
                        properties={'added': 'x'}, tags=['b'])
    assert copies(database, image['id']) == {('qcow2', None)}
    client.update_image(owner, image['id'], values={'container_format': 'bare'})
    assert copies(database, image['id']) == {('qcow2', 'bare')}
    # An import's conversion names the new format before the image is active.
    client.update_image(owner, image['id'], values={'disk_format': 'raw'})
    client.add_location(owner, image['id'], 'file:///formats-%s' % image['id'],
                        transition=('queued', 'active'), values={'size': 3})
    assert copies(database, image['id']) == {('raw', 'bare')}
    client.add_tag(owner, image['id'], 'added-when-active')
    assert copies(database, image['id']) == {('raw', 'bare')}
    other = make_image(owner, {'k': 'v'}, tags=['t'], disk_format='iso',
                       container_format='bare')
    assert copies(database, other['id']) == {('iso', 'bare')}


def test_a_format_and_a_property_or_tag_that_match_no_image_together(
        client, project, make_image, scope):
    """Each filter matches images, none both: the list is empty, and shows the
    image once one matches both."""
    owner = project()
    raw = make_image(owner, {'kind': 'wanted'}, tags=['wanted'], disk_format='raw',
                     container_format='bare')
    qcow2 = make_image(owner, {'kind': 'other'}, tags=['other'],
                       disk_format='qcow2', container_format='ovf')
    for params in ([('disk_format', 'qcow2'), ('kind', 'wanted')],
                   [('disk_format', 'qcow2'), ('tag', 'wanted')],
                   [('container_format', 'in:ovf,ova'), ('kind', 'wanted')],
                   [('disk_format', 'raw'), ('container_format', 'ovf')]):
        assert listed(client, owner, scope, params) == []
    assert listed(client, owner, scope, [('disk_format', 'raw'), ('kind', 'wanted')]) \
        == [raw['id']]
    client.update_image(owner, qcow2['id'], properties={'kind': 'wanted'})
    assert listed(client, owner, scope, [('disk_format', 'qcow2'), ('kind', 'wanted')]) \
        == [qcow2['id']]
    client.update_image(owner, raw['id'], values={'disk_format': 'qcow2'})
    assert sorted(listed(client, owner, scope, [('disk_format', 'qcow2'),
                                                ('tag', 'wanted')])) == [raw['id']]


def test_a_format_longer_than_the_copy_is_still_listed(client, database, project,
                                                       make_image, scope):
    """The copy holds the first ``PREFIX`` characters: two formats that share them
    are told apart by the image's own column."""
    owner = project()
    long_format = 'f' * child_formats.PREFIX
    first = make_image(owner, {'kind': 'k'}, disk_format=long_format + '-one')
    second = make_image(owner, {'kind': 'k'}, disk_format=long_format + '-two')
    assert copies(database, first['id']) == {(long_format, None)}
    for image, wanted in ((first, '-one'), (second, '-two')):
        assert listed(client, owner, scope, [('disk_format', long_format + wanted),
                                             ('kind', 'k')]) == [image['id']]


def test_rows_an_earlier_release_wrote_count_for_every_format(
        client, database, project, make_image, scope):
    """A registry of the release before ``db sync`` knows no format copies: its rows
    hold the columns' default, which every format filter counts."""
    owner = project()
    image = make_image(owner, disk_format='raw', container_format='bare')
    with db_module.write_transaction(database):
        ImageProperty.insert(image=image['id'], name='old', value='release',
                             image_status='queued').execute(database)
        ImageTag.insert(image=image['id'], value='old-release',
                        image_status='queued').execute(database)
    assert (child_formats.UNKNOWN, child_formats.UNKNOWN) in copies(database,
                                                                   image['id'])
    assert listed(client, owner, scope, [('disk_format', 'raw'), ('old', 'release')]) \
        == [image['id']]
    assert listed(client, owner, scope, [('container_format', 'bare'),
                                         ('tag', 'old-release')]) == [image['id']]


def test_a_registry_repairs_at_start_what_an_earlier_release_changed(
        registry, databases, tmp_path):
    """An earlier release changes formats without copying them: the next registry
    to start copies them onto the rows of recently changed images."""
    url = databases.create(registry.backend)
    sync(url)
    db = db_module.open_database(url)
    with db_module.connection(db):
        image = writes.create_image(db, ADMIN, {'disk_format': 'raw'},
                                    properties={'k': 'v'}, tags=['t'])
        with db_module.write_transaction(db):   # as an earlier release changes them
            Image.update(disk_format='qcow2', container_format='bare').where(
                Image.id == image['id']).execute(db)
        assert copies(db, image['id']) == {('raw', None)}
    try:
        with registry_started(url, tmp_path) as daemon, db_module.connection(db):
            assert copies(db, image['id']) == {('qcow2', 'bare')}
        assert 'copied the formats of 1 recently changed images' \
            in daemon.log_tail()
    finally:
        db.close_all()


@pytest.mark.parametrize('values, expected', [
    ({}, {}),
    ({'name': 'x'}, {}),
    ({'disk_format': None}, {'image_disk_format': None}),
    ({'disk_format': 'q' * 70, 'container_format': 'bare'},
     {'image_disk_format': 'q' * child_formats.PREFIX,
      'image_container_format': 'bare'}),
])
def test_a_write_copies_the_formats_it_sets_and_no_other(values, expected):
    assert child_formats.COPIES.of_values(values) == expected
