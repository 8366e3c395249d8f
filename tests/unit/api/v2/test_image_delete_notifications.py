"""``image.delete`` shows the image as the deletion left it, as upstream's: its
status ``deleted``, or ``pending_delete`` when ``delayed_delete`` keeps its data
for the scrubber."""

import pytest

from tests.unit.api.v2.test_image_data_notifications import (OWNER, _active_image,
                                                             _queued)


@pytest.mark.parametrize('delayed_delete, status', [
    (False, 'deleted'), (True, 'pending_delete')])
def test_a_deleted_image_is_announced_in_the_status_it_was_left_in(
        make_deployment, delayed_delete, status):
    deployment = make_deployment(api={'oslo_messaging_notifications.driver': ['log'],
                                      'delayed_delete': delayed_delete})
    image_id = _active_image(deployment, b'x' * 100)

    assert deployment.request('DELETE', '/v2/images/%s' % image_id,
                              OWNER).status_code == 204
    [(event_type, priority, payload)] = _queued(deployment)
    assert (event_type, priority) == ('image.delete', 'info')
    assert (payload['id'], payload['status'], payload['deleted']) == (
        image_id, status, True)
    assert payload['deleted_at']
