"""What a swiftclient, requests or socket failure means as a ``stores.errors`` error."""

import http.client

import requests
import swiftclient
import urllib3

from stores import errors

#: What a download's body may raise when the connection breaks mid-stream.
READ_ERRORS = (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError,
               requests.RequestException)


def status_of(exc):
    """The HTTP status Swift answered with, None if it never answered."""
    return getattr(exc, 'http_status', None)


def store_error(exc, what, writing=False):
    """The ``stores.errors`` exception for a swiftclient/requests failure."""
    if isinstance(exc, errors.StoreError):
        return exc
    status = status_of(exc)
    if status == 404 and writing:
        return errors.StoreUnavailable(
            '%s: the container does not exist (create it, or set '
            'swift_store_create_container_on_put)' % what)
    if status == 404:
        return errors.NotFound('%s: no such object in Swift' % what)
    if status in (413, 507):
        return errors.StoreFull('%s: Swift has no room (%s)' % (what, status))
    if status in (401, 403):
        return errors.StoreUnavailable('%s: credentials refused (%s)'
                                       % (what, status))
    if isinstance(exc, swiftclient.ClientException):
        return errors.StoreUnavailable('%s: %s' % (what, exc))
    return errors.StoreUnavailable('%s: cannot reach Swift: %s' % (what, exc))
