"""/v2/images/{id}/file: upload image data to a store and download it back.

Bytes go straight between the client and the store, never through the registry. An
upload claims the image with a compare-and-swap ``queued -> saving`` (so a second
upload is 409), streams the body in bounded chunks into a store writer that hashes as
it writes, and publishes the result with ``saving -> active``. Any failure cancels the
writer (no bytes left behind) and puts the image back to ``queued``; an image deleted
during the upload answers 410 and its new bytes are removed.
"""

import contextlib
import logging
import re
import time
import uuid

from flask import Blueprint, Response, g, request

from glance_api import (errors, images, policy, quotas, request_body, responses,
                        store_acls, store_data, views)
from glance_api.services import services
from glance_api.store_data import caller_credentials
from glance_registry.client import errors as registry_errors
from stores import errors as store_errors

LOG = logging.getLogger(__name__)

bp = Blueprint('image_data', __name__)

UPLOAD_MEDIA_TYPE = 'application/octet-stream'


@bp.put('/v2/images/<image_id>/file')
def upload(image_id):
    """Upload the image's data; 204.

    Errors: 400 size mismatch or formats unset, 403, 404, 409 image not ``queued``,
    410 image deleted meanwhile, 413 over ``image_size_cap`` or store full, 415 not
    ``application/octet-stream``, 503 store or registry unavailable.
    """
    ctx = g.context
    conf = services().conf
    if request.mimetype != UPLOAD_MEDIA_TYPE:
        raise errors.UnsupportedMediaType('Image data must be sent as %s, not %s.'
                                          % (UPLOAD_MEDIA_TYPE,
                                             request.mimetype or '(none)'))
    expected_size = _expected_size()
    record = images.load_image(image_id)
    policy.enforce(ctx, 'upload_image', record)
    # A saving image is the registry's to judge: its upload may have died.
    if record['status'] not in ('queued', 'saving'):
        raise errors.Conflict("Image status transition from '%s' to 'saving' is not "
                              "allowed: data can only be uploaded to a queued image."
                              % record['status'])
    if not (record['disk_format'] and record['container_format']):
        raise errors.BadRequest('Properties disk_format, container_format must be set '
                                'prior to saving data.')
    limit = conf.image_size_cap
    if (expected_size or 0) > limit or (request.content_length or 0) > limit:
        raise errors.TooLarge('Image exceeds the storage quota: the image size cap is '
                              '%d bytes.' % limit)

    # Before the image is claimed: an unknown store must leave it queued.
    store = _upload_store()
    registry = services().registry
    upload_id = uuid.uuid4().hex
    try:
        registry.transition_status(ctx.identity, image_id, 'queued', 'saving',
                                   quota=services().quotas.for_upload_start(),
                                   lease=conf.upload_lease_time, upload_id=upload_id,
                                   request_id=g.request_id)
    except registry_errors.Conflict as exc:
        raise errors.Conflict('Image %s is already being uploaded (status %s).'
                              % (image_id, exc.details.get('current_status')))
    except registry_errors.TooLarge as exc:
        raise errors.TooLarge(str(exc))
    if record['status'] == 'saving':
        LOG.warning('image %s: its previous upload stopped renewing its lease; '
                    'taking over', image_id)
        store_data.discard_abandoned(image_id)

    reservation = quotas.Reservation(
        registry, ctx.identity, image_id, services().quotas.max_storage,
        conf.upload_reservation_step * quotas.MiB, g.request_id)
    try:
        if expected_size is not None:
            reservation.cover(expected_size)
        stored = _receive(store, image_id, expected_size, limit, conf, reservation,
                          _UploadLease(image_id, conf.upload_lease_time, upload_id))
    except BaseException as exc:
        _give_back(image_id, upload_id)
        if isinstance(exc, store_errors.StoreUnavailable):
            # The driver's message names the backend (hosts, accounts, object
            # names): for the log, not for the client.
            LOG.warning('upload of image %s to store %s failed: %s', image_id,
                        store.store_id, exc)
            raise errors.Unavailable('The image store is not available; the image '
                                     'is queued again and the upload can be '
                                     'retried.') from exc
        if isinstance(exc, registry_errors.NotFound):
            # Deleted during the upload (found by a reservation): as upstream, 410.
            raise _gone_during_upload(image_id) from exc
        translated = errors.translate(exc)
        if translated is None:
            raise
        raise translated

    location = {'url': stored.url, 'metadata': dict(stored.metadata)}
    if services().stores.multi:
        location['metadata']['store'] = store.store_id
    values = {'size': stored.size, 'checksum': stored.checksum,
              'os_hash_algo': conf.hashing_algorithm, 'os_hash_value': stored.multihash}
    try:
        registry.transition_status(ctx.identity, image_id, 'saving', 'active',
                                   values=values, locations=[location],
                                   upload_id=upload_id, request_id=g.request_id)
    except (registry_errors.NotFound, registry_errors.Conflict) as exc:
        if exc.reason == 'taken_over':
            # Only if committing took longer than the lease just renewed. The new
            # upload may be writing to the same location: its bytes are left alone.
            LOG.error('image %s: taken over by another upload while this one '
                      'committed %s; not removing it', image_id, stored.url)
            raise _taken_over(image_id, conf.upload_lease_time)
        _discard(store, stored.url)
        raise _gone_after_upload(image_id)
    except registry_errors.RegistryError:
        _discard(store, stored.url)
        _give_back(image_id, upload_id)
        raise
    store_acls.sync(record, [location])
    return responses.no_content()


def _upload_store():
    """The store an upload goes to: ``X-Image-Meta-Store`` when several exist."""
    store_set = services().stores
    store_id = request.headers.get('X-Image-Meta-Store')
    if not store_set.multi or store_id is None:
        return store_set.default
    if store_id not in store_set or not store_set.get(store_id).writable:
        # An empty value too, as upstream. Header text arrives as latin-1: shown as
        # the client wrote it (UTF-8, most likely).
        shown = store_id.encode('latin-1').decode('utf-8', 'replace')
        raise errors.BadRequest('Store for identifier %s not found' % shown)
    return store_set.get(store_id)


def _expected_size():
    header = request.headers.get('x-openstack-image-size')
    if header is None:
        return None
    try:
        size = int(header)
    except ValueError:
        size = -1
    if size < 0:
        raise errors.BadRequest('x-openstack-image-size must be a non-negative '
                                'integer, not %r.' % header)
    return size


def _receive(store, image_id, expected_size, limit, conf, reservation, lease):
    """Stream the request body into a new object; the ``StoredImage``.

    Storage quota is reserved before each chunk is written, so a project's uploads
    together never store more than its quota allows; the upload's lease on the
    image is renewed as the bytes flow.
    """
    body = request_body.blocks(request.environ, request.stream, conf.upload_chunk_size)
    # closing(): a body abandoned halfway (413, 400) must tell the server so.
    with contextlib.closing(body), \
            store.open_writer(image_id, conf.hashing_algorithm, size=expected_size,
                              credentials=caller_credentials()) as writer:
        while True:
            try:
                chunk = next(body, b'')
            except Exception as exc:
                # A client that goes away mid-body surfaces here as whatever the
                # server's reader raises.
                raise errors.BadRequest('The upload was interrupted: %s'
                                        % type(exc).__name__)
            if not chunk:
                break
            if writer.size + len(chunk) > limit:
                raise errors.TooLarge('Image exceeds the image size cap of %d bytes.'
                                      % limit)
            if expected_size is not None and writer.size + len(chunk) > expected_size:
                raise errors.BadRequest('More data than x-openstack-image-size (%d).'
                                        % expected_size)
            # Before reserving: an upload that stalled past its lease and was taken
            # over must stop before it touches the new upload's reservation.
            lease.keep()
            reservation.cover(writer.size + len(chunk))
            writer.write(chunk)
        if expected_size is not None and writer.size != expected_size:
            raise errors.BadRequest('Received %d bytes but x-openstack-image-size '
                                    'said %d.' % (writer.size, expected_size))
        # A client that disconnects before sending Content-Length bytes looks like
        # a normal end of body to some servers: never commit a truncated image.
        if request.content_length is not None and \
                writer.size != request.content_length:
            raise errors.BadRequest('The upload was interrupted after %d of %d bytes.'
                                    % (writer.size, request.content_length))
        # Still ours, and for a whole lease more: no other upload can take the image
        # over while this one publishes its bytes.
        lease.keep(now=True)
        return writer.commit()


class _UploadLease:
    """Keeps the upload's claim on its image (status ``saving``) alive.

    The registry gives the upload a lease of ``upload_lease_time`` seconds when it
    starts; this renews it every third of that while bytes arrive. If the worker
    dies, the lease runs out and a new upload of the image takes it over instead of
    meeting a 409 forever (upstream leaves such an image in ``saving``). So does a
    client that stops sending for longer than the lease: when it resumes, the
    renewal tells this upload that it lost the image (``upload_id``), and it stops.
    """

    def __init__(self, image_id, seconds, upload_id):
        self.image_id = image_id
        self.seconds = seconds
        self.upload_id = upload_id
        self._renew_at = time.monotonic() + seconds / 3

    def keep(self, now=False):
        """Renew if a third of the lease has passed since the last renewal (or
        ``now``)."""
        when = time.monotonic()
        if when < self._renew_at and not now:
            return
        self._renew_at = when + self.seconds / 3
        try:
            services().registry.renew_upload_lease(
                g.context.identity, self.image_id, self.seconds,
                upload_id=self.upload_id, request_id=g.request_id)
        except registry_errors.NotFound:
            raise _gone_during_upload(self.image_id)
        except registry_errors.Conflict as exc:
            if exc.reason == 'taken_over':
                raise _taken_over(self.image_id, self.seconds)
            raise errors.Conflict('Image %s is no longer being uploaded by this '
                                  'request (its status is now %s).'
                                  % (self.image_id,
                                     exc.details.get('current_status')))
        except registry_errors.Unavailable as exc:
            # Renewed again a third of the lease later; two misses in a row let
            # the lease run out.
            LOG.warning('image %s: could not renew the upload lease: %s',
                        self.image_id, exc)


def _taken_over(image_id, seconds):
    return errors.Conflict('Image %s was taken over by another upload: this one sent '
                           'no data for longer than the upload lease (%d seconds).'
                           % (image_id, seconds))


def _gone_during_upload(image_id):
    return errors.Gone('Image %s could not be found during the upload. The image may '
                       'have been deleted.' % image_id)


def _gone_after_upload(image_id):
    return errors.Gone('Image %s could not be found after upload. The image may have '
                       'been deleted during the upload.' % image_id)


def _give_back(image_id, upload_id):
    """Return a failed upload's image to ``queued`` so it can be uploaded again
    (unless another upload has taken it over)."""
    try:
        services().registry.transition_status(g.context.identity, image_id, 'saving',
                                              'queued', upload_id=upload_id,
                                              request_id=g.request_id)
    except registry_errors.Conflict as exc:
        if exc.reason != 'taken_over':
            LOG.warning('could not return image %s to queued after a failed upload: '
                        '%s', image_id, exc)
    except registry_errors.NotFound:
        pass   # deleted meanwhile: nothing to give back
    except registry_errors.RegistryError as exc:
        LOG.warning('could not return image %s to queued after a failed upload: %s',
                    image_id, exc)


def _discard(store, url):
    try:
        store.delete(url, credentials=caller_credentials())
    except store_errors.StoreError as exc:
        LOG.error('could not remove orphaned image data at %s: %s', url, exc)


@bp.get('/v2/images/<image_id>/file')
def download(image_id):
    """The image's data: 200, 206 for a satisfiable single ``Range``, 204 if none.

    Errors: 403 deactivated (non-admins), 404, 416 unsatisfiable range, 503 store.
    """
    ctx = g.context
    record = images.load_image(image_id)
    policy.enforce(ctx, 'download_image', record)
    if record['status'] == 'deactivated' and not ctx.is_admin:
        raise errors.Forbidden('The requested image has been deactivated. Image data '
                               'download is forbidden.')
    locations = views.active_locations(record)
    if not locations or record['status'] not in ('active', 'deactivated'):
        return responses.no_content()
    size = record['size'] or 0
    byte_range = _requested_range(size)
    offset, length = byte_range if byte_range else (0, size)
    reader = _open_reader(_preferred_order(locations), offset, length)

    file_wrapper = request.environ.get('wsgi.file_wrapper')
    if reader.fileobj is not None and file_wrapper is not None:
        # The server sends the file with sendfile(): no copy through Python.
        body = file_wrapper(reader.fileobj, 1024 * 1024)
    else:
        body = reader
    response = Response(body, status=206 if byte_range else 200,
                        mimetype='application/octet-stream', direct_passthrough=True)
    response.headers['Content-Length'] = str(length)
    response.headers['Accept-Ranges'] = 'bytes'
    if byte_range:
        response.headers['Content-Range'] = 'bytes %d-%d/%d' % (
            offset, offset + length - 1, size)
    elif record['checksum']:
        response.headers['Content-MD5'] = record['checksum']
    return response


def _preferred_order(locations):
    """Locations in the order to try them: ``?prefer=`` stores first, then by weight.

    ``prefer`` is upstream's 2026.1 store preference: 400 without multi-store or for
    an unknown store id.
    """
    store_set = services().stores
    prefer = request.args.get('prefer')
    weights = {store.store_id: rank for rank, store in enumerate(store_set)}
    order = []
    if prefer is not None:
        if not store_set.multi:
            raise errors.BadRequest('The prefer parameter needs multiple stores.')
        order = [s.strip() for s in prefer.split(',') if s.strip()]
        unknown = [s for s in order if s not in store_set]
        if unknown:
            raise errors.BadRequest('Unknown store %s in prefer.' % unknown[0])

    def rank(location):
        store_id = (location.get('metadata') or {}).get('store')
        preferred = order.index(store_id) if store_id in order else len(order)
        return preferred, weights.get(store_id, len(weights))

    return sorted(locations, key=rank)


def _open_reader(locations, offset, length):
    """A reader from the first store (by weight) that has the data."""
    store_set = services().stores
    last_error = None
    for location in locations:
        try:
            return store_set.for_location(location).open_reader(
                location['url'], offset, length, credentials=caller_credentials())
        except store_errors.StoreError as exc:
            LOG.warning('cannot read image data at %s: %s', location['url'], exc)
            last_error = exc
    if isinstance(last_error, store_errors.NotFound):
        raise errors.NotFound('Image data could not be found in any store.')
    raise errors.Unavailable('Image data is temporarily unavailable.')


def _requested_range(size):
    """``(offset, length)`` of the requested range, None for the whole image.

    As upstream: one range only (several are 400); a malformed ``Range`` (or legacy
    ``Content-Range`` request header), or one that starts past the data, is 416.
    Unlike upstream, ``bytes=-0`` is 416 too (RFC 7233: an empty suffix cannot be
    satisfied), not the whole image.
    """
    header = request.headers.get('Range')
    if header is not None:
        if ',' in header:
            raise errors.BadRequest('Requests with multiple ranges are not supported: '
                                    'make several single-range requests instead.')
        match = _RANGE.match(header)
        if match is None or match.group(1) == match.group(2) == '':
            raise _unsatisfiable(size, 'Invalid Range header.')
        first, last = match.groups()
        if not first:
            suffix = int(last)
            if suffix == 0 or size == 0:
                raise _unsatisfiable(size)
            start = max(size - suffix, 0)
            return start, size - start
        start = int(first)
        if last and int(last) < start:
            raise _unsatisfiable(size, 'Invalid Range header.')
        if start >= size:
            raise _unsatisfiable(size)
        end = min(int(last), size - 1) if last else size - 1
        return start, end - start + 1
    legacy = request.headers.get('Content-Range')
    if legacy is None:
        return None
    match = _CONTENT_RANGE.match(legacy)
    if match is None or int(match.group(2)) < int(match.group(1)):
        raise _unsatisfiable(size, 'Invalid Content-Range header.')
    start, last = int(match.group(1)), int(match.group(2))
    if start >= size or last >= size:
        raise _unsatisfiable(size)
    return start, last - start + 1


# ASCII digits only: str.isdigit() also takes '²', which int() refuses.
_RANGE = re.compile(r'bytes=[ \t]*([0-9]*)-([0-9]*)[ \t]*\Z')
_CONTENT_RANGE = re.compile(r'bytes[ \t]+([0-9]+)-([0-9]+)/(?:[0-9]+|\*)[ \t]*\Z')


def _unsatisfiable(size, message='Requested range not satisfiable'):
    return errors.RangeNotSatisfiable(message,
                                      headers={'Content-Range': 'bytes */%d' % size})