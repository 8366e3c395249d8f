"""CORS (``glance_api.http.cors``): preflights before authentication, allow headers
only for configured origins, upstream Glance's defaults."""

import pytest

ALLOWED = 'https://horizon.example.com'
OTHER = 'https://evil.example.com'


@pytest.fixture
def keystone_api(make_deployment):
    """An API behind keystonemiddleware, which answers 401 to any request without
    a token that gets past the CORS layer."""
    return make_deployment(api={'auth_strategy': 'keystone',
                                'cors.allowed_origin': [ALLOWED]})


def _preflight(api, origin, method='PUT', headers='X-Auth-Token,Content-Type'):
    return api.request('OPTIONS', '/v2/images/some-id/file', headers={
        'Origin': origin, 'Access-Control-Request-Method': method,
        'Access-Control-Request-Headers': headers})


def test_preflight_of_an_allowed_origin_is_answered_without_a_token(keystone_api):
    response = _preflight(keystone_api, ALLOWED)
    assert response.status_code == 200
    assert response.headers['Access-Control-Allow-Origin'] == ALLOWED
    assert response.headers['Access-Control-Allow-Methods'] == 'PUT'
    assert response.headers['Access-Control-Allow-Headers'] == \
        'X-Auth-Token,Content-Type'
    assert response.headers['Access-Control-Allow-Credentials'] == 'true'
    assert response.headers['Access-Control-Max-Age'] == '3600'


@pytest.mark.parametrize('origin, method, headers', [
    (OTHER, 'PUT', 'X-Auth-Token'),                    # origin not configured
    (ALLOWED, 'TRACE', 'X-Auth-Token'),                # upstream's methods only
    (ALLOWED, 'PUT', 'X-Auth-Token,X-Not-Allowed'),    # a header not allowed
])
def test_preflight_not_allowed_gets_no_allow_headers(keystone_api, origin, method,
                                                     headers):
    response = _preflight(keystone_api, origin, method, headers)
    assert response.status_code == 200
    assert not [name for name in response.headers
                if name[0].lower().startswith('access-control-')]


def test_upstream_default_headers_are_allowed(keystone_api):
    response = _preflight(keystone_api, ALLOWED, 'POST',
                          'Content-MD5,X-Image-Meta-Checksum,X-OpenStack-Request-ID')
    assert response.headers['Access-Control-Allow-Origin'] == ALLOWED


def test_actual_answers_carry_allow_headers_for_allowed_origins_only(make_deployment):
    api = make_deployment(api={'cors.allowed_origin': [ALLOWED]})
    for path, status in (('/v2/images', 200), ('/v2/images/missing', 404)):
        allowed = api.request('GET', path, headers={'Origin': ALLOWED})
        assert allowed.status_code == status
        assert allowed.headers['Access-Control-Allow-Origin'] == ALLOWED
        assert allowed.headers['Vary'] == 'Origin'
        exposed = allowed.headers['Access-Control-Expose-Headers'].split(',')
        assert 'X-OpenStack-Request-ID' in exposed
        assert 'X-Image-Meta-Checksum' in exposed
        other = api.request('GET', path, headers={'Origin': OTHER})
        assert other.status_code == status
        assert 'Access-Control-Allow-Origin' not in other.headers


def test_nothing_is_allowed_until_an_origin_is_configured(deployment):
    response = _preflight(deployment, ALLOWED)
    assert 'Access-Control-Allow-Origin' not in response.headers
    answer = deployment.request('GET', '/v2/images', headers={'Origin': ALLOWED})
    assert answer.status_code == 200
    assert 'Access-Control-Allow-Origin' not in answer.headers


def test_options_that_is_not_a_preflight_stays_405(deployment):
    response = deployment.request('OPTIONS', '/v2/images', headers={'Origin': ALLOWED})
    assert response.status_code == 405
