"""Version discovery and negotiation, answered in front of authentication, as upstream.

Glance has no microversion header: clients learn features from the versions document,
so it must advertise exactly what upstream does for the same configuration. Upstream
answers it before the token is checked (its ``versionnegotiation`` filter comes before
``authtoken``): clients, load balancers and deployment tools discover versions, and
check that the API is up, without a token. ``VersionNegotiation`` does the same:

- a path whose first segment is ``versions`` (any method): the document with 200;
- a first segment naming a version upstream serves (``v2``, ``v2.0`` ... ``v2.17``):
  the request goes on to the API as ``/v2/...`` (so ``/v2.1/images`` is
  ``/v2/images``);
- anything else, ``/`` included: the document with 300 Multiple Choices.

A client may name the version in ``Accept: application/vnd.openstack.images-v2`` instead
of the path; then the whole path goes on under ``/v2``.
"""

import orjson
import werkzeug.wrappers

from glance_registry import metrics

_MEDIA_TYPE_PREFIX = 'application/vnd.openstack.images-'


def advertised_versions(conf):
    """``(version, status)`` pairs of the versions document, newest first."""
    if conf.image_cache_dir:
        # The cache API (2.14, 2.18): advertised only with a cache, as upstream.
        current = [('2.18', 'CURRENT')] + [(v, 'SUPPORTED') for v in
                                           ('2.17', '2.16', '2.15', '2.14')]
    else:
        current = [('2.17', 'CURRENT')]
    if conf.enabled_backends:
        # Multi-store features (2.8-2.13) are advertised only when configured.
        middle = [(v, 'SUPPORTED') for v in ('2.13', '2.12', '2.11', '2.10', '2.9',
                                             '2.8')]
    else:
        middle = [('2.9', 'SUPPORTED')]
    old = [(v, 'SUPPORTED') for v in ('2.7', '2.6', '2.5', '2.4', '2.3', '2.2', '2.1',
                                      '2.0')]
    return current + middle + old


def served_versions(conf):
    """The version names a request may give in its path or media type (upstream's
    list: a few more than the document advertises)."""
    names = {'2', '2.15'} | {version for version, _ in advertised_versions(conf)}
    return frozenset('v' + name for name in names)


def document(conf, environ):
    """The versions document, its links at ``public_endpoint`` or the request's
    own URL."""
    base = (conf.public_endpoint
            or werkzeug.wrappers.Request(environ).root_url).rstrip('/')
    return {'versions': [
        {'id': 'v%s' % version, 'status': status,
         'links': [{'rel': 'self', 'href': '%s/v2/' % base}]}
        for version, status in advertised_versions(conf)]}


class VersionNegotiation:
    """WSGI middleware in front of authentication: answers version discovery and
    passes versioned requests on under ``/v2``."""

    def __init__(self, app, conf):
        self.app = app
        self.conf = conf
        self.served = served_versions(conf)

    def __call__(self, environ, start_response):
        path = environ.get('PATH_INFO', '')
        first, rest = _first_segment(path)
        if first == 'versions':
            environ[metrics.ROUTE_ENVIRON] = '/versions'
            return self._versions(environ, start_response, '200 OK')
        accept = environ.get('HTTP_ACCEPT', '')
        if accept.startswith(_MEDIA_TYPE_PREFIX):
            version, rest = accept[len(_MEDIA_TYPE_PREFIX):], path
        else:
            version = first
        if version not in self.served:
            if path in ('', '/'):
                environ[metrics.ROUTE_ENVIRON] = '/'
            return self._versions(environ, start_response, '300 Multiple Choices')
        environ['PATH_INFO'] = '/v2' + rest
        return self.app(environ, start_response)

    def _versions(self, environ, start_response, status):
        body = orjson.dumps(document(self.conf, environ))
        start_response(status, [('Content-Type', 'application/json'),
                                ('Content-Length', str(len(body)))])
        # HEAD: the headers GET would have, no body (RFC 9110).
        return [] if environ.get('REQUEST_METHOD') == 'HEAD' else [body]


def _first_segment(path):
    """``('v2', '/images')`` for ``/v2/images``; leading slashes are skipped, as
    upstream does."""
    path = path.lstrip('/')
    first, slash, rest = path.partition('/')
    return first, slash + rest
