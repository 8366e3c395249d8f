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
    return Response(status=204)
