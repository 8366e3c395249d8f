"""Requests the router refuses before any view runs, as upstream's router does.

- ``HEAD`` and ``OPTIONS`` are 405 (with ``Allow``) on every route: upstream maps
  neither (Flask would answer ``OPTIONS`` itself, and ``HEAD`` as a ``GET``).
- A body on a request that takes none (``GET``, ``DELETE``, adding a tag,
  deactivating or reactivating) is 400, as upstream's ``body_reject`` routes say.
- A body sent in a transfer coding other than ``chunked`` (``gzip, chunked``) is
  501, as RFC 9112 asks of a coding the server does not decode: gunicorn answers
  codings it does not know so itself, but hands ``gzip``, ``deflate`` and
  ``compress`` on undecoded, and the view read the compressed bytes as the body
  (an upload stored them as the image).
"""

from flask import request
import werkzeug.exceptions

from glance_api.http import errors

_REFUSED_METHODS = errors.FLASK_ADDED_METHODS


def check(url_map, bodiless):
    """Refuse the current request if its method or body does not fit its route;
    ``bodiless`` holds the endpoints that take no body (the routes table's)."""
    if request.url_rule is None:
        return   # no route: Flask answers 404 or 405 itself
    undecoded = _undecoded_codings()
    if undecoded:
        raise errors.Unimplemented(
            'Transfer-Encoding %s is not supported: send the body as it is, with a '
            'Content-Length or chunked.' % ', '.join(undecoded))
    if request.method in _REFUSED_METHODS:
        # Answered like any other unmapped method (errors.register_handlers).
        raise werkzeug.exceptions.MethodNotAllowed(
            valid_methods=url_map.bind_to_environ(request.environ).allowed_methods())
    if request.endpoint in bodiless and _has_body():
        raise errors.BadRequest('A body is not expected with this request.')


def _undecoded_codings():
    """The request's transfer codings other than ``chunked``, the one gunicorn
    decodes (it refuses a message whose last coding is not ``chunked``)."""
    codings = request.headers.get('Transfer-Encoding', '').split(',')
    return [coding.strip() for coding in codings
            if coding.strip() and coding.strip().lower() != 'chunked']


def _has_body():
    return bool(request.content_length) or 'chunked' in request.headers.get(
        'Transfer-Encoding', '').lower()
