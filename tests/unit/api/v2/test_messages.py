"""How the registry's refusals read to clients (``glance_api.v2.messages``): the
status from the error's class, upstream's words from the one table."""

import pathlib
import re
import uuid

import pytest

from glance_api.v2 import messages, routes
from tests.fixtures.inprocess import caller

OWNER = caller('owner-project')
ROOT = pathlib.Path(__file__).resolve().parents[4]


@pytest.fixture
def shared(deployment):
    response = deployment.request('POST', '/v2/images', OWNER, {
        'name': 'x', 'visibility': 'shared', 'tags': ['kept']})
    return response.json['id']


def test_a_duplicate_id(deployment, shared):
    response = deployment.request('POST', '/v2/images', OWNER, {'id': shared})
    assert (response.status_code, response.json['message']) == (
        409, 'An image with identifier %s already exists' % shared)


def test_an_image_that_is_not_there(deployment):
    missing = str(uuid.uuid4())
    for method in ('GET', 'DELETE'):
        response = deployment.request(method, '/v2/images/%s' % missing, OWNER)
        assert (response.status_code, response.json['message']) == (
            404, 'No image found with ID %s' % missing)


def test_a_tag_that_is_not_there(deployment, shared):
    response = deployment.request('DELETE', '/v2/images/%s/tags/gone' % shared, OWNER)
    assert (response.status_code, response.json['message']) == (
        404, 'Tag gone not found on image %s' % shared)


def test_members(make_deployment):
    deployment = make_deployment(api={'image_member_quota': 1})
    image = deployment.request('POST', '/v2/images', OWNER,
                               {'visibility': 'shared'}).json['id']
    members = '/v2/images/%s/members' % image
    assert deployment.request('POST', members, OWNER,
                              {'member': 'one'}).status_code == 200
    again = deployment.request('POST', members, OWNER, {'member': 'one'})
    assert (again.status_code, again.json['message']) == (
        409, 'Member one already exists for image %s.' % image)
    over = deployment.request('POST', members, OWNER, {'member': 'two'})
    assert (over.status_code, over.json['message']) == (
        413, 'Image member limit exceeded for image %s: the limit is 1.' % image)
    missing = deployment.request('GET', members + '/nobody', OWNER)
    assert (missing.status_code, missing.json['message']) == (
        404, 'Member nobody not found for image %s.' % image)


def test_a_refusal_without_a_row_keeps_the_registrys_words(make_deployment):
    deployment = make_deployment(api={'image_tag_quota': 1})
    image = deployment.request('POST', '/v2/images', OWNER, {'tags': ['one']}).json
    response = deployment.request('PUT', '/v2/images/%s/tags/two' % image['id'], OWNER)
    assert response.status_code == 413
    assert response.json['message'].startswith('Too many tags')


def test_every_row_names_a_reason_the_registry_gives():
    documented = set(re.findall(r'^``(\w+)``\s+\d{3}\s',
                                (ROOT / 'docs' / 'registry-api.rst').read_text(),
                                flags=re.M))
    assert documented, 'the reason table was not found'
    reasons = {key[0] if isinstance(key, tuple) else key for key in messages.MESSAGES}
    assert reasons - documented == set()


def test_every_operation_row_names_a_route():
    endpoints = {route.endpoint for route in routes.ROUTES}
    named = {key[1] for key in messages.MESSAGES if isinstance(key, tuple)}
    assert named - endpoints == set()
