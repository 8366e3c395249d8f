"""Reading request bodies: JSON documents and their media types."""

import orjson
from flask import request

from glance_api import errors

JSON_TYPES = ('application/json',)


def json_body(media_types=JSON_TYPES, accept_patch=None):
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
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise errors.BadRequest('Malformed JSON in request body.')
