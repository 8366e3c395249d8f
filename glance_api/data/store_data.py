"""Image data in the stores, as locations see it: its size, and deleting it safely.

Several images may have a location at one URL (an http URL, or a file that an
operator placed in a data directory). Data is deleted from a store only when no
image that is not deleted still has a location there, and never from a read-only
store: the registry says which images use a URL (``location_references``).
"""

import logging
import threading
import time

import flask
from oslo_config import cfg

from glance_api.http import errors
from glance_api.access.context import SERVICE_IDENTITY
from glance_api.services import services
from glance_registry.client import errors as registry_errors
from stores import errors as store_errors

LOG = logging.getLogger(__name__)

delete_opts = [
    cfg.BoolOpt('delayed_delete', default=False,
                help='Deleting an active image keeps its data: the image becomes '
                     'pending_delete (hidden as a deleted image is) until '
                     'glance-scrubber deletes the data, at least scrub_time seconds '
                     'later; until then `glance-scrubber --restore <id>` brings it '
                     'back. Images in a multi-tenant Swift store are deleted at once '
                     '(the scrubber has no token of their owner).'),
]


def register_opts(conf):
    conf.register_opts(delete_opts)


def caller_credentials():
    """The current request's caller, as stores that act as the caller need it;
    None outside a request (the service acting on its own behalf), and None when no
    configured store acts as the caller: the others ignore credentials, and building
    them parses the caller's service catalog on every data request."""
    if not flask.has_request_context():
        return None
    if not any(store.acts_as_caller for store in services().stores):
        return None
    return flask.g.context.store_credentials()


def size_at(location):
    """The size of the data at ``location``; 400 if there is none."""
    store = services().stores.for_location(location)
    try:
        return store.stat(location['url'], credentials=caller_credentials())
    except (store_errors.NotFound, store_errors.BadLocation) as exc:
        raise errors.BadRequest('Invalid location %s: %s' % (location['url'], exc))


def stores_holding(locations, wanted):
    """``[(store, url)]`` of the ``locations`` whose configured store passes
    ``wanted(store)``; locations no configured store reads are skipped."""
    store_set = services().stores
    found = []
    for location in locations:
        try:
            store = store_set.for_location(location)
        except store_errors.BadLocation:
            continue
        if wanted(store):
            found.append((store, location['url']))
    return found


def images_using(urls):
    """``{url: [ids of the images not deleted with a location there]}``."""
    return services().registry.location_references(SERVICE_IDENTITY, list(urls))


def delete_data(locations, image_id):
    """Delete the data at ``locations``, just removed from image ``image_id``,
    where no other image uses it and the store is writable; the URLs whose data
    could not be deleted (the scrubber, or for a deleted image the sweep of
    ``deleted_data``, tries those again).

    The locations are already gone for clients: where nobody tries again (a
    location removed from a live image), a store that fails now leaves bytes
    behind, which is logged with their URL so an operator can remove them.
    """
    targets = stores_holding(locations, lambda store: store.writable)
    if not targets:
        return []
    try:
        users = images_using(url for _, url in targets)
    except registry_errors.RegistryError as exc:
        LOG.error('image %s: data at %s left in place: cannot tell whether other '
                  'images use it: %s', image_id, ', '.join(u for _, u in targets),
                  exc)
        return [url for _, url in targets]
    failed = []
    for store, url in targets:
        others = [other for other in users.get(url, ()) if other != image_id]
        if others:
            LOG.info('image %s: keeping the data at %s, used by image(s) %s',
                     image_id, url, ', '.join(others))
            continue
        try:
            store.delete(url, credentials=caller_credentials())
        except store_errors.NotFound:
            pass
        except store_errors.StoreError as exc:
            LOG.error('image %s: its data at %s could not be removed: %s', image_id,
                      url, exc)
            failed.append(url)
    return failed


def delayed_delete_possible(locations):
    """Whether the scrubber can delete the data at ``locations`` later: not in a
    store that acts as the caller (multi-tenant Swift needs the owner's token,
    which the scrubber does not have)."""
    return not any(store.acts_as_caller
                   for store, _ in stores_holding(locations, lambda store: True))


def discard_abandoned(image_id, locations=()):
    """Remove what dead uploads of ``image_id`` (``saving``, taken over or deleted)
    left in the writable stores: temporary files, segments (``discard_abandoned``),
    and the object each store names after the image (``discard_object``), which
    such an image cannot use (an upload that died publishing it, or that kept it
    when the registry did not answer). The same for a deleted image's dead import,
    but no object in a store where the image has one of its ``locations``: that
    is its data, which ``deleted_data`` removes (or, delayed, the scrubber)."""
    credentials = caller_credentials()
    urls = [location['url'] for location in locations]
    for store in services().stores:
        if not store.writable:
            continue
        try:
            store.discard_abandoned(image_id, credentials=credentials)
            if not any(store.owns(url) for url in urls):
                store.discard_object(image_id, credentials=credentials)
        except store_errors.StoreError as exc:
            LOG.warning('image %s: could not remove what its dead upload left in '
                        'store %s: %s', image_id, store.store_id, exc)


#: Seconds between two sweeps of a worker's writable stores (``Store.sweep``).
SWEEP_INTERVAL = 600


def start_sweeper(store_set, interval=SWEEP_INTERVAL):
    """Sweep the writable stores of ``store_set`` every ``interval`` seconds, on a
    daemon thread: a worker killed mid-upload and restarted within the start-up
    sweep's grace period would otherwise leave its temporary file until the next
    restart."""
    def sweep_forever():
        while True:
            time.sleep(interval)
            for store in store_set:
                if not store.writable:
                    continue
                try:
                    store.sweep()
                except Exception:   # noqa: BLE001 -- best effort; the next one retries
                    LOG.exception('sweeping store %s failed', store.store_id)

    threading.Thread(target=sweep_forever, name='store-sweeper', daemon=True).start()
