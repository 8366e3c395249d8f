"""The API's error hierarchy and the one place errors become HTTP responses.

Handlers raise ``APIError`` subclasses (or let registry and store errors propagate);
``register_handlers`` maps everything to upstream Glance's status codes and error body.

Body negotiation follows upstream (webob): a client that accepts JSON (``Accept``
naming ``application/json``, or no ``Accept`` at all) gets
``{"message": ..., "code": "404 Not Found", "title": "Not Found"}``; a client that
accepts only ``*/*`` or text gets upstream's plain-text rendering. python-glanceclient
sends ``*/*`` and cannot parse a flat JSON error, which is why upstream answers it with
HTML; plain text is what it shows best.
"""

import http
import logging

import orjson
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
    store_errors.StoreFull: TooLarge,
    store_errors.StoreUnavailable: Unavailable,
    store_errors.BadLocation: BadRequest,
    store_errors.ReadOnly: Forbidden,
}


def translate(exc):
    """The ``APIError`` that a registry or store exception stands for."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, registry_errors.Unavailable):
        # The reason (refused, timed out, which host) is for the log.
        LOG.warning('registry unavailable: %s', exc)
        return Unavailable('The image registry is not available; try again later.')
    for source, target in list(_REGISTRY_ERRORS.items()) + list(_STORE_ERRORS.items()):
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


def error_response(status, message, headers=None):
    """An error response in upstream's shape, negotiated on the request's Accept."""
    phrase = http.HTTPStatus(status).phrase
    code = '%d %s' % (status, phrase)
    if _wants_json():
        body = orjson.dumps({'message': message, 'code': code, 'title': phrase})
        mimetype = 'application/json'
    else:
        body = '%s\n\n%s\n\n   ' % (code, message)
        mimetype = 'text/plain'
    response = Response(body, status=status, mimetype=mimetype)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _wants_json():
    accept = request.headers.get('Accept')
    if not accept:
        return True
    return any(value in ('application/json', 'application/*')
               or value.endswith('+json')
               for value, quality in request.accept_mimetypes if quality > 0)


#: Methods Flask adds to every route and this API refuses on all of them, as upstream
#: (``glance_api.request_shape``): never listed in ``Allow``.
FLASK_ADDED_METHODS = frozenset({'HEAD', 'OPTIONS'})


def register_handlers(app):
    """Map every exception a request can raise to a well-formed error response."""

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
        translated = translate(exc)
        if translated is not None:
            return error_response(translated.status, translated.message,
                                  translated.headers)
        LOG.exception('unexpected error handling %s %s', request.method, request.path)
        return error_response(500, 'The server has either erred or is incapable of '
                                   'performing the requested operation.')
