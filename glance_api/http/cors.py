"""CORS for browsers (Horizon's "direct" upload mode), with oslo.middleware's rules.

The ``[cors]`` options are oslo.middleware's (``allowed_origin``,
``allow_credentials``, ``expose_headers``, ``max_age``, ``allow_methods``,
``allow_headers``), with upstream Glance's defaults for the image service's headers.
Nothing is allowed until an operator names an origin.

- A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is
  answered here, in front of authentication (a browser sends no token with it):
  ``200``, with the ``Access-Control-Allow-*`` headers only when the origin, the
  method and every requested header are allowed (upstream turns whatever the API
  answered into that ``200``). Any other ``OPTIONS`` is ``405``, as upstream's
  router answers it.
- Every other answer (a ``401`` of the auth layer too) carries
  ``Access-Control-Allow-Origin`` and the exposed headers only for an allowed
  ``Origin``.

oslo.middleware decides each header (``oslo_middleware.cors.CORS``); it is not put in
the WSGI chain itself because it answers through webob, which makes every
``Location`` absolute and hides gunicorn's response from
``glance_api.http.keepalive``.
"""

import types

import webob
import webob.headers
from oslo_middleware import base
from oslo_middleware import cors

GROUP = 'cors'

#: Upstream Glance's defaults (``glance.common.config.set_config_defaults``).
DEFAULTS = {
    'allow_headers': ['Content-MD5', 'X-Image-Meta-Checksum', 'X-Storage-Token',
                      'Accept-Encoding', 'X-Auth-Token', 'X-Identity-Status',
                      'X-Roles', 'X-Service-Catalog', 'X-User-Id', 'X-Tenant-Id',
                      'X-OpenStack-Request-ID'],
    'expose_headers': ['X-Image-Meta-Checksum', 'X-Auth-Token', 'X-Subject-Token',
                       'X-Service-Token', 'X-OpenStack-Request-ID'],
    'allow_methods': ['GET', 'PUT', 'POST', 'DELETE', 'PATCH'],
}


def cors_opts():
    """oslo.middleware's ``[cors]`` options, with upstream Glance's defaults."""
    cors.set_defaults(**DEFAULTS)
    return cors.OPTS


def register_opts(conf):
    conf.register_opts(cors_opts(), group=GROUP)


class CORS:
    """WSGI middleware: answers preflights, decorates answers for allowed origins."""

    def __init__(self, app, conf):
        self.app = app
        self.rules = cors.CORS(None, conf)

    def __call__(self, environ, start_response):
        if 'HTTP_ORIGIN' not in environ:
            return self.app(environ, start_response)
        request = webob.Request(environ)
        if request.method == 'OPTIONS' and \
                'HTTP_ACCESS_CONTROL_REQUEST_METHOD' in environ:
            response = self.rules._apply_cors_preflight_headers(
                request=request, response=base.NoContentTypeResponse(status='200'))
            return response(environ, start_response)

        def decorated(status, headers, exc_info=None):
            response = types.SimpleNamespace(
                headers=webob.headers.ResponseHeaders(headers))
            self.rules._apply_cors_request_headers(request=request,
                                                   response=response)
            return start_response(status, list(response.headers.items()), exc_info)

        return self.app(environ, decorated)
