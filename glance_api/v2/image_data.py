"""/v2/images/{id}/file: upload image data to a store and download it back.

Bytes go straight between the client and the store, never through the registry; the
upload pipeline is ``glance_api.data.upload``.
"""

import functools
import logging

from flask import Response, g, request

from glance_api.access import policy
from glance_api.data import download, store_acls, upload
from glance_api.http import errors, paging, ranges, responses
from glance_api.images import documents, lookup
from glance_api.images import notifications as payloads
from glance_api.services import services

LOG = logging.getLogger(__name__)

UPLOAD_MEDIA_TYPE = 'application/octet-stream'


def upload_image_data(image_id):
    """Upload the image's data; 204.

    Errors: 400 size mismatch, a ``Content-Range``, formats unset, or content refused
    by inspection (unsafe, or not the ``disk_format``: ``glance_api.data.inspection``),
    403, 404, 409 image not ``queued``, 410 image deleted meanwhile or
    ``X-Image-Meta-Store`` a read-only store (as upstream), 413 over
    ``image_size_cap`` or store full, 415 not ``application/octet-stream`` (or in a
    content coding), 503 store or registry unavailable.
    """
    ctx = g.context
    check_media_type()
    check_whole_body()
    expected_size = _expected_size()
    record = lookup.load_image(image_id)
    policy.enforce(ctx, 'upload_image', record)
    # A saving image is the registry's to judge: its upload may have died.
    if record['status'] not in ('queued', 'saving'):
        raise errors.Conflict("Image status transition from '%s' to 'saving' is not "
                              "allowed: data can only be uploaded to a queued image."
                              % record['status'])
    if not (record['disk_format'] and record['container_format']):
        raise errors.BadRequest('Properties disk_format, container_format must be set '
                                'prior to saving data.')
    limit = check_size_cap(expected_size)

    # Before the image is claimed: an unknown store must leave it queued.
    store = _upload_store()
    location = upload.upload(record, store, expected_size, limit)
    store_acls.sync(record, [location])
    return responses.no_content()


def _upload_store():
    """The store an upload goes to: ``X-Image-Meta-Store`` when several exist."""
    store_set = services().stores
    store_id = request.headers.get('X-Image-Meta-Store')
    if not store_set.multi or store_id is None:
        return store_set.default
    # Header text arrives as latin-1: shown as the client wrote it (UTF-8, most
    # likely).
    shown = store_id.encode('latin-1').decode('utf-8', 'replace')
    if store_id not in store_set:
        # An empty value too, as upstream.
        raise errors.BadRequest('Store for identifier %s not found' % shown)
    store = store_set.get(store_id)
    if not store.writable:
        # Upstream's status for a store that cannot add images (StoreAddDisabled).
        raise errors.Gone('Store %s is read-only: images cannot be uploaded to it.'
                          % shown)
    return store


def check_media_type():
    """415 unless the body is ``application/octet-stream`` (in no content coding:
    ``glance_api.http.route_rules``)."""
    if request.mimetype != UPLOAD_MEDIA_TYPE:
        raise errors.UnsupportedMediaType('Image data must be sent as %s, not %s.'
                                          % (UPLOAD_MEDIA_TYPE,
                                             request.mimetype or '(none)'))


def check_whole_body():
    """400 when the body says it is a part of the data (``Content-Range``): RFC 9110
    has a server refuse such a PUT, which a client resuming an upload might send.
    Upstream ignores the header, and so did we: the part became the whole image,
    active, with its size and checksum."""
    if 'Content-Range' in request.headers:
        raise errors.BadRequest('Image data must be sent whole: a request with a '
                                'Content-Range is refused.')


def expected_size():
    """``x-openstack-image-size``, or None; 400 when it is no size."""
    return _expected_size()


def check_size_cap(expected_size):
    """413 when the declared size is over ``image_size_cap``; the cap."""
    limit = services().conf.image_size_cap
    if (expected_size or 0) > limit or (request.content_length or 0) > limit:
        raise errors.TooLarge('Image exceeds the image size cap of %d bytes.' % limit)
    return limit


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


def download_image_data(image_id):
    """The image's data: 200, 206 for a satisfiable single ``Range``, 204 if none
    (no location, or no store holds the data any more: as upstream).

    ``?prefer=`` (stores, comma-separated) names the stores to read first.

    Errors: 400 ``prefer`` without several stores, naming an unknown store, or
    given twice; 403 deactivated (non-admins), or ``prefer`` and the policy
    ``download_from_store``; 404, 416 unsatisfiable range, 503 store.
    """
    ctx = g.context
    record = lookup.load_image(image_id)
    policy.enforce(ctx, 'download_image', record)
    # As the list parameters: once (the clients join the stores with commas).
    prefer = paging.single(request.args, 'prefer')
    if prefer is not None:
        policy.enforce(ctx, 'download_from_store', record)
    if record['status'] == 'deactivated' and not ctx.is_admin:
        raise errors.Forbidden('The requested image has been deactivated. Image data '
                               'download is forbidden.')
    locations = documents.active_locations(record)
    if not locations or record['status'] not in ('active', 'deactivated'):
        return responses.no_content()
    size = record['size'] or 0
    byte_range = ranges.requested_range(request.headers, size)
    offset, length = byte_range if byte_range else (0, size)
    try:
        reader = download.open_image(
            record, download.preferred_order(locations, prefer), offset, length)
    except download.NoData:
        return responses.no_content()

    # Sent once the server has sent the body, outside the app's context.
    announce = functools.partial(_announce_sent, services().notifier, ctx, record,
                                 length)
    file_wrapper = request.environ.get('wsgi.file_wrapper')
    if reader.fileobj is not None and file_wrapper is not None:
        # The server sends the file with sendfile(): no copy through Python.
        body = _announcing_file_wrapper(file_wrapper)(
            reader.fileobj, 1024 * 1024, functools.partial(announce, length))
    else:
        body = _Counted(reader, announce)
    response = Response(body, status=206 if byte_range else 200,
                        mimetype='application/octet-stream', direct_passthrough=True)
    response.headers['Content-Length'] = str(length)
    response.headers['Accept-Ranges'] = 'bytes'
    if byte_range:
        response.headers['Content-Range'] = 'bytes %d-%d/%d' % (
            offset, offset + length - 1, size)
    elif record['checksum']:
        # Not on a 206, unlike upstream (which sends the whole image's md5 there):
        # Content-MD5 is the md5 of the body, and a client checking it against a
        # part would find a mismatch.
        response.headers['Content-MD5'] = record['checksum']
    return response


def _announce_sent(notifier, ctx, record, expected, bytes_sent):
    # As upstream: a download the client did not take whole (it went away) is
    # announced at ERROR, so that what counts downloads counts only whole ones.
    if notifier is not None:
        notifier.notify(ctx, 'image.send', payloads.sent(record, ctx, bytes_sent),
                        'info' if bytes_sent == expected else 'error')


class _Counted:
    """``chunks``, then ``image.send`` with the bytes the client took (as upstream,
    also when it stopped reading early: then at ERROR) once the server closes it;
    nothing is announced if the body was never read (``HEAD``)."""

    def __init__(self, chunks, announce):
        self._chunks = chunks
        self._announce = announce
        self._started = False
        self._sent = 0

    def __iter__(self):
        self._started = True
        for chunk in self._chunks:
            self._sent += len(chunk)
            yield chunk

    def close(self):
        try:
            close = getattr(self._chunks, 'close', None)
            if close is not None:
                close()
        finally:
            announce, self._announce = self._announce, None
            if announce is not None and self._started:
                announce(self._sent)


@functools.cache
def _announcing_file_wrapper(file_wrapper):
    """The server's ``wsgi.file_wrapper`` class (so that it still sends with
    sendfile()), announcing ``image.send`` when the server closes it. sendfile()
    does not say how far it got: the announced size is the whole response."""

    class AnnouncingFileWrapper(file_wrapper):

        def __init__(self, filelike, blksize, announce):
            super().__init__(filelike, blksize)
            # gunicorn's wrapper makes the file's close its own instance attribute.
            self._close_file = (vars(self).pop('close', None)
                                or getattr(filelike, 'close', lambda: None))
            self._announce = announce

        def close(self):
            try:
                self._close_file()
            finally:
                announce, self._announce = self._announce, None
                if announce is not None:
                    announce()

    return AnnouncingFileWrapper
