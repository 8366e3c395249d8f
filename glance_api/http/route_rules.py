"""Requests refused before any view runs: those upstream's router refuses, and
bodies or URLs the views could only misread.

- A path or query string whose percent-encoded bytes are not UTF-8 is 400, as the
  registry answers it: Werkzeug read ``%FF`` in a path as U+FFFD and in a query as
  the text ``%FF``, so ``PUT .../tags/%FF`` and ``.../tags/%FE`` made one tag
  named U+FFFD, and ``?name=%FF`` asked for images named ``%FF``.
- ``HEAD`` and ``OPTIONS`` are 405 (with ``Allow``) on every route: upstream maps
  neither (Flask would answer ``OPTIONS`` itself, and ``HEAD`` as a ``GET``).
- A body on a request that takes none (``GET``, ``DELETE``, adding a tag,
  deactivating or reactivating) is 400, as upstream's ``body_reject`` routes say.
- A body sent in a transfer coding other than ``chunked`` (``gzip, chunked``) is
  501, as RFC 9112 asks of a coding the server does not decode: gunicorn answers
  codings it does not know so itself, but hands ``gzip``, ``deflate`` and
  ``compress`` on undecoded, and the view read the compressed bytes as the body
  (an upload stored them as the image).
- A body in a content coding other than ``identity`` (``Content-Encoding: gzip``)
  is 415, as RFC 9110 allows: the service decodes none, and the compressed bytes of
  an upload were stored as the image its client meant to send decoded (upstream
  stores them so too).
"""

import urllib.parse

from flask import request
import werkzeug.exceptions

from glance_api.http import errors

_REFUSED_METHODS = errors.FLASK_ADDED_METHODS


def check(url_map, bodiless):
    """Refuse the current request if its URL is not UTF-8, or its method or body
    does not fit its route; ``bodiless`` holds the endpoints that take no body
    (the routes table's)."""
    _check_utf8(request.environ)
    if request.url_rule is None:
        return   # no route: Flask answers 404 or 405 itself
    undecoded = _undecoded_codings()
    if undecoded:
        raise errors.Unimplemented(
            'Transfer-Encoding %s is not supported: send the body as it is, with a '
            'Content-Length or chunked.' % ', '.join(undecoded))
    coding = request.headers.get('Content-Encoding', '').strip()
    if coding and coding.lower() != 'identity' and _has_body():
        raise errors.UnsupportedMediaType(
            'Content-Encoding %s is not supported: send the body as it is.' % coding)
    if request.method in _REFUSED_METHODS:
        # Answered like any other unmapped method (errors.register_handlers).
        raise werkzeug.exceptions.MethodNotAllowed(
            valid_methods=url_map.bind_to_environ(request.environ).allowed_methods())
    if request.endpoint in bodiless and _has_body():
        raise errors.BadRequest('A body is not expected with this request.')


def _check_utf8(environ):
    # WSGI strings carry the request's bytes as latin-1 (the path percent-decoded
    # by the server, the query string as sent).
    try:
        environ.get('PATH_INFO', '').encode('latin-1').decode('utf-8')
    except UnicodeError:
        raise errors.BadRequest('The request path is not UTF-8.') from None
    query = environ.get('QUERY_STRING', '').encode('latin-1')
    try:
        urllib.parse.unquote_to_bytes(query).decode('utf-8')
    except UnicodeError:
        raise errors.BadRequest('The query string is not UTF-8.') from None


def _undecoded_codings():
    """The request's transfer codings other than ``chunked``, the one gunicorn
    decodes (it refuses a message whose last coding is not ``chunked``)."""
    codings = request.headers.get('Transfer-Encoding', '').split(',')
    return [coding.strip() for coding in codings
            if coding.strip() and coding.strip().lower() != 'chunked']


def _has_body():
    return bool(request.content_length) or 'chunked' in request.headers.get(
        'Transfer-Encoding', '').lower()
