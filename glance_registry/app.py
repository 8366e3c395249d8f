"""The registry's WSGI application: one routes table, one error handler.

``create_app(conf)`` opens the database and returns the application; nothing happens
at import time. Every request except ``GET /healthcheck`` must carry a valid identity
signature, or a Keystone service token where accepted (``auth.authenticate``), before
anything else is done. Handlers validate the request strictly, call
``glance_registry.images``, ``members`` or ``quotas`` and answer JSON (the
catalog's rows and handlers are ``glance_registry.metadefs.routes``);
``Registry.__call__`` turns every error into the JSON error body of
docs/registry-api.rst, in one place.
"""

import collections
import logging
import re
import time
import uuid

import orjson
import peewee
import webob

from glance_registry import auth
from glance_registry import db as db_module
from glance_registry import errors
from glance_registry import filters
from glance_registry import images
from glance_registry import locations
from glance_registry import members
from glance_registry.metadefs import routes as metadef_routes
from glance_registry import models
from glance_registry import quotas
from glance_registry import status as status_table

LOG = logging.getLogger(__name__)

REQUEST_ID_HEADER = 'X-Openstack-Request-Id'

# Far more than any valid body (a few hundred properties of the largest size).
MAX_BODY = 16 * 1024 * 1024


class Registry:
    """The registry WSGI application over ``db``."""

    def __init__(self, db, secret, limit_default=25, limit_max=1000,
                 accept_service_tokens=False):
        self.db = db
        self.secret = secret
        self.limit_default = limit_default
        self.limit_max = limit_max
        # Only behind keystonemiddleware (auth.wrap) may a token be trusted.
        self.accept_service_tokens = accept_service_tokens

    def __call__(self, environ, start_response):
        started = time.monotonic()
        request = webob.Request(environ)
        request_id = request.headers.get(REQUEST_ID_HEADER) or 'req-%s' % uuid.uuid4()
        try:
            response = self._dispatch(request)
        except errors.RegistryError as exc:
            response = error_response(exc)
        except (peewee.DatabaseError, peewee.InterfaceError) as exc:
            response = self._database_error(request, request_id, exc)
        except Exception:
            LOG.exception('%s %s failed (request %s)', request.method, _path(environ),
                          request_id)
            response = error_response(errors.RegistryError(
                'Internal error; the registry log has the details of request %s'
                % request_id))
        response.headers[REQUEST_ID_HEADER] = request_id
        if LOG.isEnabledFor(logging.DEBUG):
            LOG.debug('%s %s %d %.1fms %s', request.method, _path(environ),
                      response.status_code, (time.monotonic() - started) * 1000,
                      request_id)
        return response(environ, start_response)

    def _dispatch(self, request):
        try:
            path = request.path_info
        except UnicodeDecodeError:
            raise errors.BadRequest('The request path is not UTF-8') from None
        if '\x00' in path:
            # PostgreSQL cannot even compare text holding NUL.
            raise errors.BadRequest('The request path contains a NUL character')
        if path != '/healthcheck':
            caller = auth.authenticate(request, self.secret, self.accept_service_tokens)
        else:
            caller = None
        allowed = []
        for route in ROUTES:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            if route.method != request.method:
                allowed.append(route.method)
                continue
            if route.authenticated and caller is None:
                raise errors.Unauthorized('missing registry credentials')
            with db_module.connection(self.db):
                return route.handler(self, request, caller, **match.groupdict())
        if allowed:
            response = error_response(errors.MethodNotAllowed(
                'Method %s is not allowed on %s' % (request.method, path)))
            response.headers['Allow'] = ', '.join(sorted(set(allowed)))
            return response
        raise errors.NotFound('No such resource: %s' % path)

    def _database_error(self, request, request_id, exc):
        if _is_unavailable(exc):
            LOG.warning('%s %s: database unavailable (request %s): %s',
                        request.method, _path(request.environ), request_id, exc)
            return error_response(errors.Unavailable(db_module.error_message(exc)))
        LOG.error('%s %s: database error (request %s)', request.method,
                  _path(request.environ), request_id, exc_info=exc)
        return error_response(errors.RegistryError(
            'Internal database error; the registry log has the details of request %s'
            % request_id))


def _path(environ):
    # For log lines: the raw path, which (unlike webob's) cannot fail to decode.
    return environ.get('PATH_INFO', '')


def _is_unavailable(exc):
    if isinstance(exc, (peewee.OperationalError, peewee.InterfaceError)):
        return True
    # PostgreSQL hot standby: "cannot execute INSERT in a read-only transaction".
    return 'read-only' in str(exc).lower()


def error_response(exc):
    return json_response(exc.to_dict(), exc.status)


def json_response(body, status=200):
    return webob.Response(body=orjson.dumps(body), status=status,
                          content_type='application/json', charset=None)


def _no_content():
    response = webob.Response(status=204)
    response.content_type = None
    return response


# -- handlers ------------------------------------------------------------------------

def healthcheck(app, request, caller):
    """200 ``OK`` when the database answers a query; 503 otherwise."""
    db_module.ping(app.db)
    return webob.Response(body=b'OK', content_type='text/plain', charset=None)


def list_images(app, request, caller):
    """200 ``{"images": [...], "next_marker": id|null}``; 400 for a bad parameter."""
    query = filters.parse_list_params(_query_pairs(request), app.limit_default,
                                      app.limit_max)
    records, next_marker = images.list_images(app.db, caller, query)
    return json_response({'images': records, 'next_marker': next_marker})


def create_image(app, request, caller):
    """201 with the new ``queued`` image; 400 invalid body; 409 duplicate id; 413 over
    a limit in ``quota``."""
    body = _json_body(request)
    _only(body, CREATE_FIELDS.keys() | {'properties', 'tags', 'quota'}, 'image')
    values = _validated(body, CREATE_FIELDS)
    properties = _properties(body.get('properties', {}), allow_null=False)
    tags = _tags(body.get('tags', []))
    quota = _quota(body, CREATE_QUOTA)
    record = images.create_image(app.db, caller, values, properties, tags, quota)
    return json_response(record, 201)


def show_image(app, request, caller, image_id):
    """200 with the image; 404 if absent, deleted or not visible."""
    return json_response(images.get_image(app.db, caller, image_id))


def update_image(app, request, caller, image_id):
    """200 with the updated image; 400 invalid body; 404; 409 removing a missing
    property; 413 over a limit in ``quota``."""
    update = _update(_json_body(request), 'update')
    record = images.update_image(app.db, caller, image_id, **update)
    return json_response(record)


def _update(body, name):
    """The attribute changes of an update body: ``values``, ``properties``,
    ``tags``, ``quota``."""
    _object(name, body)
    _only(body, {'values', 'properties', 'tags', 'quota'}, name)
    values = body.get('values', {})
    _object('values', values)
    _only(values, UPDATE_FIELDS.keys(), 'values')
    return {'values': _validated(values, UPDATE_FIELDS),
            'properties': _properties(body.get('properties', {}), allow_null=True),
            'tags': _tags(body['tags']) if 'tags' in body else None,
            'quota': _quota(body, UPDATE_QUOTA)}


def transition_status(app, request, caller, image_id):
    """200 with the image in its new status; 400 invalid body or missing formats;
    404; 409 (with ``current_status``) if the status was not ``from`` or the move is
    not in the status table; 413 over ``quota.max_uploading`` or
    ``quota.max_storage``. ``lease`` (seconds) with ``to`` ``saving``: the upload's
    lease (see ``renew_upload_lease``). ``upload_id``: the upload's own id, recorded
    when it claims the image; leaving ``saving`` with it, 409 (``taken_over``) if
    another upload holds the image now."""
    body = _json_body(request)
    _only(body, {'from', 'to', 'values', 'locations', 'quota', 'lease', 'upload_id'},
          'status change')
    from_status, to_status = _status_move(body, '', image_id)
    values = _data_values(body)
    new_locations = body.get('locations')
    if new_locations is not None:
        new_locations = _locations(new_locations)
    quota = _quota(body, TRANSITION_QUOTA)
    lease = _lease_seconds(body['lease']) if 'lease' in body else None
    record = images.transition(app.db, caller, image_id, from_status, to_status,
                               values, new_locations, quota, lease,
                               _upload_id(body))
    return json_response(record)


def renew_upload_lease(app, request, caller, image_id):
    """200 ``{"upload_lease_expires_at"}``; 400 invalid body; 404; 409 unless the
    image is ``saving`` (and held by ``upload_id``, if given: else ``taken_over``)."""
    body = _json_body(request)
    _only(body, {'seconds', 'upload_id'}, 'upload lease')
    if 'seconds' not in body:
        raise errors.BadRequest("'seconds' is required")
    return json_response(images.renew_upload_lease(
        app.db, caller, image_id, _lease_seconds(body['seconds']), _upload_id(body)))


def _upload_id(body):
    if 'upload_id' not in body:
        return None
    return _string('upload_id', body['upload_id'], 64, min_length=1)


def _lease_seconds(value):
    seconds = _field_integer(_MAX_LEASE)('lease', value)
    if seconds < 1:
        raise errors.BadRequest("'lease' must be at least 1 second")
    return seconds


def add_location(app, request, caller, image_id):
    """201 with the image; 400 invalid body or missing formats for ``transition``;
    404; 409 duplicate URL (``reason``) or lost status compare-and-swap
    (``current_status``); 413 over ``max_locations`` or ``max_storage``."""
    body = _json_body(request)
    _only(body, {'url', 'metadata', 'status', 'position', 'transition', 'values',
                 'max_locations', 'max_storage', 'lease'}, 'location')
    location = _location(body, '')
    position = body.get('position')
    if position is not None:
        position = _field_integer(_INT32_MAX)('position', position)
    transition = _transition(body, image_id)
    values = _data_values(body)
    if values and transition is None:
        raise errors.BadRequest("'values' are set only with a 'transition'")
    lease = body.get('lease')
    if lease is not None:
        if location['status'] != images.PENDING:
            raise errors.BadRequest("Only a '%s' location is leased" % images.PENDING)
        lease = _lease(lease, 'lease')
    record = locations.add_location(
        app.db, caller, image_id, location, position, transition, values,
        _limit('max_locations', body.get('max_locations')), lease,
        _limit('max_storage', body.get('max_storage')))
    return json_response(record, 201)


def remove_location(app, request, caller, image_id):
    """200 with the image after; 400 invalid body; 404 no such image or location;
    409 the last copy of an active image's data (``reason`` ``last_location``)."""
    body = _json_body(request)
    _only(body, {'url', 'allow_last'}, 'location removal')
    url = _required_url(body, 'url')
    allow_last = _field_boolean('allow_last', body.get('allow_last', False))
    return json_response(locations.remove_location(app.db, caller, image_id, url,
                                                   allow_last))


def replace_locations(app, request, caller, image_id):
    """200 with the image; 400 invalid body; 404; 409 locations changed since
    ``expected_urls``, duplicate URL or lost status compare-and-swap; 413 over
    ``max_locations`` or ``max_storage``. ``update`` (an update body) changes the
    attributes in the same transaction."""
    body = _json_body(request)
    _only(body, {'locations', 'expected_urls', 'transition', 'values',
                 'max_locations', 'max_storage', 'update'}, 'location replacement')
    if 'locations' not in body:
        raise errors.BadRequest("'locations' is required")
    new_locations = _locations(body['locations'])
    expected = body.get('expected_urls')
    if expected is not None:
        _check_type('expected_urls', expected, list)
        for url in expected:
            _string('expected_urls item', url, MAX_PROPERTY_VALUE, min_length=1)
    transition = _transition(body, image_id)
    values = _data_values(body)
    if values and transition is None:
        raise errors.BadRequest("'values' are set only with a 'transition'")
    update = _update(body['update'], 'update') if 'update' in body else None
    record = locations.replace_locations(
        app.db, caller, image_id, new_locations, expected, transition, values,
        _limit('max_locations', body.get('max_locations')),
        _limit('max_storage', body.get('max_storage')), update)
    return json_response(record)


def claim_location(app, request, caller, image_id):
    """200 with the image; 400 invalid body; 404 no such image or location; 409 the
    location is not pending, or another owner's lease is running."""
    body = _json_body(request)
    _only(body, {'url', 'owner', 'seconds'}, 'lease')
    url = _required_url(body, 'url')
    lease = _lease({key: body[key] for key in ('owner', 'seconds') if key in body},
                   'lease')
    return json_response(locations.claim(app.db, caller, image_id, url,
                                         lease['owner'], lease['seconds']))


def location_references(app, request, caller):
    """200 ``{"references": {url: [image ids]}}``: the images not deleted that have
    a location at each URL; 400 invalid body; 403 unless the caller is an admin."""
    body = _json_body(request)
    _only(body, {'urls'}, 'reference query')
    if 'urls' not in body:
        raise errors.BadRequest("'urls' is required")
    urls = body['urls']
    _check_type('urls', urls, list)
    if len(urls) > MAX_REFERENCE_URLS:
        raise errors.BadRequest("At most %d 'urls' at a time" % MAX_REFERENCE_URLS)
    for url in urls:
        _string('urls item', url, MAX_PROPERTY_VALUE, min_length=1)
    return json_response({'references': locations.references(app.db, caller, urls)})


def delete_image(app, request, caller, image_id):
    """200 with the image as it was before deletion; 403 protected; 404."""
    return json_response(images.delete_image(app.db, caller, image_id))


def add_tag(app, request, caller, image_id, tag):
    """204; idempotent. 400 for a tag over 255 characters; 404 no image; 413 if the
    image would have more than ``max_tags`` tags."""
    _string('tag', tag, max_length=255)
    params = _single_params(request, {'max_tags'})
    max_tags = _integer_param('max_tags', params['max_tags']) \
        if 'max_tags' in params else None
    images.add_tag(app.db, caller, image_id, tag, max_tags)
    return _no_content()


def delete_tag(app, request, caller, image_id, tag):
    """204; 404 if the image or the tag does not exist."""
    images.delete_tag(app.db, caller, image_id, tag)
    return _no_content()


def reserve(app, request, caller, image_id):
    """200 ``{"usage", "reserved"}``; 400 invalid body; 404; 409 unless the image is
    ``saving``; 413 if the project's usage would exceed ``max_storage``."""
    body = _json_body(request)
    _only(body, {'bytes', 'max_storage'}, 'reservation')
    if 'bytes' not in body:
        raise errors.BadRequest("'bytes' is required")
    total = _field_integer(_INT64_MAX)('bytes', body['bytes'])
    max_storage = _limit('max_storage', body.get('max_storage'))
    return json_response(images.reserve(app.db, caller, image_id, total, max_storage))


def list_members(app, request, caller, image_id):
    """200 ``{"members": [...]}``, only the caller's own unless it is an admin or the
    owner; 404 if the image is not visible."""
    return json_response({'members': members.list_members(app.db, caller, image_id)})


def add_member(app, request, caller, image_id):
    """201 with the ``pending`` member; 400 invalid body; 403 image not ``shared``;
    404; 409 already a member; 413 over ``max_members``."""
    body = _json_body(request)
    _only(body, {'member', 'max_members'}, 'member')
    if 'member' not in body:
        raise errors.BadRequest("'member' is required")
    member_id = _string('member', body['member'], 255, min_length=1)
    max_members = _limit('max_members', body.get('max_members'))
    record = members.add_member(app.db, caller, image_id, member_id, max_members)
    return json_response(record, 201)


def show_member(app, request, caller, image_id, member_id):
    """200 with the member; 404 if the image or a member the caller may see is
    absent."""
    return json_response(members.get_member(app.db, caller, image_id, member_id))


def update_member(app, request, caller, image_id, member_id):
    """200 with the member in its new status; 400 invalid status; 404."""
    body = _json_body(request)
    _only(body, {'status'}, 'member')
    if 'status' not in body:
        raise errors.BadRequest("'status' is required")
    _check_type('status', body['status'], str)
    if body['status'] not in members.STATUSES:
        raise errors.BadRequest("'status' must be one of %s, not %r"
                                % (', '.join(members.STATUSES), body['status']))
    return json_response(members.update_member(app.db, caller, image_id, member_id,
                                               body['status']))


def delete_member(app, request, caller, image_id, member_id):
    """204; 404 if the image or a member the caller may see is absent."""
    members.delete_member(app.db, caller, image_id, member_id)
    return _no_content()


def show_usage(app, request, caller):
    """200 with the project's usage; 400 bad parameter or no project; 403 another
    project's usage for a non-admin."""
    params = _single_params(request, {'project_id'})
    project_id = params.get('project_id')
    if project_id is not None:
        _string('project_id', project_id, 255, min_length=1)
    return json_response(quotas.usage(app.db, caller, project_id).to_dict())


Route = collections.namedtuple('Route', 'method pattern handler authenticated')

_IMAGE = r'/v1/images/(?P<image_id>[^/]+)'
_MEMBER = _IMAGE + r'/members/(?P<member_id>[^/]+)'

ROUTES = tuple(Route(method, re.compile(pattern, re.DOTALL), handler, authenticated)
               for method, pattern, handler, authenticated in (
    ('GET', r'/healthcheck', healthcheck, False),
    ('GET', r'/v1/images', list_images, True),
    ('POST', r'/v1/images', create_image, True),
    ('GET', _IMAGE, show_image, True),
    ('PATCH', _IMAGE, update_image, True),
    ('DELETE', _IMAGE, delete_image, True),
    ('PUT', _IMAGE + r'/status', transition_status, True),
    ('PUT', _IMAGE + r'/reservation', reserve, True),
    ('PUT', _IMAGE + r'/upload-lease', renew_upload_lease, True),
    ('POST', _IMAGE + r'/locations', add_location, True),
    ('PUT', _IMAGE + r'/locations', replace_locations, True),
    ('DELETE', _IMAGE + r'/locations', remove_location, True),
    ('PUT', _IMAGE + r'/locations/lease', claim_location, True),
    ('PUT', _IMAGE + r'/tags/(?P<tag>.+)', add_tag, True),
    ('DELETE', _IMAGE + r'/tags/(?P<tag>.+)', delete_tag, True),
    ('GET', _IMAGE + r'/members', list_members, True),
    ('POST', _IMAGE + r'/members', add_member, True),
    ('GET', _MEMBER, show_member, True),
    ('PUT', _MEMBER, update_member, True),
    ('DELETE', _MEMBER, delete_member, True),
    ('GET', r'/v1/usage', show_usage, True),
    ('POST', r'/v1/location-references', location_references, True),
    # The metadata definitions catalog (glance_registry.metadefs).
    *metadef_routes.ROUTES,
))


# -- request validation --------------------------------------------------------------

_JSON_TYPES = {bool: 'boolean', int: 'integer', float: 'number', str: 'string',
               list: 'array', dict: 'object', type(None): 'null'}
_UUID = re.compile(r'[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-'
                   r'[0-9a-fA-F]{12}')
_INT32_MAX = 2 ** 31 - 1
_INT64_MAX = 2 ** 63 - 1
MAX_PROPERTY_VALUE = 65535
# Names a custom property may not take: they are the record's own members.
RESERVED_PROPERTY_NAMES = frozenset(
    ['id', 'name', 'status', 'visibility', 'protected', 'os_hidden', 'checksum',
     'os_hash_algo', 'os_hash_value', 'size', 'virtual_size', 'min_disk', 'min_ram',
     'disk_format', 'container_format', 'owner', 'created_at', 'updated_at',
     'deleted', 'deleted_at', 'properties', 'tags', 'locations', 'location',
     'direct_url', 'self', 'file', 'schema', 'stores'])


def _json_body(request):
    content_type = request.content_type
    if content_type and content_type != 'application/json':
        raise errors.BadRequest('The body must be application/json, not %s'
                                % content_type)
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise errors.TooLarge('The body is larger than %d bytes' % MAX_BODY)
    data = request.body_file.read(MAX_BODY + 1)
    if len(data) > MAX_BODY:
        raise errors.TooLarge('The body is larger than %d bytes' % MAX_BODY)
    if not data:
        raise errors.BadRequest('The request needs a JSON object body')
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise errors.BadRequest('The body is not valid JSON: %s' % exc) from None
    _object('body', body)
    return body


def _query_pairs(request):
    try:
        pairs = list(request.GET.items())
    except UnicodeDecodeError:
        raise errors.BadRequest('The query string is not UTF-8') from None
    for key, value in pairs:
        if '\x00' in key or '\x00' in value:
            raise errors.BadRequest("Parameter '%s' contains a NUL character"
                                    % key.replace('\x00', '\\0'))
    return pairs


def _single_params(request, allowed):
    """The query parameters as a dict: only ``allowed`` ones, each at most once."""
    params = {}
    for key, value in _query_pairs(request):
        if key not in allowed:
            raise errors.BadRequest("Unknown parameter '%s'" % key)
        if key in params:
            raise errors.BadRequest("Parameter '%s' may be given only once" % key)
        params[key] = value
    return params


def _integer_param(name, value):
    # int() alone would take ' 1_000 ' and non-ASCII digits.
    if not re.fullmatch(r'-?[0-9]{1,18}', value):
        raise errors.BadRequest("Parameter '%s' must be an integer" % name)
    return int(value)


def _type_name(value):
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _check_type(name, value, expected, nullable=False):
    if value is None and nullable:
        return
    # bool is an int in Python, never in JSON.
    if type(value) is not expected:
        raise errors.BadRequest("'%s' must be %s%s, not %s" % (
            name, 'an ' if _JSON_TYPES[expected][0] in 'aeiou' else 'a ',
            _JSON_TYPES[expected] + (' or null' if nullable else ''),
            _type_name(value)))


def _object(name, value):
    _check_type(name, value, dict)


def _only(body, allowed, what):
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise errors.BadRequest('Unknown %s attribute%s: %s' % (
            what, 's' if len(unknown) > 1 else '', ', '.join(map(repr, unknown))))


def _string(name, value, max_length=255, nullable=False, min_length=0):
    _check_type(name, value, str, nullable)
    if value is None:
        return None
    if len(value) > max_length:
        raise errors.BadRequest("'%s' is longer than %d characters" % (name, max_length))
    if len(value) < min_length:
        raise errors.BadRequest("'%s' must not be empty" % name)
    # PostgreSQL cannot store NUL in text; no backend should differ.
    if '\x00' in value:
        raise errors.BadRequest("'%s' contains a NUL character" % name)
    return value


def _field_string(max_length, nullable=True):
    return lambda name, value: _string(name, value, max_length, nullable)


def _field_integer(maximum, nullable=False):
    def check(name, value):
        _check_type(name, value, int, nullable)
        if value is not None and not 0 <= value <= maximum:
            raise errors.BadRequest("'%s' must be between 0 and %d" % (name, maximum))
        return value
    return check


def _field_boolean(name, value):
    _check_type(name, value, bool)
    return value


def _field_visibility(name, value):
    _check_type(name, value, str)
    if value not in filters.VISIBILITIES:
        raise errors.BadRequest("'%s' must be one of %s, not %r"
                                % (name, ', '.join(filters.VISIBILITIES), value))
    return value


def _field_uuid(name, value):
    _check_type(name, value, str)
    if not _UUID.fullmatch(value):
        raise errors.BadRequest("'%s' must be a UUID, not %r" % (name, value))
    return value


UPDATE_FIELDS = {
    'name': _field_string(255),
    'visibility': _field_visibility,
    'protected': _field_boolean,
    'os_hidden': _field_boolean,
    'min_disk': _field_integer(_INT32_MAX),
    'min_ram': _field_integer(_INT32_MAX),
    'disk_format': _field_string(255),
    'container_format': _field_string(255),
    'owner': _field_string(255),
}
CREATE_FIELDS = dict(UPDATE_FIELDS, id=_field_uuid)
DATA_FIELDS = {
    'size': _field_integer(_INT64_MAX, nullable=True),
    'virtual_size': _field_integer(_INT64_MAX, nullable=True),
    'checksum': _field_string(32),
    'os_hash_algo': _field_string(64),
    'os_hash_value': _field_string(128),
}


def _limit(name, value):
    """A limit: an integer, negative (or null, or absent) for unlimited."""
    _check_type(name, value, int, nullable=True)
    if value is not None and abs(value) > _INT64_MAX:
        raise errors.BadRequest("'%s' is out of range" % name)
    return value


# The limits a write's ``quota`` member may carry (glance_registry.quotas).
CREATE_QUOTA = ('max_properties', 'max_tags', 'max_images')
UPDATE_QUOTA = ('max_properties', 'max_tags')
TRANSITION_QUOTA = ('max_uploading', 'max_storage')
# A day: an upload that cannot renew within that is gone.
_MAX_LEASE = 86400


def _quota(body, allowed):
    quota = body.get('quota', {})
    _object('quota', quota)
    _only(quota, allowed, 'quota')
    return {name: _limit('quota.%s' % name, value) for name, value in quota.items()}


def _validated(values, fields):
    """The members of ``values`` that ``fields`` knows, each checked."""
    return {name: fields[name](name, value) for name, value in values.items()
            if name in fields}


def _properties(properties, allow_null):
    _object('properties', properties)
    for name, value in properties.items():
        _string('properties key', name, 255, min_length=1)
        if name in RESERVED_PROPERTY_NAMES:
            raise errors.BadRequest("'%s' is a base attribute, not a custom property"
                                    % name)
        _string("property '%s'" % name, value, MAX_PROPERTY_VALUE, nullable=allow_null)
    return properties


def _tags(tags):
    _check_type('tags', tags, list)
    for tag in tags:
        _string('tags item', tag, 255, min_length=1)
    return tags


def _locations(locations):
    _check_type('locations', locations, list)
    checked = []
    for i, location in enumerate(locations):
        name = 'locations[%d]' % i
        _object(name, location)
        _only(location, {'url', 'metadata', 'status'}, name)
        checked.append(_location(location, name))
    return checked


def _location(location, name):
    """``{"url", "metadata", "status"}`` of a location object (other members are
    the caller's to check); ``name`` prefixes the members' names in errors."""
    prefix = name + '.' if name else ''
    url = _required_url(location, 'url', prefix)
    metadata = location.get('metadata', {})
    _object(prefix + 'metadata', metadata)
    location_status = _string(prefix + 'status', location.get('status', 'active'), 30,
                              min_length=1)
    return {'url': url, 'metadata': metadata, 'status': location_status}


def _required_url(body, key, prefix=''):
    if key not in body:
        raise errors.BadRequest("'%s%s' is required" % (prefix, key))
    return _string(prefix + key, body[key], MAX_PROPERTY_VALUE, min_length=1)


def _status_move(body, prefix, image_id):
    """``(from, to)`` of a status compare-and-swap in ``body``."""
    for key in ('from', 'to'):
        if key not in body:
            raise errors.BadRequest("'%s%s' is required" % (prefix, key))
        _check_type(prefix + key, body[key], str)
        if body[key] not in status_table.STATUSES:
            raise errors.BadRequest("'%s%s' is not an image status: %s"
                                    % (prefix, key, body[key]))
    if body['to'] == 'deleted':
        raise errors.BadRequest("Use DELETE /v1/images/%s to delete an image"
                                % image_id)
    return body['from'], body['to']


def _transition(body, image_id):
    """The optional ``transition`` member: ``(from, to)`` or None."""
    transition = body.get('transition')
    if transition is None:
        return None
    _object('transition', transition)
    _only(transition, {'from', 'to'}, 'transition')
    return _status_move(transition, 'transition.', image_id)


def _data_values(body):
    values = body.get('values', {})
    _object('values', values)
    _only(values, DATA_FIELDS.keys(), 'values')
    return _validated(values, DATA_FIELDS)


# Images have few locations (image_location_quota); one call covers them all.
MAX_REFERENCE_URLS = 100

# A day: verifying the data of one location never needs a longer claim.
MAX_LEASE_SECONDS = 86400


def _lease(lease, name):
    _object(name, lease)
    _only(lease, {'owner', 'seconds'}, name)
    for key in ('owner', 'seconds'):
        if key not in lease:
            raise errors.BadRequest("'%s.%s' is required" % (name, key))
    owner = _string(name + '.owner', lease['owner'], 64, min_length=1)
    seconds = _field_integer(MAX_LEASE_SECONDS)(name + '.seconds', lease['seconds'])
    return {'owner': owner, 'seconds': seconds}


def create_app(conf):
    """The registry application for ``conf``: opens (lazily) the configured database;
    behind keystonemiddleware when ``conf`` accepts service tokens."""
    db = db_module.open_database(
        conf.database.connection,
        max_connections=conf.database.max_pool_size or conf.threads,
        pool_timeout=conf.database.pool_timeout,
        recycle=conf.database.connection_recycle_time,
        sqlite_busy_timeout=conf.database.sqlite_busy_timeout)
    models.bind(db)
    registry = Registry(db, conf.registry_auth_secret, conf.limit_param_default,
                        conf.api_limit_max,
                        accept_service_tokens=conf.accept_service_tokens)
    return auth.wrap(registry, conf)
