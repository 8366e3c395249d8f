"""Building responses: JSON with orjson, and the links upstream puts in documents."""

import orjson
from flask import Response


def json(document, status=200, headers=None):
    response = Response(orjson.dumps(document), status=status,
                        mimetype='application/json')
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def no_content():
    """A ``204``: no body, so no ``Content-Type`` either (Flask would say
    ``text/html``), as upstream's."""
    response = Response(status=204)
    del response.headers['Content-Type']
    return response
