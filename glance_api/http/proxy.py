"""Behind a proxy: the request's public scheme, host and path prefix.

With ``[oslo_middleware] enable_proxy_headers_parsing`` (off by default, as
upstream) oslo.middleware's ``HTTPProxyToWSGI`` reads ``Forwarded`` (RFC 7239: the
first proxy's ``proto``, ``host`` and ``for``), or else ``X-Forwarded-Proto``,
``X-Forwarded-Host`` and ``X-Forwarded-For``, and ``X-Forwarded-Prefix`` (which
becomes ``SCRIPT_NAME``), exactly as in upstream Glance's pipeline. Turn it on only
when every request comes through a proxy that sets (or strips) these headers:
otherwise a client chooses the URLs the API hands out.

What the API builds from them: the versions document's links (absolute URLs), and
``Location`` headers (the prefix, then ``/v2/...``). The links inside documents
(``self``, ``file``, ``schema``, ``first``, ``next``) stay relative to the API's root,
as upstream's: the standard clients append them to their endpoint (openstacksdk even
strips everything up to the version), so a prefixed link would be followed as
``/image/image/v2/...``.
"""

import types

from flask import request
from oslo_middleware import http_proxy_to_wsgi

GROUP = 'oslo_middleware'
proxy_opts = http_proxy_to_wsgi.OPTS


def register_opts(conf):
    conf.register_opts(proxy_opts, group=GROUP)


def wrap(wsgi_app, conf):
    """``wsgi_app`` seeing the request as the client sent it to the proxy."""
    parser = http_proxy_to_wsgi.HTTPProxyToWSGI(None, conf)

    def proxied(environ, start_response):
        # oslo.middleware's own parsing, on the environ only: its WSGI wrapper
        # would answer through webob, which makes every Location absolute and
        # hides gunicorn's response from glance_api.http.keepalive.
        parser.process_request(types.SimpleNamespace(environ=environ))
        return wsgi_app(environ, start_response)

    return proxied


def location(path):
    """A ``Location`` header for ``path`` (``/v2/...``), behind the proxy's prefix."""
    return request.script_root + path
