"""The registry application in process: each one serves the database it opened."""

import orjson
import webob
from oslo_config import cfg

from glance_registry import app as app_module
from glance_registry import db as db_module
from glance_registry import migrations
from glance_registry import opts
from glance_registry.client import identity
from tests.fixtures import registry_signing

CALLER = identity.Identity('user', 'app-project', ('member',))


def _app(url):
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    conf([], project='glance', default_config_files=[])
    conf.set_override('connection', url, group='database')
    conf.set_override('registry_auth_secret', 's')
    return app_module.create_app(conf)


def _call(application, method, path, body=None):
    data = orjson.dumps(body) if body is not None else None
    headers = registry_signing.headers_for(CALLER, 's', method, path, data)
    request = webob.Request.blank(path, method=method, headers=headers)
    if data is not None:
        request.body = data
        request.content_type = 'application/json'
    return request.get_response(application)


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
