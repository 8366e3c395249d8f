"""Requests the router refuses before any view runs, as upstream's router does.

- ``HEAD`` and ``OPTIONS`` are 405 (with ``Allow``) on every route: upstream maps
  neither (Flask would answer ``OPTIONS`` itself, and ``HEAD`` as a ``GET``).
- A body on a request that takes none (``GET``, ``DELETE``, adding a tag,
  deactivating or reactivating) is 400, as upstream's ``body_reject`` routes say.
"""

from flask import request
import werkzeug.exceptions

from glance_api import errors

_REFUSED_METHODS = errors.FLASK_ADDED_METHODS
_BODILESS_METHODS = frozenset({'GET', 'DELETE'})
# Views of other methods that take no body (the blueprint's endpoint names).
_BODILESS_ENDPOINTS = frozenset({'images.add_tag', 'images.deactivate_image',
                                 'images.reactivate_image'})


def check(url_map):
    """Refuse the current request if its method or body does not fit its route."""
    if request.url_rule is None:
        return   # no route: Flask answers 404 or 405 itself
    if request.method in _REFUSED_METHODS:
        # Answered like any other unmapped method (errors.register_handlers).
        raise werkzeug.exceptions.MethodNotAllowed(
            valid_methods=url_map.bind_to_environ(request.environ).allowed_methods())
    if (request.method in _BODILESS_METHODS or
            request.endpoint in _BODILESS_ENDPOINTS) and _has_body():
        raise errors.BadRequest('A body is not expected with this request.')


def _has_body():
    return bool(request.content_length) or 'chunked' in request.headers.get(
        'Transfer-Encoding', '').lower()
