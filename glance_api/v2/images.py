"""/v2/images: create, list, show, update (JSON patch) and delete images.

Every handler makes one registry call to read or write metadata (two where it must
read before it writes) and applies upstream's rules for which attributes a client may
set. Visibility is the registry's job: an image the caller may not see is 404.
"""

import logging
import urllib.parse

from flask import g, request
import werkzeug.routing

from glance_api import notifications
from glance_api.access import attributes, policy
from glance_api.data import (deleted_data, imports, locations, staging, store_acls,
                             store_data, verification)
from glance_api.http import errors, json_body, paging, proxy, responses
from glance_api.images import lookup, patch
from glance_api.images import notifications as payloads
from glance_api.services import services
from glance_registry.client import errors as registry_errors
from glance_registry.client import list_params

LOG = logging.getLogger(__name__)


class TagConverter(werkzeug.routing.PathConverter):
    """A tag in a path: anything up to the end, slashes and line breaks included
    (tags are any string; the path converter's ``.`` stops at a newline), except a
    trailing slash: ``.../tags/a/`` is 404, as every path with one is upstream.
    (Upstream cannot address a tag with a slash at all.)"""

    regex = '[^/](?:(?s:.)*?[^/])?'


def _check_visibility_change(ctx, visibility, record=None):
    """Policy for setting ``visibility`` on ``record`` (for a new image, its
    ``owner``): ``publicize_image`` for public, ``communitize_image`` for
    community."""
    if visibility == 'public':
        policy.enforce(ctx, 'publicize_image', record)
    elif visibility == 'community':
        policy.enforce(ctx, 'communitize_image', record)


def _image_response(record, status=200, headers=None):
    return responses.json(lookup.image_document(record), status=status,
                          headers=headers)


def new_image_values(ctx, document):
    """The registry's values for a new image ``document`` (a create body, or a
    legacy import task's ``image_properties``) that ``ctx`` may create.

    Errors: 400 invalid document, 403 read-only/reserved attribute, protected
    property, or an owner, visibility or image the caller may not create.
    """
    for name in document:
        attributes.check_writable(name, creating=True)
    services().schemas.validate_image(document)
    services().schemas.check_required_given(document)

    owner = document.get('owner', ctx.project_id)
    if owner != ctx.project_id and not ctx.is_admin:
        raise errors.Forbidden("You are not permitted to create images owned by '%s'."
                               % owner)
    values = {key: document[key] for key in attributes.WRITABLE_BASE if key in document}
    values['owner'] = owner
    # As upstream's, the rules' target is the image the body describes (without
    # its id: a refusal is a 403, never the 404 of an image the caller cannot see).
    policy.enforce(ctx, 'add_image', values)
    _check_visibility_change(ctx, document.get('visibility'), values)
    if 'id' in document:
        values['id'] = document['id']
    values['tags'] = sorted(set(document.get('tags', [])))
    values['properties'] = attributes.stored_properties(
        {key: value for key, value in document.items()
         if key not in services().schemas.base_properties})
    for name in values['properties']:
        attributes.check_property_name(name)
    if services().protections:
        services().protections.check_changes(ctx, {}, values['properties'])
    return values


def create_record(ctx, values):
    """Create the image ``values`` (``new_image_values``) within the owner's quotas
    and announce it (``image.create``); the registry's record."""
    record = services().registry.create_image(
        ctx.identity, values,
        quota=services().quotas.for_image_write(creating=True, owner=values['owner']),
        request_id=g.request_id)
    notifications.notify(ctx, 'image.create', payloads.image(record))
    return record


def create_image():
    """Create an image record (status ``queued``); 201 with the image.

    Errors: 400 malformed or invalid document, 403 read-only/reserved attribute or
    a visibility/owner the caller may not set, 409 duplicate id, 415 not JSON.
    """
    ctx = g.context
    # add_image is judged once the body is read (new_image_values), as upstream:
    # its target is the image the body describes, and a rule may require its
    # attributes ("'bare':%(container_format)s"), which no target before it has.
    document = json_body.parse()
    if not isinstance(document, dict):
        raise errors.BadRequest('The request body must be a JSON object.')
    record = create_record(ctx, new_image_values(ctx, document))
    headers = {'Location': proxy.location('/v2/images/%s' % record['id'])}
    methods = [method for method in imports.METHODS
               if method in services().conf.enabled_import_methods]
    if methods:
        headers['OpenStack-image-import-methods'] = ','.join(methods)
    if services().stores.multi:
        headers['OpenStack-image-store-ids'] = ','.join(
            store.store_id for store in services().stores.configured()
            if store.writable)
    return _image_response(record, status=201, headers=headers)


def list_images():
    """A page of the images the caller can see, with ``first``/``next`` links.

    Filters and sorting are upstream's (see docs/registry-api.rst); 400 for an
    invalid limit, marker, filter or sort, or one of them given twice.
    """
    conf = services().conf
    policy.enforce(g.context, 'get_images')
    params = list(request.args.items(multi=True))
    # Checked here: the registry refuses every other parameter given twice, but
    # only this one limit is forwarded.
    limit = paging.limit(paging.single(request.args, 'limit'),
                         conf.limit_param_default, conf.api_limit_max)
    forwarded = [(k, v) for k, v in params if k != 'limit'] + [('limit', str(limit))]
    if _filters_unreadable_property(params):
        # As if no image had it: matching would reveal the values it cannot read.
        records, next_marker = [], None
    else:
        records, next_marker = services().registry.list_images(
            g.context.identity, forwarded, request_id=g.request_id)
    document = {
        'images': lookup.image_documents(records),
        'first': _list_link([(k, v) for k, v in params if k != 'marker']),
        'schema': '/v2/schemas/images',
    }
    if next_marker:
        document['next'] = _list_link([(k, v) for k, v in params if k != 'marker']
                                      + [('marker', next_marker)])
    return responses.json(document)


def _filters_unreadable_property(params):
    protections = services().protections
    return bool(protections) and any(
        list_params.is_property_filter(key) and
        not protections.allowed(g.context, key, 'read') for key, _ in params)


def _list_link(params):
    query = urllib.parse.urlencode(params)
    return '/v2/images?%s' % query if query else '/v2/images'


def show_image(image_id):
    """The image; 404 if it does not exist or the caller may not see it.

    An image whose location's verification stalled (its worker died) gets a new
    verifier (``verification.resume_stalled``).
    """
    record = lookup.load_image(image_id)
    policy.enforce(g.context, 'get_image', record)
    verification.resume_stalled(record)
    imports.resume_stalled(services(), record, g.request_id)
    return _image_response(record)


#: The rules a JSON patch's changes are checked with: attributes, then locations.
_PATCH_RULES = ('modify_image', 'set_image_location', 'delete_image_location')


def update_image(image_id):
    """Apply a JSON patch (``application/openstack-images-v2.1-json-patch`` or 2.0).

    ``/locations`` operations are ``glance_api.locations``' (checked before
    anything is written, applied last); the others need policy ``modify_image``.

    Errors: 400 invalid patch or resulting image, 403 read-only/reserved/base
    attribute removal or forbidden change, 404, 409 missing property or image status,
    413 over a quota, 415 media type.
    """
    ctx = g.context
    # As upstream, whose deserializer checks it before the image is looked up: 415
    # for another media type, even for an image that does not exist.
    json_body.check_media_type(patch.MEDIA_TYPES, accept_patch=patch.MEDIA_TYPES)
    record = lookup.load_image(image_id)
    # Before the body is read: a caller who may make no change at all is refused
    # without reading it (each change is checked with its own rule below).
    policy.enforce_any(ctx, _PATCH_RULES, record)
    changes = patch.parse(json_body.parse(patch.MEDIA_TYPES,
                                           accept_patch=patch.MEDIA_TYPES),
                          request.mimetype)
    visibility = record['visibility']
    location_changes, changes = patch.split_locations(changes)
    update = None
    if changes or not location_changes:
        update = _attribute_update(ctx, record, changes)
    try:
        if location_changes:
            # Checked before anything is written; written in one registry call with
            # the attributes, so that the patch is applied whole or not at all.
            location_patch = locations.check_patch(record, location_changes)
            applied = location_patch.apply(update)
            if applied is not None:
                record, update = applied, None
        if update is not None:
            record = _write_attributes(ctx, record, update)
    except registry_errors.Conflict as exc:
        if update is None or 'expected_status' not in update or \
                exc.reason != 'status_changed':
            raise
        raise _format_locked(next(field for field in ('disk_format',
                                                      'container_format')
                                  if field in update['values'])) from exc
    if location_changes or record['visibility'] != visibility:
        store_acls.sync(record)
    return _image_response(record)


def _attribute_update(ctx, record, changes):
    """The registry update for the non-location ``changes`` of a patch (checked:
    policy, schema, protections, who may change what), or None if there is none."""
    policy.enforce(ctx, 'modify_image', record)
    update = patch.apply(changes, record, services().schemas, request.mimetype)
    protections = services().protections
    if protections:
        old_properties = record.get('properties') or {}
        protections.check_changes(ctx, old_properties, update.properties)
        # Setting a property to the value it has is still an update, as upstream.
        for change in changes:
            if change.op in ('add', 'replace') and change.name in old_properties \
                    and change.name not in update.properties:
                protections.check(ctx, change.name, 'update')

    values = update.values
    if 'owner' in values and values['owner'] != record['owner'] and not ctx.is_admin:
        raise errors.Forbidden("Owner can't be updated by non admin.")
    formats = [field for field in ('disk_format', 'container_format')
               if field in values and values[field] != record[field]]
    if formats and record['status'] != 'queued':
        raise _format_locked(formats[0])
    if any(change.name == 'visibility' for change in changes):
        # Whether or not it changes, as upstream: re-publicizing needs the right too.
        _check_visibility_change(ctx, update.document.get('visibility'), record)
    if update.is_empty():
        return None
    written = {'values': values, 'properties': update.properties, 'tags': update.tags,
               'quota': services().quotas.for_image_write()}
    if update.expected_properties:
        written['expected_properties'] = update.expected_properties
    if formats:
        # Judged on the image as read: an upload or import that takes it on
        # meanwhile inspects its data as the formats it found, which must stay.
        written['expected_status'] = 'queued'
    return written


def _format_locked(field):
    return errors.Forbidden('Attribute %s can be only replaced for a queued image.'
                            % field)


def _write_attributes(ctx, record, update):
    """Write an ``_attribute_update``; the image record after."""
    image_id = record['id']
    updated = services().registry.update_image(ctx.identity, image_id,
                                               request_id=g.request_id, **update)
    notifications.notify(ctx, 'image.update', payloads.image(updated))
    return updated


def delete_image(image_id):
    """Delete the image and its data; 204. 403 if protected, 404 if unknown."""
    ctx = g.context
    record = lookup.load_image(image_id)
    policy.enforce(ctx, 'delete_image', record)
    if record['protected']:
        raise errors.Forbidden('Image %s is protected and cannot be deleted.'
                               % image_id)
    # Upstream's delayed_delete: the image goes to pending_delete and keeps its
    # data, which glance-scrubber deletes later (or --restore brings back).
    delayed = services().conf.delayed_delete and \
        store_data.delayed_delete_possible(record.get('locations') or [])
    deleted = services().registry.delete_image(ctx.identity, image_id,
                                               request_id=g.request_id,
                                               delayed=delayed)
    drop_cached_copy(image_id)
    notifications.notify(ctx, 'image.delete', payloads.image(deleted, deleted=True))
    if not deleted.get('delayed'):
        purge_locations(deleted)
    staging.discard(services().staging, deleted)
    if deleted['status'] == 'uploading':
        services().staging.discard_abandoned(image_id)
    if deleted['status'] == 'saving':
        # An upload that died mid-way may have left a temporary file or segments
        # (a live one finds the image gone and removes its own).
        store_data.discard_abandoned(image_id)
    elif imports.LOCK in (deleted.get('properties') or {}):
        # So may an import (copy-image too) whose worker died, and the object it
        # committed without recording it: only a takeover would remove them, and
        # a deleted image's import is never taken over. A live one removes its own.
        store_data.discard_abandoned(image_id, deleted.get('locations') or [])
    return responses.no_content()


def drop_cached_copy(image_id):
    """Remove a deleted image's copy from this node's cache, as upstream does at
    delete time (pending_delete too: it can no longer be downloaded). Best effort:
    the image is deleted already, and the cleaner removes what is left here and on
    the other nodes. Without a cache, nothing (and no registry call)."""
    cache = services().cache
    if cache is None:
        return
    try:
        cache.delete(image_id)
    except Exception:   # noqa: BLE001 -- the delete succeeded; the cleaner retries
        LOG.warning('image %s deleted, but not its cached copy (the cache cleaner '
                    'will remove it)', image_id, exc_info=True)


def purge_locations(record):
    """Remove a deleted image's data from the stores that hold it (where no other
    image uses it) and confirm it to the registry; what is left, the sweep removes
    (``deleted_data``)."""
    deleted_data.purge(record)


def deactivate_image(image_id):
    """Make an active image's data unavailable to non-admins; 204 (idempotent).

    403 unless the image is active or deactivated.
    """
    _change_activation(image_id, 'deactivate', 'active', 'deactivated')
    return responses.no_content()


def reactivate_image(image_id):
    """Make a deactivated image's data available again; 204 (idempotent)."""
    _change_activation(image_id, 'reactivate', 'deactivated', 'active')
    return responses.no_content()


def _change_activation(image_id, action, from_status, to_status):
    ctx = g.context
    record = lookup.load_image(image_id)
    policy.enforce(ctx, action, record)
    if record['status'] == to_status:
        return
    if record['status'] != from_status:
        raise errors.Forbidden("Not allowed to %s image in status '%s'"
                               % (action, record['status']))
    try:
        changed = services().registry.transition_status(
            ctx.identity, image_id, from_status, to_status, request_id=g.request_id)
    except registry_errors.Conflict as exc:
        # Someone else changed the status first; if they did our job, fine.
        if exc.details.get('current_status') != to_status:
            raise
        return
    notifications.notify(ctx, 'image.update', payloads.image(changed))


def add_tag(image_id, tag):
    """Add a tag (idempotent); 204. 400 for a tag over 255 characters."""
    ctx = g.context
    if len(tag) > 255:
        raise errors.BadRequest('Tag is longer than 255 characters.')
    record = lookup.load_image(image_id)
    policy.enforce(ctx, 'modify_image', record)
    services().registry.add_tag(ctx.identity, image_id, tag,
                                max_tags=services().conf.image_tag_quota,
                                request_id=g.request_id)
    _announce_update(ctx, image_id)
    return responses.no_content()


def delete_tag(image_id, tag):
    """Remove a tag; 204, or 404 if the image has no such tag."""
    ctx = g.context
    record = lookup.load_image(image_id)
    policy.enforce(ctx, 'modify_image', record)
    services().registry.delete_tag(ctx.identity, image_id, tag,
                                   request_id=g.request_id)
    _announce_update(ctx, image_id)
    return responses.no_content()


def _announce_update(ctx, image_id):
    """``image.update`` with the image as committed (read again: only then)."""
    if notifications.enabled():
        notifications.notify(ctx, 'image.update', payloads.image(
            services().registry.get_image(ctx.identity, image_id,
                                          request_id=g.request_id)))
