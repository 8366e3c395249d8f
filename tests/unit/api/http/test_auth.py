"""Authentication from upstream's configs (``glance_api.http.auth``): upstream turns
Keystone on with ``[paste_deploy] flavor = keystone...`` alone, so an operator's
config that says so must never come up unauthenticated."""

import pytest
import webob

from glance_api import opts
from glance_api.http import auth
from glance_registry import process


def _load(tmp_path, text):
    config = tmp_path / 'glance-api.conf'
    config.write_text(text)
    return process.load_config(['--config-file', str(config)], opts.register_opts)


@pytest.mark.parametrize('text, strategy', [
    ('[paste_deploy]\nflavor = keystone\n', 'keystone'),
    ('[paste_deploy]\nflavor = keystone+caching\n', 'keystone'),
    ('[paste_deploy]\nflavor = keystone+cachemanagement\n', 'keystone'),
    ('[DEFAULT]\nauth_strategy = keystone\n[paste_deploy]\nflavor = keystone\n',
     'keystone'),
    ('[DEFAULT]\nauth_strategy = keystone\n[paste_deploy]\nflavor = caching\n',
     'keystone'),
    ('[paste_deploy]\nflavor = cachemanagement\n', 'noauth'),
    ('[paste_deploy]\nflavor = trusted-auth\n', 'noauth'),
    ('', 'noauth'),
])
def test_a_keystone_flavor_means_keystone_authentication(tmp_path, text, strategy):
    conf = _load(tmp_path, text)
    auth.resolve_strategy(conf)
    assert conf.auth_strategy == strategy


def test_a_keystone_flavor_with_noauth_set_is_refused(tmp_path):
    conf = _load(tmp_path, '[DEFAULT]\nauth_strategy = noauth\n'
                           '[paste_deploy]\nflavor = keystone+cachemanagement\n')
    with pytest.raises(ValueError, match=r'flavor = keystone\+cachemanagement asks for '
                                         r'Keystone authentication but auth_strategy '
                                         r'= noauth'):
        auth.resolve_strategy(conf)


def test_a_flavor_upstream_does_not_have_is_a_configuration_error(tmp_path):
    with pytest.raises(process.Refused, match='flavor'):
        _load(tmp_path, '[paste_deploy]\nflavor = keystone+bogus\n')


def test_keystone_with_upstreams_memcached_servers_answers_401_not_500(tmp_path):
    # Upstream's install guide sets memcached_servers: keystonemiddleware then needs
    # python-memcached, which must come with the service (without it every request
    # was a 500). Nothing listens on the port: the cache is not reached for a
    # request without a token.
    conf = _load(tmp_path, '[DEFAULT]\nauth_strategy = keystone\n'
                           '[keystone_authtoken]\n'
                           'www_authenticate_uri = http://127.0.0.1:5000\n'
                           'memcached_servers = 127.0.0.1:1\n')
    app = auth.wrap(lambda environ, start_response: [], conf)
    response = webob.Request.blank('/v2/images').get_response(app)
    assert response.status_int == 401
    assert response.headers['WWW-Authenticate'] == \
        'Keystone uri="http://127.0.0.1:5000"'


def test_keystone_with_delay_auth_decision_still_refuses_an_unauthenticated_request(
        tmp_path):
    # auth_token then passes a request without a valid token on (X-Identity-Status:
    # Invalid, identity headers stripped); upstream refuses it (no anonymous access),
    # so the application must never see it. Nothing listens on Keystone's port: an
    # invalid token is refused as unverifiable, a missing one never asked about.
    conf = _load(tmp_path, '[DEFAULT]\nauth_strategy = keystone\n'
                           '[keystone_authtoken]\n'
                           'www_authenticate_uri = http://127.0.0.1:5000\n'
                           'auth_url = http://127.0.0.1:1\n'
                           'delay_auth_decision = true\n')
    reached = []

    def app(environ, start_response):
        reached.append(environ)
        start_response('200 OK', [])
        return [b'{}']

    wrapped = auth.wrap(app, conf)
    request = webob.Request.blank('/v2/images',
                                  headers={'X-Roles': 'admin', 'X-Project-Id': 'p'})
    response = request.get_response(wrapped)
    assert response.status_int == 401
    assert response.json['error']['message'] == \
        'The request you have made requires authentication.'
    assert response.headers['WWW-Authenticate'] == \
        'Keystone uri="http://127.0.0.1:5000"'
    assert reached == []
