"""An import whose success (the task finished, the image active with its new
locations) gets no answer from the registry cannot tell whether it was recorded.
Its data stays until that is known: a retried call that finds the task finished
with the image using the data is the import's success; with no answer at all, the
data stays, and if the success was not recorded the task's lease runs out and the
worker that takes it over removes it, as a dead worker's. So with a failure that
gets no answer: the task may have been taken over meanwhile."""

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
    _imported_by_the_next_worker(deployment, image_id)


def _imported_by_the_next_worker(deployment, image_id):
    """Once the task's lease runs out, the next read of the image takes the import
    over, and the worker that does imports ``DATA``: one object, nothing staged."""
    image = _settled(deployment, image_id, timeout=15)
    assert image['status'] == 'active'
    assert deployment.store.names() == [image_id]
    # The staged data goes once the success is recorded: just after the image is
    # active.
    deadline = time.monotonic() + 10
    while deployment.staging.names() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert deployment.staging.names() == []
    assert deployment.request('GET', '/v2/images/%s/file' % image_id,
                              OWNER).get_data() == DATA


def _conflict(reason, message):
    """A registry 409 answer, as the transport returns it."""
    return 409, json.dumps({'error': {'code': 'conflict', 'reason': reason,
                                      'message': message}}).encode()


_TAKEN_OVER = ('taken_over', 'The task is held by another worker')


class _Answers:
    """A transport that answers the task's result itself, by its status, with
    ``answer(status)`` (None: the registry answers; an exception: raised, no
    answer); ``answered`` once the status ``flag`` was answered so."""

    def __init__(self, inner, answer, flag):
        self.inner = inner
        self.answer = answer
        self.flag = flag
        self.answered = False

    def request(self, method, path, headers, body, timeout, fresh=False):
        if method == 'PUT' and path.endswith('/result'):
            status = json.loads(body).get('status')
            answer = None if status == self.flag and self.answered \
                else self.answer(status)
            if answer is not None:
                self.answered = self.answered or status == self.flag
                if isinstance(answer, Exception):
                    raise answer
                return answer
        return self.inner.request(method, path, headers, body, timeout, fresh)

    def close(self):
        self.inner.close()


def _staged_import(deployment, answer, flag):
    """Stage ``DATA`` into a new image and import it with the registry's answers
    to its task's result given by ``answer`` (``_Answers``) until the ``flag``
    status was answered; ``(image id, the staging store's names before the
    import)``."""
    image_id = deployment.request('POST', '/v2/images', OWNER, {
        'disk_format': 'raw', 'container_format': 'bare'}).get_json()['id']
    assert deployment.request('PUT', '/v2/images/%s/stage' % image_id, OWNER, DATA,
                              content_type='application/octet-stream'
                              ).status_code == 204
    staged = deployment.staging.names()
    assert staged
    registry = deployment.registry
    registry._transport = _Answers(registry._transport, answer, flag)
    assert deployment.request('POST', '/v2/images/%s/import' % image_id, OWNER, {
        'method': {'name': 'glance-direct'}}).status_code == 202
    deadline = time.monotonic() + 10
    while not registry._transport.answered and time.monotonic() < deadline:
        time.sleep(0.02)
    assert registry._transport.answered, 'the task never reached its %s' % flag
    time.sleep(0.3)   # the job's handling of the answer
    registry._transport = registry._transport.inner
    return image_id, staged


def test_a_worker_told_it_was_taken_over_leaves_what_it_wrote_to_the_new_one(
        make_deployment):
    """The worker that took over writes the same objects (they are named after the
    image), and may have written them already: the one taken over must not remove
    them. The new worker removes what it finds left when it takes over, then
    finishes the import."""
    deployment = make_deployment(api={'task_lease_time': 3})
    # The success answered as when another worker took the task over meanwhile:
    # 409 taken_over, nothing recorded.
    image_id, _ = _staged_import(
        deployment, lambda status: _conflict(*_TAKEN_OVER)
        if status == 'success' else None, 'success')
    assert deployment.store.names() == [image_id]
    image = _settled(deployment, image_id, timeout=15)   # the lease runs out
    assert image['status'] == 'active'
    assert deployment.store.names() == [image_id]
    assert deployment.request('GET', '/v2/images/%s/file' % image_id,
                              OWNER).get_data() == DATA


def test_a_worker_told_it_was_taken_over_while_failing_leaves_the_staged_data(
        make_deployment):
    """A failing import whose task another worker took over leaves what it wrote
    and the staged data, which that worker imports from, where they are."""
    deployment = make_deployment(api={'task_lease_time': 3})

    def answer(status):
        # The success refused as if the image changed meanwhile, so the import
        # fails; then its failure answered as taken over.
        if status == 'success':
            return _conflict('status_conflict',
                             "Image status is 'queued', not 'importing'")
        return _conflict(*_TAKEN_OVER) if status == 'failure' else None
    image_id, staged = _staged_import(deployment, answer, 'failure')
    assert deployment.staging.names() == staged
    assert deployment.store.names() == [image_id]


def test_a_failure_the_registry_never_answered_leaves_all_to_the_next_worker(
        make_deployment):
    """Unanswered, the task may have been taken over meanwhile and what the worker
    wrote be the new holder's: it is left, and the worker that takes the task
    over once its lease runs out removes it, as a dead worker's, and imports."""
    deployment = make_deployment(api={'task_lease_time': 3})

    def answer(status):
        # The success refused as if the image changed meanwhile, so the import
        # fails; then its failure gets no answer.
        if status == 'success':
            return _conflict('status_conflict',
                             "Image status is 'queued', not 'importing'")
        return http_transport.NoAnswer() if status == 'failure' else None
    image_id, staged = _staged_import(deployment, answer, 'failure')
    assert deployment.staging.names() == staged
    assert deployment.store.names() == [image_id]
    _imported_by_the_next_worker(deployment, image_id)
