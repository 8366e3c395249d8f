"""The registry's query parameters: an operation that takes none refuses any, with
a 400 naming it, before it does anything. Internal services may call the registry
directly (docs/registry-api.rst): a parameter meant for another operation, or
misspelt, must not be ignored silently."""

import re

import pytest

from glance_registry import db as db_module
from glance_registry import migrations
from glance_registry import routes
from glance_registry.client import identity
from tests.fixtures import registry_signing

CALLER = identity.Identity('user', 'query-project', ('member',))

#: The image and task operations that take query parameters (docs/registry-api.rst).
IMAGE_AND_TASK_QUERIES = {'list_images', 'delete_image', 'add_tag', 'show_usage',
                          'list_tasks', 'list_orphaned_tasks'}


def takes_query(route):
    """Those, every metadef call but a namespace's creation (the caller's access
    verdicts: ``see``, ``allow``, ``items``), and the health check (a load
    balancer's probe may add one: it reads none, and a 400 would take the
    registry out of service)."""
    name = route.handler.__name__
    if route.pattern.pattern.startswith('/v1/metadefs'):
        return name != 'create_namespace'
    return name in IMAGE_AND_TASK_QUERIES or name == 'healthcheck'


@pytest.fixture(scope='module')
def registry(tmp_path_factory):
    url = 'sqlite:///%s/query.sqlite' % tmp_path_factory.mktemp('query')
    db = db_module.open_database(url)
    migrations.upgrade(db)
    db.close_all()
    return registry_signing.in_process(url, 's')


def _call(application, method, target, body=None):
    return registry_signing.call(application, CALLER, 's', method, target, body)


def _path(route):
    """A path the route matches: each of its named segments ``x``."""
    return re.sub(r'\(\?P<\w+>[^)]*\)', 'x', route.pattern.pattern)


_REFUSING = [route for route in routes.ROUTES if not takes_query(route)]


@pytest.mark.parametrize('route', _REFUSING, ids=lambda route: '%s %s' % (
    route.method, _path(route)))
def test_an_operation_that_takes_no_parameter_refuses_one(registry, route):
    response = _call(registry, route.method, _path(route) + '?delayed=true')
    assert response.status_code == 400, response.text
    assert response.json['error']['reason'] == 'invalid_value'
    assert response.json['error']['field'] == 'delayed'
    assert response.json['error']['message'] == "Unknown parameter 'delayed'"


def test_a_refused_parameter_changes_nothing(registry):
    image = _call(registry, 'POST', '/v1/images', {
        'name': 'kept', 'disk_format': 'raw', 'container_format': 'bare'}).json
    target = '/v1/images/%s/status' % image['id']
    refused = _call(registry, 'PUT', target + '?lease=60',
                    {'from': 'queued', 'to': 'saving', 'lease': 60})
    assert refused.status_code == 400, refused.text
    assert _call(registry, 'GET', '/v1/images/%s' % image['id']).json['status'] == \
        'queued'
    assert _call(registry, 'PUT', target, {'from': 'queued', 'to': 'saving',
                                           'lease': 60}).status_code == 200


def test_an_empty_query_string_is_no_parameter(registry):
    assert _call(registry, 'GET', '/v1/images/x?').status_code == 404


@pytest.mark.parametrize('target', ['/healthcheck?probe=1', '/v1/health?probe=1'])
def test_the_health_check_ignores_a_probes_query(registry, target):
    response = _call(registry, 'GET', target)
    assert (response.status_code, response.body) == (200, b'OK')
