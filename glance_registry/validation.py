"""The request vocabulary of the registry API: what a valid body or query is.

Handlers (``glance_registry.images.handlers``) check a request with these before
they touch the database: each function returns the checked value, or raises
``errors.BadRequest`` with a message naming the member at fault: reason
``invalid_value`` (``field`` names it), or ``invalid_request`` for a body that is no
JSON object. A body over ``MAX_BODY`` is ``errors.TooLarge`` (``body_too_large``).
"""

import re

from glance_registry.client import errors
from glance_registry.client import vocabulary
from glance_registry.client import wire_json

# Far more than any valid body (a few hundred properties of the largest size).
MAX_BODY = 16 * 1024 * 1024
# Twice what the API accepts (glance_api.http.json_body.MAX_DEPTH): room for the
# registry's own envelope around what a client sent.
MAX_DEPTH = 64

_JSON_TYPES = {bool: 'boolean', int: 'integer', float: 'number', str: 'string',
               list: 'array', dict: 'object', type(None): 'null'}
INT32_MAX = 2 ** 31 - 1
INT64_MAX = 2 ** 63 - 1
MAX_PROPERTY_VALUE = 65535
# Names a custom property may not take: the record's own members, and those the
# API's image document adds.
RESERVED_PROPERTY_NAMES = frozenset(
    vocabulary.IMAGE_ATTRIBUTES + ('properties', 'tags', 'locations')
    + ('location', 'direct_url', 'self', 'file', 'schema', 'stores'))


def json_body(request):
    """The request's body: a JSON object of at most ``MAX_BODY`` bytes."""
    content_type = request.content_type
    if content_type and content_type != 'application/json':
        raise errors.BadRequest('The body must be application/json, not %s'
                                % content_type, reason='invalid_request')
    data = bounded_body(request)
    if not data:
        raise errors.BadRequest('The request needs a JSON object body',
                                reason='invalid_request')
    try:
        body = wire_json.loads(data, MAX_DEPTH)
    except wire_json.Malformed as exc:
        raise errors.BadRequest('The body is not valid JSON: %s' % exc,
                                reason='invalid_request') from None
    except wire_json.TooDeep:
        raise errors.BadRequest('The body nests arrays and objects more than %d '
                                'levels deep' % MAX_DEPTH,
                                reason='invalid_request') from None
    except wire_json.IntegerOutOfRange as exc:
        raise errors.BadRequest('The body holds an integer out of range: %s (at '
                                'most 64 bits)' % exc, reason='invalid_request') from None
    if type(body) is not dict:
        raise errors.BadRequest(_type_message('body', body, dict),
                                reason='invalid_request')
    return body


def bounded_body(request):
    """The request's body bytes, at most ``MAX_BODY`` of them (``errors.TooLarge``
    beyond, without reading the rest); later reads of the body see them again."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise _body_too_large()
    try:
        data = request.body_file.read(MAX_BODY + 1)
    except Exception as exc:
        # The caller stopped sending before the end of its Content-Length (webob's
        # DisconnectionError) or of its chunks, or framed its chunks wrong (the
        # server's reader raises its own errors): there is no request to carry out.
        raise errors.BadRequest('The body could not be read: it is cut short or its '
                                'chunked framing is malformed (%s)' % exc,
                                reason='invalid_request') from None
    if len(data) > MAX_BODY:
        raise _body_too_large()
    request.body = data
    return data


def _body_too_large():
    return errors.TooLarge('The body is larger than %d bytes' % MAX_BODY,
                           reason='body_too_large', max_bytes=MAX_BODY)


def query_pairs(request):
    """The query string's ``(key, value)`` pairs: UTF-8, without NUL."""
    try:
        pairs = list(request.GET.items())
    except UnicodeDecodeError:
        raise errors.BadRequest('The query string is not UTF-8',
                                reason='invalid_request') from None
    for key, value in pairs:
        if '\x00' in key or '\x00' in value:
            raise errors.BadRequest("Parameter '%s' contains a NUL character"
                                    % key.replace('\x00', '\\0'),
                                    reason='invalid_request')
    return pairs


def handles_query(handler):
    """Mark ``handler`` as one that handles its own query string: it reads and
    checks its parameters (or, the health check, ignores them on purpose). The
    dispatcher refuses a query to every other (``refuse_query``)."""
    handler.handles_query = True
    return handler


def refuse_query(request):
    """``BadRequest`` naming the first query parameter, if any, of a request to an
    operation that takes none: a caller that meant it for another operation, or
    misspelt it, learns so instead of being ignored."""
    for key, _ in query_pairs(request):
        raise errors.BadRequest.invalid_value("Unknown parameter '%s'" % key, key)


def single_params(request, allowed):
    """The query parameters as a dict: only ``allowed`` ones, each at most once."""
    params = {}
    for key, value in query_pairs(request):
        if key not in allowed:
            raise errors.BadRequest.invalid_value("Unknown parameter '%s'" % key, key)
        if key in params:
            raise errors.BadRequest.invalid_value(
                "Parameter '%s' may be given only once" % key, key)
        params[key] = value
    return params


def integer_param(name, value):
    """The query parameter ``name`` as an integer."""
    # int() alone would take ' 1_000 ' and non-ASCII digits.
    if not re.fullmatch(r'-?[0-9]{1,18}', value):
        raise errors.BadRequest.invalid_value("Parameter '%s' must be an integer" % name,
                                              name)
    return int(value)


def _type_name(value):
    return _JSON_TYPES.get(type(value), type(value).__name__)


def check_type(name, value, expected, nullable=False):
    """``BadRequest`` unless ``value`` has the JSON type of ``expected`` (or is
    null, where ``nullable``)."""
    if value is None and nullable:
        return
    # bool is an int in Python, never in JSON.
    if type(value) is not expected:
        raise errors.BadRequest.invalid_value(
            _type_message(name, value, expected, nullable), name)


def _type_message(name, value, expected, nullable=False):
    return "'%s' must be %s%s, not %s" % (
        name, 'an ' if _JSON_TYPES[expected][0] in 'aeiou' else 'a ',
        _JSON_TYPES[expected] + (' or null' if nullable else ''), _type_name(value))


def check_object(name, value):
    check_type(name, value, dict)


def shown(value):
    """``value`` as an error names it: shortened, never the caller's whole (up to
    16 MiB) value sent back."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + '...'


def check_only(body, allowed, what):
    """``BadRequest`` naming the members of ``body`` not in ``allowed`` (the first
    ten)."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        named = ', '.join(map(shown, unknown[:10])) + (
            ' and %d more' % (len(unknown) - 10) if len(unknown) > 10 else '')
        raise errors.BadRequest.invalid_value('Unknown %s attribute%s: %s' % (
            what, 's' if len(unknown) > 1 else '', named))


def string(name, value, max_length=255, nullable=False, min_length=0):
    """``value``, a string of ``min_length`` to ``max_length`` characters without
    NUL (or null, where ``nullable``)."""
    check_type(name, value, str, nullable)
    if value is None:
        return None
    if len(value) > max_length:
        raise errors.BadRequest.invalid_value(
            "'%s' is longer than %d characters" % (name, max_length), name)
    if len(value) < min_length:
        raise errors.BadRequest.invalid_value("'%s' must not be empty" % name, name)
    # PostgreSQL cannot store NUL in text; no backend should differ.
    if '\x00' in value:
        raise errors.BadRequest.invalid_value("'%s' contains a NUL character" % name,
                                              name)
    return value


def member_id(value):
    """A member's project id, which must be reachable at ``/members/<id>``: no
    ``/`` (a path separator even escaped as ``%2F``, which the server decodes), and
    not ``.`` or ``..`` (dot segments, which clients remove from URLs). Else the row
    could never be shown, answered or removed, and would count against
    ``max_members`` for as long as the image lives."""
    member = string('member', value, 255, min_length=1)
    if '/' in member or member in ('.', '..'):
        raise errors.BadRequest.invalid_value(
            "'member' %r cannot be addressed as /members/<id>: it may not contain "
            "'/' nor be '.' or '..'" % member, 'member')
    return member


# Checks of one attribute, called with its name and value (see _ATTRIBUTE_CHECKS).

def field_string(max_length, nullable=True):
    return lambda name, value: string(name, value, max_length, nullable)


def field_integer(maximum, nullable=False):
    def check(name, value):
        check_type(name, value, int, nullable)
        if value is not None and not 0 <= value <= maximum:
            raise errors.BadRequest.invalid_value(
                "'%s' must be between 0 and %d" % (name, maximum), name)
        return value
    return check


def field_boolean(name, value):
    check_type(name, value, bool)
    return value


def _field_visibility(name, value):
    check_type(name, value, str)
    if value not in vocabulary.VISIBILITIES:
        raise errors.BadRequest.invalid_value(
            "'%s' must be one of %s, not %s"
            % (name, ', '.join(vocabulary.VISIBILITIES), shown(value)), name)
    return value


def _field_uuid(name, value):
    check_type(name, value, str)
    if not vocabulary.is_image_id(value):
        raise errors.BadRequest.invalid_value("'%s' must be a UUID, not %s"
                                              % (name, shown(value)), name)
    return value


# How each attribute a body may set is checked, by name.
_ATTRIBUTE_CHECKS = {
    'id': _field_uuid,
    'name': field_string(255),
    'visibility': _field_visibility,
    'protected': field_boolean,
    'os_hidden': field_boolean,
    'min_disk': field_integer(INT32_MAX),
    'min_ram': field_integer(INT32_MAX),
    'disk_format': field_string(255),
    'container_format': field_string(255),
    'owner': field_string(255),
    'size': field_integer(INT64_MAX, nullable=True),
    'virtual_size': field_integer(INT64_MAX, nullable=True),
    'checksum': field_string(32),
    'os_hash_algo': field_string(64),
    'os_hash_value': field_string(128),
}
UPDATE_FIELDS = {name: _ATTRIBUTE_CHECKS[name]
                 for name in vocabulary.WRITABLE_ATTRIBUTES}
CREATE_FIELDS = dict(UPDATE_FIELDS, id=_ATTRIBUTE_CHECKS['id'])
DATA_FIELDS = {name: _ATTRIBUTE_CHECKS[name] for name in vocabulary.DATA_ATTRIBUTES}


def limit(name, value):
    """A limit: an integer, negative (or null, or absent) for unlimited."""
    check_type(name, value, int, nullable=True)
    if value is not None and abs(value) > INT64_MAX:
        raise errors.BadRequest.invalid_value("'%s' is out of range" % name, name)
    return value


# The limits a write's ``quota`` member may carry (glance_registry.images.quotas).
CREATE_QUOTA = ('max_properties', 'max_tags', 'max_images')
UPDATE_QUOTA = ('max_properties', 'max_tags')
TRANSITION_QUOTA = ('max_uploading', 'max_storage', 'max_stage')


def quota(body, allowed):
    """The ``quota`` member of ``body``: the ``allowed`` limits, each checked."""
    limits = body.get('quota', {})
    check_object('quota', limits)
    check_only(limits, allowed, 'quota')
    return {name: limit('quota.%s' % name, value) for name, value in limits.items()}


def validated(values, fields):
    """The members of ``values`` that ``fields`` knows, each checked."""
    return {name: fields[name](name, value) for name, value in values.items()
            if name in fields}


def properties(values, allow_null):
    """The ``properties`` object of a body: string names and values (``null`` to
    remove one, where ``allow_null``), none named like a member of the record."""
    check_object('properties', values)
    for name, value in values.items():
        string('properties key', name, 255, min_length=1)
        if name in RESERVED_PROPERTY_NAMES:
            raise errors.BadRequest.invalid_value(
                "'%s' is a base attribute, not a custom property" % name, name)
        string(name, value, MAX_PROPERTY_VALUE, nullable=allow_null)
    return values


def expected_properties(values):
    """The ``expected_properties`` object of an update body: property names, each
    ``true`` (it must exist) or ``false`` (it must not)."""
    check_object('expected_properties', values)
    for name, present in values.items():
        string('expected_properties key', name, 255, min_length=1)
        check_type(name, present, bool)
    return values


def tag(name, value):
    """One tag, which must be reachable at ``/tags/<tag>``: a non-empty string, not
    ``.`` or ``..`` (dot segments, which clients remove from URLs: no client could
    then remove it with ``DELETE /tags/<tag>``). Unlike upstream, which accepts them."""
    string(name, value, 255, min_length=1)
    if value in ('.', '..'):
        raise errors.BadRequest.invalid_value("'%s' cannot be '.' or '..'" % name, name)
    return value


def tags(values):
    """The ``tags`` array of a body, each item checked as by ``tag``."""
    check_type('tags', values, list)
    for value in values:
        tag('tags item', value)
    return values


# Far more than any image_location_quota in use (upstream's default is 10), and few
# enough that one write's statements stay within every database's limits (SQLite's
# 32,766 variables) and its row lock is short: a caller with the secret sending
# 200,000 locations got a 503 after 19 s.
MAX_LOCATIONS = 1000


def locations(values):
    """The ``locations`` array of a body (at most ``MAX_LOCATIONS``), each checked
    as by ``location``."""
    check_type('locations', values, list)
    if len(values) > MAX_LOCATIONS:
        raise errors.BadRequest.invalid_value(
            "'locations' holds %d locations; at most %d may be given at once"
            % (len(values), MAX_LOCATIONS), 'locations')
    checked = []
    for i, value in enumerate(values):
        name = 'locations[%d]' % i
        check_object(name, value)
        check_only(value, {'url', 'metadata', 'status'}, name)
        checked.append(location(value, name))
    return checked


def location(body, name):
    """``{"url", "metadata", "status"}`` of a location object (other members are
    the caller's to check); ``name`` prefixes the members' names in errors."""
    prefix = name + '.' if name else ''
    url = required_url(body, 'url', prefix)
    metadata = body.get('metadata', {})
    check_object(prefix + 'metadata', metadata)
    location_status = string(prefix + 'status', body.get('status', 'active'), 30,
                             min_length=1)
    return {'url': url, 'metadata': metadata, 'status': location_status}


def require(body, key, prefix=''):
    """``BadRequest`` unless ``body`` has the member ``key``; ``prefix`` names the
    object it is in, for the message."""
    if key not in body:
        raise errors.BadRequest.invalid_value("'%s%s' is required" % (prefix, key),
                                              prefix + key)


def required_url(body, key, prefix=''):
    require(body, key, prefix)
    return string(prefix + key, body[key], MAX_PROPERTY_VALUE, min_length=1)


def status_move(body, prefix, image_id):
    """``(from, to)`` of a status compare-and-swap in ``body``."""
    for key in ('from', 'to'):
        require(body, key, prefix)
        check_type(prefix + key, body[key], str)
        if body[key] not in vocabulary.IMAGE_STATUSES:
            raise errors.BadRequest.invalid_value("'%s%s' is not an image status: %s"
                                                  % (prefix, key, body[key]),
                                                  prefix + key)
    if body['to'] in ('deleted', 'pending_delete'):
        # pending_delete is a deleted image whose data waits for the scrubber:
        # DELETE ?delayed=true goes there, checking protected and delete_image.
        raise errors.BadRequest.invalid_value(
            "Use DELETE /v1/images/%s to delete an image" % image_id, prefix + 'to')
    return body['from'], body['to']


def transition(body, image_id):
    """The optional ``transition`` member: ``(from, to)`` or None."""
    move = body.get('transition')
    if move is None:
        return None
    check_object('transition', move)
    check_only(move, {'from', 'to'}, 'transition')
    return status_move(move, 'transition.', image_id)


def data_values(body):
    """The ``values`` member of a status change: data attributes only."""
    values = body.get('values', {})
    check_object('values', values)
    check_only(values, DATA_FIELDS.keys(), 'values')
    return validated(values, DATA_FIELDS)


# Images have few locations (image_location_quota); one call covers them all.
MAX_REFERENCE_URLS = 100


def lease(body, name):
    """A location lease ``{"owner", "seconds"}``, the object ``name``."""
    check_object(name, body)
    check_only(body, {'owner', 'seconds'}, name)
    for key in ('owner', 'seconds'):
        require(body, key, name + '.')
    owner = string(name + '.owner', body['owner'], 64, min_length=1)
    seconds = field_integer(vocabulary.MAX_LEASE_SECONDS)(name + '.seconds',
                                                           body['seconds'])
    return {'owner': owner, 'seconds': seconds}


def update(body, name):
    """The attribute changes of an update body: ``values``, ``properties``,
    ``tags``, ``quota``, ``expected_properties`` and ``expected_status`` (None when
    not given)."""
    check_object(name, body)
    check_only(body, {'values', 'properties', 'tags', 'quota', 'expected_properties',
                      'expected_status'}, name)
    values = body.get('values', {})
    check_object('values', values)
    check_only(values, UPDATE_FIELDS.keys(), 'values')
    expected = body.get('expected_status')
    if expected is not None:
        string('expected_status', expected, 30, min_length=1)
    return {'values': validated(values, UPDATE_FIELDS),
            'properties': properties(body.get('properties', {}), allow_null=True),
            'tags': tags(body['tags']) if 'tags' in body else None,
            'quota': quota(body, UPDATE_QUOTA),
            'expected_properties': expected_properties(
                body.get('expected_properties', {})),
            'expected_status': expected}


def upload_id(body):
    """The optional ``upload_id`` member: the upload's own id, or None."""
    if 'upload_id' not in body:
        return None
    return string('upload_id', body['upload_id'], 64, min_length=1)


def lease_seconds(value):
    """An upload lease, in seconds: 1 to ``vocabulary.MAX_LEASE_SECONDS``."""
    seconds = field_integer(vocabulary.MAX_LEASE_SECONDS)('lease', value)
    if seconds < 1:
        raise errors.BadRequest.invalid_value("'lease' must be at least 1 second",
                                              'lease')
    return seconds
