"""Reading request bodies: JSON documents, their media types and their size limit.

Every JSON body is limited to ``[oslo_middleware] max_request_body_size`` (the name
and default of upstream's ``sizelimit`` middleware, which applies it to every body;
here image data is not a JSON body and is bounded by ``image_size_cap`` instead). A
longer body is refused with 413 before it is read: at once when its
``Content-Length`` says so, after one byte more than the limit when it is chunked.
The rest is never read into memory (``glance_api.http.keepalive`` closes the
connection rather than read megabytes it would throw away). Views check what they
can without the body (the policy rules that do not depend on it) before calling
``parse``.
"""

from flask import request
from oslo_config import cfg

from glance_api.http import errors
from glance_api.services import services
from glance_registry.client import wire_json

JSON_TYPES = ('application/json',)

GROUP = 'oslo_middleware'

#: oslo.middleware's own definition (``oslo_middleware.sizelimit.OPTS``), repeated
#: so that the option reads the same whether or not that middleware is loaded.
body_opts = [
    cfg.IntOpt('max_request_body_size', default=114688, min=1,
               help='The maximum body size for each request, in bytes.'),
]


def register_opts(conf):
    conf.register_opts(body_opts, group=GROUP)


def check_media_type(media_types=JSON_TYPES, accept_patch=None):
    """415 unless the request's Content-Type is one of ``media_types`` (none at all
    passes for plain JSON); ``accept_patch`` is said in ``Accept-Patch``."""
    media_type = request.mimetype
    if media_type not in media_types and not (media_type == '' and
                                              media_types == JSON_TYPES):
        headers = {'Accept-Patch': ', '.join(accept_patch)} if accept_patch else None
        raise errors.UnsupportedMediaType(
            'Unsupported Content-Type %s; expected %s'
            % (media_type or '(none)', ' or '.join(media_types)), headers=headers)


def parse(media_types=JSON_TYPES, accept_patch=None, max_bytes=None):
    """The request's JSON document; 415 for another media type, 400 if malformed
    (or cut short), 413 if longer than ``max_bytes`` (default
    ``max_request_body_size``; no more than one byte past it is read)."""
    check_media_type(media_types, accept_patch)
    if max_bytes is None:
        max_bytes = services().conf.oslo_middleware.max_request_body_size
    if (request.content_length or 0) > max_bytes:
        raise _too_large(max_bytes)
    data = _read_at_most(max_bytes + 1)
    if len(data) > max_bytes:
        raise _too_large(max_bytes)
    if request.content_length is not None and len(data) < request.content_length:
        # The client stopped sending: its request is not carried out, even when
        # what arrived happens to parse (upstream's webob raises DisconnectionError).
        raise errors.BadRequest('The request body could not be read: it is cut '
                                'short (%d of the %d bytes of its Content-Length).'
                                % (len(data), request.content_length))
    if not data:
        raise errors.BadRequest('Request body is empty; a JSON document is required.')
    try:
        return wire_json.loads(data, MAX_DEPTH)
    except wire_json.Malformed as exc:
        raise errors.BadRequest('Malformed JSON in request body: %s.' % exc)
    except wire_json.TooDeep:
        raise errors.BadRequest('The JSON document is nested more than %d levels '
                                'deep.' % MAX_DEPTH)
    except wire_json.IntegerOutOfRange as exc:
        raise errors.BadRequest('The request body holds an integer out of range: '
                                '%s (at most 64 bits).' % exc)


def _too_large(max_bytes):
    return errors.TooLarge('Request is too large: the JSON body is larger than '
                           'max_request_body_size (%d bytes).' % max_bytes)


def _read_at_most(size):
    chunks, left = [], size
    while left > 0:
        try:
            chunk = request.stream.read(min(left, 65536))
        except Exception as exc:
            # A chunked body whose framing is malformed, or that the client stops
            # sending before its last chunk, surfaces as whatever the server's
            # reader raises (gunicorn's NoMoreData, InvalidChunkSize, ...); the
            # server then closes the connection (its reader is marked failed).
            raise errors.BadRequest('The request body could not be read: it is cut '
                                    'short or its chunked framing is malformed (%s).'
                                    % type(exc).__name__) from None
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b''.join(chunks)


#: Deepest nesting of arrays and objects accepted; images need 4 (a patch's
#: location metadata), location metadata a few more.
MAX_DEPTH = 32


def describe_error(error):
    """A JSON schema validation error in a line: what is wrong, and where."""
    where = '/'.join(str(p) for p in error.absolute_path)
    message = error.message
    if len(message) > 300:
        message = message[:300] + '...'
    return '%s (at %s)' % (message, where) if where else message
