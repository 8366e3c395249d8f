"""Notifications on the real message bus (RabbitMQ): every event of an image's life,
with upstream's payloads and priorities, sent after the change; a broker that is
down never fails nor slows an API call."""

import json
import os
import socket
import time
import urllib.parse
import uuid

import kombu
import pytest

from tests.fixtures import deployment, processes, skips
from tests.fixtures import disk_images, web_files

RABBIT_URL = os.environ.get('GLANCE_TEST_RABBITMQ_URL',
                            'rabbit://guest:guest@127.0.0.1:5672/')
EXCHANGE = 'glance'
IMAGE_FIELDS = {
    'id', 'name', 'status', 'created_at', 'updated_at', 'min_disk', 'min_ram',
    'protected', 'checksum', 'owner', 'disk_format', 'container_format', 'size',
    'virtual_size', 'is_public', 'visibility', 'properties', 'tags', 'deleted',
    'deleted_at', 'os_hidden', 'os_hash_algo', 'os_hash_value'}
MEMBER_FIELDS = {'image_id', 'member_id', 'status', 'created_at', 'updated_at',
                 'deleted', 'deleted_at'}
NAMESPACE_FIELDS = {'namespace', 'namespace_old', 'display_name', 'protected',
                    'visibility', 'owner', 'description', 'created_at', 'updated_at',
                    'deleted', 'deleted_at'}
PROPERTY_FIELDS = {'namespace', 'name', 'name_old', 'type', 'title', 'description',
                   'maximum', 'minimum', 'enum', 'pattern', 'minLength', 'maxLength',
                   'confidential', 'items', 'uniqueItems', 'minItems', 'maxItems',
                   'additionalItems', 'deleted', 'deleted_at'}
# image.prepare and image.upload add where an import goes and where it failed.
STORED_FIELDS = IMAGE_FIELDS | {'os_glance_importing_to_stores',
                                'os_glance_failed_import'}
SEND_FIELDS = {'bytes_sent', 'image_id', 'owner_id', 'receiver_tenant_id',
               'receiver_user_id'}


def _require_rabbitmq():
    parsed = urllib.parse.urlsplit(RABBIT_URL)
    try:
        socket.create_connection((parsed.hostname, parsed.port or 5672), 3).close()
    except OSError as exc:
        skips.unavailable('RabbitMQ', 'cannot connect to %s:%s (%s)'
                          % (parsed.hostname, parsed.port or 5672, exc))


class Bus:
    """Reads the notifications sent on one topic, from RabbitMQ itself."""

    def __init__(self, topic):
        self.topic = topic
        amqp_url = RABBIT_URL.replace('rabbit://', 'amqp://', 1)
        self.connection = kombu.Connection(amqp_url)
        self.channel = self.connection.channel()

    def close(self):
        for priority in ('info', 'error'):
            try:
                self.connection.channel().queue_delete('%s.%s' % (self.topic,
                                                                  priority))
            except Exception:
                pass
        self.connection.release()

    def received(self, priority, count, timeout=30):
        """The next ``count`` notifications of ``priority`` (oslo.messaging's
        envelope opened), waiting at most ``timeout`` seconds for them."""
        found, deadline = [], time.monotonic() + timeout
        queue = '%s.%s' % (self.topic, priority)
        while len(found) < count and time.monotonic() < deadline:
            try:
                message = self.channel.basic_get(queue=queue, no_ack=True)
            except Exception:
                # The queue does not exist until the first notification declares
                # it; a failed basic_get closes the channel.
                self.channel = self.connection.channel()
                message = None
            if message is None:
                time.sleep(0.1)
                continue
            body = json.loads(message.body)
            found.append(json.loads(body['oslo.message']))
        return found


@pytest.fixture
def bus():
    _require_rabbitmq()
    topic = 'glance-test-%s' % uuid.uuid4().hex
    bus = Bus(topic)
    yield bus
    bus.close()


def _notifying(topic, url=RABBIT_URL, **extra):
    return {'DEFAULT': {'workers': 1, **extra},
            'oslo_messaging_notifications': {'driver': 'messagingv2',
                                             'transport_url': url,
                                             'topics': topic}}


def test_an_image_lifecycle_is_announced_with_upstreams_payloads(bus, tmp_path):
    # One API worker: its one sender thread keeps the order of the calls.
    with deployment.running(tmp_path / 'glance',
                            api_extra=_notifying(bus.topic)) as glance:
        owner = glance.client(project='owner-project', user='owner-user')
        friend = glance.client(project='friend-project', user='friend-user')
        image = owner.create_image(name='lifecycle', os_distro='cirros')
        image_id = image['id']
        assert owner.patch_image(image_id, [
            {'op': 'replace', 'path': '/name', 'value': 'renamed'},
            {'op': 'replace', 'path': '/visibility', 'value': 'shared'}],
        ).status_code == 200
        data = disk_images.raw(3000)
        assert owner.upload(image_id, data).status_code == 204
        download = owner.get('/v2/images/%s/file' % image_id)
        assert download.content == data
        assert owner.post('/v2/images/%s/members' % image_id,
                          json={'member': 'friend-project'}).status_code == 200
        assert friend.put('/v2/images/%s/members/friend-project' % image_id,
                          json={'status': 'accepted'}).status_code == 200
        assert owner.delete('/v2/images/%s/members/friend-project'
                            % image_id).status_code == 204
        assert owner.put('/v2/images/%s/tags/gold' % image_id).status_code == 204
        assert glance.client().post('/v2/images/%s/actions/deactivate'
                                    % image_id).status_code == 204
        assert owner.delete('/v2/images/%s' % image_id).status_code == 204

        # A refused upload: image.prepare, then image.upload as an error, and the
        # image queued again (image.update).
        refused = owner.create_image(name='refused', disk_format='qcow2')
        assert owner.upload(refused['id'], data).status_code == 400

        notifications = bus.received('info', 18)
        errors = bus.received('error', 1)

    events = [(n['event_type'], n['priority'], n['publisher_id'])
              for n in notifications]
    # As upstream: an upload saves the image saving, then active (image.update),
    # around image.prepare, image.upload and image.activate.
    assert events == [(event, 'INFO', 'image.localhost') for event in (
        'image.create', 'image.update', 'image.update', 'image.prepare',
        'image.upload', 'image.activate', 'image.update', 'image.send',
        'image.member.create', 'image.member.update', 'image.member.delete',
        'image.update', 'image.update', 'image.delete', 'image.create',
        'image.update', 'image.prepare', 'image.update')]
    payloads = [n['payload'] for n in notifications]
    for payload in payloads[:3] + payloads[5:7] + payloads[11:16] + payloads[17:]:
        assert set(payload) == IMAGE_FIELDS
    for payload in payloads[3:5] + payloads[16:17]:
        assert set(payload) == STORED_FIELDS
    assert (payloads[17]['id'], payloads[17]['status']) == (refused['id'], 'queued')
    created, updated, saving, prepared, uploaded, activated, saved = payloads[:7]
    assert (prepared['os_glance_importing_to_stores'],
            uploaded['os_glance_failed_import']) == ([], [])
    assert (created['id'], created['name'], created['status'], created['owner'],
            created['properties'], created['deleted'], created['is_public']) == (
        image_id, 'lifecycle', 'queued', 'owner-project', {'os_distro': 'cirros'},
        False, False)
    assert (updated['name'], updated['visibility']) == ('renamed', 'shared')
    assert saving['status'] == prepared['status'] == 'saving'
    for payload in (uploaded, activated, saved):
        assert (payload['status'], payload['size'], payload['virtual_size'],
                payload['os_hash_algo']) == ('active', 3000, 3000, 'sha512')
        assert payload['checksum'] and payload['os_hash_value']
    assert payloads[7] == {'bytes_sent': 3000, 'image_id': image_id,
                           'owner_id': 'owner-project',
                           'receiver_tenant_id': 'owner-project',
                           'receiver_user_id': 'owner-user'}
    assert set(payloads[7]) == SEND_FIELDS
    for payload, status, deleted in zip(payloads[8:11],
                                        ('pending', 'accepted', 'accepted'),
                                        (False, False, True)):
        assert set(payload) == MEMBER_FIELDS
        assert (payload['image_id'], payload['member_id'], payload['status'],
                payload['deleted']) == (image_id, 'friend-project', status, deleted)
    assert payloads[10]['deleted_at']
    tagged, deactivated, deleted = payloads[11:14]
    assert (tagged['tags'], tagged['status']) == (['gold'], 'active')
    assert deactivated['status'] == 'deactivated'
    assert (deleted['id'], deleted['deleted']) == (image_id, True)
    assert deleted['deleted_at']
    assert [(e['event_type'], e['priority']) for e in errors] == [
        ('image.upload', 'ERROR')]
    assert refused['id'] in errors[0]['payload']
    # Why, in the client's words (the qcow2 refused by inspection).
    assert 'qcow2' in errors[0]['payload'] and 'BadRequest' not in errors[0]['payload']


def test_a_notification_names_the_request_and_the_caller_behind_it(bus, tmp_path):
    # oslo.messaging's envelope carries the context as _context_* keys: the
    # consumer finds the request in the API's log by the id the client saw.
    with deployment.running(tmp_path / 'glance',
                            api_extra=_notifying(bus.topic)) as glance:
        owner = glance.client(project='owner-project', user='owner-user')
        owner.headers['X-Auth-Token'] = 'a-token-never-sent-on'
        nova_request = 'req-%s' % uuid.uuid4()
        created = owner.post('/v2/images', json={'name': 'traced'},
                             headers={'X-OpenStack-Request-ID': nova_request})
        assert created.status_code == 201
        [notification] = bus.received('info', 1)
    context = {key[len('_context_'):]: value for key, value in notification.items()
               if key.startswith('_context_')}
    assert (context['request_id'], context['global_request_id'], context['user_id'],
            context['project_id'], context['roles'], context['is_admin']) == (
        created.headers['x-openstack-request-id'], nova_request, 'owner-user',
        'owner-project', ['member', 'reader'], False)
    assert 'a-token-never-sent-on' not in json.dumps(notification)


# Upstream's (format_task_notification), with the API's image_id, request_id and
# user_id; never the input, which may hold secrets (a URL's password).
TASK_FIELDS = {'id', 'type', 'status', 'result', 'owner', 'message', 'expires_at',
               'created_at', 'updated_at', 'deleted', 'deleted_at', 'image_id',
               'request_id', 'user_id'}


def test_an_import_task_is_announced_from_creation_to_success(bus, tmp_path):
    with deployment.running(tmp_path / 'glance',
                            api_extra=_notifying(bus.topic)) as glance:
        owner = glance.client(project='owner-project', user='owner-user')
        image = owner.create_image(name='imported')
        assert owner.put('/v2/images/%s/stage' % image['id'], data=disk_images.raw(2048),
                         headers={'Content-Type': 'application/octet-stream'}
                         ).status_code == 204
        nova_request = 'req-%s' % uuid.uuid4()
        accepted = owner.post('/v2/images/%s/import' % image['id'], json={
            'method': {'name': 'glance-direct'}},
            headers={'X-OpenStack-Request-ID': nova_request})
        assert accepted.status_code == 202
        deadline = time.monotonic() + 30
        while owner.image(image['id'])['status'] != 'active':
            assert time.monotonic() < deadline, 'the import did not finish'
            time.sleep(0.2)
        received = bus.received('info', 10, timeout=15)
        tasks = [n for n in received if n['event_type'].startswith('task.')]

    # As upstream: the stage updates the image (uploading, then its size); the
    # import writes it into the store as an upload would.
    assert [n['event_type'] for n in received] == [
        'image.create', 'image.update', 'image.update', 'task.create', 'task.run',
        'task.processing', 'image.prepare', 'image.upload', 'image.activate',
        'task.success']
    assert [n['payload']['status'] for n in received[1:3]] == ['uploading'] * 2
    assert received[2]['payload']['size'] == 2048
    assert [n['payload']['status'] for n in tasks] == [
        'pending', 'pending', 'processing', 'success']
    for notification in tasks:
        payload = notification['payload']
        assert set(payload) == TASK_FIELDS
        assert (payload['deleted'], payload['deleted_at']) == (False, None)
        assert (payload['image_id'], payload['owner'], payload['user_id'],
                payload['type']) == (image['id'], 'owner-project', 'owner-user',
                                     'api_image_import')
    assert tasks[-1]['payload']['status'] == 'success'
    # Each names the request that started the import, as the client saw it.
    assert {(n['_context_request_id'], n['_context_global_request_id'])
            for n in received[3:]} == {
        (accepted.headers['x-openstack-request-id'], nova_request)}
    # What the import did to the image, as an upload's would be announced.
    prepared, uploaded, activated = (n['payload'] for n in received[6:9])
    assert (prepared['id'], prepared['status']) == (image['id'], 'importing')
    assert set(prepared) == set(uploaded) == STORED_FIELDS
    assert set(activated) == IMAGE_FIELDS
    for payload in (uploaded, activated):
        assert (payload['id'], payload['status'], payload['size']) == (
            image['id'], 'active', 2048)


def test_a_failed_legacy_import_task_announces_its_image_and_its_deletion(bus,
                                                                         tmp_path):
    with deployment.running(tmp_path / 'glance',
                            api_extra=_notifying(bus.topic)) as glance:
        admin = glance.client()
        # Port 9 is not one web-download may read: the task fails.
        sent = {'import_from': 'http://127.0.0.1:9/disk.raw',
                'import_from_format': 'raw',
                'image_properties': {'name': 'legacy', 'container_format': 'bare'}}
        response = admin.post('/v2/tasks', json={'type': 'import', 'input': sent})
        assert response.status_code == 201, response.text
        task = response.json()
        received = bus.received('info', 6, timeout=15)
        # The URL was never read: nothing was on its way to a store.
        assert bus.received('error', 1, timeout=1) == []

    events = [n['event_type'] for n in received]
    assert events == ['image.create', 'task.create', 'task.run', 'task.processing',
                      'task.failure', 'image.delete']
    created, deleted = received[0]['payload'], received[-1]['payload']
    assert (created['id'], created['name'], created['deleted']) == (
        task['image_id'], 'legacy', False)
    assert (deleted['id'], deleted['deleted']) == (task['image_id'], True)
    # As upstream: never the task's input (its URL may hold a password).
    assert [set(n['payload']) for n in received[1:5]] == [TASK_FIELDS] * 4
    assert received[4]['payload']['message']


def test_a_failed_import_sends_upstreams_upload_error(bus, tmp_path):
    with web_files.running() as web, deployment.running(
            tmp_path / 'glance', api_extra=dict(_notifying(bus.topic), **{
                'import_filtering_opts': {'allowed_ports': '[%s]' % web.port,
                                          'allowed_hosts': '[127.0.0.1]'}})) as glance:
        owner = glance.client(project='owner-project', user='owner-user')
        # Read, then refused: raw bytes for a qcow2 image.
        uri = web.serve('/fake.qcow2', disk_images.raw(4096))
        image = owner.create_image(name='fake', disk_format='qcow2')
        assert owner.post('/v2/images/%s/import' % image['id'], json={
            'method': {'name': 'web-download', 'uri': uri}}).status_code == 202
        received = bus.received('info', 6, timeout=15)
        errors = bus.received('error', 1)
        assert owner.image(image['id'])['status'] == 'queued'

    assert [n['event_type'] for n in received] == [
        'image.create', 'task.create', 'task.run', 'task.processing',
        'image.prepare', 'task.failure']
    assert [(n['event_type'], n['priority'], n['publisher_id']) for n in errors] == [
        ('image.upload', 'ERROR', 'image.localhost')]
    # As upstream's: a message naming the image and why.
    message = errors[0]['payload']
    assert image['id'] in message and 'qcow2' in message, message
    assert received[-1]['payload']['status'] == 'failure'


def test_catalog_writes_are_announced_and_disabled_ones_are_not(bus, tmp_path):
    # Upstream's old option names, still read.
    with deployment.running(tmp_path / 'glance', api_extra={'DEFAULT': {
            'workers': 1, 'transport_url': RABBIT_URL,
            'notification_driver': 'messagingv2', 'notification_topics': bus.topic,
            'disabled_notifications': 'metadef_tag,image.create'}}) as glance:
        admin = glance.client()
        assert admin.post('/v2/metadefs/namespaces', json={
            'namespace': 'Test::Announced', 'visibility': 'public',
            'tags': [{'name': 'unannounced'}]}).status_code == 201
        assert admin.post('/v2/metadefs/namespaces/Test::Announced/properties', json={
            'name': 'speed', 'title': 'Speed', 'type': 'integer'}).status_code == 201
        assert admin.post('/v2/metadefs/namespaces/Test::Announced/tags/quiet'
                          ).status_code == 201
        admin.create_image(name='not announced')
        assert admin.put('/v2/metadefs/namespaces/Test::Announced', json={
            'namespace': 'Test::Renamed', 'visibility': 'public',
            'display_name': 'Renamed'}).status_code == 200
        assert admin.delete('/v2/metadefs/namespaces/Test::Renamed'
                            ).status_code == 204
        notifications = bus.received('info', 4)
        assert bus.received('info', 1, timeout=2) == []
    assert [(n['event_type'], n['priority']) for n in notifications] == [
        ('metadef_namespace.create', 'INFO'), ('metadef_property.create', 'INFO'),
        ('metadef_namespace.update', 'INFO'), ('metadef_namespace.delete', 'INFO')]
    created, prop, renamed, deleted = (n['payload'] for n in notifications)
    # Upstream's fields (Glance's format_metadef_*_notification).
    assert set(created) == set(renamed) == set(deleted) == NAMESPACE_FIELDS
    assert (created['namespace'], created['namespace_old'], created['visibility'],
            created['protected'], created['deleted'], created['deleted_at']) == (
        'Test::Announced', 'Test::Announced', 'public', False, False, None)
    assert (renamed['namespace'], renamed['namespace_old'],
            renamed['display_name']) == ('Test::Renamed', 'Test::Announced',
                                         'Renamed')
    assert set(prop) >= PROPERTY_FIELDS
    assert (prop['namespace'], prop['name'], prop['name_old'], prop['type'],
            prop['title'], prop['deleted']) == (
        'Test::Announced', 'speed', 'speed', 'integer', 'Speed', False)
    assert (deleted['namespace'], deleted['deleted']) == ('Test::Renamed', True)
    assert deleted['deleted_at'].endswith('Z')


def test_a_namespace_created_with_contents_announces_each_as_upstream(bus,
                                                                      tmp_path):
    # Upstream creates them one by one, each announced: a consumer that indexes
    # the catalog from its notifications missed them all.
    with deployment.running(tmp_path / 'glance',
                            api_extra=_notifying(bus.topic)) as glance:
        assert glance.client().post('/v2/metadefs/namespaces', json={
            'namespace': 'Test::Whole', 'visibility': 'public',
            'resource_type_associations': [{'name': 'OS::Glance::Image',
                                             'prefix': 'whole_'}],
            'objects': [{'name': 'CPU', 'properties': {
                'cores': {'type': 'integer', 'title': 'Cores'}}}],
            'tags': [{'name': 'cheap'}, {'name': 'fast'}],
            'properties': {'speed': {'type': 'integer', 'title': 'Speed'}},
        }).status_code == 201
        notifications = bus.received('info', 6)
        assert bus.received('info', 1, timeout=2) == []
    assert [(n['event_type'], n['payload']['namespace']) for n in notifications] == [
        (event, 'Test::Whole') for event in (
            'metadef_namespace.create', 'metadef_resource_type.create',
            'metadef_object.create', 'metadef_tag.create', 'metadef_tag.create',
            'metadef_property.create')]
    assert [n['payload'].get('name') for n in notifications[1:3]] == [
        'OS::Glance::Image', 'CPU']
    assert {n['payload']['name'] for n in notifications[3:5]} == {'cheap', 'fast'}
    association, cpu, _, _, speed = (n['payload'] for n in notifications[1:])
    assert association['prefix'] == 'whole_'
    assert [(p['name'], p['type'], p['title']) for p in cpu['properties']] == [
        ('cores', 'integer', 'Cores')]
    assert set(speed) >= PROPERTY_FIELDS
    assert (speed['type'], speed['title'], speed['name_old']) == (
        'integer', 'Speed', 'speed')


def test_a_broker_that_is_down_neither_fails_nor_slows_api_calls(tmp_path):
    # Nothing listens there: every send fails, and is retried for ever.
    down = 'rabbit://guest:guest@127.0.0.1:%d/' % processes.free_port()
    with deployment.running(tmp_path / 'glance', api_extra=_notifying(
            'unheard', url=down)) as glance:
        client = glance.client(project='patient-project')
        started = time.monotonic()
        for _ in range(3):
            image = client.create_image(name='unannounced')
            assert client.upload(image['id'], b'x' * 1000).status_code == 204
            assert client.get('/v2/images/%s/file' % image['id']).content == \
                b'x' * 1000
            assert client.delete('/v2/images/%s' % image['id']).status_code == 204
        elapsed = time.monotonic() - started
        # Twelve calls: the same time as without notifications, far below one
        # broker connection timeout.
        assert elapsed < 5, elapsed
        assert client.get('/healthcheck').status_code == 200


def test_copies_and_locations_are_announced_as_upstream(bus, tmp_path):
    # copy-image writes into another store (image.prepare, image.upload, no
    # image.activate: the image was active); removing a store's copy and adding a
    # location (API 2.17) save the image (image.update), as upstream's do.
    with web_files.running() as web, deployment.running(
            tmp_path / 'glance', api_extra=dict(_notifying(bus.topic), **{
                'DEFAULT': {'workers': 1,
                            'enabled_backends': 'home:file, spare:file, web:http'},
                'glance_store': {'default_backend': 'home'},
                'home': {'filesystem_store_datadir': str(tmp_path / 'home')},
                'spare': {'filesystem_store_datadir': str(tmp_path / 'spare')},
                'import_filtering_opts': {'allowed_ports': '[%s]' % web.port,
                                          'allowed_hosts': '[127.0.0.1]'}})
    ) as glance:
        admin = glance.client()
        image = admin.create_image(name='copied')
        assert admin.upload(image['id'], disk_images.raw(4096)).status_code == 204
        assert admin.post('/v2/images/%s/import' % image['id'], json={
            'method': {'name': 'copy-image'}, 'stores': ['spare']}
        ).status_code == 202
        copied = bus.received('info', 12)
        assert admin.delete('/v2/stores/spare/%s' % image['id']).status_code == 204
        [removed] = bus.received('info', 1)

        located = admin.create_image(name='located')
        url = web.serve('/located.raw', disk_images.raw(2048))
        assert admin.post('/v2/images/%s/locations' % located['id'],
                          json={'url': url}).status_code == 202
        added = bus.received('info', 3)

    # With several stores, image.prepare names the one the data goes to.
    assert copied[2]['event_type'] == 'image.prepare'
    assert copied[2]['payload']['backend'] == 'home'
    assert [n['event_type'] for n in copied[6:]] == [
        'task.create', 'task.run', 'task.processing', 'image.prepare',
        'image.upload', 'task.success']
    prepared, uploaded = copied[9]['payload'], copied[10]['payload']
    assert set(prepared) == STORED_FIELDS | {'backend'}
    assert set(uploaded) == STORED_FIELDS
    assert (prepared['backend'], prepared['os_glance_importing_to_stores']) == (
        'spare', ['spare'])
    assert (uploaded['id'], uploaded['status'], uploaded['os_glance_importing_to_stores'],
            uploaded['os_glance_failed_import']) == (image['id'], 'active', [], [])

    assert removed['event_type'] == 'image.update'
    assert (removed['payload']['id'], removed['payload']['status']) == (
        image['id'], 'active')

    assert [(n['event_type'], n['payload']['status']) for n in added] == [
        ('image.create', 'queued'), ('image.update', 'importing'),
        ('image.update', 'active')]
    assert added[-1]['payload']['size'] == 2048
