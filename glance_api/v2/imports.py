"""Interoperable image import: ``PUT /v2/images/{id}/stage`` and ``POST
/v2/images/{id}/import`` (API 2.6+), and ``GET /v2/info/import``.

Staging is an upload (``glance_api.data.upload``, the same streaming, size cap,
quota reservation, hashing and inspection) into the staging store every API node
shares; the import runs as a task (``glance_api.data.imports``).
"""

import uuid

from flask import g, request

from glance_api.access import policy
from glance_api.data import (import_filtering, imports, remote_glance, staging,
                             store_data, upload)
from glance_api.http import errors, json_body, responses
from glance_api.images import documents, lookup
from glance_api.services import services
from glance_api.v2 import image_data


def enabled_methods():
    """The import methods this deployment offers, in upstream's order."""
    enabled = services().conf.enabled_import_methods
    return [method for method in imports.METHODS if method in enabled]


def import_info():
    """``GET /v2/info/import``: the import methods clients may use."""
    return responses.json({'import-methods': {
        'description': 'Import methods available.', 'type': 'array',
        'value': enabled_methods()}})


def stage_image_data(image_id):
    """Stage the image's data for a glance-direct import; 204 (``queued ->
    uploading``).

    Errors as ``PUT /file``'s: 400 (a ``Content-Range`` too), 403, 404 (also when
    glance-direct is not enabled), 409 image not ``queued``, 410, 413, 415, 503.
    """
    ctx = g.context
    if 'glance-direct' not in enabled_methods():
        raise errors.NotFound('The glance-direct import method is not enabled.')
    image_data.check_media_type()
    image_data.check_whole_body()
    expected_size = image_data.expected_size()
    record = lookup.load_image(image_id)
    policy.enforce(ctx, 'modify_image', record)
    if record['status'] not in ('queued', 'uploading'):
        raise errors.Conflict("Image %s is %s: data can only be staged for a queued "
                              "image." % (image_id, record['status']))
    if staging.staged_locations(record):
        raise errors.Conflict("Image %s is staged already: import it (method "
                              "'glance-direct'), or delete it to stage other data."
                              % image_id)
    if not (record['disk_format'] and record['container_format']):
        raise errors.BadRequest('Properties disk_format, container_format must be set '
                                'prior to staging data.')
    limit = image_data.check_size_cap(expected_size)
    upload.upload(record, services().staging, expected_size, limit, stage=True)
    return responses.no_content()


def import_image(image_id):
    """Start importing the image's data; 202, the import runs as a task.

    copy-image with ``all_stores`` leaves out the stores that hold the data
    already (202 and no task when every one does), as upstream.

    Errors: 400 bad body, unknown or disabled method, ``stores`` naming no store,
    missing ``uri`` or one that ``[import_filtering_opts]`` refuses, a
    glance-download remote id that is no UUID, ``all_stores_must_succeed`` false
    with one store, copy-image to a store that holds the data already; 403 policy
    (``copy_image`` for copy-image, else ``modify_image`` and the owner); 404; 409
    image in the wrong status, not staged, without its disk or container format, an
    unknown store, or already being imported; 503 this API worker's task runner is full.
    """
    ctx = g.context
    body = json_body.parse()
    if not isinstance(body, dict):
        raise errors.BadRequest('The request body must be a JSON object.')
    method = body.get('method')
    if not isinstance(method, dict) or not isinstance(method.get('name'), str):
        raise errors.BadRequest("The import request needs 'method' with its 'name'.")
    name = method['name']
    if name not in enabled_methods():
        raise errors.BadRequest("Import method name '%s' is not valid: this cloud "
                                "offers %s." % (name, ', '.join(enabled_methods())
                                                or 'none'))
    record = lookup.load_image(image_id)
    if name == 'copy-image':
        policy.enforce(ctx, 'copy_image', record)
    else:
        policy.enforce(ctx, 'modify_image', record)
        if not ctx.is_admin and record['owner'] != ctx.project_id:
            raise errors.Forbidden('Only the owner of image %s may import its data.'
                                   % image_id)
    wanted = _stores(body, name)
    if name == 'copy-image':
        wanted = _stores_to_copy_to(record, wanted, body.get('all_stores') is True)
        if not wanted:
            # Upstream: all_stores and the data is in every one already.
            return responses.json({}, status=202)
    must_succeed = _must_succeed(body)
    uri, details = None, {}
    if name == 'web-download':
        uri = method.get('uri')
        if not isinstance(uri, str) or not uri:
            raise errors.BadRequest("The web-download import method needs a 'uri'.")
    if name == 'glance-download':
        _check_status(record, name, formats=False)
        uri, details, record = _remote_image(record, method)
    _check_status(record, name)
    if name == 'web-download' and not import_filtering.allows(services().conf, uri):
        # As upstream, a URI the filters refuse on its face is refused here, where
        # the client sees why (its addresses are judged when the task reads it).
        raise errors.BadRequest('URI for web-download does not pass filtering: %s'
                                % uri)
    imports.start(services(), ctx.identity, record,
                  imports.Request(name, wanted, must_succeed, uri, details),
                  g.request_id, credentials=store_data.caller_credentials(),
                  token=ctx.auth_token)
    return responses.json({}, status=202)


def _stores_to_copy_to(record, wanted, all_stores):
    """The stores of ``wanted`` that do not hold the image's data yet (legacy
    locations, recorded without their store, count for the store that holds
    them). As upstream: with ``all_stores`` the others are left out, else naming
    one is a 400."""
    store_set = services().stores
    held = {store_set.store_id_of(location)
            for location in documents.active_locations(record)}
    if not all_stores:
        for store_id in wanted:
            if store_id in held:
                raise errors.BadRequest("Image is already present at store '%s'"
                                        % store_id)
    return [store_id for store_id in wanted if store_id not in held]


def _remote_image(record, method):
    """glance-download: the remote image's data URL and the method's members; the
    local image takes the remote one's formats (where it has none) and the
    properties ``[glance_download_properties] extra_properties`` names."""
    ctx = g.context
    conf = services().conf
    remote_id = method.get('glance_image_id')
    region = method.get('glance_region')
    interface = method.get('glance_service_interface', 'public')
    if not all(isinstance(value, str) and value
               for value in (remote_id, region, interface)):
        raise errors.BadRequest("The glance-download import method needs "
                                "'glance_image_id' and 'glance_region'.")
    try:
        uuid.UUID(remote_id)
    except ValueError:
        # Upstream's check: the id goes into the remote service's URLs.
        raise errors.BadRequest('Remote image id does not look like a UUID: %s'
                                % remote_id) from None
    if not ctx.auth_token:
        raise errors.BadRequest('The glance-download import method needs a Keystone '
                                'token with a service catalog.')
    try:
        base = remote_glance.endpoint(ctx.store_credentials().service_catalog,
                                      region, interface)
        remote = remote_glance.image(conf, base, remote_id, ctx.auth_token)
    except remote_glance.RemoteError as exc:
        raise errors.BadRequest(str(exc))
    values = {key: remote[key] for key in ('disk_format', 'container_format')
              if not record.get(key) and remote.get(key)}
    properties = remote_glance.copied_properties(conf, remote)
    if values or properties:
        record = services().registry.update_image(
            ctx.identity, record['id'], values=values, properties=properties,
            request_id=g.request_id)
    details = {'glance_image_id': remote_id, 'glance_region': region,
               'glance_service_interface': interface}
    return ('%s/v2/images/%s/file' % (base, remote_id), details, record)


def _check_status(record, name, formats=True):
    status = record['status']
    if name == 'glance-direct':
        staged = [loc for loc in record.get('locations') or []
                  if loc.get('status') == 'staged']
        if status != 'uploading' or not staged:
            raise errors.Conflict("Image %s needs to be staged before 'glance-direct' "
                                  "method can be used (its status is %s)."
                                  % (record['id'], status))
    elif name in ('web-download', 'glance-download') and status != 'queued':
        raise errors.Conflict("Image %s needs to be in 'queued' status to import by "
                              "%s, not %s." % (record['id'], name, status))
    elif name == 'copy-image' and status != 'active':
        raise errors.Conflict("Image %s needs to be 'active' to be copied to other "
                              "stores, not %s." % (record['id'], status))
    if formats and name != 'copy-image':
        # Upstream's check, its order and words: a state conflict (409) that names
        # the one format missing, not a malformed request.
        for key in ('container_format', 'disk_format'):
            if not record[key]:
                raise errors.Conflict("'%s' needs to be set before import" % key)


def _must_succeed(body):
    value = body.get('all_stores_must_succeed', True)
    if not isinstance(value, bool):
        raise errors.BadRequest("'all_stores_must_succeed' must be a boolean.")
    if not value and not services().stores.multi:
        # As upstream: with one store there is no partial success to allow.
        raise errors.BadRequest('All_stores_must_succeed can only be set with '
                                'enabled_backends')
    return value


def _stores(body, name):
    """The store ids the import writes to: ``stores``, all of them
    (``all_stores``), ``X-Image-Meta-Store``, or none (the default store)."""
    store_set = services().stores
    all_stores = body.get('all_stores', False)
    if not isinstance(all_stores, bool):
        raise errors.BadRequest("'all_stores' must be a boolean.")
    if not store_set.multi and name != 'copy-image':
        # As upstream: without enabled_backends an import writes to the one store
        # whatever it names (openstacksdk's create_image(stores=...) and
        # all_stores=True name them, and ignore a refused import).
        return []
    wanted = body.get('stores')
    header = request.headers.get('X-Image-Meta-Store')
    # Upstream's words: a request naming its stores two ways is refused, not
    # read one way.
    if all_stores and ('stores' in body or header is not None):
        raise errors.BadRequest("All_stores parameter can't be used with "
                                "x-image-meta-store header or stores parameter")
    if wanted is not None and header is not None:
        raise errors.BadRequest("Stores parameter and x-image-meta-store header "
                                "can't be both specified")
    if wanted is None and not all_stores:
        wanted = [header] if header is not None else None
    if all_stores:
        wanted = [store.store_id for store in store_set.configured()
                  if store.writable]
    if wanted is None:
        if name == 'copy-image':
            raise errors.BadRequest("copy-image needs 'stores' or 'all_stores'.")
        return []
    if not isinstance(wanted, list) or not all(isinstance(s, str) for s in wanted):
        raise errors.BadRequest("'stores' must be a list of store identifiers.")
    if not wanted and store_set.multi:
        # Not upstream's: it starts a task that imports into no store (copy-image
        # reads the whole image into staging and succeeds with nothing copied;
        # the others fail the task and drop the data). A list naming no store
        # asks for nothing: said here, before any task.
        if name == 'copy-image':
            raise errors.BadRequest("'stores' names no store: copy-image needs at "
                                    "least one store to copy to (or 'all_stores').")
        raise errors.BadRequest("'stores' names no store: name at least one, or "
                                "leave 'stores' out to import into the default "
                                "store.")
    if not store_set.multi:
        raise errors.BadRequest('Multiple stores are not configured: an import '
                                'cannot name stores.')
    for store_id in wanted:
        if store_id not in store_set:
            raise errors.Conflict('Store for identifier %s not found' % store_id)
        if not store_set.get(store_id).writable:
            raise errors.Conflict('Store %s is read-only: images cannot be imported '
                                  'into it.' % store_id)
    return list(dict.fromkeys(wanted))
