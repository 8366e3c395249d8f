"""Request ids: every answer carries ``x-openstack-request-id``, whoever gives it.

``RequestIds`` is an outer layer of the API (glance_api.app): the health check, a
CORS preflight, a 401 of the auth layer and the application's answers all carry
the id, and every line logged while the request is served names it
(``glance_registry.process.bind_request``), the registry call of the health check
included. A caller's ``X-OpenStack-Request-ID`` in OpenStack's form (another
service's request id) is kept as the request's global id, as oslo.middleware's
request_id keeps it. What gunicorn answers itself, before the application sees
the request, gets its id from ``glance_registry.header_gate``.
"""

from glance_registry import process
from glance_registry import request_ids as ids

ENVIRON_KEY = 'glance.request_id'
GLOBAL_ENVIRON_KEY = 'glance.global_request_id'


class RequestIds:
    """WSGI middleware: gives each request an id and stamps it on the answer."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        request_id = ids.new_request_id()
        global_request_id = ids.global_request_id(
            environ.get('HTTP_X_OPENSTACK_REQUEST_ID'))
        environ[ENVIRON_KEY] = request_id
        environ[GLOBAL_ENVIRON_KEY] = global_request_id
        # Until the application knows the caller (gunicorn's access line unbinds
        # it).
        process.bind_request(request_id, global_request_id=global_request_id)

        def stamped(status, headers, exc_info=None):
            headers = [(k, v) for k, v in headers
                       if k.lower() != ids.REQUEST_ID_HEADER]
            headers.append((ids.REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        return self.app(environ, stamped)


def request_id(environ):
    """The id of the request ``environ`` is."""
    return environ.get(ENVIRON_KEY) or ids.new_request_id()


def global_request_id(environ):
    """The id the caller's service gave the request that led to this one, if any."""
    return environ.get(GLOBAL_ENVIRON_KEY)
