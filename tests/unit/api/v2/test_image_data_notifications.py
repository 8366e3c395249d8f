"""``image.send`` counts the bytes a download really gave the client, once the
server closes the body."""

from tests.fixtures.inprocess import caller

OWNER = caller('sender-project', user='sender')


def _queued(deployment):
    """What the API worker's notifier holds (its thread is not started here)."""
    notifier = deployment.app.extensions['glance'].notifier
    found = []
    while not notifier._queue.empty():
        _context, event_type, payload, priority = notifier._queue.get_nowait()
        found.append((event_type, priority, payload))
    return found


def _active_image(deployment, data):
    image = deployment.request('POST', '/v2/images', OWNER, {
        'disk_format': 'raw', 'container_format': 'bare'}).get_json()
    assert deployment.request('PUT', '/v2/images/%s/file' % image['id'], OWNER,
                              data, content_type='application/octet-stream'
                              ).status_code == 204
    _queued(deployment)
    return image['id']


def test_a_download_announces_the_bytes_it_sent(make_deployment):
    deployment = make_deployment(api={'oslo_messaging_notifications.driver': ['log']})
    image_id = _active_image(deployment, b'x' * 3000)

    response = deployment.request('GET', '/v2/images/%s/file' % image_id, OWNER,
                                  headers={'Range': 'bytes=0-999'})
    assert response.status_code == 206
    assert len(response.get_data()) == 1000
    response.close()
    assert _queued(deployment) == [('image.send', 'info', {
        'bytes_sent': 1000, 'image_id': image_id, 'owner_id': 'sender-project',
        'receiver_tenant_id': 'sender-project', 'receiver_user_id': 'sender'})]


def test_a_download_the_client_left_early_is_announced_as_an_error(make_deployment):
    # As upstream: image.send at ERROR when fewer bytes than the response's went
    # out, so that a meter of downloads counts only whole ones.
    deployment = make_deployment(api={'oslo_messaging_notifications.driver': ['log']})
    size = 4 * 1024 * 1024   # more than one chunk
    image_id = _active_image(deployment, b'x' * size)

    response = deployment.request('GET', '/v2/images/%s/file' % image_id, OWNER)
    assert response.status_code == 200
    first = next(iter(response.response))
    assert 0 < len(first) < size
    response.close()
    assert _queued(deployment) == [('image.send', 'error', {
        'bytes_sent': len(first), 'image_id': image_id, 'owner_id': 'sender-project',
        'receiver_tenant_id': 'sender-project', 'receiver_user_id': 'sender'})]
