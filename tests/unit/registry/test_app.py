"""The registry application in process: each one serves the database it opened."""

from glance_registry import db as db_module
from glance_registry import migrations
from glance_registry.client import identity
from tests.fixtures import registry_signing

CALLER = identity.Identity('user', 'app-project', ('member',))


def _app(url):
    return registry_signing.in_process(url, 's')


def _call(application, method, target, body=None):
    return registry_signing.call(application, CALLER, 's', method, target, body)


def test_two_applications_in_one_process_each_serve_their_own_database(tmp_path):
    urls = ['sqlite:///%s/%s.sqlite' % (tmp_path, name) for name in ('one', 'two')]
    for url in urls:
        db = db_module.open_database(url)
        migrations.upgrade(db)
        db.close_all()
    one, two = _app(urls[0]), _app(urls[1])
    made = _call(one, 'POST', '/v1/images', {'name': 'in one'}).json
    assert _call(two, 'POST', '/v1/images', {'name': 'in two'}).status_code == 201
    assert _call(one, 'GET', '/v1/images/%s' % made['id']).json['name'] == 'in one'
    assert _call(two, 'GET', '/v1/images/%s' % made['id']).status_code == 404
    assert [image['name'] for image in _call(one, 'GET', '/v1/images').json['images']] \
        == ['in one']
    assert [image['name'] for image in _call(two, 'GET', '/v1/images').json['images']] \
        == ['in two']
