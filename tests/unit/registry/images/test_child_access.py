"""Each property and tag row carries its image's visibility and owner
(``child_access``), through every write of them, so that a list counts the images
of a tag or property it may show from one index: an owner, or a project's own
private images, paired with a property that many other images have finds its few
matches (or none) at once. Rows an earlier release wrote without the copies still
count, and a registry repairs at start what such a release changed since
``db sync``."""

import pytest

from glance_registry import db as db_module
from glance_registry.client import identity
from glance_registry.client import list_params
from glance_registry.images import child_access
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
    """The distinct ``(visibility, owner)`` copies on the image's property and tag
    rows."""
    return {row for model in (ImageProperty, ImageTag)
            for row in model.select(model.image_visibility, model.image_owner)
            .where(model.image == image_id).tuples().execute(db)}


def test_the_copies_follow_every_write_of_the_visibility_and_owner(
        client, database, project, make_image):
    owner, other = project(), project()
    image = make_image(owner, {'os_distro': 'cirros'}, tags=['a'])
    assert copies(database, image['id']) == {('shared', owner.project_id)}
    client.update_image(owner, image['id'], values={'visibility': 'private'},
                        properties={'added': 'x'}, tags=['b'])
    assert copies(database, image['id']) == {('private', owner.project_id)}
    client.update_image(ADMIN, image['id'], values={'owner': other.project_id})
    assert copies(database, image['id']) == {('private', other.project_id)}
    client.add_tag(other, image['id'], 'added-later')
    assert copies(database, image['id']) == {('private', other.project_id)}
    public = make_image(ADMIN, {'k': 'v'}, tags=['t'], visibility='public',
                        owner=None)
    assert copies(database, public['id']) == {('public', None)}


def test_an_owner_and_a_property_or_tag_that_match_no_image_together(
        client, project, make_image, scope):
    """Each filter matches images, none both: an admin's list is empty, and shows
    the image once one matches both."""
    owner, other = project(), project()
    make_image(owner, {'kind': 'other'}, tags=['other'])
    theirs = make_image(other, {'kind': 'wanted'}, tags=['wanted'])
    for params in ([('owner', owner.project_id), ('kind', 'wanted')],
                   [('owner', owner.project_id), ('tag', 'wanted')],
                   [('owner', owner.project_id), ('visibility', 'shared'),
                    ('tag', 'wanted')]):
        assert listed(client, ADMIN, scope, params) == []
    assert listed(client, ADMIN, scope, [('owner', other.project_id),
                                         ('kind', 'wanted')]) == [theirs['id']]
    client.update_image(ADMIN, theirs['id'], values={'owner': owner.project_id})
    assert listed(client, ADMIN, scope, [('owner', owner.project_id),
                                         ('tag', 'wanted')]) == [theirs['id']]


def test_a_projects_own_private_images_and_a_property_others_have(
        client, project, make_image, scope):
    """A project lists its private images with a property that only other
    projects' images have: none, whichever visibility those have; then the one
    it is given, and the one made public for it."""
    member, other = project(), project()
    make_image(member, {'kind': 'mine'}, visibility='private')
    theirs = {visibility: make_image(other, {'kind': 'theirs'}, tags=['theirs'],
                                     visibility=visibility)
              for visibility in ('private', 'public', 'shared', 'community')}
    for params in ([('visibility', 'private'), ('kind', 'theirs')],
                   [('visibility', 'private'), ('tag', 'theirs')],
                   [('owner', member.project_id), ('kind', 'theirs')]):
        assert listed(client, member, scope, params) == []
    assert listed(client, member, scope, [('kind', 'theirs')]) \
        == [theirs['public']['id']]
    given = make_image(other, {'kind': 'theirs'}, visibility='private')
    client.update_image(ADMIN, given['id'], values={'owner': member.project_id})
    assert listed(client, member, scope, [('visibility', 'private'),
                                          ('kind', 'theirs')]) == [given['id']]
    client.update_image(member, given['id'], values={'visibility': 'community'})
    assert listed(client, member, scope, [('visibility', 'private'),
                                          ('kind', 'theirs')]) == []
    assert listed(client, member, scope, [('kind', 'theirs')])[0] == given['id']


def test_an_owner_longer_than_the_copy_is_still_listed(client, database, make_image,
                                                        scope):
    """The copy holds the first ``PREFIX`` characters: two owners that share them
    are told apart by the image's own column."""
    long_owner = 'o' * child_access.PREFIX
    first = make_image(ADMIN, {'kind': 'k'}, owner=long_owner + '-one')
    second = make_image(ADMIN, {'kind': 'k'}, owner=long_owner + '-two')
    assert copies(database, first['id']) == {('shared', long_owner)}
    for image, wanted in ((first, '-one'), (second, '-two')):
        assert listed(client, ADMIN, scope, [('owner', long_owner + wanted),
                                             ('kind', 'k')]) == [image['id']]


def test_rows_an_earlier_release_wrote_count_for_every_owner_and_visibility(
        client, database, project, make_image, scope):
    """A registry of the release before ``db sync`` knows no such copies: its rows
    hold the columns' default, which every list counts."""
    owner = project()
    image = make_image(owner, visibility='private')
    with db_module.write_transaction(database):
        ImageProperty.insert(image=image['id'], name='old', value='release',
                             image_status='queued').execute(database)
        ImageTag.insert(image=image['id'], value='old-release',
                        image_status='queued').execute(database)
    assert (child_access.UNKNOWN, child_access.UNKNOWN) in copies(database,
                                                                 image['id'])
    assert listed(client, owner, scope, [('visibility', 'private'),
                                         ('old', 'release')]) == [image['id']]
    assert listed(client, ADMIN, scope, [('owner', owner.project_id),
                                         ('tag', 'old-release')]) == [image['id']]
    # This release then changes one of the two: the rows get both.
    client.update_image(owner, image['id'], values={'visibility': 'community'})
    assert copies(database, image['id']) == {('community', owner.project_id)}
    for caller, params in ((owner, [('visibility', 'community'), ('old', 'release')]),
                           (owner, [('owner', owner.project_id), ('old', 'release')]),
                           (ADMIN, [('owner', owner.project_id),
                                    ('visibility', 'community'),
                                    ('tag', 'old-release')])):
        assert listed(client, caller, scope, params) == [image['id']], params


def test_a_registry_repairs_at_start_what_an_earlier_release_changed(
        registry, databases, tmp_path):
    """An earlier release changes an owner or visibility without copying it: the
    next registry to start copies them onto the rows of recently changed
    images."""
    url = databases.create(registry.backend)
    sync(url)
    db = db_module.open_database(url)
    with db_module.connection(db):
        image = writes.create_image(db, ADMIN, {'owner': 'before'},
                                    properties={'k': 'v'}, tags=['t'])
        with db_module.write_transaction(db):   # as an earlier release changes them
            Image.update(owner='after', visibility='public').where(
                Image.id == image['id']).execute(db)
        assert copies(db, image['id']) == {('shared', 'before')}
    try:
        with registry_started(url, tmp_path) as daemon, db_module.connection(db):
            assert copies(db, image['id']) == {('public', 'after')}
        assert 'copied the owner and visibility of 1 recently changed images' \
            in daemon.log_tail()
    finally:
        db.close_all()


CALLERS = {'admin': ADMIN, 'member': identity.Identity('u', 'p', ('member',)),
           'anonymous': identity.Identity(None, None, ())}


@pytest.mark.parametrize('caller, params, expected', [
    ('admin', '', None),
    ('admin', 'visibility=all', None),
    ('admin', 'owner=o', [(['public', 'private', 'shared', ''], ['o', ''])]),
    ('admin', 'owner=admin-project', [
        (['public', 'private', 'shared', ''], ['admin-project', '']),
        (['community'], ['admin-project', ''])]),
    ('admin', 'visibility=private', [(['private', ''], None)]),
    ('member', '', None),
    ('member', 'visibility=all', None),
    ('member', 'visibility=private', [([''], None), (['private'], ['p', ''])]),
    ('member', 'visibility=community', [(['community', ''], None)]),
    ('member', 'visibility=all&owner=p', [
        (['public', 'shared', 'community', ''], ['p', '']), (['private'], ['p', ''])]),
    ('member', 'owner=o', [(['public', 'shared', ''], ['o', ''])]),
    ('anonymous', 'visibility=private', [([''], None)]),
])
def test_the_owners_and_visibilities_a_list_counts(caller, params, expected):
    """Always the rows an earlier release wrote (''); a project's own private and
    community images only by its own id; shared ones whoever they are shared
    with. No bounds for a list without an owner or visibility filter: they
    would hold about every row."""
    query = list_params.parse_list_params(
        [tuple(pair.split('=', 1)) for pair in params.split('&') if pair])
    assert child_access.bounds(query, CALLERS[caller]) == expected
