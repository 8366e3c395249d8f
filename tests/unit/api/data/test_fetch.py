"""glance_api.data.fetch: URLs read under [import_filtering_opts], against real
servers on loopback."""

import pytest
from oslo_config import cfg

from glance_api.data import fetch, import_filtering
from tests.fixtures import web_server
from tests.fixtures.web_server import pattern


@pytest.fixture(scope='module')
def server():
    with web_server.running() as server:
        yield server


@pytest.fixture(scope='module')
def inside():
    """Another service on loopback, as Keystone or the registry would be."""
    with web_server.running() as server:
        yield server


def config(**options):
    conf = cfg.ConfigOpts()
    import_filtering.register_opts(conf)
    conf([])
    for name, value in options.items():
        conf.set_override(name, value, group=import_filtering.GROUP)
    return conf


def allowing(server):
    return config(allowed_hosts=['127.0.0.1'], allowed_ports=[server.port])


def read(conf, url, **kwargs):
    with fetch.open_url(conf, url, **kwargs) as response:
        return response.url, response.headers, b''.join(response.iter_content(4096))


def test_an_explicitly_allowed_loopback_url_is_read(server):
    url, headers, body = read(allowing(server), server.url + '/data/70000')
    assert (url, body) == (server.url + '/data/70000', pattern(70000))
    assert headers['content-length'] == '70000'


@pytest.mark.parametrize('options', [
    {},                                             # upstream's defaults
    {'allowed_ports': []},                          # any port, still not loopback
    {'allowed_ports': [], 'disallowed_hosts': ['localhost']},
])
def test_loopback_is_refused_unless_allowed_hosts_names_it(server, options):
    before = dict(server.requests)
    with pytest.raises(fetch.Refused) as caught:
        read(config(**options), server.url + '/data/10')
    assert str(caught.value) == fetch.web.REFUSED
    assert server.requests == before


def test_a_redirect_to_another_port_is_refused_and_never_reached(server, inside):
    before = dict(inside.requests)
    with pytest.raises(fetch.Refused) as caught:
        read(allowing(server), server.redirect(inside.url + '/host'))
    message = str(caught.value)
    assert str(inside.port) not in message and '127.0.0.1' not in message
    assert inside.requests == before


def test_a_redirect_within_the_filters_is_followed(server):
    url, _, body = read(allowing(server), server.redirect(server.url + '/data/5'))
    assert (url, body) == (server.url + '/data/5', pattern(5))


@pytest.mark.parametrize('status', [400, 401, 404, 500])
def test_an_error_status_fails_with_a_generic_message(server, status):
    with pytest.raises(fetch.Failed) as caught:
        read(allowing(server), '%s/status/%d' % (server.url, status))
    assert str(caught.value) == fetch.web.FAILED
    assert str(status) not in str(caught.value) and caught.value.status == status


def test_more_than_max_bytes_fails(server):
    with pytest.raises(fetch.Failed):
        read(allowing(server), server.url + '/data/5000', max_bytes=4999)
    assert read(allowing(server), server.url + '/data/5000', max_bytes=5000)[2] == (
        pattern(5000))


@pytest.mark.parametrize('path', ['/status/404', '/status/503'])
def test_the_log_names_a_url_without_its_credentials_or_query(server, caplog, path):
    # A web-download URL's user info and query string are often its credentials (a
    # password, a presigned URL's signature, a temp URL's sig): the operator's log
    # names the server and path only, for a URL that fails directly or through a
    # redirect (the redirect's target too). (urllib3's debug lines, which
    # oslo.log's default_log_levels keep at WARN, are left out.)
    caplog.set_level('DEBUG', logger='stores')
    caplog.set_level('DEBUG', logger='glance_api')
    target = server.url.replace('//', '//alice:PASSWORD@') + path + '?sig=SECRET'
    redirect = server.redirect(server.url + path + '?temp_url_sig=SECRET')
    for url in (target, redirect.replace('//', '//alice:PASSWORD@', 1)):
        with pytest.raises(fetch.Failed):
            read(allowing(server), url)
    assert path in caplog.text and '/redirect' in caplog.text
    assert 'SECRET' not in caplog.text and 'PASSWORD' not in caplog.text
