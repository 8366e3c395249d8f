"""The image cache's prefetch queue in the registry (glance_registry.cache_queue),
on every database backend."""

import uuid

import pytest

from glance_registry.client import errors

RAW = {'disk_format': 'raw', 'container_format': 'bare'}


def test_queued_images_are_listed_oldest_first_until_removed(client, project,
                                                            make_image):
    admin, owner = project('admin', admin=True), project()
    first, second = (make_image(owner, **RAW)['id'] for _ in range(2))
    client.queue_for_cache(admin, first)
    entry = client.queue_for_cache(admin, second)
    assert entry['image_id'] == second
    queued = [e['image_id'] for e in client.list_cache_queue(admin)]
    assert queued.index(first) < queued.index(second)
    assert client.dequeue_from_cache(admin, first) == 1
    assert client.dequeue_from_cache(admin, first) == 0
    assert first not in [e['image_id'] for e in client.list_cache_queue(admin)]
    assert client.dequeue_from_cache(admin) >= 1
    assert client.list_cache_queue(admin) == []


def test_queueing_again_renews_the_entry(client, project, make_image):
    admin = project('admin', admin=True)
    image_id = make_image(project(), **RAW)['id']
    before = client.queue_for_cache(admin, image_id)['queued_at']
    after = client.queue_for_cache(admin, image_id)['queued_at']
    assert after > before
    entries = [e for e in client.list_cache_queue(admin) if e['image_id'] == image_id]
    assert entries == [{'image_id': image_id, 'queued_at': after}]
    client.dequeue_from_cache(admin, image_id)


@pytest.mark.parametrize('image_id', ['x' * 37, 'x' * 5000, 'not-an-image'],
                         ids=['37-characters', '5000-characters', 'no-uuid'])
def test_only_image_ids_are_queued(client, project, image_id):
    # The queue's column holds an image id: a longer value was 500 on PostgreSQL
    # and MariaDB (SQLite stored it), and any other one was queued for every node.
    admin = project('admin', admin=True)
    with pytest.raises(errors.BadRequest) as caught:
        client.queue_for_cache(admin, image_id)
    assert (caught.value.reason, caught.value.details.get('field')) == (
        'invalid_value', 'image_id')
    assert image_id not in [e['image_id'] for e in client.list_cache_queue(admin)]


@pytest.mark.parametrize('deleted', [None, False, True],
                         ids=['never-created', 'deleted', 'pending_delete'])
def test_only_images_that_exist_are_queued(client, project, make_image, deleted):
    # As upstream's PUT /v2/cache/{image_id} answers 404 for an unknown image: an
    # internal service calling the registry directly cannot queue for every node
    # an image no node can fetch (an entry no delete would ever remove).
    admin, owner = project('admin', admin=True), project()
    image_id = str(uuid.uuid4())
    if deleted is not None:
        image_id = make_image(owner, **RAW)['id']
        client.add_location(owner, image_id, 'file:///gone-%s' % image_id,
                            transition=('queued', 'active'), values={'size': 3})
        client.delete_image(owner, image_id, delayed=deleted)
    with pytest.raises(errors.NotFound) as caught:
        client.queue_for_cache(admin, image_id)
    assert (caught.value.reason, caught.value.details['image_id']) == (
        'image_not_found', image_id)
    assert caught.value.message == 'No image with id %s' % image_id
    assert image_id not in [e['image_id'] for e in client.list_cache_queue(admin)]


@pytest.mark.parametrize('delayed', [False, True], ids=['at_once', 'pending_delete'])
def test_deleting_an_image_removes_it_from_the_queue(client, project, make_image,
                                                     delayed):
    admin, owner = project('admin', admin=True), project()
    image, other = make_image(owner, **RAW), make_image(owner, **RAW)
    client.add_location(owner, image['id'], 'file:///queued-%s' % image['id'],
                        transition=('queued', 'active'), values={'size': 3})
    client.queue_for_cache(admin, image['id'])
    client.queue_for_cache(admin, other['id'])
    deleted = client.delete_image(owner, image['id'], delayed=delayed)
    assert deleted['delayed'] is delayed
    queued = [e['image_id'] for e in client.list_cache_queue(admin)]
    assert image['id'] not in queued
    assert other['id'] in queued   # only the deleted image's entry goes
    client.dequeue_from_cache(admin, other['id'])


@pytest.mark.parametrize('call', [
    lambda client, who: client.list_cache_queue(who),
    lambda client, who: client.queue_for_cache(who, str(uuid.uuid4())),
    lambda client, who: client.dequeue_from_cache(who, str(uuid.uuid4())),
    lambda client, who: client.dequeue_from_cache(who),
])
def test_only_admins_use_the_queue(client, project, call):
    with pytest.raises(errors.Forbidden) as refused:
        call(client, project())
    assert refused.value.reason == 'admin_only'
