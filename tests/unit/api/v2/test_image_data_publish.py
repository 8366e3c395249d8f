"""An upload whose publication (``saving -> active``) gets no answer from the
registry cannot tell whether it was published: the registry may still commit it
(a lock it waited for, a slow database) after the API gave up. The data is removed
only once the image is known not to use it: the upload puts the image back to
``queued`` first, which also makes a late publication fail. Data kept because the
registry answered neither is removed by the upload that takes the image over, or
by its deletion. A publication retried after its connection broke, which finds the
image active with its data, is the upload's success. A stage whose recording
gets no answer keeps its data the same way, unless given back."""

import json
import time

import pytest

from glance_registry.client import transport as http_transport
from tests.fixtures.inprocess import caller

OWNER = caller('publish-owner')
DATA = b'data' * 1024


class _LosesAnswers:
    """A transport whose answers to the publication (a status change to
    ``active``) and, with ``give_back``, to the give-back (to ``queued``) are
    lost: after the registry ran the publication (``committed``), or before."""

    def __init__(self, inner, committed, give_back):
        self.inner = inner
        self.committed = committed
        self.lost = ('active', 'queued') if give_back else ('active',)

    def request(self, method, path, headers, body, timeout, fresh=False):
        if method == 'PUT' and path.endswith('/status'):
            to = json.loads(body).get('to')
            if to in self.lost:
                if to == 'active' and self.committed:
                    self.inner.request(method, path, headers, body, timeout, fresh)
                raise http_transport.NoAnswer()
        return self.inner.request(method, path, headers, body, timeout, fresh)

    def close(self):
        self.inner.close()


def _unanswered_upload(deployment, committed, give_back):
    image_id = deployment.request('POST', '/v2/images', OWNER, {
        'disk_format': 'raw', 'container_format': 'bare'}).get_json()['id']
    registry = deployment.registry
    registry._transport = _LosesAnswers(registry._transport, committed, give_back)
    response = deployment.request('PUT', '/v2/images/%s/file' % image_id, OWNER, DATA,
                                  content_type='application/octet-stream')
    assert response.status_code == 503, response.data
    registry._transport = registry._transport.inner
    return image_id, deployment.request('GET', '/v2/images/%s' % image_id,
                                        OWNER).get_json()


@pytest.mark.parametrize('give_back_answered', [True, False])
def test_a_publication_committed_unanswered_keeps_its_data(deployment,
                                                           give_back_answered):
    image_id, image = _unanswered_upload(deployment, True, not give_back_answered)
    assert image['status'] == 'active'
    assert deployment.store.names() == [image_id]
    download = deployment.request('GET', '/v2/images/%s/file' % image_id, OWNER)
    assert download.status_code == 200
    assert download.get_data() == DATA


def test_a_publication_not_committed_is_given_back_without_its_data(deployment):
    image_id, image = _unanswered_upload(deployment, False, False)
    assert image['status'] == 'queued'
    assert deployment.store.names() == []
    assert deployment.request('PUT', '/v2/images/%s/file' % image_id, OWNER, b'data',
                              content_type='application/octet-stream'
                              ).status_code == 204


@pytest.mark.parametrize('then', ['take over', 'delete'])
def test_data_kept_for_an_unanswered_upload_goes_with_its_image(make_deployment,
                                                                then):
    # Neither answered, nor committed: the image stays saving, the data stays.
    deployment = make_deployment(api={'upload_lease_time': 1})
    image_id, image = _unanswered_upload(deployment, False, True)
    assert image['status'] == 'saving'
    assert deployment.store.names() == [image_id]
    time.sleep(1.1)   # the upload's lease runs out
    if then == 'take over':
        assert deployment.request('PUT', '/v2/images/%s/file' % image_id, OWNER,
                                  b'again', content_type='application/octet-stream'
                                  ).status_code == 204
        assert deployment.request('GET', '/v2/images/%s/file' % image_id,
                                  OWNER).get_data() == b'again'
    else:
        assert deployment.request('DELETE', '/v2/images/%s' % image_id,
                                  OWNER).status_code == 204
        assert deployment.store.names() == []


class _BreaksAfterThePublication:
    """A transport whose connection breaks once the registry has made the
    publication, before its answer: the registry client retries it (PUT), and the
    retry finds the image active already."""

    def __init__(self, inner):
        self.inner = inner
        self.broken = False

    def request(self, method, path, headers, body, timeout, fresh=False):
        answer = self.inner.request(method, path, headers, body, timeout, fresh)
        if not self.broken and method == 'PUT' and path.endswith('/status') and \
                json.loads(body).get('to') == 'active':
            self.broken = True
            raise http_transport.Unreachable('ConnectionResetError')
        return answer

    def close(self):
        self.inner.close()


def test_a_retried_publication_that_was_made_is_the_uploads_success(deployment):
    image_id = deployment.request('POST', '/v2/images', OWNER, {
        'disk_format': 'raw', 'container_format': 'bare'}).get_json()['id']
    registry = deployment.registry
    registry._transport = _BreaksAfterThePublication(registry._transport)
    response = deployment.request('PUT', '/v2/images/%s/file' % image_id, OWNER, DATA,
                                  content_type='application/octet-stream')
    assert response.status_code == 204, response.data
    assert deployment.request('GET', '/v2/images/%s' % image_id,
                              OWNER).get_json()['status'] == 'active'
    assert deployment.request('GET', '/v2/images/%s/file' % image_id,
                              OWNER).get_data() == DATA


class _HoldsThePublication:
    """A transport that sends the publication (a status change to ``active``) only
    after ``seconds``: as if committing the data had taken that long."""

    def __init__(self, inner, seconds):
        self.inner = inner
        self.seconds = seconds

    def request(self, method, path, headers, body, timeout, fresh=False):
        if method == 'PUT' and path.endswith('/status') and \
                json.loads(body).get('to') == 'active':
            time.sleep(self.seconds)
        return self.inner.request(method, path, headers, body, timeout, fresh)

    def close(self):
        self.inner.close()


def test_a_publication_after_the_lease_ran_out_is_refused_and_given_back(
        make_deployment):
    """The upload's reservation stopped counting against the quota when its lease
    ran out: it may not publish, whether or not another upload took the image over."""
    deployment = make_deployment(api={'upload_lease_time': 1})
    image_id = deployment.request('POST', '/v2/images', OWNER, {
        'disk_format': 'raw', 'container_format': 'bare'}).get_json()['id']
    registry = deployment.registry
    registry._transport = _HoldsThePublication(registry._transport, 1.2)
    response = deployment.request('PUT', '/v2/images/%s/file' % image_id, OWNER, DATA,
                                  content_type='application/octet-stream')
    registry._transport = registry._transport.inner
    assert response.status_code == 409, response.data
    assert 'was released by this upload' in response.get_json()['message']
    assert deployment.request('GET', '/v2/images/%s' % image_id,
                              OWNER).get_json()['status'] == 'queued'
    assert deployment.store.names() == []
    assert deployment.request('PUT', '/v2/images/%s/file' % image_id, OWNER, b'again',
                              content_type='application/octet-stream'
                              ).status_code == 204


class _BreaksAfterThePublicationAndTheRead(_BreaksAfterThePublication):
    """As ``_BreaksAfterThePublication``, and the registry then answers no read
    of the image either: the upload cannot see whether the image uses its data."""

    def request(self, method, path, headers, body, timeout, fresh=False):
        if self.broken and method == 'GET':
            raise http_transport.Unreachable('ConnectionRefusedError')
        return super().request(method, path, headers, body, timeout, fresh)


def test_a_retried_publication_that_cannot_be_checked_keeps_its_data(deployment):
    image_id = deployment.request('POST', '/v2/images', OWNER, {
        'disk_format': 'raw', 'container_format': 'bare'}).get_json()['id']
    registry = deployment.registry
    registry._transport = _BreaksAfterThePublicationAndTheRead(registry._transport)
    response = deployment.request('PUT', '/v2/images/%s/file' % image_id, OWNER, DATA,
                                  content_type='application/octet-stream')
    registry._transport = registry._transport.inner
    assert response.status_code == 503, response.data
    assert deployment.request('GET', '/v2/images/%s' % image_id,
                              OWNER).get_json()['status'] == 'active'
    assert deployment.request('GET', '/v2/images/%s/file' % image_id,
                              OWNER).get_data() == DATA


class _LosesTheStagesAnswer:
    """A transport that loses the answer to a stage's recording (``uploading ->
    uploading`` with its location): after the registry made it (``committed``),
    or before."""

    def __init__(self, inner, committed):
        self.inner = inner
        self.committed = committed

    def request(self, method, path, headers, body, timeout, fresh=False):
        if method == 'PUT' and path.endswith('/status') and \
                json.loads(body).get('locations'):
            if self.committed:
                self.inner.request(method, path, headers, body, timeout, fresh)
            raise http_transport.NoAnswer()
        return self.inner.request(method, path, headers, body, timeout, fresh)

    def close(self):
        self.inner.close()


def _unanswered_stage(deployment, committed):
    image_id = deployment.request('POST', '/v2/images', OWNER, {
        'disk_format': 'raw', 'container_format': 'bare'}).get_json()['id']
    registry = deployment.registry
    registry._transport = _LosesTheStagesAnswer(registry._transport, committed)
    response = deployment.request('PUT', '/v2/images/%s/stage' % image_id, OWNER,
                                  DATA, content_type='application/octet-stream')
    registry._transport = registry._transport.inner
    assert response.status_code == 503, response.data
    return image_id


def test_a_stage_not_recorded_unanswered_is_given_back_without_its_data(deployment):
    image_id = _unanswered_stage(deployment, committed=False)
    assert deployment.request('GET', '/v2/images/%s' % image_id,
                              OWNER).get_json()['status'] == 'queued'
    assert deployment.staging.names() == []


def assert_imports_the_staged_data(deployment, image_id):
    """A glance-direct import of ``image_id`` is accepted and serves ``DATA``."""
    assert deployment.request('POST', '/v2/images/%s/import' % image_id, OWNER, {
        'method': {'name': 'glance-direct'}}).status_code == 202
    deadline = time.monotonic() + 5
    while deployment.request('GET', '/v2/images/%s' % image_id, OWNER).get_json()[
            'status'] == 'importing' and time.monotonic() < deadline:
        time.sleep(0.05)
    assert deployment.request('GET', '/v2/images/%s/file' % image_id,
                              OWNER).get_data() == DATA


def test_a_stage_recorded_unanswered_keeps_its_data_for_the_import(deployment):
    image_id = _unanswered_stage(deployment, committed=True)
    # Recorded as staged (a new stage is refused): its import finds the data.
    assert deployment.request('GET', '/v2/images/%s' % image_id,
                              OWNER).get_json()['status'] == 'uploading'
    assert deployment.staging.names() == [image_id]
    assert_imports_the_staged_data(deployment, image_id)


class _LosesTheStagesAnswerAfterRecording:
    """A transport that sends a stage's recording (``uploading -> uploading`` with
    its location) to the registry, which makes it, then loses the answer: the
    connection breaks (the registry client sends the PUT again), or the registry
    answers that its database is unavailable (a failover as it committed: the
    call outlasts the outage and is sent again). Either way the repeat finds the
    stage's lease ended, as if another stage had taken the image over."""

    def __init__(self, inner, how):
        self.inner = inner
        self.how = how
        self.lost = False

    def request(self, method, path, headers, body, timeout, fresh=False):
        answer = self.inner.request(method, path, headers, body, timeout, fresh)
        if not self.lost and method == 'PUT' and path.endswith('/status') and \
                json.loads(body).get('locations'):
            self.lost = True
            if self.how == 'connection reset':
                raise http_transport.Unreachable('ConnectionResetError')
            return 503, json.dumps({'error': {
                'code': 503, 'reason': 'database_unavailable',
                'message': 'the database is not available'}}).encode()
        return answer

    def close(self):
        self.inner.close()


@pytest.mark.parametrize('how', ['connection reset', 'database unavailable'])
def test_a_stage_recorded_whose_answer_was_lost_is_the_stages_success(deployment,
                                                                      how):
    image_id = deployment.request('POST', '/v2/images', OWNER, {
        'disk_format': 'raw', 'container_format': 'bare'}).get_json()['id']
    registry = deployment.registry
    registry._transport = _LosesTheStagesAnswerAfterRecording(registry._transport,
                                                              how)
    response = deployment.request('PUT', '/v2/images/%s/stage' % image_id, OWNER,
                                  DATA, content_type='application/octet-stream')
    registry._transport = registry._transport.inner
    assert response.status_code == 204, response.data
    image = deployment.request('GET', '/v2/images/%s' % image_id, OWNER).get_json()
    assert (image['status'], image['size']) == ('uploading', len(DATA))
    assert deployment.staging.names() == [image_id]
    assert_imports_the_staged_data(deployment, image_id)
