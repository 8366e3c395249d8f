"""Reading request bodies: JSON documents and their media types."""

import orjson
from flask import request

from glance_api.http import errors

JSON_TYPES = ('application/json',)


def parse(media_types=JSON_TYPES, accept_patch=None):
    """The request's JSON document; 415 for another media type, 400 if malformed."""
    media_type = request.mimetype
    if media_type not in media_types and not (media_type == '' and
                                              media_types == JSON_TYPES):
        headers = {'Accept-Patch': ', '.join(accept_patch)} if accept_patch else None
        raise errors.UnsupportedMediaType(
            'Unsupported Content-Type %s; expected %s'
            % (media_type or '(none)', ' or '.join(media_types)), headers=headers)
    data = request.get_data(cache=False)
    if not data:
        raise errors.BadRequest('Request body is empty; a JSON document is required.')
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise errors.BadRequest('Malformed JSON in request body: %s.' % exc)
    if _deeper_than(document, MAX_DEPTH):
        # Validating and quoting such a value in an error message recurses once
        # per level: a thousand levels exhausted Python's stack.
        raise errors.BadRequest('The JSON document is nested more than %d levels '
                                'deep.' % MAX_DEPTH)
    return document


#: Deepest nesting of arrays and objects accepted; images need 4 (a patch's
#: location metadata), location metadata a few more.
MAX_DEPTH = 32


def _deeper_than(document, limit):
    """Whether ``document`` nests arrays and objects more than ``limit`` deep
    (iteratively: the document may be deeper than the recursion limit)."""
    stack = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        if depth == limit:
            return True
        stack.extend((item, depth + 1) for item in value)
    return False
