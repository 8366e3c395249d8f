"""Image locations: the API 2.17 calls and removing one store's copy.

- ``POST`` and ``GET /v2/images/{id}/locations``: adding one to a queued image, its
  data verified in the background (``glance_api.data.verification``);
- ``DELETE /v2/stores/{store_id}/{image_id}``: remove one store's copy (multi-store).

PATCH's ``/locations`` operations and the rules every location passes are
``glance_api.data.locations``'. Data is deleted from a store only when no other
image still has a location there (``glance_api.data.store_data.delete_data``), and
for certain (``glance_api.data.location_removal``).
"""

import logging

from flask import Response, g

from glance_api import notifications
from glance_api.access import policy
from glance_api.data import location_removal, locations, verification
from glance_api.data.store_data import size_at
from glance_api.http import errors, json_body, responses
from glance_api.images import documents, lookup
from glance_api.images import notifications as payloads
from glance_api.services import services
from glance_api.v2 import messages

LOG = logging.getLogger(__name__)


# -- API 2.17 ------------------------------------------------------------------------

def add_location(image_id):
    """Add a location to a queued image (API 2.17); 202, data verified (hashes and
    content inspection) in the background when ``do_secure_hash`` is on, the image
    active at once otherwise.

    Errors: 400 malformed body, refused URL or invalid ``validation_data``, 403,
    404, 409 image not ``queued`` or URL in use by another image, 413 over
    ``image_location_quota`` (or, without hashing, the storage quota), 415.
    """
    # Authorised before the body is read.
    record = lookup.load_image(image_id)
    policy.enforce(g.context, 'add_image_location', record)
    body = json_body.parse()
    url, expected = locations.parse_new_location(body)
    if record['status'] != 'queued':
        raise errors.Conflict("It's not allowed to add locations if image status is "
                              "%s." % record['status'])
    location = locations.checked_location(url, {}, image_id)
    conf = services().conf
    if conf.do_secure_hash:
        changed = verification.start(record, location, expected)
    else:
        # Unverified, as upstream: the caller's validation_data is the hash.
        changed = services().registry.add_location(
            g.context.identity, image_id, location['url'], location['metadata'],
            transition=('queued', 'active'),
            values=dict(expected, size=size_at(location)),
            max_locations=conf.image_location_quota,
            max_storage=services().quotas.max_storage(record['owner']),
            request_id=g.request_id)
    # As upstream, which saves the image it added a location to.
    notifications.notify(g.context, 'image.update', payloads.image(changed))
    return Response(status=202)


def list_locations(image_id):
    """The image's locations, ``[{"url", "metadata"}]`` (API 2.17, services).

    Errors: 403, 404.
    """
    record = lookup.load_image(image_id)
    policy.enforce(g.context, 'fetch_image_location', record)
    verification.resume_stalled(record)
    return responses.json([{'url': location['url'],
                            'metadata': location.get('metadata') or {}}
                           for location in _ordered(
                               documents.active_locations(record))])


def _ordered(locations):
    store_set = services().stores
    return store_set.ordered(store_set.located(locations))


# -- DELETE /v2/stores ---------------------------------------------------------------

def delete_from_store(store_id, image_id):
    """Delete an active image's copy in one store (multi-store only); 204.

    Errors: 403, 404 no multi-store, no such image or no copy in that store, 409
    unknown store, image not active, or the store holds its only copy.
    """
    store_set = services().stores
    if not store_set.multi:
        raise errors.NotFound('Multiple stores are not configured.')
    if store_id not in store_set:
        raise errors.Conflict('The selected store %s is not available on this node.'
                              % store_id)
    record = lookup.load_image(image_id)
    policy.enforce(g.context, 'delete_image_location', record)
    if record['status'] != 'active':
        raise errors.Conflict("It's not allowed to remove image data from store if "
                              "image status is not 'active'")
    active = documents.active_locations(record)
    location = next((loc for loc in active
                     if store_set.store_id_of(loc) == store_id), None)
    if location is None:
        raise errors.NotFound('Image %s is not stored in store %s.'
                              % (image_id, store_id))
    if len(active) == 1:
        raise errors.Conflict(messages.ONLY_COPY)
    # The registry records the data as still to remove as it takes the location
    # off: a removal that fails or never ends here is swept (location_removal).
    hold = location_removal.removal_lease()
    changed = services().registry.remove_location(
        g.context.identity, image_id, location['url'], removal_lease=hold.lease,
        request_id=g.request_id)
    # As upstream, which saves the image it took the location from: what counts
    # an image's copies learns that one went.
    notifications.notify(g.context, 'image.update', payloads.image(changed))
    location_removal.remove(image_id, [location], hold)
    return responses.no_content()


