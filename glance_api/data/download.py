"""Opening an image's data for a download: which copy to read, and its reader.

``open_reader`` is the one place a download opens a store reader; ``open_image``
puts the node's read-through cache (``glance_api.data.cache``) in front of it.
"""

import logging

from glance_api.data.cache.image_cache import FillingReader
from glance_api.data.store_data import caller_credentials
from glance_api.http import errors
from glance_api.services import services
from glance_registry import metrics
from stores import errors as store_errors

LOG = logging.getLogger(__name__)


class NoData(errors.NotFound):
    """No store holds the data of an image that names locations (a file removed
    behind the store's back): upstream answers a download of it ``204``, as for an
    image without data (glance_store's NotFound)."""


def preferred_order(locations, prefer=None):
    """Locations in the order to try them: ``?prefer=`` stores first, then as the
    image's locations are ordered (``StoreSet.ordered``: by weight, or
    ``location_strategy``).

    ``prefer`` is upstream's 2026.1 store preference: 400 without multi-store or for
    an unknown store id.
    """
    store_set = services().stores
    order = []
    if prefer is not None:
        if not store_set.multi:
            raise errors.BadRequest('The prefer parameter needs multiple stores.')
        order = [s.strip() for s in prefer.split(',') if s.strip()]
        unknown = [s for s in order if s not in store_set]
        if unknown:
            raise errors.BadRequest('Unknown store %s in prefer.' % unknown[0])

    def rank(location):
        store_id = store_set.store_id_of(location)
        return order.index(store_id) if store_id in order else len(order)

    return sorted(store_set.ordered(locations), key=rank)


def open_image(record, locations, offset, length):
    """A reader of ``record``'s data: its cached copy when the node has one that is
    still the image's data, else the store's (the whole image going into the cache
    as it streams, when it fits). Cache hits skip the store preference, as
    upstream's."""
    cache = services().cache
    if cache is None:
        return open_reader(locations, offset, length)
    reader = cache.open_cached(record, offset, length)
    if reader is not None:
        return reader
    whole = offset == 0 and length == (record['size'] or 0)
    fill = cache.start_fill(record, resumer(locations)) if whole else None
    try:
        reader = open_reader(locations, offset, length)
    except BaseException:
        if fill is not None:
            fill.abort('the store cannot be read')
        raise
    if fill is not None and reader.fileobj is not None:
        # A store file goes out zero-copy (sendfile): passing its bytes through
        # this worker to feed the cache would make the cold download several times
        # slower. The fill links (same file system) or copies the file on its
        # thread instead, from a reader opened now, so a file deleted meanwhile is
        # still copied whole.
        try:
            source = open_reader(locations, 0, record['size'])
        except Exception as exc:   # noqa: BLE001 -- the download goes on uncached
            # (The file went between the two opens, or the store failed.) A fill
            # never ended would hold its reservation and thread forever.
            fill.abort('the store cannot be read a second time: %s' % exc)
            return reader
        except BaseException:
            fill.abort('the download stopped')
            reader.close()
            raise
        fill.detach('the store file is sent zero-copy', source=source)
        return reader
    return reader if fill is None else FillingReader(reader, fill)


def resumer(locations):
    """``resume(offset, length)``: ``open_reader`` of ``locations`` as this request
    would, callable from another thread after the request ended (a cache fill that
    reads the rest of an image itself)."""
    store_set, credentials = services().stores, caller_credentials()
    return lambda offset, length: _open_from(store_set, locations, offset, length,
                                             credentials)


def open_reader(locations, offset, length):
    """A reader from the first store (by weight) that has the data."""
    return _open_from(services().stores, locations, offset, length,
                      caller_credentials())


def _open_from(store_set, locations, offset, length, credentials):
    last_error = None
    for location in locations:
        try:
            reader = store_set.for_location(location).open_reader(
                location['url'], offset, length, credentials=credentials)
            if length is not None and reader.length < length:
                # The store holds less than the image's size says (a truncated
                # file): the response would promise bytes it never sends, and the
                # client would wait for them until its own timeout.
                reader.close()
                raise store_errors.StoreError(
                    'only %d of the %d bytes wanted from offset %d are stored'
                    % (reader.length, length, offset))
            return reader
        except store_errors.StoreError as exc:
            LOG.warning('cannot read image data at %s: %s', location['url'], exc)
            metrics.count_store_error(
                store_set.store_id_of(location) or 'default', 'read')
            last_error = exc
    if isinstance(last_error, store_errors.NotFound):
        raise NoData('Image data could not be found in any store.')
    raise errors.Unavailable('Image data is temporarily unavailable.')
