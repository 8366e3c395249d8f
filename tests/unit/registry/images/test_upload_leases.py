"""Upload leases: an upload whose worker died does not hold its image forever."""

import time

import pytest

from glance_registry.client import errors

RAW = {'disk_format': 'raw', 'container_format': 'bare'}


def start_upload(client, caller, image_id, lease=None, upload_id=None):
    return client.transition_status(caller, image_id, 'queued', 'saving', lease=lease,
                                    upload_id=upload_id)


def test_an_upload_whose_lease_ran_out_is_taken_over(client, project, make_image):
    owner = project()
    image = make_image(owner, **RAW)
    start_upload(client, owner, image['id'], lease=1)
    time.sleep(1.2)   # the worker died: nobody renews
    taken = start_upload(client, owner, image['id'], lease=60)
    assert taken['status'] == 'saving'
    active = client.transition_status(owner, image['id'], 'saving', 'active',
                                      values={'size': 1})
    assert active['status'] == 'active'


def test_a_live_upload_is_not_taken_over(client, project, make_image):
    owner = project()
    image = make_image(owner, **RAW)
    start_upload(client, owner, image['id'], lease=60)
    with pytest.raises(errors.Conflict) as refused:
        start_upload(client, owner, image['id'], lease=60)
    assert refused.value.details['current_status'] == 'saving'


def test_an_upload_without_a_lease_is_never_taken_over(client, project, make_image):
    # Uploads started before leases existed (or by a client that sends none).
    owner = project()
    image = make_image(owner, **RAW)
    start_upload(client, owner, image['id'])
    with pytest.raises(errors.Conflict):
        start_upload(client, owner, image['id'], lease=60)


def test_renewing_keeps_the_upload(client, project, make_image):
    owner = project()
    image = make_image(owner, **RAW)
    start_upload(client, owner, image['id'], lease=1)
    renewed = client.renew_upload_lease(owner, image['id'], 60)
    assert renewed['upload_lease_expires_at'].endswith('Z')
    time.sleep(1.2)
    with pytest.raises(errors.Conflict):
        start_upload(client, owner, image['id'], lease=60)


def test_only_an_upload_in_progress_renews(client, project, make_image):
    owner = project()
    image = make_image(owner, **RAW)
    with pytest.raises(errors.Conflict) as refused:
        client.renew_upload_lease(owner, image['id'], 60)
    assert refused.value.details['current_status'] == 'queued'
    with pytest.raises(errors.NotFound):
        client.renew_upload_lease(project(), image['id'], 60)


def test_leaving_saving_ends_the_lease(client, project, make_image):
    owner = project()
    image = make_image(owner, **RAW)
    start_upload(client, owner, image['id'], lease=1)
    client.transition_status(owner, image['id'], 'saving', 'queued')
    time.sleep(1.2)
    # queued again: an ordinary upload start, not a takeover
    assert start_upload(client, owner, image['id'], lease=60)['status'] == 'saving'


@pytest.mark.parametrize('lease', [0, -5, 'soon', 86401, True])
def test_bad_leases_are_400(client, project, make_image, lease):
    owner = project()
    image = make_image(owner, **RAW)
    with pytest.raises(errors.BadRequest):
        client._send('PUT', '/v1/images/%s/status' % image['id'], owner,
                     json={'from': 'queued', 'to': 'saving', 'lease': lease})


def test_an_upload_taken_over_after_stalling_cannot_go_on(client, project, make_image):
    owner = project()
    image = make_image(owner, **RAW)
    start_upload(client, owner, image['id'], lease=1, upload_id='stalled')
    time.sleep(1.2)   # its client stopped sending: nobody renews
    start_upload(client, owner, image['id'], lease=60, upload_id='new')
    # The stalled upload resumes: it may neither renew nor leave saving.
    with pytest.raises(errors.Conflict) as renewing:
        client.renew_upload_lease(owner, image['id'], 60, upload_id='stalled')
    for to_status in ('active', 'queued'):
        with pytest.raises(errors.Conflict) as leaving:
            client.transition_status(owner, image['id'], 'saving', to_status,
                                     values={'size': 1}, upload_id='stalled')
        assert leaving.value.reason == 'taken_over'
        assert leaving.value.details == {'image_id': image['id'],
                                         'current_status': 'saving'}
    assert renewing.value.reason == 'taken_over'
    # The new upload carries on.
    client.renew_upload_lease(owner, image['id'], 60, upload_id='new')
    active = client.transition_status(owner, image['id'], 'saving', 'active',
                                      values={'size': 1}, upload_id='new')
    assert active['status'] == 'active'


def test_the_upload_holding_the_image_renews_and_finishes(client, project, make_image):
    owner = project()
    image = make_image(owner, **RAW)
    start_upload(client, owner, image['id'], lease=60, upload_id='mine')
    client.renew_upload_lease(owner, image['id'], 60, upload_id='mine')
    assert client.transition_status(owner, image['id'], 'saving', 'queued',
                                    upload_id='mine')['status'] == 'queued'
    # Leaving saving forgot the upload: the next one starts afresh.
    start_upload(client, owner, image['id'], lease=60, upload_id='next')
    with pytest.raises(errors.Conflict):
        client.renew_upload_lease(owner, image['id'], 60, upload_id='mine')


@pytest.mark.parametrize('upload_id', ['', 'x' * 65, 7, None, 'nul\x00'])
def test_bad_upload_ids_are_400(client, project, make_image, upload_id):
    owner = project()
    image = make_image(owner, **RAW)
    with pytest.raises(errors.BadRequest):
        client._send('PUT', '/v1/images/%s/status' % image['id'], owner,
                     json={'from': 'queued', 'to': 'saving', 'lease': 60,
                           'upload_id': upload_id})
