"""The upload pipeline: claim a queued image, stream the bytes into a store, publish.

An upload claims the image with a compare-and-swap ``queued -> saving`` (so a second
upload is 409) and holds it with a lease it renews while bytes arrive; it streams the
body in bounded chunks into a store writer that hashes as it writes, reserving
storage quota ahead of the bytes (all of a declared size before the first byte),
inspecting each chunk before it is written (``glance_api.data.inspection``: content
that is unsafe or not the image's ``disk_format`` is refused with 400), and publishes
the result, with the virtual size the inspection found, with ``saving -> active``.
Any failure cancels the writer (no bytes left behind) and puts the image back to
``queued``; an image deleted during the upload answers 410 and its new bytes are
removed.
"""

import contextlib
import logging
import uuid

from flask import g, request

from glance_api.access import quotas
from glance_api.data import decompression, inspection, staging, store_data
from glance_api.data.store_data import caller_credentials
from glance_api import notifications
from glance_api.http import errors, upload_body
from glance_api.images import notifications as payloads
from glance_api.services import services
from glance_registry import metrics
from glance_registry.client import errors as registry_errors
from glance_registry.client.leases import LeaseKeeper
from stores import errors as store_errors

LOG = logging.getLogger(__name__)


def upload(record, store, expected_size, limit, stage=False):
    """Receive the request body as the data of the image ``record`` (``queued``, or
    ``saving`` by an upload whose lease ran out) into ``store``; the location the
    image is now active at.

    ``stage`` (``PUT /stage``, ``store`` the staging store): the same with
    ``uploading`` for ``saving``; the data becomes the image's staged location and
    the image stays ``uploading`` for its import.

    ``expected_size`` is what the client declared (or None); ``limit`` the image
    size cap. Errors: 400 (the content refused by inspection too), 409, 410, 413,
    503 as ``PUT /file`` documents them.
    """
    ctx = g.context
    conf = services().conf
    image_id = record['id']
    registry = services().registry
    upload_id = uuid.uuid4().hex
    status = 'uploading' if stage else 'saving'
    try:
        claimed = registry.transition_status(ctx.identity, image_id, 'queued', status,
                                             quota=services().quotas.for_upload_start(
                                                 record['owner'], stage=stage),
                                             lease=conf.upload_lease_time,
                                             upload_id=upload_id,
                                             request_id=g.request_id)
    except registry_errors.Conflict as exc:
        # Worded here, not in glance_api.v2.messages: whether the holder has
        # stopped depends on this API's upload_lease_time.
        raise _held(image_id, exc.details, conf.upload_lease_time, status)
    if record['status'] == status:
        LOG.warning('image %s: its previous upload stopped renewing its lease; '
                    'taking over', image_id)
        if stage:
            store.discard_abandoned(image_id)
        else:
            store_data.discard_abandoned(image_id)
    if stage:
        staging.discard_leftover(store, claimed)
    # As upstream: the image's new status (saving, uploading) is an update; a
    # stage sends no image.prepare (the import does, as it writes to the stores).
    notifications.notify(ctx, 'image.update', payloads.image(claimed))
    if not stage:
        prepared = payloads.stored(claimed)
        if services().stores.multi:
            # As upstream: the store the data goes to.
            prepared['backend'] = store.store_id
        notifications.notify(ctx, 'image.prepare', prepared)

    reservation = quotas.Reservation(
        registry, ctx.identity, image_id, upload_id,
        services().quotas.max_storage(record['owner']),
        conf.upload_reservation_step * quotas.MiB, g.request_id)
    # Judged against the formats as the claim found them: they cannot change now.
    rules = inspection.Rules.from_conf(conf)
    # A stage of data the import decompresses is inspected once decompressed.
    content = decompression.stage_inspection(conf, claimed, rules) if stage else \
        inspection.Inspection.for_image(claimed, rules)
    try:
        declared = _declared_size(record, expected_size)
        if declared is not None:
            # All of it before the first byte: concurrent uploads that each hold
            # part of what they need could together fill the quota and refuse
            # each other, where some of them fit.
            reservation.cover_exactly(declared)
        with metrics.upload_in_flight():
            stored = _receive(store, image_id, expected_size, limit, conf,
                              reservation, _UploadLease(image_id,
                                                        conf.upload_lease_time,
                                                        upload_id),
                              content)
    except BaseException as exc:
        _give_back(image_id, upload_id, status)
        if not stage:
            # As upstream: an error notification whose payload is a message.
            notifications.notify(ctx, 'image.upload', 'Image %s could not be '
                                 'uploaded: %s' % (image_id, _why(exc)),
                                 priority='error')
        if isinstance(exc, store_errors.StoreUnavailable):
            metrics.count_store_error(store.store_id, 'write')
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
        if getattr(exc, 'reason', None) == 'lease_expired':
            # A reservation after the lease ran out (the renewals before it could
            # not reach the registry).
            raise _lease_lost(image_id, conf.upload_lease_time) from exc
        raise

    if stage:
        facts = None if decompression.held_back(content) else staging.stage_facts(
            claimed, stored, content.verdict, content.rules, conf.hashing_algorithm)
        return _publish_stage(image_id, store, stored, upload_id, facts)
    location = {'url': stored.url, 'metadata': dict(stored.metadata)}
    if services().stores.multi:
        location['metadata']['store'] = store.store_id
    values = {'size': stored.size, 'virtual_size': content.verdict.virtual_size,
              'checksum': stored.checksum, 'os_hash_algo': conf.hashing_algorithm,
              'os_hash_value': stored.multihash}
    try:
        published = registry.transition_status(
            ctx.identity, image_id, 'saving', 'active', values=values,
            locations=[location], upload_id=upload_id, request_id=g.request_id,
            outlast_outage=True)
    except (registry_errors.NotFound, registry_errors.Conflict) as exc:
        if exc.reason == 'taken_over':
            # Only if committing took longer than the lease just renewed. The new
            # upload may be writing to the same location: its bytes are left alone.
            LOG.error('image %s: taken over by another upload while this one '
                      'committed %s; not removing it', image_id, stored.url)
            raise _taken_over(image_id, conf.upload_lease_time)
        if exc.reason == 'lease_expired':
            # Only if committing took longer than the lease just renewed: the
            # image is no longer this upload's to publish (its reservation stopped
            # counting). Removed while the image is still held, then given back.
            _discard(store, stored.url)
            _give_back(image_id, upload_id, status)
            raise _lease_lost(image_id, conf.upload_lease_time)
        published = _published_already(exc, image_id, stored)
        if published is None:
            _discard(store, stored.url)
            raise _gone_after_upload(image_id)
    except registry_errors.RegistryError:
        # Given back first: a publication the registry did not answer (a
        # timeout) may have been committed after all, or still be; giving the
        # image back makes a late one fail, and finds an early one. Unless the
        # image is known not to use the data, it stays: an upload that takes the
        # image over, or its deletion, removes it (store_data.discard_abandoned).
        if _give_back(image_id, upload_id, status, outlast_outage=False):
            LOG.error('image %s may have been published although the registry did '
                      'not answer: keeping its data at %s', image_id, stored.url)
        else:
            _discard(store, stored.url)
        raise
    metrics.count_uploaded(store.store_id, stored.size)
    notifications.notify(ctx, 'image.upload', payloads.stored(published))
    notifications.notify(ctx, 'image.activate', payloads.image(published))
    # As upstream, whose upload saves the image it made active.
    notifications.notify(ctx, 'image.update', payloads.image(published))
    return location


def _publish_stage(image_id, store, stored, upload_id, facts):
    """Record staged data as the image's staged location, with what the stage
    verified of it (``facts``: the import reuses them); the image stays
    ``uploading`` and the stage's lease ends."""
    location = staging.location(stored, facts)
    try:
        # The size, as upstream shows it once staged; the project's staged usage
        # (image_stage_total) counts it.
        staged = services().registry.transition_status(
            g.context.identity, image_id, 'uploading', 'uploading',
            values={'size': stored.size}, locations=[location], upload_id=upload_id,
            request_id=g.request_id, outlast_outage=True)
    except (registry_errors.NotFound, registry_errors.Conflict) as exc:
        staged = _staged_already(exc, image_id, stored, location)
        if staged is not None:
            notifications.notify(g.context, 'image.update', payloads.image(staged))
            return location
        if getattr(exc, 'reason', None) == 'taken_over':
            raise _taken_over(image_id, services().conf.upload_lease_time)
        _discard(store, stored.url)
        if getattr(exc, 'reason', None) == 'lease_expired':
            _give_back(image_id, upload_id, 'uploading')
            raise _lease_lost(image_id, services().conf.upload_lease_time)
        raise _gone_after_upload(image_id)
    except registry_errors.RegistryError:
        # As a publication the registry did not answer: the stage may have been
        # recorded all the same. Its data is removed only once the image is known
        # not to use it; kept, the next stage replaces it, or the staging sweep
        # or the image's deletion removes it.
        if not _give_back(image_id, upload_id, 'uploading', outlast_outage=False):
            _discard(store, stored.url)
        raise
    notifications.notify(g.context, 'image.update', payloads.image(staged))
    return location


def _why(exc):
    """Why an upload failed, for its error notification: the client's message
    where there is one; else the kind of failure (a store's own message may name
    hosts and accounts)."""
    if isinstance(exc, errors.APIError):
        return exc.message
    return type(exc).__name__


def _declared_size(record, expected_size):
    """The size the upload says it has: ``x-openstack-image-size``, else the
    ``Content-Length``, else the image's ``size``; None if unknown (chunked)."""
    for size in (expected_size, request.content_length, record.get('size')):
        if size is not None:
            return size
    return None


def _receive(store, image_id, expected_size, limit, conf, reservation, lease,
             content):
    """Stream the request body into a new object; the ``StoredImage``.

    Storage quota is reserved before each chunk is written (a no-op while the
    declared size, reserved beforehand, covers it), so a project's uploads together
    never store more than its quota allows; the upload's lease on the image is
    renewed as the bytes flow. Each chunk is inspected (``content``, an
    ``Inspection``) before it is written, and the whole before the object is
    committed: refused content is never published.
    """
    body = upload_body.blocks(request.environ, request.stream, conf.upload_chunk_size)
    # The size the store is told, as upstream's Content-Length: a store may lay
    # out data of known size differently (Swift writes one object, not segments,
    # below swift_store_large_object_size). A body that ends short of it is refused
    # below, before the commit.
    store_size = expected_size if expected_size is not None else \
        request.content_length
    # closing(): a body abandoned halfway (413, 400) must tell the server so.
    with contextlib.closing(body), \
            store.open_writer(image_id, conf.hashing_algorithm, size=store_size,
                              credentials=caller_credentials()) as writer:
        while True:
            try:
                chunk = next(body, b'')
            except upload_body.MalformedBody as exc:
                raise errors.BadRequest('The chunked request body is malformed: %s.'
                                        % exc)
            except upload_body.IncompleteBody as exc:
                raise errors.BadRequest('The upload was interrupted: %s.' % exc)
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
            _inspect(content, chunk)
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
        _inspect(content)
        # Still ours, and for a whole lease more: no other upload can take the image
        # over while this one publishes its bytes.
        lease.keep(now=True)
        return writer.commit()


def _inspect(content, chunk=None):
    """Inspect the next ``chunk``, or (without one) conclude; 400 when the content
    is refused."""
    try:
        if chunk is None:
            content.finish()
        else:
            content.feed(chunk)
    except inspection.ContentRefused as exc:
        raise errors.BadRequest(str(exc))


class _UploadLease:
    """Keeps the upload's claim on its image (status ``saving``) alive.

    The registry gives the upload a lease of ``upload_lease_time`` seconds when it
    starts; this renews it every third of that while bytes arrive. If the worker
    dies, the lease runs out and a new upload of the image takes it over instead of
    meeting a 409 forever (upstream leaves such an image in ``saving``). So does a
    client that stops sending for longer than the lease: when it resumes, the
    renewal tells this upload that it lost the image (``upload_id``), and it stops,
    whether or not another upload has taken the image over yet (the registry
    stopped counting its reservation against the quota when the lease ran out).
    """

    def __init__(self, image_id, seconds, upload_id):
        self.image_id = image_id
        self.seconds = seconds
        self.upload_id = upload_id
        self._keeper = LeaseKeeper(seconds)

    def keep(self, now=False):
        """Renew if a third of the lease has passed since the last renewal (or
        ``now``)."""
        if not self._keeper.due(now):
            return
        try:
            services().registry.renew_upload_lease(
                g.context.identity, self.image_id, self.seconds,
                upload_id=self.upload_id, request_id=g.request_id)
        except registry_errors.NotFound:
            raise _gone_during_upload(self.image_id)
        except registry_errors.Conflict as exc:
            if exc.reason == 'taken_over':
                raise _taken_over(self.image_id, self.seconds)
            if exc.reason == 'lease_expired':
                raise _lease_lost(self.image_id, self.seconds)
            raise   # no longer saving: glance_api.v2.messages words it
        except registry_errors.Unavailable as exc:
            # Renewed again a third of the lease later; two misses in a row let
            # the lease run out.
            LOG.warning('image %s: could not renew the upload lease: %s',
                        self.image_id, exc)


def _held(image_id, details, lease_time, status='saving'):
    """The 409 for an upload to an image that another upload holds: when it is
    released if that upload has stopped, and that deleting it needs no wait.

    An upload renews its lease every third of ``lease_time`` while bytes arrive, so
    a lease not renewed for longer belongs to an upload that has most probably
    stopped (its API worker was killed, its client went away). The registry counts
    the seconds left on its own clock."""
    left = details.get('upload_lease_seconds_left')
    if details.get('current_status') != status or left is None:
        return errors.Conflict('Image %s is already being uploaded (status %s).'
                               % (image_id, details.get('current_status')))
    left = max(left, 0)
    release = ('the image is released when its lease runs out, at %s (in %d '
               'seconds), and a new upload can then take it over. Deleting the image '
               'works now.' % (details.get('upload_lease_expires_at'), left))
    idle = lease_time - left
    if idle > lease_time / 3 + _RENEWAL_SLACK:
        return errors.Conflict('Image %s is held by an upload that has not renewed '
                               'its lease for %d seconds: its client or API worker '
                               'has probably gone away. Unless it resumes, %s'
                               % (image_id, idle, release))
    return errors.Conflict('Image %s is being uploaded by another request. If that '
                           'upload was interrupted, %s' % (image_id, release))


#: Seconds an upload may be late renewing its lease (a chunk in flight, a registry
#: round trip) before it is said to have stopped.
_RENEWAL_SLACK = 1


def _taken_over(image_id, seconds):
    return errors.Conflict('Image %s was taken over by another upload: this one sent '
                           'no data for longer than the upload lease (%d seconds).'
                           % (image_id, seconds))


def _lease_lost(image_id, seconds):
    return errors.Conflict('Image %s was released by this upload: it did not renew '
                           'its hold on the image within the upload lease (%d '
                           'seconds), as when its client sends no data for that '
                           'long. Upload the data again.' % (image_id, seconds))


def _gone_during_upload(image_id):
    return errors.Gone('Image %s could not be found during the upload. The image may '
                       'have been deleted.' % image_id)


def _gone_after_upload(image_id):
    return errors.Gone('Image %s could not be found after upload. The image may have '
                       'been deleted during the upload.' % image_id)


def _published_already(exc, image_id, stored):
    """The image's record if the publication that met ``exc`` (a 404 or 409) had
    been made already: the client retries a call whose connection broke after the
    registry committed it, and the retry finds the image active, with this
    upload's data. None otherwise; the registry's error if it cannot tell."""
    if exc.details.get('current_status') != 'active':
        return None
    # Unanswered, this read leaves the image active and perhaps using the data:
    # its error is the upload's answer (503) and the data stays, as for a
    # publication the registry did not answer.
    record = services().registry.get_image(g.context.identity, image_id,
                                           request_id=g.request_id)
    urls = [location['url'] for location in record.get('locations') or []]
    if record['status'] == 'active' and stored.url in urls and \
            record['os_hash_value'] == stored.multihash:
        LOG.warning('image %s: its publication was answered with %s, but it was '
                    'made: the registry call was retried', image_id, exc)
        return record
    return None


def _staged_already(exc, image_id, stored, location):
    """The image's record if the stage's recording that met ``exc`` had been made
    already, as ``_published_already`` finds a publication: the call was sent
    again after the registry made it (a connection broken before its answer, a
    503 as its database failed over), and the repeat found the stage's lease
    ended (``taken_over``) or the image moved on (``status_changed``: an import
    started). None otherwise; the registry's error if it cannot tell (the data
    stays, as for a recording the registry did not answer).

    Recorded means a staged location at this stage's URL with the metadata it
    sent: the facts in it (hashes, the staged file's identity) are this stage's
    own. A stage whose facts are held back (data the import decompresses) sends
    none; its size must match as well."""
    if getattr(exc, 'reason', None) not in ('taken_over', 'status_changed'):
        return None
    try:
        record = services().registry.get_image(g.context.identity, image_id,
                                               request_id=g.request_id)
    except registry_errors.NotFound:
        return None   # deleted meanwhile, with whatever it had staged
    recorded = [loc for loc in staging.staged_locations(record)
                if loc['url'] == stored.url
                and (loc.get('metadata') or {}) == location['metadata']]
    if recorded and record.get('size') == stored.size:
        LOG.warning('image %s: its stage was answered with %s, but it was '
                    'recorded: the registry call was sent again', image_id, exc)
        return record
    return None


def _give_back(image_id, upload_id, status='saving', outlast_outage=True):
    """Return a failed upload's image to ``queued`` so it can be uploaded again
    (unless another upload has taken it over); whether the image may still use
    this upload's data: it is ``active`` (its publication went through after all),
    or, a stage's (``status`` ``uploading``), still ``uploading`` (recorded as
    staged), or the registry did not say. ``outlast_outage``: wait for a registry
    or database that is down (not when a publication has waited already: the
    client's answer would come twice as late)."""
    try:
        restored = services().registry.transition_status(
            g.context.identity, image_id, status, 'queued', upload_id=upload_id,
            request_id=g.request_id, outlast_outage=outlast_outage)
    except registry_errors.Conflict as exc:
        if exc.reason != 'taken_over':
            LOG.warning('could not return image %s to queued after a failed upload: '
                        '%s', image_id, exc)
        published = 'uploading' if status == 'uploading' else 'active'
        return exc.details.get('current_status') == published
    except registry_errors.NotFound:
        pass   # deleted meanwhile: nothing to give back
    except registry_errors.RegistryError as exc:
        LOG.warning('could not return image %s to queued after a failed upload: %s',
                    image_id, exc)
        return True
    else:
        # As upstream, which saves the image it restores.
        notifications.notify(g.context, 'image.update', payloads.image(restored))
    return False


def _discard(store, url):
    try:
        store.delete(url, credentials=caller_credentials())
    except store_errors.NotFound:
        # Removed already: the image was deleted as this upload published it, and
        # the delete removes what an upload of a saving image may have committed.
        LOG.info('image data at %s was removed already', url)
    except store_errors.StoreError as exc:
        LOG.error('could not remove orphaned image data at %s: %s', url, exc)
