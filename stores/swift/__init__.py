"""The Swift driver: image data as objects in OpenStack Swift.

Single tenant (the default): every image lives in one account that the service reaches
with credentials from ``swift_store_config_file``. Multi-tenant
(``swift_store_multi_tenant``): each image lives in its owner's own account, reached
with the caller's token at the storage URL the caller's service catalog gives.

Names and locations are upstream glance_store's, so either can read what the other wrote:
the object is ``<container>/<image id>`` and its location
``swift+config://<reference>/<container>/<image id>``, where the reference names a section
of ``swift_store_config_file`` holding the credentials (they never enter the database).
With ``swift_store_multiple_containers_seed`` N > 0 the container is
``<swift_store_container>_<first N characters of the image id>``.

An upload whose size is known and below ``swift_store_large_object_size`` is one PUT.
Anything else is written as segments of ``swift_store_large_object_chunk_size`` bytes
named ``<image id>-<upload id>-00001``, ``-00002``, ... and published by a Static Large
Object manifest at ``<image id>``. Upstream names segments ``<image id>-00001`` and
publishes a DLO; the upload id (random, per writer) keeps two writers for one image from
overwriting each other's segments, and SLO lets Swift check every segment's etag and size
when the manifest is written. ``delete`` removes upstream's DLO segments as well as ours.

Integrity and CPU: the API hashes every byte it receives for the image's multihash
(sha512) and, for segmented uploads, its md5 ``checksum``. A single object's md5 is
not computed here: Swift's object server computes it of the bytes it stores and
answers it as the etag, which becomes the image's ``checksum`` (so the checksum is
that of what Swift holds; the multihash, of what the client sent, still tells a
client that verifies its download apart from a corrupted copy). That md5 pass was a
third of the API's CPU for an upload and, on two cores shared with Swift, the gap
between the API and python-swiftclient alone (bench/swift_ratio.py). Segment etags
are not checked one by one either (another md5 pass), for a check that TCP's
checksums and SLO's size check of every segment nearly cover; upstream checks
neither.

A cancelled upload removes its segments at once; when Swift cannot be reached then (the
usual reason the upload failed), a thread of the store retries until it can, so a Swift
outage in the middle of an upload leaves nothing behind once Swift is back.

Bytes stream both ways: ``Writer.write`` hands chunks through a small bounded queue to a
thread that feeds the PUT request in flight, so no more than a few chunks are ever held;
a reader iterates over the GET response.

Size options are in MB as upstream, but accept fractions (``0.25`` is 256 KiB), which
tests use to make many small segments.

Multi-tenant mode follows upstream too: image ``<id>`` is the object ``<id>`` in the
container ``<swift_store_container>_<id>`` of the uploader's account, located at
``swift+http(s)://<storage URL without scheme>/<container>/<id>``; the container's
read ACL (``set_acls``) names the projects that may read it (``*:*`` for public and
community images) and ``swift_store_admin_tenants`` get read and write access (upstream
gives them write only, so an admin project could not read what it may manage).
Deleting an image removes its container. The store cannot be probed at start-up (there
is no caller then); ``swift+config`` locations written before the switch stay readable
when ``swift_store_config_file`` still names their reference. Not implemented:
``swift_store_use_trusts`` (an upload that outlives the caller's token fails at its
next segment and leaves nothing behind).
"""

import contextlib
import json
import logging
import queue
import re
import threading
import time
import urllib.parse
import uuid

from oslo_config import cfg
import swiftclient

from stores import base, errors
from stores.swift.accounts import (SCHEME, References, TenantAccount,
                                   storage_url_from_catalog)
from stores.swift.failures import status_of, store_error
from stores.swift.reader import SwiftReader

LOG = logging.getLogger(__name__)

ONE_MB = 1024 * 1024
# Multi-tenant locations: the account's storage URL with the scheme swift+http(s).
TENANT_SCHEMES = ('swift+https', 'swift+http', 'swift')
# Chunks a writer may queue ahead of the PUT that consumes them.
_QUEUE_DEPTH = 8
# Swift's default; the cluster's own value is read from /info at start-up.
_DEFAULT_MAX_SEGMENTS = 1000
# Segments of a cancelled upload that Swift was not there to delete: how long to keep
# trying, and the longest pause between tries, in seconds.
_CLEANUP_PERIOD = 3600
_CLEANUP_MAX_PAUSE = 15

_opts = [
    cfg.StrOpt('swift_store_container', default='glance',
               help='Container that holds the images; with '
                    'swift_store_multiple_containers_seed, the prefix of the '
                    'container names.'),
    cfg.IntOpt('swift_store_multiple_containers_seed', default=0, min=0, max=32,
               help='0: one container for every image. N (1-32): images go to '
                    'containers named <container>_<first N characters of the image '
                    'id>, 16^N of them.'),
    cfg.BoolOpt('swift_store_create_container_on_put', default=False,
                help='Create a missing container on upload instead of failing.'),
    cfg.FloatOpt('swift_store_large_object_size', default=5120,
                 help='Size in MB from which an upload of known size is written as '
                      'segments with a manifest (uploads of unknown size always '
                      'are). Fractions are allowed.'),
    cfg.FloatOpt('swift_store_large_object_chunk_size', default=200,
                 help='Size in MB of each segment of a large object. Fractions are '
                      'allowed.'),
    cfg.StrOpt('swift_store_config_file',
               help='File with one section per Swift account reference, holding '
                    'its credentials: auth_address, auth_version (1 for tempauth, '
                    '3 for Keystone; default 3), user and key (for Keystone '
                    '"project:user"), user_domain_id/_name, project_domain_id/_name, '
                    'or application_credential_id and '
                    'application_credential_secret.'),
    cfg.StrOpt('default_swift_reference', default='ref1',
               help='The section of swift_store_config_file that uploads use.'),
    cfg.BoolOpt('swift_store_auth_insecure', default=False,
                help='Do not verify the TLS certificates of Swift and Keystone.'),
    cfg.StrOpt('swift_store_cacert',
               help='CA bundle for verifying the TLS certificates of Swift and '
                    'Keystone.'),
    cfg.StrOpt('swift_store_region',
               help='Keystone auth: the region whose object-store endpoint to use.'),
    cfg.StrOpt('swift_store_endpoint',
               help='Storage URL to use instead of the one the auth service '
                    'returns.'),
    cfg.StrOpt('swift_store_endpoint_type', default='publicURL',
               help='Keystone auth: the endpoint interface (publicURL, internalURL '
                    'or adminURL).'),
    cfg.StrOpt('swift_store_service_type', default='object-store',
               help='Keystone auth: the service type of Swift in the catalog.'),
    cfg.IntOpt('swift_store_retry_get_count', default=0, min=0,
               help='How many times a download that breaks off is resumed (with a '
                    'Range request from the last byte received) before it fails.'),
    cfg.BoolOpt('swift_store_multi_tenant', default=False,
                help='Store each image in its owner\'s own Swift account (a '
                     'container per image), reached with the caller\'s token and '
                     'service catalog; needs auth_strategy = keystone and a Swift '
                     'that takes Keystone tokens. swift_store_config_file is then '
                     'only needed to read swift+config locations written before.'),
    cfg.ListOpt('swift_store_admin_tenants', default=[],
                help='Multi-tenant: project ids that get read and write access to '
                     'every image container the service creates.'),
]


class SwiftStore(base.Store):
    """Image data as objects in a Swift account named by a config-file reference."""

    driver = 'swift'
    schemes = (SCHEME,) + TENANT_SCHEMES

    def __init__(self, conf, group, store_id):
        super().__init__(conf, group, store_id)
        self._references = References({}, self.options)
        self._known_containers = set()
        self.max_segments = _DEFAULT_MAX_SEGMENTS
        self._capabilities_read = False

    @classmethod
    def option_list(cls):
        return _opts

    @property
    def reference(self):
        return self.options.default_swift_reference

    @property
    def multi_tenant(self):
        return self.options.swift_store_multi_tenant

    @property
    def acts_as_caller(self):
        return self.multi_tenant

    @property
    def large_object_size(self):
        return int(self.options.swift_store_large_object_size * ONE_MB)

    @property
    def large_object_chunk_size(self):
        return int(self.options.swift_store_large_object_chunk_size * ONE_MB)

    def configure(self):
        options = self.options
        if self.large_object_size <= 0 or self.large_object_chunk_size <= 0:
            raise errors.BadConfiguration(
                'swift_store_large_object_size and swift_store_large_object_chunk_size '
                'must be positive')
        if self.multi_tenant:
            # No caller yet, so no account to look at: capabilities are read from the
            # first upload's Swift. References only serve older swift+config data.
            if options.swift_store_config_file:
                self._references = References.from_file(
                    options.swift_store_config_file, options)
            return
        self._references = References.from_file(options.swift_store_config_file,
                                                 options)
        if self.reference not in self._references:
            raise errors.BadConfiguration(
                'default_swift_reference %r is not a section of %s'
                % (self.reference, options.swift_store_config_file))
        with self._reference_account(self.reference).connection() as conn:
            self._read_capabilities(conn)
            if not options.swift_store_multiple_containers_seed:
                self._check_container(conn, options.swift_store_container)

    def _read_capabilities(self, conn):
        """Check that Swift has SLO and learn its segment limit (/info, no auth)."""
        try:
            slo = conn.get_capabilities().get('slo')
        except Exception as exc:
            raise store_error(exc, 'reading Swift capabilities')
        if slo is None:
            raise errors.BadConfiguration('Swift at %s has no static large object '
                                          'support (slo middleware)' % conn.url)
        self.max_segments = int(slo.get('max_manifest_segments',
                                        _DEFAULT_MAX_SEGMENTS))
        self._capabilities_read = True

    def _check_container(self, conn, container):
        try:
            conn.head_container(container)
        except swiftclient.ClientException as exc:
            if exc.http_status != 404:
                raise store_error(exc, 'checking container %s' % container)
            if not self.options.swift_store_create_container_on_put:
                raise errors.BadConfiguration(
                    'Swift container %s does not exist; create it or set '
                    'swift_store_create_container_on_put' % container)
        except Exception as exc:
            raise store_error(exc, 'checking container %s' % container)

    # -- locations -------------------------------------------------------------------

    def container_for(self, image_id):
        """The container that holds ``image_id``'s object (upstream's rule)."""
        container = self.options.swift_store_container
        if self.multi_tenant:
            return '%s_%s' % (container, image_id)
        seed = self.options.swift_store_multiple_containers_seed
        if not seed:
            return container
        image_id = image_id.lower()
        # Upstream counts the dashes in: seed 9 of "3a1b2c3d-..." is "3a1b2c3d-e".
        return '%s_%s' % (container, image_id[:seed + image_id[:seed].count('-')])

    def _parse(self, url):
        """``(account key, container, object)`` of a location; BadLocation if not
        ours. The key is ``('reference', name)`` or, multi-tenant, ``('storage',
        storage URL)``; ``_account`` turns it into an account."""
        try:
            parsed = urllib.parse.urlsplit(url)
        except ValueError as exc:   # e.g. an unclosed IPv6 bracket
            raise errors.BadLocation('not a Swift location: %s (%s)' % (url, exc))
        parts = parsed.path.split('/')
        if (parsed.scheme == SCHEME and len(parts) == 3 and not parts[0]
                and parts[1] and parts[2] and not parsed.query and not parsed.fragment):
            if parsed.netloc not in self._references:
                raise errors.BadLocation(
                    'location %s names Swift account reference %r, which '
                    'swift_store_config_file does not define' % (url, parsed.netloc))
            return ('reference', parsed.netloc), parts[1], parts[2]
        if (self.multi_tenant and parsed.scheme in TENANT_SCHEMES and parsed.netloc
                and len(parts) >= 3 and all(parts[-2:]) and not parsed.query
                and not parsed.fragment):
            http = 'http' if parsed.scheme == 'swift+http' else 'https'
            storage_url = '%s://%s%s' % (http, parsed.netloc, '/'.join(parts[:-2]))
            return ('storage', storage_url), parts[-2], parts[-1]
        raise errors.BadLocation('not a Swift store location: %s' % url)

    def _account(self, key, credentials):
        kind, where = key
        if kind == 'reference':
            return self._reference_account(where)
        return self._caller_account(where, credentials)

    def _reference_account(self, reference):
        return self._references.account(reference)

    def _caller_account(self, storage_url, credentials):
        if credentials is None or not credentials.auth_token:
            raise errors.StoreUnavailable(
                'multi-tenant Swift acts as the caller, and this request carries no '
                'token (is auth_strategy keystone?)')
        return TenantAccount(storage_url, credentials.auth_token, self.options)

    def _upload_account(self, credentials):
        """Where new images go: the default reference, or the caller's account."""
        if not self.multi_tenant:
            return self._reference_account(self.reference)
        storage_url = self.options.swift_store_endpoint
        if not storage_url:
            storage_url = storage_url_from_catalog(
                credentials.service_catalog if credentials else (),
                self.options.swift_store_service_type,
                self.options.swift_store_endpoint_type,
                self.options.swift_store_region)
        return self._caller_account(storage_url, credentials)

    def owns(self, url):
        try:
            self._parse(url)
        except errors.BadLocation:
            return False
        return True

    def canonical(self, url):
        key, container, name = self._parse(url)
        if key[0] == 'reference':   # e.g. an upper-case scheme names the same object
            return '%s://%s/%s/%s' % (SCHEME, key[1], container, name)
        return url

    # -- the Store interface -----------------------------------------------------------

    def open_writer(self, image_id, hashing_algorithm='sha512', size=None,
                    credentials=None):
        if not image_id or '/' in image_id:
            raise errors.BadLocation('invalid object name %r' % image_id)
        container = self.container_for(image_id)
        account = self._upload_account(credentials)
        conn = account.connect()
        try:
            if not self._capabilities_read:
                self._read_capabilities(conn)
            self._prepare_container(conn, container)
            try:
                conn.head_object(container, image_id)
            except swiftclient.ClientException as exc:
                if exc.http_status != 404:
                    raise
            else:
                raise errors.StoreError('image data for %s already exists' % image_id)
        except errors.StoreError:
            account.release(conn)
            raise
        except Exception as exc:
            account.release(conn)
            raise store_error(exc, 'preparing to write %s' % image_id, writing=True)
        return _SwiftWriter(self, account, conn, container, image_id, size,
                            hashing_algorithm)

    def _prepare_container(self, conn, container):
        if self.multi_tenant:
            # A container per image, which cannot exist yet: always created.
            conn.put_container(container)
            return
        if (not self.options.swift_store_create_container_on_put
                or container in self._known_containers):
            return
        conn.put_container(container)  # idempotent: 201 or 202
        self._known_containers.add(container)

    def open_reader(self, url, offset=0, length=None, credentials=None):
        key, container, obj = self._parse(url)
        return SwiftReader(self._account(key, credentials), container, obj, offset,
                           length, retries=self.options.swift_store_retry_get_count)

    def stat(self, url, credentials=None):
        key, container, obj = self._parse(url)
        with self._account(key, credentials).connection() as conn:
            try:
                headers = conn.head_object(container, obj)
            except Exception as exc:
                raise store_error(exc, 'stat %s' % url)
        return int(headers['content-length'])

    def discard_abandoned(self, image_id, credentials=None):
        """Segments of a dead upload of ``image_id`` (``<image id>-<upload id>-N``)."""
        container = self.container_for(image_id)
        with self._upload_account(credentials).connection() as conn:
            try:
                self._delete_prefix(conn, container, image_id + '-')
            except swiftclient.ClientException as exc:
                if exc.http_status != 404:   # no container: nothing was written
                    raise store_error(exc, 'removing segments of %s' % image_id)
            except Exception as exc:
                raise store_error(exc, 'removing segments of %s' % image_id)

    def set_acls(self, url, public, read_projects=(), credentials=None):
        """Multi-tenant: the image container's read and write ACLs (Keystone project
        ids, ``<project>:*``); a configured account's container is shared by every
        image, so its ACLs are the operator's business and stay untouched."""
        key, container, _ = self._parse(url)
        if key[0] != 'storage':
            return
        admins = list(self.options.swift_store_admin_tenants)
        readers = ['*'] if public else list(dict.fromkeys([*read_projects, *admins]))
        headers = {'X-Container-Read': ','.join('%s:*' % p for p in readers),
                   'X-Container-Write': ','.join('%s:*' % p for p in admins)}
        with self._account(key, credentials).connection() as conn:
            try:
                conn.post_container(container, headers)
            except Exception as exc:
                raise store_error(exc, 'setting the ACLs of %s' % container)

    def delete(self, url, credentials=None):
        key, container, obj = self._parse(url)
        with self._account(key, credentials).connection() as conn:
            try:
                headers = conn.head_object(container, obj)
                if headers.get('x-static-large-object', '').lower() == 'true':
                    conn.delete_object(container, obj,
                                       query_string='multipart-manifest=delete')
                else:
                    dlo = headers.get('x-object-manifest')
                    if dlo:
                        # Upstream's large objects: segments first, then the manifest.
                        dlo_container, _, prefix = dlo.partition('/')
                        self._delete_prefix(conn, urllib.parse.unquote(dlo_container),
                                            urllib.parse.unquote(prefix))
                    conn.delete_object(container, obj)
            except Exception as exc:
                raise store_error(exc, 'delete %s' % url)
            # Segments of uploads that died without cleaning up (a killed process).
            self._delete_prefix(conn, container, obj + '-', best_effort=True)
            if key[0] == 'storage':
                _delete_container(conn, container)

    def _remove_segments(self, conn, container, names, prefix):
        """Delete the segments ``names`` (gone already is fine), then whatever else
        starts with ``prefix``: a segment whose PUT completed on the server after its
        writer gave up on it, which no listing of ours names."""
        for name in names:
            try:
                conn.delete_object(container, name)
            except swiftclient.ClientException as exc:
                if exc.http_status != 404:
                    raise
        self._delete_prefix(conn, container, prefix)

    def _remove_segments_later(self, account, container, names, prefix):
        """Retry ``_remove_segments`` in a thread until Swift answers.

        Tries again after 0.5 s, 1 s, 2 s, ... (at most ``_CLEANUP_MAX_PAUSE`` apart)
        for ``_CLEANUP_PERIOD``; the thread dies with the process. What it could not
        remove, deleting the image does (``delete`` removes ``<image id>-*``).
        """
        thread = threading.Thread(target=self._retry_removal,
                                  args=(account, container, names, prefix),
                                  daemon=True,
                                  name='swift-cleanup-%s' % prefix.rstrip('-'))
        thread.start()
        return thread

    def _retry_removal(self, account, container, names, prefix):
        pause, deadline = 0.5, time.monotonic() + _CLEANUP_PERIOD
        while True:
            time.sleep(pause)
            try:
                with account.connection() as conn:
                    self._remove_segments(conn, container, names, prefix)
                    if account.container_per_image:
                        _delete_container(conn, container)
            except Exception as exc:
                if time.monotonic() + pause > deadline:
                    LOG.error('gave up removing %s/%s* (segments of a cancelled '
                              'upload): %s; deleting the image removes them',
                              container, prefix, exc)
                    return
                pause = min(pause * 2, _CLEANUP_MAX_PAUSE)
                continue
            LOG.info('removed %s/%s* (segments of a cancelled upload)', container,
                     prefix)
            return

    def _delete_prefix(self, conn, container, prefix, best_effort=False):
        try:
            _, listing = conn.get_container(container, prefix=prefix, full_listing=True)
            for entry in listing:
                try:
                    conn.delete_object(container, entry['name'])
                except swiftclient.ClientException as exc:
                    if exc.http_status != 404:
                        raise
        except Exception:
            if not best_effort:
                raise
            LOG.warning('could not remove objects %s/%s*', container, prefix,
                        exc_info=True)

    def describe(self):
        return {'container': self.options.swift_store_container,
                'multi_tenant': self.multi_tenant,
                'large_object_size': self.large_object_size,
                'large_object_chunk_size': self.large_object_chunk_size}


class _SwiftWriter(base.Writer):
    """One upload: a single PUT, or segment PUTs one after another and a manifest."""

    def __init__(self, store, account, conn, container, image_id, size,
                 hashing_algorithm):
        segmented = size is None or size >= store.large_object_size
        # A single object's md5 is its etag, computed by Swift (see the module doc).
        super().__init__(hashing_algorithm, md5=segmented)
        self._store = store
        self._account = account
        self._conn = conn
        self._container = container
        self._image_id = image_id
        self._expected = size
        self._segment_size = store.large_object_chunk_size
        self._segmented = segmented
        self._upload_id = uuid.uuid4().hex[:16]
        self._put = None            # the PUT in flight
        self._segment_limit = None  # bytes that go into the segment being written
        self._segments = []         # finished segments: manifest entries
        self._object_written = False
        self._held_back = b''
        self._released = False

    def _write(self, chunk):
        if not chunk:   # nothing to send, and no PUT to start before commit()
            return
        if self._expected is not None and self.size > self._expected:
            raise errors.StoreError('received more than the %d bytes declared'
                                    % self._expected)
        if not self._segmented:
            if self._put is None:
                self._put = self._start_put(self._image_id, self._expected,
                                            {'If-None-Match': '*'})
            if self.size == self._expected:
                # Swift stores the object the moment it has every declared byte; hold
                # the last one back so that only commit() can publish it.
                chunk, self._held_back = chunk[:-1], chunk[-1:]
            self._put.feed(chunk)
            return
        while chunk:
            if self._put is None:
                self._start_segment()
            room = self._segment_limit - self._put.fed
            if len(chunk) > room:   # a segment boundary inside the chunk
                chunk, rest = chunk[:room], chunk[room:]
            else:
                rest = b''
            self._put.feed(chunk)
            if self._put.fed == self._segment_limit:
                self._finish_segment()
            chunk = rest

    def _start_segment(self):
        number = len(self._segments) + 1
        if number > self._store.max_segments:
            raise errors.StoreFull(
                'image is larger than %d segments of %d bytes (raise '
                'swift_store_large_object_chunk_size)'
                % (self._store.max_segments, self._segment_size))
        self._segment_limit = self._segment_size
        content_length = None   # unknown total: the last segment's size is unknown too
        if self._expected is not None:
            written = sum(segment['size_bytes'] for segment in self._segments)
            content_length = self._segment_limit = min(self._segment_size,
                                                       self._expected - written)
        name = '%s-%s-%05d' % (self._image_id, self._upload_id, number)
        self._put = self._start_put(name, content_length)

    def _start_put(self, name, content_length, headers=None):
        return _StreamingPut(self._conn, self._container, name, content_length, headers)

    def _finish_segment(self):
        put, self._put = self._put, None
        etag = self._finish(put)
        self._segments.append({'path': '/%s/%s' % (self._container, put.name),
                               'etag': etag, 'size_bytes': put.fed})

    def _finish(self, put):
        """Wait for ``put``'s response; its etag, or the mapped error."""
        put.finish()
        if put.error is not None:
            if status_of(put.error) == 412:
                raise errors.StoreError('image data for %s already exists'
                                        % self._image_id)
            raise store_error(put.error, 'writing %s' % put.name, writing=True)
        if put.name != self._image_id:
            # A segment: its etag goes into the manifest, which pins its content; SLO
            # checks its size when the manifest is written (see the module doc).
            return put.etag
        # The single object: Swift's md5 of what it stored is the image's checksum.
        if not _MD5_HEX.fullmatch(put.etag or ''):
            self._object_written = True
            raise errors.StoreUnavailable('Swift stored %s with etag %r, which is not '
                                          'an md5' % (put.name, put.etag))
        self.stored_md5 = put.etag.lower()
        return put.etag

    def _commit(self):
        try:
            url = self._publish()
        except BaseException:
            self._cancel()
            raise
        self._release()
        return url, {}

    def _publish(self):
        if self._expected is not None and self.size != self._expected:
            raise errors.StoreError('received %d bytes, %d were declared'
                                    % (self.size, self._expected))
        if self._segmented:
            if self._put is not None:
                self._finish_segment()
            self._put_manifest()
        else:
            # Swift checks If-None-Match when a PUT starts, so a writer that started
            # while no object existed would overwrite one committed since: look again.
            self._check_absent()
            if self._put is None:   # an empty image: no write() was ever called
                self._put = self._start_put(self._image_id, 0, {'If-None-Match': '*'})
            self._put.feed(self._held_back)
            put, self._put = self._put, None
            self._finish(put)
        return self._account.location(self._container, self._image_id)

    def _check_absent(self):
        try:
            self._conn.head_object(self._container, self._image_id)
        except swiftclient.ClientException as exc:
            if exc.http_status == 404:
                return
            raise store_error(exc, 'checking for %s' % self._image_id)
        except Exception as exc:
            raise store_error(exc, 'checking for %s' % self._image_id)
        raise errors.StoreError('image data for %s already exists' % self._image_id)

    def _put_manifest(self):
        try:
            if self._segments:
                self._conn.put_object(self._container, self._image_id,
                                      json.dumps(self._segments),
                                      query_string='multipart-manifest=put',
                                      headers={'If-None-Match': '*'})
            else:   # no bytes at all: an SLO needs a segment, so a plain empty object
                self._conn.put_object(self._container, self._image_id, b'',
                                      headers={'If-None-Match': '*'})
        except Exception as exc:
            if status_of(exc) == 412:
                # Another writer for this image committed first; its object stays.
                raise errors.StoreError('image data for %s already exists'
                                        % self._image_id)
            raise store_error(exc, 'writing the manifest of %s' % self._image_id,
                               writing=True)

    def _cancel(self):
        if self._released:
            return
        put, self._put = self._put, None
        if put is not None:
            put.abort()
            if put.thread.is_alive():
                # A PUT stuck in a send: leave its connection to it and clean up
                # over a fresh one.
                self._conn = self._account.connect()
        names = [segment['path'].rsplit('/', 1)[1] for segment in self._segments]
        prefix = '%s-%s-' % (self._image_id, self._upload_id)
        try:
            self._store._remove_segments(self._conn, self._container, names, prefix)
            if self._object_written:   # ours, but it failed its checks
                self._conn.delete_object(self._container, self._image_id)
            if self._account.container_per_image:   # the image's own container
                _delete_container(self._conn, self._container)
        except Exception as exc:
            if self._segmented and (names or put is not None):
                # Usually Swift is unreachable, which is why the upload failed.
                # The segments carry this writer's upload id, so nothing else can
                # own them: remove them whenever Swift answers again.
                LOG.warning('could not remove the segments of a cancelled upload of '
                            '%s (%s); retrying in the background', self._image_id,
                            exc)
                self._store._remove_segments_later(self._account, self._container,
                                                   names, prefix)
            else:
                LOG.warning('could not remove the object of a cancelled upload of %s',
                            self._image_id, exc_info=True)
        self._segments = []
        self._release()

    def _release(self):
        if not self._released:
            self._released = True
            self._account.release(self._conn)


class _Aborted(Exception):
    """Raised inside a PUT's body to make the request fail (the writer cancelled)."""


_END = object()
_ABORT = object()


class _StreamingPut:
    """A PUT whose body is fed chunk by chunk from another thread.

    swiftclient reads the body through ``read`` (a file-like object) in the PUT's own
    thread; ``feed`` blocks while the queue is full, so memory stays bounded by
    ``_QUEUE_DEPTH`` chunks. ``content_length`` None means chunked transfer encoding.
    """

    def __init__(self, conn, container, name, content_length, headers=None):
        self.name = name
        self.content_length = content_length
        self.fed = 0
        self.etag = None
        self.error = None
        self._queue = queue.Queue(_QUEUE_DEPTH)
        self._ended = False
        self.thread = threading.Thread(
            target=self._run, args=(conn, container, headers), daemon=True,
            name='swift-put-%s' % name)
        self.thread.start()

    def _run(self, conn, container, headers):
        try:
            self.etag = conn.put_object(container, self.name, self,
                                        content_length=self.content_length,
                                        headers=headers,
                                        chunk_size=base.CHUNK_SIZE)
        except BaseException as exc:
            self.error = exc

    # -- the API thread's side --

    def feed(self, chunk):
        """Queue ``chunk`` for the request body; raises if the PUT has already ended.

        Not copied: writers are handed chunks that nobody changes afterwards.
        """
        if not chunk:
            return
        self._enqueue(chunk)
        self.fed += len(chunk)

    def finish(self):
        """End the body and wait for the response (``etag`` or ``error``)."""
        self._enqueue(_END, raise_on_failure=False)
        self.thread.join()

    def abort(self, timeout=10):
        """Make the request fail without completing, and wait for it to end."""
        with contextlib.suppress(queue.Empty):
            while True:   # make room for the abort signal; the PUT may be stalled
                self._queue.get_nowait()
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_ABORT)
        self.thread.join(timeout)

    def _enqueue(self, item, raise_on_failure=True):
        while True:
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                if self.thread.is_alive():
                    continue
            # The request ended (Swift answered early or the connection broke)
            # before taking the whole body.
            if raise_on_failure:
                if self.error is not None:
                    raise store_error(self.error, 'writing %s' % self.name,
                                       writing=True)
                raise errors.StoreUnavailable('Swift ended the PUT of %s early'
                                              % self.name)
            return

    # -- the PUT thread's side: what swiftclient reads the body from --

    def read(self, size=-1):
        """The next queued chunk, whole, whatever ``size`` asks for.

        The two readers of this body, swiftclient's LengthWrapper (Content-Length) or
        ReadableToIterable (chunked) and then urllib3, send whatever ``read`` returns.
        Handing the chunks over as they came saves a copy and several calls per chunk
        (urllib3 asks for 16 KiB at a time).
        """
        if self._ended:
            return b''
        item = self._queue.get()
        if item is _END or item is _ABORT:
            self._ended = True
            if item is _ABORT:
                raise _Aborted('upload of %s cancelled' % self.name)
            return b''
        return item


def _delete_container(conn, container):
    """Remove an image's own (multi-tenant) container; gone or not empty is fine."""
    try:
        conn.delete_container(container)
    except swiftclient.ClientException as exc:
        if exc.http_status not in (404, 409):
            raise


_MD5_HEX = re.compile('[0-9a-fA-F]{32}')
