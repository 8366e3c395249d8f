"""The registry guards its own invariants, whoever calls it (glance_registry.guard).

A registry with the default policy, a file store, an http store behind import
filters and property protections is called directly, with no API in front: by
signed identities of each kind (admin, member, reader, another project's member, a
signed service) and by real Keystone service tokens (a non-admin user with the
``service`` and ``reader`` roles), which is how the attacks of issue 18 were made:

1. a service token points its own image at another project's image file, to read
   those bytes;
2. a service token creates a public image owned by another project;
3. a service token renames, protects and replaces the locations of an admin's
   public image.
"""

import os
import sqlite3
import uuid

import pytest
import requests

from glance_registry import client as client_module
from glance_registry.client import errors
from glance_registry.client import identity
from glance_registry.client import metadefs
from tests.fixtures import processes
from tests.unit.registry import races
from tests.unit.registry.conftest import BACKEND_PARAMS
from tests.unit.registry.conftest import sync

FORMATS = {'disk_format': 'raw', 'container_format': 'bare'}
WEB_PORT = 8
PROTECTIONS = """
[^x_admin_.*]
create = admin
read = admin
update = admin
delete = admin

[.*]
create = @
read = @
update = @
delete = @
"""


def _config(workdir, datadir):
    protections = os.path.join(workdir, 'protections.conf')
    with open(protections, 'w') as f:
        f.write(PROTECTIONS)
    return {
        'DEFAULT': {'enabled_backends': 'local:file, web:http',
                    'property_protection_file': protections,
                    'node_staging_uri': 'file://%s/staging/' % workdir},
        'glance_store': {'default_backend': 'local'},
        'local': {'filesystem_store_datadir': datadir},
        'import_filtering_opts': {'allowed_hosts': '127.0.0.1',
                                  'allowed_ports': str(WEB_PORT)},
    }


class Guarded:
    """A guarded registry daemon, a signed client of it, and its data directory."""

    def __init__(self, workdir, extra=None, database_url=None):
        url = database_url or 'sqlite:///%s' % os.path.join(workdir, 'guarded.sqlite')
        self.database_url = url
        sync(url)
        self.datadir = os.path.join(workdir, 'images')
        self.workdir = workdir
        self.secret = processes.new_secret()
        self.daemon = processes.registry_daemon(
            workdir, url, self.secret,
            extra=processes.merged(_config(workdir, self.datadir), extra)).start()
        self.client = client_module.RegistryClient(self.daemon.url, self.secret,
                                                   timeout=30)

    def file_url(self, name):
        return 'file://%s/%s' % (self.datadir, name)

    def staging_url(self, name):
        return 'file://%s/staging/%s' % (self.workdir, name)

    def staged_image(self, caller, **values):
        """An ``uploading`` image of ``caller``'s with staged data, as a stage
        through the API records it (with what the stage verified)."""
        image = self.client.create_image(caller, dict(FORMATS, **values))
        upload_id = uuid.uuid4().hex
        self.client.transition_status(caller, image['id'], 'queued', 'uploading',
                                      lease=60, upload_id=upload_id)
        return self.client.transition_status(
            caller, image['id'], 'uploading', 'uploading', values={'size': 4},
            upload_id=upload_id,
            locations=[{'url': self.staging_url(image['id']), 'status': 'staged',
                        'metadata': {'store': 'os_glance_staging_store',
                                     'stage': {'size': 4, 'identity': '1-4-5-6'}}}])

    def active_image(self, caller, **values):
        """An active image of ``caller``'s, its data at its own file."""
        image = self.client.create_image(caller, dict(FORMATS, **values))
        self.client.transition_status(caller, image['id'], 'queued', 'saving')
        return self.client.transition_status(
            caller, image['id'], 'saving', 'active', values={'size': 4},
            locations=[{'url': self.file_url(image['id']), 'metadata': {}}])

    def close(self):
        self.client.close()
        self.daemon.stop()


@pytest.fixture(scope='module')
def guarded(tmp_path_factory):
    registry = Guarded(str(tmp_path_factory.mktemp('guarded')))
    yield registry
    registry.close()


def persona(kind, project=None):
    project = project or 'p-%s' % uuid.uuid4().hex[:8]
    roles = {'admin': ('admin', 'member', 'reader'), 'member': ('member', 'reader'),
             'reader': ('reader',), 'service': ('service', 'reader')}[kind]
    return identity.Identity('%s-user' % kind, project, roles,
                             is_admin=kind == 'admin')


def _status(call):
    try:
        call()
    except errors.RegistryError as exc:
        return exc.status, exc.reason
    return 200, None


# -- signed callers: who may do what ---------------------------------------------------

# (operation, {caller kind: expected (status, reason)}); the image belongs to the
# member's project, 'other' is a member of another project, 'service' a signed
# identity of a service project holding the service and reader roles, 'shared with'
# a member of the project the image is shared with (``friend_of(project)``).
OK = (200, None)
DENIED = (403, 'not_permitted')
UNSEEN = (404, 'image_not_found')
MATRIX = [
    ('create in own project', {'admin': OK, 'member': OK, 'reader': DENIED,
                               'service': DENIED}),
    ('create for another project', {'admin': OK, 'member': (403, 'not_owner'),
                                    'reader': (403, 'not_owner'),
                                    'service': (403, 'not_owner')}),
    ('create public', {'admin': OK, 'member': DENIED, 'reader': DENIED,
                       'service': DENIED}),
    ('create community', {'admin': OK, 'member': OK, 'reader': DENIED,
                          'service': DENIED}),
    ('rename', {'admin': OK, 'member': OK, 'reader': DENIED, 'other': UNSEEN}),
    ('protect', {'admin': OK, 'member': OK, 'reader': DENIED}),
    ('make public', {'admin': OK, 'member': DENIED, 'reader': DENIED}),
    ('give away', {'admin': OK, 'member': (403, 'not_owner'), 'reader': DENIED}),
    ('tag', {'admin': OK, 'member': OK, 'reader': DENIED}),
    ('set admin-only property', {'admin': OK, 'member': (403, 'property_protected')}),
    ('upload', {'admin': OK, 'member': OK, 'reader': DENIED}),
    ('add location', {'admin': OK, 'member': OK, 'reader': DENIED}),
    ('replace locations', {'admin': OK, 'member': OK, 'reader': DENIED}),
    ('deactivate', {'admin': OK, 'member': OK, 'reader': DENIED}),
    ('delete', {'admin': OK, 'member': OK, 'reader': DENIED, 'other': UNSEEN}),
    ('share', {'admin': OK, 'member': OK, 'reader': DENIED}),
    # Only the project shared with answers a share (modify_member); only the owner
    # takes it back (delete_member).
    ('answer a share', {'admin': OK, 'member': DENIED, 'reader': DENIED,
                        'other': UNSEEN, 'shared with': OK}),
    ('unshare', {'admin': OK, 'member': OK, 'reader': DENIED, 'other': UNSEEN,
                 'shared with': DENIED}),
    # Not even as a member of its own image does the owner answer for the project
    # it shares with (modify_member judged on that project, as the API does).
    ('answer a share for it, as a member too', {'admin': OK, 'member': DENIED}),
]


def friend_of(project):
    """The project that ``project``'s images are shared with."""
    return 'friend-of-%s' % project


def _operation(guarded, name, caller, project):
    """A zero-argument call making ``name`` as ``caller`` on a new image of
    ``project`` (made by one of its members)."""
    client = guarded.client
    owner = persona('member', project)
    image_id = None
    if not name.startswith('create'):
        image = (guarded.active_image(owner) if name in ('deactivate',
                                                         'replace locations')
                 else client.create_image(owner, dict(FORMATS, visibility='shared')))
        image_id = image['id']
        if name in ('answer a share', 'unshare',
                    'answer a share for it, as a member too'):
            client.add_member(owner, image_id, friend_of(project))
        if name == 'answer a share for it, as a member too':
            client.add_member(owner, image_id, project)
    calls = {
        'create in own project': lambda: client.create_image(caller, {}),
        'create for another project': lambda: client.create_image(
            caller, {'owner': 'someone-else'}),
        'create public': lambda: client.create_image(caller, {'visibility': 'public'}),
        'create community': lambda: client.create_image(
            caller, {'visibility': 'community'}),
        'rename': lambda: client.update_image(caller, image_id,
                                              values={'name': 'renamed'}),
        'protect': lambda: client.update_image(caller, image_id,
                                               values={'protected': True}),
        'make public': lambda: client.update_image(caller, image_id,
                                                   values={'visibility': 'public'}),
        'give away': lambda: client.update_image(caller, image_id,
                                                 values={'owner': 'someone-else'}),
        'tag': lambda: client.add_tag(caller, image_id, 'tagged'),
        'set admin-only property': lambda: client.update_image(
            caller, image_id, properties={'x_admin_secret': 'v'}),
        'upload': lambda: client.transition_status(caller, image_id, 'queued',
                                                   'saving'),
        'add location': lambda: client.add_location(
            caller, image_id, guarded.file_url('placed-%s' % uuid.uuid4().hex)),
        'replace locations': lambda: client.replace_locations(
            caller, image_id, [{'url': guarded.file_url(image_id), 'metadata': {},
                                'status': 'active'},
                               {'url': guarded.file_url('copy-%s' % image_id),
                                'metadata': {}, 'status': 'active'}]),
        'deactivate': lambda: client.transition_status(caller, image_id, 'active',
                                                       'deactivated'),
        'delete': lambda: client.delete_image(caller, image_id),
        'share': lambda: client.add_member(caller, image_id, 'friend'),
        'answer a share': lambda: client.update_member(
            caller, image_id, friend_of(project), 'accepted'),
        'unshare': lambda: client.delete_member(caller, image_id, friend_of(project)),
        'answer a share for it, as a member too': lambda: client.update_member(
            caller, image_id, friend_of(project), 'accepted'),
    }
    return calls[name], image_id


CASES = [(name, kind, expected) for name, expected_by_kind in MATRIX
         for kind, expected in expected_by_kind.items()]


@pytest.mark.parametrize('name,kind,expected', CASES,
                         ids=['%s-%s' % (name, kind) for name, kind, _ in CASES])
def test_each_caller_gets_what_policy_gives_it(guarded, name, kind, expected):
    project = 'p-%s' % uuid.uuid4().hex[:8]
    caller = {'admin': persona('admin'), 'member': persona('member', project),
              'reader': persona('reader', project), 'other': persona('member'),
              'service': persona('service'),
              'shared with': persona('member', friend_of(project))}[kind]
    call, image_id = _operation(guarded, name, caller, project)
    before = guarded.client.get_image(persona('admin'), image_id) if image_id else None
    assert _status(call) == expected
    if expected != OK and before is not None:
        # A refusal writes nothing.
        assert guarded.client.get_image(persona('admin'), image_id) == before


# -- ownership, whatever the policy says -----------------------------------------------

#: Upstream's old policy.json (etc/policy.json until Wallaby): every image rule
#: empty, which its database layer made safe by letting only an image's owner or an
#: admin change or delete it.
OLD_POLICY = """{
    "context_is_admin": "role:admin", "default": "",
    "add_image": "", "delete_image": "", "get_image": "", "get_images": "",
    "modify_image": "", "publicize_image": "role:admin", "download_image": "",
    "upload_image": "", "delete_image_location": "", "get_image_location": "",
    "set_image_location": "", "add_member": "", "delete_member": "",
    "get_member": "", "get_members": "", "modify_member": "",
    "deactivate": "", "reactivate": ""
}"""


@pytest.fixture(scope='module')
def permissive(tmp_path_factory):
    workdir = tmp_path_factory.mktemp('permissive')
    policy = workdir / 'policy.json'
    policy.write_text(OLD_POLICY)
    registry = Guarded(str(workdir), extra={'oslo_policy': {'policy_file': str(policy)}})
    yield registry
    registry.close()


def _changes(registry, caller, image):
    client, image_id = registry.client, image['id']
    return {
        'rename': lambda: client.update_image(caller, image_id,
                                              values={'name': 'renamed'}),
        'tag': lambda: client.add_tag(caller, image_id, 'tagged'),
        'deactivate': lambda: client.transition_status(caller, image_id, 'active',
                                                       'deactivated'),
        'replace locations': lambda: client.replace_locations(
            caller, image_id, image['locations'] + [
                {'url': registry.file_url('copy-%s' % image_id), 'metadata': {},
                 'status': 'active'}]),
        'remove location': lambda: client.remove_location(
            caller, image_id, image['locations'][0]['url'], allow_last=True),
        'delete': lambda: client.delete_image(caller, image_id),
    }


@pytest.mark.parametrize('change', ['rename', 'tag', 'deactivate', 'replace locations',
                                    'remove location', 'delete'])
def test_only_its_owner_or_an_admin_changes_an_image_whatever_the_policy(
        permissive, change):
    # A member of another project saw another's public image, and the old policy
    # let it rename, deactivate and delete it.
    owner, admin = persona('member'), persona('admin')
    image = permissive.active_image(admin, visibility='public',
                                    owner=owner.project_id)
    stranger = persona('member')
    before = permissive.client.get_image(admin, image['id'])
    assert _status(_changes(permissive, stranger, image)[change]) == (403,
                                                                      'not_owner')
    assert permissive.client.get_image(admin, image['id']) == before
    # The policy lets its owner through, as upstream's.
    assert _status(_changes(permissive, owner, image)[change]) == OK


def test_only_the_owner_shares_and_only_those_shared_with_answer_whatever_the_policy(
        permissive):
    # As upstream's member repository, whatever the policy: with the old policy's
    # empty member rules a project an image was shared with shared it further and
    # took its share back, and the owner accepted for the project it shared with.
    owner, friend, admin = persona('member'), persona('member'), persona('admin')
    client = permissive.client
    image = client.create_image(owner, dict(FORMATS, visibility='shared'))
    client.add_member(owner, image['id'], friend.project_id)
    client.add_member(owner, image['id'], owner.project_id)
    before = client.list_members(admin, image['id'])
    assert _status(lambda: client.add_member(friend, image['id'], 'p-third')) == (
        403, 'not_owner')
    assert _status(lambda: client.delete_member(
        friend, image['id'], friend.project_id)) == (403, 'not_owner')
    assert _status(lambda: client.update_member(owner, image['id'], friend.project_id,
                                                'accepted')) == (403, 'not_member')
    assert client.list_members(admin, image['id']) == before
    # Each its own part.
    assert client.update_member(friend, image['id'], friend.project_id,
                                'accepted')['status'] == 'accepted'
    assert client.update_member(owner, image['id'], owner.project_id,
                                'accepted')['status'] == 'accepted'
    client.delete_member(owner, image['id'], friend.project_id)
    assert [member['member_id'] for member in client.list_members(
        admin, image['id'])] == [owner.project_id]


def test_a_queued_image_of_another_project_takes_no_upload(permissive):
    admin = persona('admin')
    image = permissive.client.create_image(admin, dict(FORMATS, visibility='public',
                                                       owner='p-owner'))
    assert _status(lambda: permissive.client.transition_status(
        persona('member'), image['id'], 'queued', 'saving')) == (403, 'not_owner')
    assert permissive.client.get_image(admin, image['id'])['status'] == 'queued'


def test_only_a_delete_makes_an_image_pending_delete(guarded):
    """``pending_delete`` is a deleted image whose data waits for the scrubber: only
    ``DELETE`` (which checks ``protected`` and ``delete_image``) goes there, not a
    status change of any other write, which would leave a protected image
    undownloadable, not deleted and never scrubbed."""
    client = guarded.client
    owner = persona('member')
    image = guarded.active_image(owner, protected=True)
    move = ('active', 'pending_delete')
    attempts = [
        lambda: client.transition_status(owner, image['id'], *move),
        lambda: client.add_location(owner, image['id'],
                                    guarded.file_url('copy-%s' % image['id']),
                                    transition=move),
        lambda: client.replace_locations(owner, image['id'], image['locations'],
                                         transition=move),
        lambda: client.create_task(owner, {'id': str(uuid.uuid4()), 'type': 'import'},
                                   ttl=60, image={'id': image['id'], 'from': move[0],
                                                  'to': move[1]}),
    ]
    for attempt in attempts:
        assert _status(attempt) == (400, 'invalid_value')
    assert client.get_image(owner, image['id']) == image


def test_the_formats_change_only_while_the_image_is_queued(guarded):
    """An upload inspected the data as the formats the image declared (the
    API's content safety), and compute services boot it as they say: its owner
    relabelled an active raw image qcow2 (or cleared its format) by calling the
    registry without the API's expected_status."""
    client = guarded.client
    owner = persona('member')
    active = guarded.active_image(owner)
    saving = client.create_image(owner, dict(FORMATS))
    saving = client.transition_status(owner, saving['id'], 'queued', 'saving')
    for image in (active, saving):
        for values in ({'disk_format': 'qcow2'}, {'container_format': 'ovf'},
                       {'disk_format': None}, {'name': 'x', 'disk_format': 'iso'}):
            assert _status(lambda: client.update_image(owner, image['id'],
                                                       values=values)) == (
                403, 'format_locked'), (image['status'], values)
            assert _status(lambda: client.replace_locations(
                owner, image['id'], image['locations'],
                update={'values': values})) == (403, 'format_locked')
        assert client.get_image(owner, image['id']) == image
    # The same formats again are no change; a queued image takes new ones.
    renamed = client.update_image(owner, active['id'],
                                  values=dict(FORMATS, name='renamed'))
    assert (renamed['name'], renamed['disk_format']) == ('renamed', 'raw')
    queued = client.create_image(owner, dict(FORMATS))
    assert client.update_image(owner, queued['id'], values={
        'disk_format': 'qcow2'})['disk_format'] == 'qcow2'
    # The image service records an import's conversion (as an admin).
    assert client.update_image(persona('admin'), active['id'], values={
        'disk_format': 'qcow2'})['disk_format'] == 'qcow2'


def test_a_location_write_moves_the_status_only_as_that_moves_rule_allows(guarded):
    """Adding or replacing locations may move the image's status in the same
    transaction: a move out of ``queued`` is the location rule's (upstream's
    service role activates an image with its first location), any other is judged
    by its own rule, as ``PUT /status`` judges it: a signed service cannot
    deactivate an admin's public image by adding a location to it."""
    client = guarded.client
    admin = persona('admin')
    service = persona('service')
    public = guarded.active_image(admin, visibility='public')
    placed = guarded.file_url('placed-%s' % uuid.uuid4().hex)
    assert _status(lambda: client.add_location(
        service, public['id'], placed,
        transition=('active', 'deactivated'))) == DENIED
    assert client.get_image(admin, public['id']) == public
    deactivated = client.transition_status(admin, public['id'], 'active', 'deactivated')
    assert _status(lambda: client.add_location(
        service, public['id'], placed, transition=('deactivated', 'active'))) == DENIED
    assert client.get_image(admin, public['id']) == deactivated
    # Out of queued, the location rule decides, as upstream's add-location API.
    queued = client.create_image(admin, dict(FORMATS, visibility='public'))
    added = client.add_location(service, queued['id'], placed,
                                transition=('queued', 'active'), values={'size': 4})
    assert added['status'] == 'active'


def test_only_the_image_service_writes_the_reserved_properties(guarded):
    """``os_glance*`` properties hold the image service's own state (an import's
    lock and outcome), as upstream: an owner removed its image's import lock
    while the import ran, and a second import then ran beside it."""
    client = guarded.client
    owner = persona('member')
    image = client.create_image(owner, dict(FORMATS))

    def task():
        return client.create_task(owner, {'id': str(uuid.uuid4()), 'type': 'import'},
                                  ttl=60, lease=client_module.Lease('worker', 60),
                                  image={'id': image['id'], 'from': 'queued',
                                         'to': 'importing'})
    importing = task()['image']
    assert importing['properties']['os_glance_import_task']
    for properties in ({'os_glance_import_task': None},
                       {'os_glance_import_task': 'mine'}, {'os_glance_foo': 'x'}):
        assert _status(lambda: client.update_image(owner, image['id'],
                                                   properties=properties)) == (
            403, 'property_reserved')
    assert _status(lambda: client.create_image(owner, dict(
        FORMATS, properties={'os_glance_import_task': 'x'}))) == (403,
                                                                  'property_reserved')
    assert client.get_image(owner, image['id']) == importing
    assert _status(task) == (409, 'import_locked')
    # Other properties are the owner's; the reserved ones the image service's.
    assert client.update_image(owner, image['id'], properties={
        'os_distro': 'cirros'})['properties']['os_distro'] == 'cirros'
    assert 'os_glance_failed_import' in client.update_image(
        persona('admin'), image['id'],
        properties={'os_glance_failed_import': ''})['properties']


def test_a_task_moves_the_image_only_as_that_moves_rule_allows(tmp_path):
    """A task may move its image's status in the transaction that creates it: into
    ``importing``, the import's move, on ``modify_image``; any other move needs its
    own rule as ``PUT /status`` judges it. With an operator's policy keeping
    deactivation and uploads to admins, a member deactivated its project's image
    and activated a queued one without data by creating a task."""
    policy = tmp_path / 'policy.yaml'
    policy.write_text('"deactivate": "role:admin"\n"reactivate": "role:admin"\n'
                      '"upload_image": "role:admin"\n')
    registry = Guarded(str(tmp_path),
                       extra={'oslo_policy': {'policy_file': str(policy)}})
    try:
        client, admin = registry.client, persona('admin')
        member = persona('member')
        active = registry.active_image(admin, owner=member.project_id)
        queued = client.create_image(member, dict(FORMATS))

        def task(image, move):
            return lambda: client.create_task(
                member, {'id': str(uuid.uuid4()), 'type': 'import'}, ttl=60,
                image={'id': image['id'], 'from': move[0], 'to': move[1]})
        assert _status(task(active, ('active', 'deactivated'))) == DENIED
        assert _status(task(queued, ('queued', 'active'))) == DENIED
        assert client.get_image(admin, active['id']) == active
        assert client.get_image(admin, queued['id']) == queued
        # The import's own move is the member's, as upstream's import.
        assert _status(task(queued, ('queued', 'importing'))) == OK
        assert client.get_image(admin, queued['id'])['status'] == 'importing'
    finally:
        registry.close()


# -- the metadata definitions catalog ------------------------------------------------

EVERY_CLASS = frozenset(metadefs.CLASSES)


def test_only_those_the_policy_lets_change_the_catalog_whatever_verdicts_they_send(
        guarded):
    """Every project reads the catalog's public namespaces (Horizon's metadata
    dialogs): by default only admins change it (metadef_admin), however its caller
    judges itself. A project's member created a public namespace, squatting a name
    the operator's load_metadefs would then skip, and changed one its project
    owned, by leaving its verdicts out."""
    client = guarded.client
    admin, member = persona('admin'), persona('member')
    name = 'OS::Squat::%s' % uuid.uuid4().hex[:8]
    for values in ({'namespace': name, 'visibility': 'public'},
                   {'namespace': name, 'visibility': 'private'},
                   {'namespace': name, 'tags': ['t']}):
        assert _status(lambda: client.create_metadef_namespace(member, values)) == (
            403, 'policy_denied')
    owned = client.create_metadef_namespace(admin, {
        'namespace': name, 'visibility': 'public', 'owner': member.project_id})
    lenient = metadefs.Access(allow=tuple(
        (rule, EVERY_CLASS) for rule in ('modify_metadef_namespace', 'add_metadef_tag',
                                         'add_metadef_property',
                                         'delete_metadef_namespace')))
    for access in (None, lenient):
        for change in (
                lambda: client.update_metadef_namespace(
                    member, name, {'namespace': name, 'display_name': 'mine'}, access),
                lambda: client.create_metadef_tag(member, name, 'evil', access),
                lambda: client.create_metadef_property(
                    member, name, 'evil', {'type': 'string', 'title': 'evil'}, access),
                lambda: client.delete_metadef_contents(member, name, 'tags', access),
                lambda: client.delete_metadef_namespace(member, name, access)):
            assert _status(change) == (403, 'policy_denied')
    assert client.get_metadef_namespace(admin, name) == owned
    # Reading stays every project's; changing, an admin's.
    assert client.get_metadef_namespace(persona('reader'), name)['namespace'] == name
    assert client.create_metadef_tag(admin, name, 'fine')['name'] == 'fine'


# -- judged on the image as the write locks it ------------------------------------------

@pytest.fixture(scope='module', params=BACKEND_PARAMS)
def guarded_on(request, databases, tmp_path_factory):
    """A guarded registry daemon over a database of each backend: ``(backend,
    registry)``."""
    backend = request.param
    registry = Guarded(str(tmp_path_factory.mktemp('guarded-%s' % backend)),
                       database_url=databases.create(backend))
    yield backend, registry
    registry.close()


# (operation by a member of the image's project, the change another writer makes
# while it waits for the image's row, what it gets).
CHANGED_MEANWHILE = [
    ('rename', {'owner': 'someone-else'}, DENIED),
    ('tag', {'owner': 'someone-else'}, DENIED),
    ('add location', {'owner': 'someone-else'}, DENIED),
    ('delete', {'owner': 'someone-else'}, DENIED),
    ('delete', {'protected': True}, (403, 'protected')),
    ('rename', {'name': 'changed'}, OK),
]


@pytest.mark.parametrize('name,change,expected', CHANGED_MEANWHILE,
                         ids=['%s-after-%s' % (name, '-'.join(change))
                              for name, change, _ in CHANGED_MEANWHILE])
def test_a_write_is_judged_on_the_image_as_its_transaction_locked_it(
        guarded_on, name, change, expected):
    """The rules see a change another writer made while the write waited (after
    the request arrived): a public image given away meanwhile is no longer its
    former project's to change."""
    backend, guarded = guarded_on
    client = guarded.client
    project = 'p-%s' % uuid.uuid4().hex[:8]
    member = persona('member', project)
    image = guarded.active_image(persona('admin'), visibility='public', owner=project)
    call = {
        'rename': lambda: client.update_image(member, image['id'],
                                              values={'name': 'renamed'}),
        'tag': lambda: client.add_tag(member, image['id'], 'tagged'),
        'add location': lambda: client.add_location(
            member, image['id'], guarded.file_url('placed-%s' % uuid.uuid4().hex)),
        'delete': lambda: client.delete_image(member, image['id']),
    }[name]
    outcome = races.changed_while_waiting(backend, guarded.database_url, call,
                                          image['id'], **change)
    got = ((outcome.status, outcome.reason)
           if isinstance(outcome, errors.RegistryError) else OK)
    assert got == expected, outcome
    after = client.get_image(persona('admin'), image['id'])
    if expected != OK:
        # Refused: only the other writer's change was made.
        assert {key: after[key] for key in change} == change
        assert dict(after, updated_at=None, **{key: image[key] for key in change}) \
            == dict(image, updated_at=None)


# -- location admission ---------------------------------------------------------------

def test_locations_must_belong_to_a_store_and_name_no_other_image(guarded):
    client = guarded.client
    victim = guarded.active_image(persona('member'))
    owner = persona('member')
    image = client.create_image(owner, dict(FORMATS))
    victim_file = guarded.file_url(victim['id'])
    refused = {
        # Another image's data, in every spelling of its file.
        victim_file: (409, 'location_in_use'),
        victim_file.replace('file://', 'file://localhost'): (409, 'location_in_use'),
        guarded.file_url('./%s' % victim['id']): (409, 'location_in_use'),
        guarded.file_url('x/../%s' % victim['id']): (409, 'location_in_use'),
        guarded.file_url(victim['id'].replace('-', '%2D')): (409, 'location_in_use'),
        guarded.file_url('%s?x' % victim['id']): (409, 'location_in_use'),
        # No configured store holds these.
        'file:///etc/passwd': (400, 'location_refused'),
        'file://%s/../glance.sqlite' % guarded.datadir: (400, 'location_refused'),
        'swift+config://ref1/glance/%s' % uuid.uuid4(): (400, 'location_refused'),
        guarded.file_url('nul%00'): (400, 'location_refused'),
        # Import filtering: another port, another host.
        'http://127.0.0.1:9191/healthcheck': (400, 'location_refused'),
        'http://169.254.169.254:%d/latest' % WEB_PORT: (400, 'location_refused'),
    }
    for url, expected in refused.items():
        for call in (lambda: client.add_location(owner, image['id'], url),
                     lambda: client.transition_status(
                         owner, image['id'], 'queued', 'active', values={'size': 4},
                         locations=[{'url': url, 'metadata': {}}]),
                     lambda: client.replace_locations(
                         owner, image['id'], [{'url': url, 'metadata': {},
                                               'status': 'active'}])):
            assert _status(call) == expected, url
    assert client.get_image(owner, image['id']) == image
    # What passes is recorded as its store spells it.
    placed = client.add_location(owner, image['id'],
                                 guarded.file_url('./placed-%s' % image['id']))
    assert placed['locations'][0]['url'] == guarded.file_url('placed-' + image['id'])
    web = 'http://127.0.0.1:%d/disk.raw' % WEB_PORT
    assert client.add_location(owner, image['id'], web)['locations'][1]['url'] == web


def test_staged_data_is_in_the_staging_store_and_nowhere_else(guarded):
    # An import trusts what a staged location records (the stage's hashes and
    # verdict): no write may pass other data off as staged, nor staged data as an
    # image's own.
    member = persona('member')
    staged = guarded.staged_image(member)
    assert [location['status'] for location in staged['locations']] == ['staged']
    image = guarded.client.create_image(member, dict(FORMATS))
    wrong = [
        lambda: guarded.client.add_location(
            member, image['id'], guarded.file_url('placed-%s' % uuid.uuid4().hex),
            status='staged'),
        lambda: guarded.client.add_location(member, image['id'],
                                            guarded.staging_url(image['id'])),
        # The staged file of an image is not its data, even for itself.
        lambda: guarded.client.replace_locations(member, staged['id'], [
            dict(staged['locations'][0], status='active')]),
    ]
    for write in wrong:
        assert _status(write) == (400, 'location_refused')
    assert guarded.client.get_image(member, staged['id']) == staged
    assert guarded.client.get_image(member, image['id'])['locations'] == []


def test_no_two_live_images_share_a_file_of_the_store(guarded):
    """Not even when its name is no image's id, for any caller: until the image
    using it is deleted for good (``pending_delete`` may still be restored)."""
    client = guarded.client
    owner = persona('member')
    shared = guarded.file_url('placed-%s' % uuid.uuid4().hex)
    first = client.create_image(owner, dict(FORMATS))
    client.add_location(owner, first['id'], shared, transition=('queued', 'active'),
                        values={'size': 4})
    web = 'http://127.0.0.1:%d/shared.raw' % WEB_PORT
    client.add_location(owner, first['id'], web)

    def attempts(caller, image_id, url):
        return [lambda: client.add_location(caller, image_id, url),
                lambda: client.transition_status(
                    caller, image_id, 'queued', 'active', values={'size': 4},
                    locations=[{'url': url, 'metadata': {}}]),
                lambda: client.replace_locations(
                    caller, image_id, [{'url': url, 'metadata': {},
                                        'status': 'active'}])]

    spellings = (shared, shared.replace('file://', 'file://localhost'),
                 shared.replace('placed-', './placed-'))
    for caller in (persona('member'), owner, persona('admin')):
        image = client.create_image(caller, dict(FORMATS))
        for url in spellings:
            for attempt in attempts(caller, image['id'], url):
                assert _status(attempt) == (409, 'location_in_use'), url
        assert client.get_image(caller, image['id']) == image
        # An http store's URL may be shared, as upstream allows.
        assert client.add_location(caller, image['id'], web)['locations']
    image = client.create_image(owner, dict(FORMATS))
    client.delete_image(owner, first['id'], delayed=True)
    assert _status(attempts(owner, image['id'], shared)[0]) == \
        (409, 'location_in_use')
    client.restore_image(persona('admin'), first['id'])
    client.delete_image(owner, first['id'])
    # Deleted for good: its file is free.
    assert [location['url'] for location in client.add_location(
        owner, image['id'], shared)['locations']] == [shared]


def test_a_location_no_store_holds_now_is_kept_only_by_its_own_image(guarded):
    """An image may keep a location its stores no longer hold (recorded before the
    rules, or before a store left the configuration) when its list is replaced;
    no write may add one."""
    client = guarded.client
    owner = persona('member')
    image = guarded.active_image(owner)
    legacy = 'file:///srv/old-store/%s' % uuid.uuid4().hex
    with sqlite3.connect(guarded.database_url[len('sqlite:///'):]) as conn:
        conn.execute('UPDATE image_locations SET url = ? WHERE image_id = ?',
                     (legacy, image['id']))
    conn.close()
    added = guarded.file_url('copy-%s' % uuid.uuid4().hex)
    kept = client.replace_locations(owner, image['id'], [
        {'url': legacy, 'metadata': {'k': 1}, 'status': 'active'},
        {'url': added, 'metadata': {}, 'status': 'active'}])
    assert [location['url'] for location in kept['locations']] == [legacy, added]
    other = client.create_image(owner, dict(FORMATS))
    for call in (lambda: client.add_location(owner, other['id'], legacy),
                 lambda: client.replace_locations(owner, other['id'], [
                     {'url': legacy, 'metadata': {}, 'status': 'active'}])):
        assert _status(call) == (400, 'location_refused')
    assert client.get_image(owner, other['id']) == other


# -- the attacks, with real Keystone service tokens ------------------------------------

@pytest.fixture(scope='module')
def secured(keystone, tmp_path_factory):
    registry = Guarded(str(tmp_path_factory.mktemp('guarded-keystone')), extra={
        'DEFAULT': {'accept_service_tokens': 'true'},
        'keystone_authtoken': keystone.authtoken_config()})
    yield registry
    registry.close()


def _service_client(keystone, registry, roles=('service', 'reader')):
    """A client calling with the token of a new non-admin user holding ``roles``
    in the service project."""
    name = 'svc-%s' % uuid.uuid4().hex[:8]
    project = keystone.projects['service']
    user = keystone.admin_api('POST', '/users', {'user': {
        'name': name, 'password': 'pw-' + name, 'domain_id': 'default'}})['user']
    for role in roles:
        keystone.admin_api('PUT', '/projects/%s/users/%s/roles/%s' % (
            project.id, user['id'], keystone.roles[role]))
    token = requests.post(keystone.auth_url + '/auth/tokens', timeout=30, json={
        'auth': {'identity': {'methods': ['password'], 'password': {'user': {
            'name': name, 'domain': {'id': 'default'}, 'password': 'pw-' + name}}},
            'scope': {'project': {'id': project.id}}}}).headers['X-Subject-Token']
    return client_module.RegistryClient(registry.daemon.url, None, timeout=30,
                                        token_provider=lambda: token), project.id


ANY = identity.Identity('not-sent', 'not-sent')


@pytest.mark.keystone
def test_a_service_token_cannot_point_an_image_at_another_projects_data(
        secured, keystone):
    service, service_project = _service_client(keystone, secured)
    victim = secured.active_image(persona('member'), visibility='private')
    victim_file = secured.file_url(victim['id'])
    # It may not create an image of its own...
    assert _status(lambda: service.create_image(ANY, dict(FORMATS))) == DENIED
    # ... and one its project has (made by a member) it may not activate with the
    # victim's file, nor add that file as a location, in any spelling.
    mine = secured.client.create_image(persona('member', service_project),
                                       dict(FORMATS))
    assert _status(lambda: service.transition_status(
        ANY, mine['id'], 'queued', 'active', values={'size': 4},
        locations=[{'url': victim_file, 'metadata': {}}])) == DENIED
    for url in (victim_file, victim_file.replace('file://', 'file://localhost'),
                secured.file_url('./' + victim['id'])):
        assert _status(lambda: service.add_location(
            ANY, mine['id'], url, transition=('queued', 'active'),
            values={'size': 4})) == (409, 'location_in_use'), url
    # Nor a file another image uses under any other name.
    placed = secured.file_url('placed-%s' % uuid.uuid4().hex)
    other = secured.client.create_image(persona('member'), dict(FORMATS))
    secured.client.add_location(persona('member', other['owner']), other['id'],
                                placed)
    assert _status(lambda: service.add_location(ANY, mine['id'], placed)) == (
        409, 'location_in_use')
    assert service.get_image(ANY, mine['id']) == mine
    service.close()


@pytest.mark.keystone
def test_a_service_token_cannot_create_a_public_image_for_another_project(
        secured, keystone):
    service, _ = _service_client(keystone, secured)
    victim_project = 'victim-%s' % uuid.uuid4().hex[:8]
    for values in ({'visibility': 'public', 'owner': victim_project},
                   {'visibility': 'public'}, {'owner': victim_project}):
        assert _status(lambda: service.create_image(ANY, values))[0] == 403, values
    assert secured.client.usage(persona('admin'), victim_project)[
        'image_count_total'] == 0
    service.close()


@pytest.mark.keystone
def test_a_service_token_cannot_take_over_an_admins_public_image(secured, keystone):
    service, _ = _service_client(keystone, secured)
    admin = persona('admin')
    public = secured.active_image(admin, visibility='public', name='golden')
    planted = secured.file_url('planted-%s' % uuid.uuid4().hex)
    attacks = [
        lambda: service.update_image(ANY, public['id'], values={'name': 'evil'}),
        lambda: service.update_image(ANY, public['id'], values={'protected': True}),
        lambda: service.add_tag(ANY, public['id'], 'evil'),
        lambda: service.replace_locations(ANY, public['id'], [
            {'url': planted, 'metadata': {}, 'status': 'active'}]),
        lambda: service.remove_location(ANY, public['id'],
                                        public['locations'][0]['url'],
                                        allow_last=True),
        lambda: service.transition_status(ANY, public['id'], 'active', 'deactivated'),
        lambda: service.delete_image(ANY, public['id']),
    ]
    for attack in attacks:
        assert _status(attack) == DENIED
    assert secured.client.get_image(admin, public['id']) == public
    # What upstream's policy gives the service role: reading the image and its
    # locations, and adding a location to an image it may see.
    assert service.get_image(ANY, public['id'])['locations'] == public['locations']
    queued = secured.client.create_image(admin, dict(FORMATS, visibility='public'))
    added = service.add_location(ANY, queued['id'], planted)
    assert [location['url'] for location in added['locations']] == [planted]
    service.close()


@pytest.mark.keystone
def test_a_service_token_reads_no_property_the_protections_hide(secured, keystone):
    service, _ = _service_client(keystone, secured)
    admin = persona('admin')
    image = secured.active_image(admin, visibility='public')
    secured.client.update_image(admin, image['id'], properties={
        'x_admin_secret': 'hidden', 'os_distro': 'shown'})
    seen = service.get_image(ANY, image['id'])
    assert seen['properties'] == {'os_distro': 'shown'}
    assert seen['locations'] == image['locations']
    listed = service.list_images(ANY, [('id', image['id'])])[0]
    assert [record['properties'] for record in listed] == [{'os_distro': 'shown'}]
    # A signed caller (the API) gets the whole record, and filters itself.
    assert secured.client.get_image(persona('member'), image['id'])['properties'] == {
        'x_admin_secret': 'hidden', 'os_distro': 'shown'}
    service.close()


@pytest.mark.keystone
def test_the_operators_policy_may_give_a_service_more_or_less(secured, keystone,
                                                              tmp_path):
    policy = tmp_path / 'policy.yaml'
    policy.write_text('"add_image": "role:service or role:admin"\n'
                      '"fetch_image_location": "role:admin"\n')
    registry = Guarded(str(tmp_path), extra={
        'DEFAULT': {'accept_service_tokens': 'true'},
        'keystone_authtoken': keystone.authtoken_config(),
        'oslo_policy': {'policy_file': str(policy)}})
    try:
        service, service_project = _service_client(keystone, registry)
        assert service.create_image(ANY, {})['owner'] == service_project
        # Never another project's, nor public: those are an admin's.
        assert _status(lambda: service.create_image(
            ANY, {'owner': 'someone-else'})) == (403, 'not_owner')
        assert _status(lambda: service.create_image(
            ANY, {'visibility': 'public'})) == DENIED
        # Locations only to admins.
        image = registry.active_image(persona('admin'), visibility='public')
        assert image['locations']
        assert service.get_image(ANY, image['id'])['locations'] == []
        service.close()
    finally:
        registry.close()


@pytest.mark.keystone
def test_a_service_token_neither_reads_nor_writes_staged_data(secured, keystone):
    # Staged data is the API's: its location holds what the stage verified (the
    # file's identity among it), which an import trusts instead of reading the
    # bytes again.
    service, _ = _service_client(keystone, secured)
    admin = persona('admin')
    staged = secured.staged_image(admin, visibility='public')
    assert service.get_image(ANY, staged['id'])['locations'] == []
    listed = service.list_images(ANY, [('id', staged['id'])])[0]
    assert [record['locations'] for record in listed] == [[]]
    queued = secured.client.create_image(admin, dict(FORMATS, visibility='public'))
    forged = {'store': 'os_glance_staging_store',
              'stage': {'size': 4, 'identity': '1-4-5-6'}}
    assert _status(lambda: service.add_location(
        ANY, queued['id'], secured.staging_url(queued['id']), forged,
        status='staged')) == (400, 'location_refused')
    assert secured.client.get_image(admin, queued['id'])['locations'] == []
    assert secured.client.get_image(admin, staged['id']) == staged
    service.close()
