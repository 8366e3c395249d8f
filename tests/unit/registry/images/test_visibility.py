"""Who sees which image: the visibility matrix for show and list, on every backend.

One owner project has one image of each kind; the image is shared (``shared``
visibility) with three member projects, one per member status. The tables say,
per caller, what ``GET`` answers and what each kind of list returns.
"""

import random

import pytest

from glance_registry import db as db_module
from glance_registry import models
from glance_registry.client import errors
from glance_registry.client import identity
from tests.unit.registry.conftest import ADMIN

CALLERS = ('admin', 'owner', 'accepted', 'pending', 'rejected', 'stranger', 'anonymous')
KINDS = ('public', 'private', 'shared', 'community', 'hidden', 'deleted',
         'private_member')


@pytest.fixture(scope='module')
def world(registry):
    """The images, by kind, and the callers, by role."""
    suffix = '%x' % random.getrandbits(40)
    callers = {role: identity.Identity('%s-user' % role, '%s-%s' % (role, suffix))
               for role in CALLERS if role not in ('admin', 'anonymous')}
    callers['admin'] = ADMIN
    callers['anonymous'] = identity.Identity(None, None)
    owner, client = callers['owner'], registry.client
    scope = 'world-%s' % suffix

    def make(**values):
        return client.create_image(owner, dict(values, properties={'test_scope': scope}))

    made = {
        'public': make(visibility='public'),
        'private': make(visibility='private'),
        'shared': make(visibility='shared'),
        'community': make(visibility='community'),
        'hidden': make(visibility='public', os_hidden=True),
        'deleted': make(visibility='public'),
        # Members of a private image get nothing (upstream, since v2.5).
        'private_member': make(visibility='private'),
    }
    client.delete_image(owner, made['deleted']['id'])
    # There is no members API yet: write the rows the way it will.
    db = db_module.open_database(registry.database_url)
    now = models.utcnow()
    with db_module.connection(db), db_module.write_transaction(db):
        for kind in ('shared', 'private_member'):
            for status in ('accepted', 'pending', 'rejected'):
                models.ImageMember.insert(image=made[kind]['id'],
                                          member=callers[status].project_id,
                                          status=status, created_at=now,
                                          updated_at=now).execute(db)
    db.close_all()
    return {'images': made, 'callers': callers, 'scope': scope}


def shows(caller, *kinds):
    return [(caller, kind, kind in kinds) for kind in KINDS]


SHOW = (shows('admin', 'public', 'private', 'shared', 'community', 'hidden',
              'private_member')
        + shows('owner', 'public', 'private', 'shared', 'community', 'hidden',
                'private_member')
        + shows('accepted', 'public', 'shared', 'community', 'hidden')
        + shows('pending', 'public', 'shared', 'community', 'hidden')
        + shows('rejected', 'public', 'shared', 'community', 'hidden')
        + shows('stranger', 'public', 'community', 'hidden')
        + shows('anonymous', 'public', 'community', 'hidden'))


@pytest.mark.parametrize('role,kind,visible', SHOW,
                         ids=['%s-%s' % (r, k) for r, k, _ in SHOW])
def test_show(registry, world, role, kind, visible):
    caller, image = world['callers'][role], world['images'][kind]
    if visible:
        assert registry.client.get_image(caller, image['id'])['id'] == image['id']
    else:
        with pytest.raises(errors.NotFound):
            registry.client.get_image(caller, image['id'])


ALL_VISIBLE = {'public', 'private', 'shared', 'community', 'private_member'}

# (caller, query, kinds listed)
LISTS = [
    ('admin', [], {'public', 'private', 'shared', 'private_member'}),
    ('owner', [], {'public', 'private', 'shared', 'community', 'private_member'}),
    ('accepted', [], {'public', 'shared'}),
    ('pending', [], {'public'}),
    ('rejected', [], {'public'}),
    ('stranger', [], {'public'}),
    ('anonymous', [], {'public'}),
    ('accepted', [('member_status', 'pending')], {'public'}),
    ('pending', [('member_status', 'pending')], {'public', 'shared'}),
    ('rejected', [('member_status', 'rejected')], {'public', 'shared'}),
    ('rejected', [('member_status', 'all')], {'public', 'shared'}),
    ('pending', [('member_status', 'all')], {'public', 'shared'}),
    ('admin', [('visibility', 'all')], ALL_VISIBLE),
    ('owner', [('visibility', 'all')], ALL_VISIBLE),
    ('accepted', [('visibility', 'all')], {'public', 'shared', 'community'}),
    ('pending', [('visibility', 'all')], {'public', 'community'}),
    ('pending', [('visibility', 'all'), ('member_status', 'all')],
     {'public', 'shared', 'community'}),
    ('stranger', [('visibility', 'all')], {'public', 'community'}),
    ('admin', [('visibility', 'community')], {'community'}),
    ('stranger', [('visibility', 'community')], {'community'}),
    ('anonymous', [('visibility', 'community')], {'community'}),
    ('admin', [('visibility', 'shared')], {'shared'}),
    ('owner', [('visibility', 'shared')], {'shared'}),
    ('accepted', [('visibility', 'shared')], {'shared'}),
    ('pending', [('visibility', 'shared')], set()),
    ('stranger', [('visibility', 'shared')], set()),
    ('admin', [('visibility', 'private')], {'private', 'private_member'}),
    ('owner', [('visibility', 'private')], {'private', 'private_member'}),
    ('accepted', [('visibility', 'private')], set()),
    ('stranger', [('visibility', 'public')], {'public'}),
    ('owner', [('os_hidden', 'true')], {'hidden'}),
    ('stranger', [('os_hidden', 'true')], {'hidden'}),
    ('admin', [('os_hidden', 'true')], {'hidden'}),
]


@pytest.mark.parametrize('role,params,expected', LISTS,
                         ids=['%s-%s' % (r, '&'.join('%s=%s' % p for p in q) or 'default')
                              for r, q, _ in LISTS])
def test_list(registry, world, role, params, expected):
    caller = world['callers'][role]
    records, _ = registry.client.list_images(
        caller, [('test_scope', world['scope'])] + params)
    by_id = {image['id']: kind for kind, image in world['images'].items()}
    assert {by_id[record['id']] for record in records} == expected


@pytest.mark.parametrize('role', ['stranger', 'pending'])
def test_writes_to_invisible_images_are_not_found_and_change_nothing(
        registry, world, role):
    caller, client = world['callers'][role], registry.client
    image = world['images']['private']
    for attempt in (lambda: client.update_image(caller, image['id'], values={'name': 'x'}),
                    lambda: client.add_tag(caller, image['id'], 'x'),
                    lambda: client.delete_tag(caller, image['id'], 'x'),
                    lambda: client.delete_image(caller, image['id']),
                    lambda: client.transition_status(caller, image['id'], 'queued',
                                                     'uploading')):
        with pytest.raises(errors.NotFound):
            attempt()
    assert client.get_image(ADMIN, image['id']) == image
