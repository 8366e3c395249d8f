"""An import whose success (the task finished, the image active with its new
locations) gets no answer from the registry cannot tell whether it was recorded.
Its data stays until that is known: a retried call that finds the task finished
with the image using the data is the import's success; with no answer at all, the
data stays, and if the success was not recorded the task's lease runs out and the
worker that takes it over removes it, as a dead worker's."""

import json
import time

import pytest

from glance_registry.client import transport as http_transport
from tests.fixtures.inprocess import caller

OWNER = caller('import-finish-owner')
DATA = b'data' * 1024


class _LosesTheSuccess:
    """A transport that loses the answer to the task's success, once: after the
    registry made it (``committed``) or before; the connection breaks
    (``reset``: the client retries the call) or the answer never comes."""

    def __init__(self, inner, committed, reset):
        self.inner = inner
        self.committed = committed
        self.reset = reset
        self.lost = False

    def request(self, method, path, headers, body, timeout, fresh=False):
        if not self.lost and method == 'PUT' and path.endswith('/result') and \
                json.loads(body).get('status') == 'success':
            self.lost = True
            if self.committed:
                self.inner.request(method, path, headers, body, timeout, fresh)
            if self.reset:
                raise http_transport.Unreachable('ConnectionResetError')
            raise http_transport.NoAnswer()
        return self.inner.request(method, path, headers, body, timeout, fresh)

    def close(self):
        self.inner.close()


def _import_losing_its_success(deployment, committed, reset):
    image_id = deployment.request('POST', '/v2/images', OWNER, {
        'disk_format': 'raw', 'container_format': 'bare'}).get_json()['id']
    assert deployment.request('PUT', '/v2/images/%s/stage' % image_id, OWNER, DATA,
                              content_type='application/octet-stream'
                              ).status_code == 204
    registry = deployment.registry
    registry._transport = _LosesTheSuccess(registry._transport, committed, reset)
    assert deployment.request('POST', '/v2/images/%s/import' % image_id, OWNER, {
        'method': {'name': 'glance-direct'}}).status_code == 202
    deadline = time.monotonic() + 10
    while not registry._transport.lost and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)   # the job's handling of the lost answer
    registry._transport = registry._transport.inner
    return image_id


def _settled(deployment, image_id, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        image = deployment.request('GET', '/v2/images/%s' % image_id,
                                   OWNER).get_json()
        if image['status'] != 'importing' or time.monotonic() > deadline:
            return image
        time.sleep(0.1)


@pytest.mark.parametrize('reset', [True, False], ids=['retried', 'unanswered'])
def test_a_success_recorded_unanswered_keeps_the_imported_data(deployment, reset):
    image_id = _import_losing_its_success(deployment, committed=True, reset=reset)
    assert _settled(deployment, image_id)['status'] == 'active'
    assert deployment.store.names() == [image_id]
    download = deployment.request('GET', '/v2/images/%s/file' % image_id, OWNER)
    assert download.status_code == 200
    assert download.get_data() == DATA


def test_a_success_not_recorded_is_redone_by_the_worker_that_takes_it_over(
        make_deployment):
    deployment = make_deployment(api={'task_lease_time': 3})
    image_id = _import_losing_its_success(deployment, committed=False, reset=False)
    image = _settled(deployment, image_id, timeout=15)   # the lease runs out
    assert image['status'] == 'active'
    assert deployment.store.names() == [image_id]
    assert deployment.staging.names() == []
    assert deployment.request('GET', '/v2/images/%s/file' % image_id,
                              OWNER).get_data() == DATA


class _TakenOverAtTheEnd:
    """A transport that answers the task's success, once, as the registry does
    when another worker took the task over meanwhile: 409 ``taken_over``, nothing
    recorded."""

    def __init__(self, inner):
        self.inner = inner
        self.answered = False

    def request(self, method, path, headers, body, timeout, fresh=False):
        if not self.answered and method == 'PUT' and path.endswith('/result') and \
                json.loads(body).get('status') == 'success':
            self.answered = True
            return 409, json.dumps({'error': {
                'code': 'conflict', 'reason': 'taken_over',
                'message': 'The task is held by another worker'}}).encode()
        return self.inner.request(method, path, headers, body, timeout, fresh)

    def close(self):
        self.inner.close()


def test_a_worker_told_it_was_taken_over_leaves_what_it_wrote_to_the_new_one(
        make_deployment):
    """The worker that took over writes the same objects (they are named after the
    image), and may have written them already: the one taken over must not remove
    them. The new worker removes what it finds left when it takes over, then
    finishes the import."""
    deployment = make_deployment(api={'task_lease_time': 3})
    image_id = deployment.request('POST', '/v2/images', OWNER, {
        'disk_format': 'raw', 'container_format': 'bare'}).get_json()['id']
    assert deployment.request('PUT', '/v2/images/%s/stage' % image_id, OWNER, DATA,
                              content_type='application/octet-stream'
                              ).status_code == 204
    registry = deployment.registry
    registry._transport = _TakenOverAtTheEnd(registry._transport)
    assert deployment.request('POST', '/v2/images/%s/import' % image_id, OWNER, {
        'method': {'name': 'glance-direct'}}).status_code == 202
    deadline = time.monotonic() + 10
    while not registry._transport.answered and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)   # the job's handling of the answer
    registry._transport = registry._transport.inner
    assert deployment.store.names() == [image_id]
    image = _settled(deployment, image_id, timeout=15)   # the lease runs out
    assert image['status'] == 'active'
    assert deployment.store.names() == [image_id]
    assert deployment.request('GET', '/v2/images/%s/file' % image_id,
                              OWNER).get_data() == DATA


class _FailureTakenOver(_TakenOverAtTheEnd):
    """The task's success refused as if the image changed meanwhile, so the
    import fails; then its failure answered as ``_TakenOverAtTheEnd`` answers a
    success."""

    def request(self, method, path, headers, body, timeout, fresh=False):
        if method == 'PUT' and path.endswith('/result'):
            status = json.loads(body).get('status')
            if status == 'success':
                return 409, json.dumps({'error': {
                    'code': 'conflict', 'reason': 'status_conflict',
                    'message': "Image status is 'queued', not 'importing'"}}).encode()
            if status == 'failure' and not self.answered:
                self.answered = True
                return 409, json.dumps({'error': {
                    'code': 'conflict', 'reason': 'taken_over',
                    'message': 'The task is held by another worker'}}).encode()
        return self.inner.request(method, path, headers, body, timeout, fresh)


def test_a_worker_told_it_was_taken_over_while_failing_leaves_the_staged_data(
        make_deployment):
    """A failing import whose task another worker took over leaves what it wrote
    and the staged data, which that worker imports from, where they are."""
    deployment = make_deployment(api={'task_lease_time': 3})
    image_id = deployment.request('POST', '/v2/images', OWNER, {
        'disk_format': 'raw', 'container_format': 'bare'}).get_json()['id']
    assert deployment.request('PUT', '/v2/images/%s/stage' % image_id, OWNER, DATA,
                              content_type='application/octet-stream'
                              ).status_code == 204
    staged = deployment.staging.names()
    assert staged
    registry = deployment.registry
    registry._transport = _FailureTakenOver(registry._transport)
    assert deployment.request('POST', '/v2/images/%s/import' % image_id, OWNER, {
        'method': {'name': 'glance-direct'}}).status_code == 202
    deadline = time.monotonic() + 10
    while not registry._transport.answered and time.monotonic() < deadline:
        time.sleep(0.02)
    assert registry._transport.answered, 'the import did not fail'
    time.sleep(0.3)   # the job's handling of the answer
    registry._transport = registry._transport.inner
    assert deployment.staging.names() == staged
    assert deployment.store.names() == [image_id]
