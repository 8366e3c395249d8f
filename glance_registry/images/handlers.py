"""The registry API's image resources: one handler per operation, and their rows of
the routes table (``ROUTES``, see ``glance_registry.routes``).

A handler takes the application, the webob request, the caller's ``Identity`` and
the path's parameters; it checks the request (``glance_registry.validation``), and
that the caller may make it (``app.guard``: policy, ownership, property protections,
location admission, for every caller), makes one call to the image operations and
answers JSON. The guard's decisions that depend on the image are a ``judge`` that
the operation runs on the image as its transaction locked it. Errors propagate to
the application's one error boundary.
"""

from glance_registry import responses
from glance_registry import validation
from glance_registry.client import errors
from glance_registry.client import list_params
from glance_registry.client import vocabulary
from glance_registry.images import locations
from glance_registry.images import members
from glance_registry.images import quotas
from glance_registry.images import records
from glance_registry.images import removals
from glance_registry.images import scrubbing
from glance_registry.images import writes


@validation.handles_query
def list_images(app, request, caller):
    """200 ``{"images": [...], "next_marker": id|null}``; 400 for a bad parameter."""
    query = list_params.parse_list_params(validation.query_pairs(request),
                                          app.limit_default, app.limit_max)
    images, next_marker = records.list_images(app.db, caller, query)
    return responses.json({'images': images, 'next_marker': next_marker})


def create_image(app, request, caller):
    """201 with the new ``queued`` image; 400 invalid body; 409 duplicate id; 413 over
    a limit in ``quota``."""
    body = validation.json_body(request)
    validation.check_only(body, validation.CREATE_FIELDS.keys()
                          | {'properties', 'tags', 'quota'}, 'image')
    values = validation.validated(body, validation.CREATE_FIELDS)
    properties = validation.properties(body.get('properties', {}), allow_null=False)
    tags = validation.tags(body.get('tags', []))
    quota = validation.quota(body, validation.CREATE_QUOTA)
    app.guard.check_create(caller, values, properties)
    record = writes.create_image(app.db, caller, values, properties, tags, quota)
    return responses.json(record, 201)


def show_image(app, request, caller, image_id):
    """200 with the image; 404 if absent, deleted or not visible."""
    return responses.json(records.get_image(app.db, caller, image_id))


def update_image(app, request, caller, image_id):
    """200 with the updated image; 400 invalid body; 404; 409 removing a missing
    property, or (``status_changed``) the image not in ``expected_status``; 413
    over a limit in ``quota``."""
    update = validation.update(validation.json_body(request), 'update')
    expected_status = update.pop('expected_status')

    def judge(image):
        _check_status(image, expected_status)
        app.guard.check_update(caller, image, update.get('values'),
                               update.get('properties'), update.get('tags'))
    return responses.json(writes.update_image(app.db, caller, image_id, judge=judge,
                                              **update))


@validation.handles_query
def delete_image(app, request, caller, image_id):
    """200 with the image as it was before deletion and ``delayed``; 403 protected;
    404. ``?delayed=true``: an active image with data becomes ``pending_delete``."""
    params = validation.single_params(request, {'delayed'})
    delayed = params.get('delayed', 'false')
    if delayed not in ('true', 'false'):
        raise errors.BadRequest.invalid_value(
            "Parameter 'delayed' must be true or false", 'delayed')
    return responses.json(writes.delete_image(app.db, caller, image_id,
                                              delayed == 'true',
                                              _allowed(app, caller, 'delete_image')))


def transition_status(app, request, caller, image_id):
    """200 with the image in its new status; 400 invalid body or missing formats;
    404; 409 (with ``current_status``) if the status was not ``from`` or the move is
    not in the status table; 413 over ``quota.max_uploading`` or
    ``quota.max_storage``. ``lease`` (seconds) with ``to`` ``saving``: the upload's
    lease (see ``renew_upload_lease``). ``upload_id``: the upload's own id, recorded
    when it claims the image; leaving ``saving`` with it, 409 (``taken_over``) if
    another upload holds the image now; leaving it for anything but ``queued``
    once the lease has run out, 409 (``lease_expired``)."""
    body = validation.json_body(request)
    validation.check_only(body, {'from', 'to', 'values', 'locations', 'quota', 'lease',
                                 'upload_id'}, 'status change')
    from_status, to_status = validation.status_move(body, '', image_id)
    values = validation.data_values(body)
    new_locations = body.get('locations')
    admission = app.guard.admission(image_id, validation.locations(new_locations)
                                    if new_locations is not None else [], caller)
    quota = validation.quota(body, validation.TRANSITION_QUOTA)
    lease = validation.lease_seconds(body['lease']) if 'lease' in body else None

    def judge(image):
        app.guard.check_transition(caller, image, from_status, to_status)
        admission.check(image)
    record = writes.transition(app.db, caller, image_id, from_status, to_status,
                               values, admission.locations
                               if new_locations is not None else None,
                               quota, lease, validation.upload_id(body),
                               admission.exclusive_urls, judge)
    return responses.json(record)


def renew_upload_lease(app, request, caller, image_id):
    """200 ``{"upload_lease_expires_at"}``; 400 invalid body; 404; 409 unless the
    image is ``saving`` (and held by ``upload_id``, if given: else ``taken_over``),
    or if the lease has run out (``lease_expired``)."""
    body = validation.json_body(request)
    validation.check_only(body, {'seconds', 'upload_id'}, 'upload lease')
    validation.require(body, 'seconds')
    return responses.json(writes.renew_upload_lease(
        app.db, caller, image_id, validation.lease_seconds(body['seconds']),
        validation.upload_id(body), _allowed(app, caller, 'upload_image')))


def reserve(app, request, caller, image_id):
    """200 ``{"usage", "reserved"}``; 400 invalid body; 404; 409 unless the image is
    ``saving`` (and held by ``upload_id``, if given: else ``taken_over``), or once
    its upload's lease has run out (``lease_expired``); 413 if the project's usage
    would exceed ``max_storage``."""
    body = validation.json_body(request)
    validation.check_only(body, {'bytes', 'max_storage', 'upload_id'}, 'reservation')
    validation.require(body, 'bytes')
    total = validation.field_integer(validation.INT64_MAX)('bytes', body['bytes'])
    max_storage = validation.limit('max_storage', body.get('max_storage'))
    return responses.json(writes.reserve(app.db, caller, image_id, total, max_storage,
                                         validation.upload_id(body),
                                         _allowed(app, caller, 'upload_image')))


@validation.handles_query
def add_tag(app, request, caller, image_id, tag):
    """204; idempotent. 400 for a tag over 255 characters or a dot segment; 404 no
    image; 413 if the image would have more than ``max_tags`` tags."""
    validation.tag('tag', tag)
    params = validation.single_params(request, {'max_tags'})
    max_tags = validation.integer_param('max_tags', params['max_tags']) \
        if 'max_tags' in params else None
    writes.add_tag(app.db, caller, image_id, tag, max_tags,
                   _allowed(app, caller, 'modify_image'))
    return responses.no_content()


def delete_tag(app, request, caller, image_id, tag):
    """204; 404 if the image or the tag does not exist."""
    writes.delete_tag(app.db, caller, image_id, tag,
                      _allowed(app, caller, 'modify_image'))
    return responses.no_content()


# -- locations -----------------------------------------------------------------------

def add_location(app, request, caller, image_id):
    """201 with the image; 400 invalid body or missing formats for ``transition``;
    404; 409 duplicate URL (``reason``) or lost status compare-and-swap
    (``current_status``); 413 over ``max_locations`` or ``max_storage``."""
    body = validation.json_body(request)
    validation.check_only(body, {'url', 'metadata', 'status', 'position', 'transition',
                                 'values', 'max_locations', 'max_storage', 'lease'},
                          'location')
    location = validation.location(body, '')
    position = body.get('position')
    if position is not None:
        position = validation.field_integer(validation.INT32_MAX)('position', position)
    transition, values = _transition_values(body, image_id)
    lease = body.get('lease')
    if lease is not None:
        if location['status'] != vocabulary.PENDING_LOCATION:
            raise errors.BadRequest.invalid_value(
                "Only a '%s' location is leased" % vocabulary.PENDING_LOCATION, 'lease')
        lease = validation.lease(lease, 'lease')
    admission = app.guard.admission(image_id, [location], caller)

    def judge(image):
        app.guard.require(caller, 'add_image_location', image)
        app.guard.check_location_move(caller, image, transition)
        admission.check(image)
    record = locations.add_location(
        app.db, caller, image_id, admission.locations[0], position, transition,
        values, validation.limit('max_locations', body.get('max_locations')), lease,
        validation.limit('max_storage', body.get('max_storage')),
        admission.exclusive_urls, judge)
    return responses.json(record, 201)


def remove_location(app, request, caller, image_id):
    """200 with the image after; 400 invalid body; 404 no such image or location;
    409 the last copy of an active image's data (``reason`` ``last_location``).
    ``removal_lease`` (``{"owner", "seconds"}``): the caller's hold on removing the
    location's data (``removals``)."""
    body = validation.json_body(request)
    validation.check_only(body, {'url', 'allow_last', 'removal_lease'},
                          'location removal')
    url = validation.required_url(body, 'url')
    allow_last = validation.field_boolean('allow_last', body.get('allow_last', False))
    return responses.json(locations.remove_location(
        app.db, caller, image_id, url, allow_last,
        _allowed(app, caller, 'delete_image_location'), _removal_lease(body)))


def _removal_lease(body):
    if body.get('removal_lease') is None:
        return None
    return validation.lease(body['removal_lease'], 'removal_lease')


def replace_locations(app, request, caller, image_id):
    """200 with the image; 400 invalid body; 404; 409 locations changed since
    ``expected_urls``, duplicate URL, lost status compare-and-swap, or a URL given
    back whose data is being removed (``removal_in_progress``); 413 over
    ``max_locations`` or ``max_storage``. ``update`` (an update body) changes the
    attributes in the same transaction; ``removal_lease`` as for removing one."""
    body = validation.json_body(request)
    validation.check_only(body, {'locations', 'expected_urls', 'transition', 'values',
                                 'max_locations', 'max_storage', 'update',
                                 'removal_lease'},
                          'location replacement')
    validation.require(body, 'locations')
    new_locations = validation.locations(body['locations'])
    expected = body.get('expected_urls')
    if expected is not None:
        validation.check_type('expected_urls', expected, list)
        for url in expected:
            validation.string('expected_urls item', url, validation.MAX_PROPERTY_VALUE,
                              min_length=1)
    transition, values = _transition_values(body, image_id)
    update = validation.update(body['update'], 'update') if 'update' in body else None
    expected_status = update.pop('expected_status') if update else None
    admission = app.guard.admission(image_id, new_locations, caller)

    def judge(image):
        _check_replacement(app, caller, image, admission.locations)
        app.guard.check_location_move(caller, image, transition)
        admission.check(image)
        _check_status(image, expected_status)
        if update:
            app.guard.check_update(caller, image, update.get('values'),
                                   update.get('properties'), update.get('tags'))
    removal_lease = _removal_lease(body)
    record = locations.replace_locations(
        app.db, caller, image_id, admission.locations, expected, transition, values,
        validation.limit('max_locations', body.get('max_locations')),
        validation.limit('max_storage', body.get('max_storage')), update,
        admission.exclusive_urls, judge, removal_lease)
    return responses.json(record)


def _check_status(image, expected_status):
    """``errors.Conflict`` (``status_changed``) unless ``image`` (as the write's
    transaction locked it) is in ``expected_status`` (None: any): an update the
    caller judged allowed in one status (a format change, only while ``queued``)
    must not land after an upload or import took the image on."""
    if expected_status is not None and image['status'] != expected_status:
        raise errors.Conflict("Image %s status is '%s', not '%s'"
                              % (image['id'], image['status'], expected_status),
                              reason='status_changed', image_id=image['id'],
                              current_status=image['status'])


def _check_replacement(app, caller, image, new_locations):
    """Whether the caller may replace ``image``'s locations with ``new_locations``:
    ``set_image_location``, and ``delete_image_location`` for a replacement that
    only removes some (PATCH's ``remove``)."""
    old = [location['url'] for location in image.get('locations') or []]
    new = [location['url'] for location in new_locations]
    if set(new) < set(old):
        app.guard.require(caller, 'delete_image_location', image)
    else:
        app.guard.require(caller, 'set_image_location', image)


def _allowed(app, caller, action):
    """The ``judge`` of a write that needs policy's ``action``: the guard decides on
    the image as the write's transaction locked it (``records.locked_image``), not
    on a read made before, which a concurrent change could have made stale."""
    return lambda image: app.guard.require(caller, action, image)


def _transition_values(body, image_id):
    """``(transition, values)`` of a location write: data values only with a
    status change."""
    transition = validation.transition(body, image_id)
    values = validation.data_values(body)
    if values and transition is None:
        raise errors.BadRequest.invalid_value(
            "'values' are set only with a 'transition'", 'values')
    return transition, values


def claim_location(app, request, caller, image_id):
    """200 with the image; 400 invalid body; 404 no such image or location; 409 the
    location is not pending, or another owner's lease is running."""
    body = validation.json_body(request)
    validation.check_only(body, {'url', 'owner', 'seconds'}, 'lease')
    url = validation.required_url(body, 'url')
    lease = validation.lease({key: body[key] for key in ('owner', 'seconds')
                              if key in body}, 'lease')
    return responses.json(locations.claim(app.db, caller, image_id, url,
                                          lease['owner'], lease['seconds'],
                                          _allowed(app, caller, 'add_image_location')))


def location_references(app, request, caller):
    """200 ``{"references": {url: [image ids]}}``: the images not deleted that have
    a location at each URL; 400 invalid body; 403 unless the caller is an admin."""
    body = validation.json_body(request)
    validation.check_only(body, {'urls'}, 'reference query')
    validation.require(body, 'urls')
    urls = body['urls']
    validation.check_type('urls', urls, list)
    if len(urls) > validation.MAX_REFERENCE_URLS:
        raise errors.BadRequest.invalid_value(
            "At most %d 'urls' at a time" % validation.MAX_REFERENCE_URLS, 'urls')
    for url in urls:
        validation.string('urls item', url, validation.MAX_PROPERTY_VALUE, min_length=1)
    return responses.json({'references': locations.references(app.db, caller, urls)})


# -- members -------------------------------------------------------------------------

def list_members(app, request, caller, image_id):
    """200 ``{"members": [...]}``, only the caller's own unless it is an admin or the
    owner; 404 if the image is not visible."""
    return responses.json({'members': members.list_members(app.db, caller, image_id)})


def add_member(app, request, caller, image_id):
    """201 with the ``pending`` member; 400 invalid body (a ``member`` that
    ``/members/<id>`` cannot reach too); 403 image not ``shared``; 404; 409 already
    a member; 413 over ``max_members``."""
    body = validation.json_body(request)
    validation.check_only(body, {'member', 'max_members'}, 'member')
    validation.require(body, 'member')
    member_id = validation.member_id(body['member'])
    max_members = validation.limit('max_members', body.get('max_members'))
    record = members.add_member(app.db, caller, image_id, member_id, max_members,
                                _allowed(app, caller, 'add_member'))
    return responses.json(record, 201)


def show_member(app, request, caller, image_id, member_id):
    """200 with the member; 404 if the image or a member the caller may see is
    absent."""
    return responses.json(members.get_member(app.db, caller, image_id, member_id))


def update_member(app, request, caller, image_id, member_id):
    """200 with the member in its new status; 400 invalid status; 403 unless the
    caller is that member's project or an admin (``not_member``), or policy's
    ``modify_member`` refuses; 404."""
    body = validation.json_body(request)
    validation.check_only(body, {'status'}, 'member')
    validation.require(body, 'status')
    validation.check_type('status', body['status'], str)
    if body['status'] not in vocabulary.MEMBER_STATUSES:
        raise errors.BadRequest.invalid_value(
            "'status' must be one of %s, not %r"
            % (', '.join(vocabulary.MEMBER_STATUSES), body['status']), 'status')
    return responses.json(members.update_member(
        app.db, caller, image_id, member_id, body['status'],
        lambda image: app.guard.check_answer(caller, image, member_id)))


def delete_member(app, request, caller, image_id, member_id):
    """204; 404 if the image or a member the caller may see is absent."""
    members.delete_member(app.db, caller, image_id, member_id,
                          _allowed(app, caller, 'delete_member'))
    return responses.no_content()


# -- delayed delete ------------------------------------------------------------------

def claim_scrub(app, request, caller):
    """200 ``{"images": [...]}``: up to ``limit`` images in ``status`` (default
    ``pending_delete``; ``deleted``: those whose data was never confirmed removed)
    for at least ``older_than`` seconds, now leased to ``owner`` for ``seconds``;
    400 invalid body; 403 unless an admin."""
    body = validation.json_body(request)
    validation.check_only(body, {'owner', 'seconds', 'older_than', 'limit', 'status'},
                          'scrub claim')
    status = body.get('status', scrubbing.PENDING_DELETE)
    if status not in (scrubbing.PENDING_DELETE, scrubbing.DELETED):
        raise errors.BadRequest.invalid_value(
            "'status' must be pending_delete or deleted, not %r" % (status,), 'status')
    lease = validation.lease({key: body[key] for key in ('owner', 'seconds')
                              if key in body}, 'lease')
    for key in ('older_than', 'limit'):
        validation.require(body, key)
    older_than = validation.field_integer(validation.INT32_MAX)('older_than',
                                                                 body['older_than'])
    limit = validation.field_integer(1000)('limit', body['limit'])
    return responses.json({'images': scrubbing.claim(
        app.db, caller, lease['owner'], lease['seconds'], older_than, limit, status)})


def renew_scrub_lease(app, request, caller, image_id):
    """200; 400 invalid body; 403 unless an admin; 404; 409 (``scrub_lease_lost``)
    unless ``owner`` holds the image's lease or it is free."""
    lease = validation.lease(validation.json_body(request), 'lease')
    return responses.json(scrubbing.renew(app.db, caller, image_id, lease['owner'],
                                          lease['seconds']))


def finish_scrub(app, request, caller, image_id):
    """200 with the image, now ``deleted``; 400 invalid body; 403 unless an admin;
    404; 409 (``scrub_lease_lost``) unless ``owner`` holds the image's lease."""
    body = validation.json_body(request)
    validation.check_only(body, {'owner'}, 'scrub')
    validation.require(body, 'owner')
    owner = validation.string('owner', body['owner'], 64, min_length=1)
    return responses.json(scrubbing.finish(app.db, caller, image_id, owner))


def confirm_data_removed(app, request, caller, image_id):
    """204: the ``deleted`` image's data is gone from the stores (again: no error);
    ``owner``, if given, is the sweep holding its lease. 400 invalid body; 403
    unless an admin; 404; 409 (``not_deleted``) if the image is not ``deleted``,
    (``scrub_lease_lost``) if ``owner`` does not hold its lease."""
    body = validation.json_body(request)
    validation.check_only(body, {'owner'}, 'data removal')
    owner = body.get('owner')
    if owner is not None:
        owner = validation.string('owner', owner, 64, min_length=1)
    scrubbing.confirm_removed(app.db, caller, image_id, owner)
    return responses.no_content()


# -- the data of locations taken off live images ------------------------------------

def claim_removals(app, request, caller):
    """200 ``{"removals": [{"image_id", "url", "metadata", "attempts"}...]}``: up to
    ``limit`` locations taken off live images whose data is still to be removed,
    now leased to ``owner`` for ``seconds``; 400 invalid body; 403 unless an
    admin."""
    body = validation.json_body(request)
    validation.check_only(body, {'owner', 'seconds', 'limit'}, 'removal claim')
    lease = validation.lease({key: body[key] for key in ('owner', 'seconds')
                              if key in body}, 'lease')
    validation.require(body, 'limit')
    limit = validation.field_integer(1000)('limit', body['limit'])
    return responses.json({'removals': removals.claim(
        app.db, caller, lease['owner'], lease['seconds'], limit)})


def renew_removal_lease(app, request, caller, image_id):
    """200 ``{"image_id", "url"}``: ``owner``'s lease on the removal of ``url``
    runs ``seconds`` more (0: given up); 400 invalid body; 403 unless an admin;
    409 (``removal_lease_lost``) if another holds it or it no longer waits."""
    body = validation.json_body(request)
    validation.check_only(body, {'url', 'owner', 'seconds'}, 'removal lease')
    url = validation.required_url(body, 'url')
    lease = validation.lease({key: body[key] for key in ('owner', 'seconds')
                              if key in body}, 'lease')
    return responses.json(removals.renew(app.db, caller, image_id, url,
                                         lease['owner'], lease['seconds']))


def confirm_location_removed(app, request, caller, image_id):
    """204: the data of ``url``, taken off the image, is gone (again, or the
    removal absorbed by the image's deletion: no error); 400 invalid body; 403
    unless an admin; 404 no such image; 409 (``removal_lease_lost``) if ``owner``
    does not hold the removal."""
    body = validation.json_body(request)
    validation.check_only(body, {'url', 'owner'}, 'location removal')
    url = validation.required_url(body, 'url')
    validation.require(body, 'owner')
    owner = validation.string('owner', body['owner'], 64, min_length=1)
    removals.confirm(app.db, caller, image_id, url, owner)
    return responses.no_content()


def restore_image(app, request, caller, image_id):
    """200 with the image, ``active`` again; 403 unless an admin; 404; 409 if it is
    not ``pending_delete`` (``not_pending_delete``) or a scrubber has claimed it
    (``scrub_started``)."""
    return responses.json(scrubbing.restore(app.db, caller, image_id))


# -- usage ---------------------------------------------------------------------------

@validation.handles_query
def show_usage(app, request, caller):
    """200 with the project's usage; 400 bad parameter or no project; 403 another
    project's usage for a non-admin."""
    params = validation.single_params(request, {'project_id'})
    project_id = params.get('project_id')
    if project_id is not None:
        validation.string('project_id', project_id, 255, min_length=1)
    return responses.json(quotas.usage(app.db, caller, project_id).to_dict())


_IMAGE = r'/v1/images/(?P<image_id>[^/]+)'
_MEMBER = _IMAGE + r'/members/(?P<member_id>[^/]+)'

# (method, path pattern, handler, authenticated): this feature's rows of the routes
# table.
ROUTES = (
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
    ('POST', r'/v1/scrub-claims', claim_scrub, True),
    ('PUT', _IMAGE + r'/scrub-lease', renew_scrub_lease, True),
    ('PUT', _IMAGE + r'/scrubbed', finish_scrub, True),
    ('PUT', _IMAGE + r'/data-removed', confirm_data_removed, True),
    ('POST', r'/v1/location-removal-claims', claim_removals, True),
    ('PUT', _IMAGE + r'/location-removal-lease', renew_removal_lease, True),
    ('PUT', _IMAGE + r'/location-removed', confirm_location_removed, True),
    ('PUT', _IMAGE + r'/restore', restore_image, True),
    ('POST', r'/v1/location-references', location_references, True),
)
