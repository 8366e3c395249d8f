"""The API's error hierarchy and the one place errors become HTTP responses.

Handlers raise ``APIError`` subclasses (or let registry and store errors propagate);
``register_handlers`` maps everything to upstream Glance's status codes and error body.

The body is negotiated as upstream's webob does it: of ``text/html`` and
``application/json``, the first the ``Accept`` header takes (so ``*/*`` is HTML), else
``text/plain``. JSON is upstream's shape, ``{"message": ..., "code": "404 Not Found",
"title": "Not Found"}``. What each standard client can show decides this, and
upstream's choice serves them all: python-glanceclient sends ``*/*`` and shows HTML or
text but fails on a flat JSON error; openstacksdk (and openstackclient through it)
shows JSON and HTML but not text, and sends ``*/*`` too, ``application/json`` when it
lists, and an empty ``Accept`` when it patches or uploads. An empty or missing
``Accept`` gets JSON here (upstream: text, which openstacksdk shows as a bare
"Forbidden").
"""

import html
import http
import logging

import orjson
import webob.acceptparse
import werkzeug.exceptions
from flask import Response, request

from glance_registry.client import errors as registry_errors
from stores import errors as store_errors

LOG = logging.getLogger(__name__)


class APIError(Exception):
    status = 500

    def __init__(self, message, headers=None):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequest(APIError):
    status = 400


class Unauthorized(APIError):
    status = 401


class Forbidden(APIError):
    status = 403


class NotFound(APIError):
    status = 404


class MethodNotAllowed(APIError):
    status = 405


class Conflict(APIError):
    status = 409


class Gone(APIError):
    status = 410


class TooLarge(APIError):
    status = 413


class UnsupportedMediaType(APIError):
    status = 415


class RangeNotSatisfiable(APIError):
    status = 416


class Unimplemented(APIError):
    status = 501


class Unavailable(APIError):
    status = 503


_REGISTRY_ERRORS = {
    registry_errors.BadRequest: BadRequest,
    registry_errors.Forbidden: Forbidden,
    registry_errors.NotFound: NotFound,
    registry_errors.Conflict: Conflict,
    registry_errors.TooLarge: TooLarge,
}

_STORE_ERRORS = {
    store_errors.NotFound: NotFound,
    store_errors.Duplicate: Conflict,
    store_errors.StoreFull: TooLarge,
    store_errors.StoreUnavailable: Unavailable,
    store_errors.BadLocation: BadRequest,
    store_errors.ReadOnly: Forbidden,
}


def translate(exc, wording=None):
    """The ``APIError`` that a registry or store exception stands for.

    ``wording(exc)`` gives the client's message for a registry error (the one
    table, ``glance_api.v2.messages``), or None to keep the registry's own.
    """
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, registry_errors.Unavailable):
        # The reason (refused, timed out, which host) is for the log.
        LOG.warning('registry unavailable: %s', exc)
        return Unavailable('The image registry is not available; try again later.')
    if _older_registry(exc):
        LOG.error('the registry does not know what this API asked of it (%s): it '
                  'runs older code; upgrade the registries before the APIs', exc)
        return Unavailable('The image registry is older than this API and cannot do '
                           'this yet (an upgrade is under way); try again later.')
    for source, target in _REGISTRY_ERRORS.items():
        if isinstance(exc, source):
            return target((wording and wording(exc)) or str(exc))
    for source, target in _STORE_ERRORS.items():
        if isinstance(exc, source):
            return target(str(exc))
    if isinstance(exc, registry_errors.Unauthorized):
        # Our own credentials were refused: a configuration fault, not the user's.
        LOG.error('the registry refused this API\'s credentials: check that '
                  'registry_auth_secret matches in both processes')
        return Unavailable('The image registry is not available.')
    if isinstance(exc, (registry_errors.RegistryError, store_errors.StoreError)):
        LOG.error('unexpected %s: %s', type(exc).__name__, exc)
        return Unavailable('The service is temporarily unavailable.')
    return None


def _older_registry(exc):
    """Whether a registry error says it lacks a call or a body member this API
    sent: the API builds those bodies itself, so only a registry running older
    code (the APIs upgraded first) answers so. The client is not at fault: not
    its 400, nor a 404 that would deny its image exists."""
    if isinstance(exc, registry_errors.NotFound):
        return exc.reason == 'resource_not_found'
    if isinstance(exc, registry_errors.BadRequest):
        message = str(exc)
        return (exc.reason == 'invalid_value' and message.startswith('Unknown ')
                and ' attribute' in message.split(':', 1)[0])
    return False


def json_body(status, message):
    """Upstream's JSON error: ``{"message", "code": "404 Not Found", "title"}``."""
    phrase = http.HTTPStatus(status).phrase
    return {'message': message, 'code': '%d %s' % (status, phrase), 'title': phrase}


def error_response(status, message, headers=None):
    """An error response in upstream's shape, negotiated on the request's Accept."""
    phrase = http.HTTPStatus(status).phrase
    code = '%d %s' % (status, phrase)
    mimetype = _negotiate(request.headers.get('Accept'))
    if mimetype == 'application/json':
        body = orjson.dumps(json_body(status, message))
    elif mimetype == 'text/html':
        body = html_body(status, message)
    else:
        body = '%s\n\n%s\n' % (code, message)
    response = Response(body, status=status, mimetype=mimetype)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def html_body(status, message):
    """Upstream's HTML error page (webob's), which every standard client shows."""
    code = '%d %s' % (status, http.HTTPStatus(status).phrase)
    return _HTML % {'code': code, 'message': html.escape(message, quote=False)}


#: One line per part: clients that show HTML strip the tags line by line and join
#: what is left ("404 Not Found: No image found with ID ...").
_HTML = ('<html>\n <head>\n  <title>%(code)s</title>\n </head>\n <body>\n'
         '  <h1>%(code)s</h1>\n  %(message)s\n </body>\n</html>\n')

_OFFERS = ('text/html', 'application/json')


def _negotiate(accept):
    """The media type of an error body for a request's ``Accept`` header."""
    if not accept or not accept.strip():
        return 'application/json'
    offers = webob.acceptparse.create_accept_header(accept).acceptable_offers(_OFFERS)
    return offers[0][0] if offers else 'text/plain'


#: Methods Flask adds to every route and this API refuses on all of them, as upstream
#: (``glance_api.request_shape``): never listed in ``Allow``.
FLASK_ADDED_METHODS = frozenset({'HEAD', 'OPTIONS'})


def register_handlers(app, wording=None):
    """Map every exception a request can raise to a well-formed error response;
    ``wording`` words registry errors for clients (see ``translate``)."""

    @app.errorhandler(APIError)
    def _api_error(exc):
        return error_response(exc.status, exc.message, exc.headers)

    @app.errorhandler(werkzeug.exceptions.HTTPException)
    def _http_error(exc):
        headers = {}
        if isinstance(exc, werkzeug.exceptions.MethodNotAllowed) and exc.valid_methods:
            headers['Allow'] = ', '.join(sorted(set(exc.valid_methods)
                                                - FLASK_ADDED_METHODS))
        message = exc.description or exc.name
        if isinstance(exc, werkzeug.exceptions.NotFound):
            message = 'The resource could not be found.'
        elif isinstance(exc, werkzeug.exceptions.MethodNotAllowed):
            message = 'The method %s is not allowed for this resource.' % request.method
        return error_response(exc.code or 500, message, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc):
        translated = translate(exc, wording)
        if translated is not None:
            return error_response(translated.status, translated.message,
                                  translated.headers)
        LOG.exception('unexpected error handling %s %s', request.method, request.path)
        return error_response(500, 'The server has either erred or is incapable of '
                                   'performing the requested operation.')
