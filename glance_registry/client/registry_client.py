"""The registry client: typed methods over the registry REST API (docs/registry-api.rst).

One ``RegistryClient`` per process (it is thread-safe): a pool of keep-alive
connections, a timeout on every call, and one retry of idempotent calls when a pooled
connection turns out to have been dropped by the server. Every API call makes one
registry call, so the transport (``transport.Transport``) is a small HTTP/1.1 client
of its own, strict about what it reads, which costs a fraction of the CPU of requests
(and of ``http.client``) per call. Every method
takes the ``Identity`` it acts for; errors are ``glance_registry.client.errors``
exceptions.

A client made with a ``token_provider`` (a zero-argument callable returning a Keystone
token, e.g. a keystoneauth session's ``get_token``) sends that token instead of a
signed identity, to a registry that accepts service tokens: the token's user and
project are then the caller, and the ``identity`` arguments are not sent.

Limits (``quota``, ``max_*``) are enforced by the registry in the write's transaction;
exceeding one raises ``errors.TooLarge`` (reason ``over_limit``) whose
``details['limit']`` names it. A negative or None limit is unlimited.
"""

import dataclasses
import time
import urllib.parse

import orjson
from oslo_config import cfg

from glance_registry import metrics
from glance_registry import process
from glance_registry import request_ids
from glance_registry.client import errors
from glance_registry.client import transport as http_transport
from glance_registry.client.identity import Identity
from glance_registry.client.identity import SignedRequest
from glance_registry.client.metadefs import MetadefsClient
from glance_registry.client.tasks import TasksClient

client_opts = [
    cfg.HostAddressOpt('registry_host', default='127.0.0.1',
                       help='Address of the registry daemon.'),
    cfg.PortOpt('registry_port', default=9191, help='Port of the registry daemon.'),
    cfg.StrOpt('registry_client_protocol', default='http', choices=['http', 'https'],
               help='Protocol used to reach the registry.'),
    cfg.StrOpt('registry_client_ca_file',
               help='CA bundle to verify the registry\'s certificate (https); '
                    'default: the bundle of the requests library (certifi).'),
    cfg.StrOpt('registry_client_cert_file',
               help='Client certificate (PEM) this process presents to a registry '
                    'that verifies clients (its ca_file).'),
    cfg.StrOpt('registry_client_key_file',
               help='Private key of registry_client_cert_file.'),
    cfg.BoolOpt('registry_client_insecure', default=False,
                help='Do not verify the registry\'s certificate (https). Only for '
                     'tests: anyone on the path can then read and change what the '
                     'API sends.'),
    cfg.IntOpt('registry_client_timeout', default=60, min=1,
               help='Seconds to wait for the registry to answer one call. Calls '
                    'take milliseconds; a registry that stops answering holds an API '
                    'thread this long (upstream waited 600 s, so a stalled registry '
                    'used up every API thread).'),
    cfg.StrOpt('registry_auth_secret', secret=True,
               help='Shared secret that signs the caller identity sent to the '
                    'registry. The registry and every client must have the same.'),
    cfg.IntOpt('registry_pool_size', default=32, min=1,
               help='Keep-alive connections to the registry kept per process.'),
]


def register_opts(conf):
    conf.register_opts(client_opts)


def _client_cert(conf):
    """``(cert, key)`` for TLS client authentication, or None; a key without a
    certificate (or the reverse) is a configuration error."""
    cert, key = conf.registry_client_cert_file, conf.registry_client_key_file
    if bool(cert) != bool(key):
        raise ValueError('registry_client_cert_file and registry_client_key_file '
                         'go together')
    return (cert, key) if cert else None


@dataclasses.dataclass(frozen=True)
class Lease:
    """A claim on a pending location, or on the removal of a location's data: who
    holds it (any unique token) and for how many seconds from the registry's now."""

    owner: str
    seconds: int


class RegistryClient(MetadefsClient, TasksClient):
    """Calls the registry daemon at ``base_url`` with identities signed by ``secret``,
    or with the Keystone tokens ``token_provider()`` returns. The catalog's calls
    are ``MetadefsClient``'s, the tasks' ``TasksClient``'s."""

    def __init__(self, base_url, secret, timeout=600, pool_size=32, verify=True,
                 token_provider=None, transport=None, client_cert=None):
        if not secret and token_provider is None:
            raise ValueError('a registry client needs a secret or a token provider')
        self.base_url = base_url.rstrip('/')
        # host:port, for the messages that say which registry failed.
        self._address = urllib.parse.urlsplit(self.base_url).netloc
        self._secret = secret
        self._token_provider = token_provider
        self._timeout = timeout
        # Anything with Transport's request(method, path, headers, body, timeout):
        # tests give one that calls a registry application in their own process.
        self._transport = transport or http_transport.Transport(
            self.base_url, pool_size, verify, client_cert)

    @classmethod
    def from_config(cls, conf):
        if not conf.registry_auth_secret:
            raise ValueError('registry_auth_secret is not set')
        host = conf.registry_host
        if ':' in host:
            host = '[%s]' % host
        return cls('%s://%s:%d' % (conf.registry_client_protocol, host,
                                   conf.registry_port),
                   conf.registry_auth_secret, timeout=conf.registry_client_timeout,
                   pool_size=conf.registry_pool_size,
                   verify=(not conf.registry_client_insecure
                           and (conf.registry_client_ca_file or True)),
                   client_cert=_client_cert(conf))

    def close(self):
        self._transport.close()

    # -- images -------------------------------------------------------------------

    def list_images(self, identity, params=(), request_id=None):
        """A page of images: ``(images, next_marker)``.

        ``params`` is a sequence of ``(key, value)`` pairs with the public list API's
        meaning (filters, ``limit``, ``marker``, sorting); see the registry API doc.
        """
        body = self._send('GET', '/v1/images', identity, params=list(params),
                          request_id=request_id)
        return body['images'], body.get('next_marker')

    def get_image(self, identity, image_id, request_id=None):
        """The image record; ``errors.NotFound`` if the caller cannot see it."""
        return self._send('GET', '/v1/images/%s' % _quote(image_id), identity,
                          request_id=request_id)

    def create_image(self, identity, values, quota=None, request_id=None):
        """Create a ``queued`` image from ``values``; returns its record.

        ``quota`` may hold ``max_properties``, ``max_tags`` and ``max_images`` (the
        owner's images, the new one included).
        """
        body = dict(values)
        if quota:
            body['quota'] = quota
        return self._send('POST', '/v1/images', identity, json=body,
                          request_id=request_id)

    def update_image(self, identity, image_id, values=None, properties=None,
                     tags=None, quota=None, request_id=None, expected_status=None,
                     expected_properties=None):
        """Set base attributes, set/remove (``None``) properties, replace tags.

        ``quota`` may hold ``max_properties`` and ``max_tags``. With
        ``expected_status``, ``errors.Conflict`` (reason ``status_changed``) and
        nothing written if the image is in another status. With
        ``expected_properties`` (name: whether it must exist), ``errors.Conflict``
        (reason ``missing_property`` or ``property_exists``) and nothing written if
        one exists, or not, otherwise.
        """
        return self._send('PATCH', '/v1/images/%s' % _quote(image_id), identity,
                          json=_update_body(values, properties, tags, quota,
                                            expected_status, expected_properties),
                          request_id=request_id)

    def transition_status(self, identity, image_id, from_status, to_status,
                          values=None, locations=None, quota=None, lease=None,
                          upload_id=None, request_id=None, outlast_outage=False):
        """Compare-and-swap the status; ``errors.Conflict`` if it was not ``from``.

        ``quota`` may hold ``max_uploading`` (the owner's images in ``saving`` or
        ``uploading`` whose upload's lease has not run out, this one included),
        checked when moving into one of those (a takeover too),
        ``max_storage`` (bytes), checked if the change grows the owner's usage, and
        ``max_stage`` (MiB), checked when a stage starts (``queued -> uploading``).
        ``lease`` (seconds), moving to ``saving``: the upload's lease, renewed with
        ``renew_upload_lease``; ``queued -> saving`` takes over an image whose
        upload let its lease run out. ``upload_id`` (the upload's own random id) is
        recorded when claiming the image; leaving ``saving`` with it raises
        ``errors.Conflict`` (reason ``taken_over``) if another upload holds it.
        Leaving ``saving`` for anything but ``queued`` once the lease has run out
        raises ``errors.Conflict`` (reason ``lease_expired``).
        ``outlast_outage``: a registry that refuses the connection (a restart), or
        answers that its database is unavailable (a failover), is tried again until
        it answers, for as long as one call may take (an upload's end, which would
        otherwise lose all the bytes it received). Safe: a repeat of a change that
        went through finds the status changed already (``errors.Conflict``).
        """
        body = {'from': from_status, 'to': to_status}
        if lease:
            body['lease'] = lease
        if upload_id is not None:
            body['upload_id'] = upload_id
        if values:
            body['values'] = values
        if locations is not None:
            body['locations'] = locations
        if quota:
            body['quota'] = quota
        return self._send('PUT', '/v1/images/%s/status' % _quote(image_id), identity,
                          json=body, request_id=request_id,
                          outage_wait=self._timeout if outlast_outage else 0)

    # -- locations ------------------------------------------------------------------

    def add_location(self, identity: Identity, image_id: str, url: str,
                     metadata: dict | None = None, *, status: str = 'active',
                     position: int | None = None,
                     transition: tuple[str, str] | None = None,
                     values: dict | None = None, max_locations: int | None = None,
                     max_storage: int | None = None, lease: Lease | None = None,
                     request_id: str | None = None) -> dict:
        """Add a location at ``position`` (None: last); returns the image record.

        ``transition`` is a ``(from, to)`` status compare-and-swap made in the same
        transaction, setting the data attributes in ``values`` (``size``,
        ``checksum``, ...). A ``pending`` location may be leased at once
        (``lease``). ``errors.Conflict`` for a duplicate URL (``reason``
        ``duplicate_location``) or a lost compare-and-swap (``current_status``);
        ``errors.TooLarge`` over ``max_locations``, or if the owner's storage usage
        (active locations times size) would exceed ``max_storage`` bytes.
        """
        body = _location_write({'url': url, 'metadata': metadata or {},
                                'status': status}, transition, values, max_locations,
                               max_storage)
        if position is not None:
            body['position'] = position
        if lease is not None:
            body['lease'] = {'owner': lease.owner, 'seconds': lease.seconds}
        return self._send('POST', self._locations_path(image_id), identity, json=body,
                          request_id=request_id)

    def remove_location(self, identity: Identity, image_id: str, url: str, *,
                        allow_last: bool = False, removal_lease: Lease | None = None,
                        request_id: str | None = None) -> dict:
        """Remove the location with ``url``; returns the image record after.

        An active location's data is recorded as still to be removed in the same
        transaction: the caller removes it and confirms
        (``confirm_location_removed``), holding ``removal_lease`` meanwhile if
        given; else a sweep removes it (``claim_removals``).
        ``errors.Conflict`` (``reason`` ``last_location``) if it holds the last copy
        of an active or deactivated image's data, unless ``allow_last``;
        ``errors.NotFound`` if the image has no such location.
        """
        body = {'url': url, 'allow_last': allow_last}
        if removal_lease is not None:
            body['removal_lease'] = {'owner': removal_lease.owner,
                                     'seconds': removal_lease.seconds}
        return self._send('DELETE', self._locations_path(image_id), identity,
                          json=body, request_id=request_id)

    def replace_locations(self, identity: Identity, image_id: str,
                          locations: list[dict], *,
                          expected_urls: list[str] | None = None,
                          transition: tuple[str, str] | None = None,
                          values: dict | None = None,
                          max_locations: int | None = None,
                          max_storage: int | None = None,
                          update: dict | None = None,
                          removal_lease: Lease | None = None,
                          request_id: str | None = None) -> dict:
        """Replace all locations (``{"url", "metadata", "status"}``, in order).

        With ``expected_urls`` (the URLs read before, in order) it is a
        compare-and-swap: ``errors.Conflict`` (``reason`` ``locations_changed``) if
        they changed meanwhile. ``transition`` and ``values`` as for
        ``add_location``; ``max_locations`` and ``max_storage`` too. ``update``
        (``values``, ``properties``, ``tags``, ``quota`` as for ``update_image``)
        changes the attributes in the same transaction. Active locations dropped
        are removed as ``remove_location`` removes them (``removal_lease`` too); a
        URL given back whose removal's lease runs is ``errors.Conflict``
        (``removal_in_progress``).
        """
        body = _location_write({'locations': list(locations)}, transition, values,
                               max_locations, max_storage)
        if removal_lease is not None:
            body['removal_lease'] = {'owner': removal_lease.owner,
                                     'seconds': removal_lease.seconds}
        if update:
            body['update'] = _update_body(**update)
        if expected_urls is not None:
            body['expected_urls'] = list(expected_urls)
        return self._send('PUT', self._locations_path(image_id), identity, json=body,
                          request_id=request_id)

    def claim_location(self, identity: Identity, image_id: str, url: str,
                       lease: Lease, request_id: str | None = None) -> dict:
        """Lease the ``pending`` location ``url`` (or renew one's own lease).

        Returns the image record. ``errors.Conflict`` if another owner's lease is
        running or the location is not pending; ``errors.NotFound``.
        """
        return self._send('PUT', self._locations_path(image_id) + '/lease', identity,
                          json={'url': url, 'owner': lease.owner,
                                'seconds': lease.seconds},
                          request_id=request_id)

    def location_references(self, identity: Identity,
                            urls: list[str]) -> dict[str, list[str]]:
        """For each URL, the ids of the images (not deleted) that have a location
        there. ``errors.Forbidden`` unless ``identity`` is an admin."""
        return self._send('POST', '/v1/location-references', identity,
                          json={'urls': list(urls)})['references']

    @staticmethod
    def _locations_path(image_id):
        return '/v1/images/%s/locations' % _quote(image_id)

    def reserve(self, identity, image_id, total_bytes, max_storage, upload_id=None,
                request_id=None, outlast_outage=False):
        """Set the bytes the upload to ``image_id`` (status ``saving``) reserves.

        Returns ``{"usage": <the owner's storage usage after>, "reserved": bytes}``;
        ``errors.TooLarge`` if growing the reservation would take the usage over
        ``max_storage`` bytes; ``errors.Conflict`` unless the image is ``saving``
        (and, given ``upload_id``, still held by that upload: else reason
        ``taken_over``), or (reason ``lease_expired``) once the upload's lease has
        run out. ``outlast_outage`` as for ``transition_status``.
        """
        body = {'bytes': total_bytes, 'max_storage': max_storage}
        if upload_id is not None:
            body['upload_id'] = upload_id
        return self._send('PUT', '/v1/images/%s/reservation' % _quote(image_id),
                          identity, json=body, request_id=request_id,
                          outage_wait=self._timeout if outlast_outage else 0)

    def renew_upload_lease(self, identity, image_id, seconds, upload_id=None,
                           request_id=None):
        """Extend the lease of the upload to ``image_id`` to ``seconds`` from now;
        ``errors.Conflict`` unless the image is ``saving`` (and, given ``upload_id``,
        still held by that upload: else reason ``taken_over``), or (reason
        ``lease_expired``) if the lease has run out: the upload lost the image."""
        body = {'seconds': seconds}
        if upload_id is not None:
            body['upload_id'] = upload_id
        return self._send('PUT', '/v1/images/%s/upload-lease' % _quote(image_id),
                          identity, json=body, request_id=request_id)

    def usage(self, identity, project_id=None, request_id=None):
        """A project's usage (default: the caller's): ``image_size_total`` (bytes),
        ``image_count_total``, ``image_count_uploading``, ``image_stage_total``. An
        upload whose lease has run out counts neither its reservation nor as
        uploading."""
        params = {'project_id': project_id} if project_id is not None else None
        return self._send('GET', '/v1/usage', identity, params=params,
                          request_id=request_id)

    def delete_image(self, identity, image_id, request_id=None, delayed=False):
        """Mark the image deleted; returns the record as it was, with its locations,
        and ``delayed``: whether it became ``pending_delete`` (asked with
        ``delayed``, for an active image with data), its data to be left for the
        scrubber."""
        params = {'delayed': 'true'} if delayed else None
        return self._send('DELETE', '/v1/images/%s' % _quote(image_id), identity,
                          params=params, request_id=request_id)

    # -- delayed delete (admin only) --------------------------------------------------

    def claim_scrub(self, identity, owner, seconds, older_than, limit,
                    status='pending_delete'):
        """Lease to ``owner`` for ``seconds`` up to ``limit`` images in ``status``
        for ``older_than`` seconds or more that no other scrubber holds: those
        ``pending_delete``, or those ``deleted`` whose data was never confirmed
        removed (``confirm_data_removed``); their records, with their locations."""
        body = {'owner': owner, 'seconds': seconds, 'older_than': older_than,
                'limit': limit}
        if status != 'pending_delete':
            body['status'] = status
        return self._send('POST', '/v1/scrub-claims', identity, json=body)['images']

    def renew_scrub_lease(self, identity, image_id, owner, seconds):
        """Extend ``owner``'s lease on ``image_id``; ``errors.Conflict`` (reason
        ``scrub_lease_lost``) if another scrubber holds it."""
        self._send('PUT', '/v1/images/%s/scrub-lease' % _quote(image_id), identity,
                   json={'owner': owner, 'seconds': seconds})

    def finish_scrub(self, identity, image_id, owner):
        """``pending_delete -> deleted`` once ``owner`` deleted the data; the record.
        ``errors.Conflict`` (``scrub_lease_lost``) unless ``owner`` holds it."""
        return self._send('PUT', '/v1/images/%s/scrubbed' % _quote(image_id),
                          identity, json={'owner': owner})

    def confirm_data_removed(self, identity, image_id, owner=None):
        """The ``deleted`` image's data is gone from the stores: no sweep claims it
        again (confirming twice is no error). ``owner``: the sweep holding its
        lease. ``errors.Conflict`` (``not_deleted``) if it is not ``deleted``,
        (``scrub_lease_lost``) if ``owner`` does not hold it."""
        self._send('PUT', '/v1/images/%s/data-removed' % _quote(image_id), identity,
                   json={} if owner is None else {'owner': owner})

    # -- the data of locations taken off live images (admin only) --------------------

    def claim_removals(self, identity, owner, seconds, limit):
        """Lease to ``owner`` for ``seconds`` up to ``limit`` locations taken off
        live images whose data is still to be removed and that no remover holds:
        ``[{"image_id", "url", "metadata", "attempts"}]``."""
        return self._send('POST', '/v1/location-removal-claims', identity,
                          json={'owner': owner, 'seconds': seconds,
                                'limit': limit})['removals']

    def renew_removal_lease(self, identity, image_id, url, owner, seconds):
        """Extend ``owner``'s lease on the removal of ``url`` from ``image_id``
        (``seconds`` 0: give it up); ``errors.Conflict``
        (``removal_lease_lost``) if another holds it or it no longer waits."""
        return self._send('PUT', '/v1/images/%s/location-removal-lease'
                          % _quote(image_id), identity,
                          json={'url': url, 'owner': owner, 'seconds': seconds})

    def confirm_location_removed(self, identity, image_id, url, owner):
        """The data of ``url``, taken off ``image_id``, is gone from its store
        (confirming twice is no error); ``errors.Conflict``
        (``removal_lease_lost``) if ``owner`` does not hold the removal."""
        self._send('PUT', '/v1/images/%s/location-removed' % _quote(image_id),
                   identity, json={'url': url, 'owner': owner})

    def restore_image(self, identity, image_id):
        """``pending_delete -> active``; the record. ``errors.Conflict`` if it is not
        ``pending_delete`` (``not_pending_delete``) or a scrubber has claimed it
        (``scrub_started``)."""
        return self._send('PUT', '/v1/images/%s/restore' % _quote(image_id),
                          identity, json={})

    def add_tag(self, identity, image_id, tag, max_tags=None, request_id=None):
        """Add a tag (idempotent); ``errors.TooLarge`` over ``max_tags`` tags."""
        params = {'max_tags': str(max_tags)} if max_tags is not None else None
        self._send('PUT', '/v1/images/%s/tags/%s' % (_quote(image_id), _quote(tag)),
                   identity, params=params, request_id=request_id)

    def delete_tag(self, identity, image_id, tag, request_id=None):
        self._send('DELETE', '/v1/images/%s/tags/%s' % (_quote(image_id), _quote(tag)),
                   identity, request_id=request_id)

    # -- members --------------------------------------------------------------------

    def list_members(self, identity, image_id, request_id=None):
        """The image's members: all of them for an admin or the owner, else only the
        caller's own."""
        return self._send('GET', '/v1/images/%s/members' % _quote(image_id), identity,
                          request_id=request_id)['members']

    def get_member(self, identity, image_id, member_id, request_id=None):
        """One member; ``errors.NotFound`` if there is none the caller may see."""
        return self._send('GET', self._member_path(image_id, member_id), identity,
                          request_id=request_id)

    def add_member(self, identity, image_id, member_id, max_members=None,
                   request_id=None):
        """Share a ``shared`` image with project ``member_id``; the pending member.

        ``errors.Forbidden`` if the image is not ``shared``, ``errors.Conflict`` if
        already a member, ``errors.TooLarge`` over ``max_members``.
        """
        body = {'member': member_id}
        if max_members is not None:
            body['max_members'] = max_members
        return self._send('POST', '/v1/images/%s/members' % _quote(image_id),
                          identity, json=body, request_id=request_id)

    def update_member(self, identity, image_id, member_id, status, request_id=None):
        """Set a membership's status (``pending``, ``accepted``, ``rejected``)."""
        return self._send('PUT', self._member_path(image_id, member_id), identity,
                          json={'status': status}, request_id=request_id)

    def delete_member(self, identity, image_id, member_id, request_id=None):
        """Stop sharing the image with ``member_id``."""
        self._send('DELETE', self._member_path(image_id, member_id), identity,
                   request_id=request_id)

    @staticmethod
    def _member_path(image_id, member_id):
        return '/v1/images/%s/members/%s' % (_quote(image_id), _quote(member_id))

    # -- the image cache's prefetch queue (admins only) ----------------------------

    def list_cache_queue(self, identity, request_id=None):
        """``[{"image_id", "queued_at"}]``: the images queued for prefetching on
        every API node, oldest first."""
        return self._send('GET', '/v1/cache-queue', identity,
                          request_id=request_id)['queued_images']

    def queue_for_cache(self, identity, image_id, request_id=None):
        """Queue ``image_id`` for every node's prefetcher (again, if queued)."""
        return self._send('PUT', '/v1/cache-queue/%s' % _quote(image_id), identity,
                          request_id=request_id)

    def dequeue_from_cache(self, identity, image_id=None, request_id=None):
        """Remove ``image_id`` (None: every image) from the queue; how many were
        removed."""
        path = '/v1/cache-queue' if image_id is None else (
            '/v1/cache-queue/%s' % _quote(image_id))
        return self._send('DELETE', path, identity, request_id=request_id)['deleted']

    # -- the API nodes' cached copies (admins only) --------------------------------

    def list_cache_nodes(self, identity, image_id, request_id=None):
        """The names of the API nodes that hold a cached copy of ``image_id``,
        sorted (``[]`` for an image nobody holds, or that does not exist)."""
        return self._send('GET', '/v1/cache-copies/%s' % _quote(image_id), identity,
                          request_id=request_id)['nodes']

    def report_cache_copies(self, identity, node, held=(), dropped=(),
                            request_id=None):
        """``node`` committed cached copies of the images ``held`` and removed
        those ``dropped``; ``{"added", "removed"}`` (rows)."""
        # Sent twice, a change leaves the rows as sent once.
        return self._send('POST', '/v1/cache-copies', identity,
                          json={'node': node, 'held': sorted(held),
                                'dropped': sorted(dropped)},
                          request_id=request_id, idempotent=True)

    def replace_cache_copies(self, identity, node, image_ids, request_id=None):
        """``node`` holds cached copies of exactly ``image_ids``;
        ``{"added", "removed"}`` (rows)."""
        return self._send('PUT', '/v1/cache-copies', identity,
                          json={'node': node, 'image_ids': sorted(image_ids)},
                          request_id=request_id)

    # -- health -------------------------------------------------------------------

    def healthy(self):
        """Whether the registry accepts this client's credentials and can write its
        database (``health_problem`` is None)."""
        return self.health_problem() is None

    def health_problem(self, timeout=5):
        """None when a signed call to the registry's ``GET /v1/health`` succeeds
        within ``timeout`` seconds (the registry checked our credentials and wrote
        to its database); else why not, in capitals, for a health check's body."""
        try:
            self._send('GET', '/v1/health', _HEALTH_CALLER,
                       timeout=min(self._timeout, timeout))
        except errors.Unauthorized:
            # Every call would get 401 and the API would answer 503 to all of them.
            return ('REGISTRY REFUSES OUR CREDENTIALS: registry_auth_secret differs '
                    'between the API and the registry')
        except errors.Unavailable as exc:
            if exc.reason == 'database_unavailable':
                return 'REGISTRY DATABASE UNAVAILABLE: %s' % exc.message
            return 'REGISTRY UNAVAILABLE'
        except errors.RegistryError as exc:
            return 'REGISTRY UNHEALTHY: %s' % exc.message
        return None

    # -- transport ----------------------------------------------------------------

    _IDEMPOTENT = frozenset(['GET', 'PUT', 'DELETE'])

    def _send(self, method, path, identity, params=None, json=None, request_id=None,
              timeout=None, idempotent=None, outage_wait=0):
        """``idempotent``: whether a call that found its pooled connection dropped
        may be sent again (default: by its method). ``outage_wait``: seconds to
        keep trying while the registry refuses connections (nothing listens: the
        call was not delivered) or answers that its database is unavailable (only
        for calls whose repeat is safe)."""
        data = None if json is None else orjson.dumps(json)
        # The caller's request id, so the registry's log lines carry it too.
        request_id = request_id or process.current_request_id()
        if params:
            # Commas and colons as sent (name=in:a,b; created_at=gt:...): encoded,
            # they tripled the length of a long filter past the request-line limit.
            path += '?' + urllib.parse.urlencode(params, doseq=True, safe=',:')
        if idempotent is None:
            idempotent = method in self._IDEMPOTENT
        attempts = 2 if idempotent else 1
        outage_until = time.monotonic() + outage_wait
        attempt = 0
        while True:
            # Made for each attempt: a signature expires, and so does a token.
            headers = self._headers(method, path, identity, data, request_id)
            started = time.monotonic()
            call_timeout = timeout or self._timeout
            if outage_wait:
                # The whole call, retries included, within outage_wait: an attempt
                # late in it took a whole timeout more.
                call_timeout = min(call_timeout, max(outage_until - started, 0.1))
            try:
                status, content = self._transport.request(method, path, headers, data,
                                                          call_timeout,
                                                          fresh=attempt > 0)
                metrics.observe_registry_call(method, status,
                                              time.monotonic() - started)
                if not (status == 503 and time.monotonic() < outage_until
                        and _database_unavailable(content)):
                    break
                time.sleep(_OUTAGE_PAUSE)
            except http_transport.NoAnswer:
                metrics.observe_registry_call(method, 'no_answer',
                                              time.monotonic() - started)
                raise errors.Unavailable('registry at %s did not answer within %ss'
                                         % (self._address, round(call_timeout, 1)),
                                         reason='no_answer') from None
            except http_transport.Unreachable as exc:
                metrics.observe_registry_call(method, 'unreachable',
                                              time.monotonic() - started)
                # A keep-alive connection the server closed while it sat in the pool
                # fails on first use; one attempt on a new connection (not another
                # pooled one, which may be as stale) tells that apart from a
                # registry that is really down.
                attempt += 1
                if (exc.reason == 'ConnectionRefusedError'
                        and time.monotonic() < outage_until):
                    time.sleep(_OUTAGE_PAUSE)
                elif attempt >= attempts:
                    raise errors.Unavailable(
                        'registry unreachable at %s: %s'
                        % (self._address, exc.reason),
                        reason='unreachable') from None
        if status == 204:
            return None
        try:
            body = orjson.loads(content) if content else None
        except orjson.JSONDecodeError:
            body = None
        if status >= 400:
            if body is None and status >= 500:
                raise errors.Unavailable('registry answered %d' % status,
                                         reason='unexpected_answer')
            raise errors.from_response(status, body)
        return body

    def _headers(self, method, path, identity, data, request_id):
        if self._token_provider is not None:
            headers = {'X-Auth-Token': self._token_provider()}
        else:
            # Bound to this very request: a captured header set is good for no other.
            headers = identity.sign(self._secret,
                                    SignedRequest.from_target(method, path, data))
        if request_id:
            headers[request_ids.REQUEST_ID_HEADER] = request_id
        global_request_id = process.current_global_request_id()
        if global_request_id:
            headers[request_ids.GLOBAL_REQUEST_ID_HEADER] = global_request_id
        if data is not None:
            headers['Content-Type'] = 'application/json'
        return headers


#: Seconds between two attempts of a call that outlasts an outage.
_OUTAGE_PAUSE = 0.25


def _database_unavailable(content):
    try:
        return orjson.loads(content)['error']['reason'] == 'database_unavailable'
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return False


# Who the health check calls as: nobody in particular (the call reads nothing).
_HEALTH_CALLER = Identity(user_id=None, project_id=None)


def _quote(segment):
    return http_transport.quote_segment(segment)


def _location_write(body, transition, values, max_locations, max_storage):
    """``body`` with the members every location write may carry: a status
    ``transition`` with its data ``values``, and the limits."""
    if transition is not None:
        body['transition'] = {'from': transition[0], 'to': transition[1]}
    if values:
        body['values'] = values
    if max_locations is not None:
        body['max_locations'] = max_locations
    if max_storage is not None:
        body['max_storage'] = max_storage
    return body


def _update_body(values=None, properties=None, tags=None, quota=None,
                 expected_status=None, expected_properties=None):
    body = {}
    if expected_status is not None:
        body['expected_status'] = expected_status
    if expected_properties:
        body['expected_properties'] = expected_properties
    if values:
        body['values'] = values
    if properties:
        body['properties'] = properties
    if tags is not None:
        body['tags'] = list(tags)
    if quota:
        body['quota'] = quota
    return body
