"""The registry's responses: JSON bodies, no content, and errors in the shape of
docs/registry-api.rst."""

import orjson
import webob


def json(body, status=200):
    """``body`` as a JSON response."""
    return webob.Response(body=orjson.dumps(body), status=status,
                          content_type='application/json', charset=None)


def no_content():
    """An empty ``204``."""
    response = webob.Response(status=204)
    response.content_type = None
    return response


def error(exc):
    """The response for the ``errors.RegistryError`` ``exc``: its status and body."""
    return json(exc.to_dict(), exc.status)
