"""The Swift driver: image data as objects in OpenStack Swift, in one configured account
or in each image owner's own (multi-tenant). docs/stores.rst specifies what it does:
upstream's names and locations, segments and SLO manifests, cleanup, tenancy."""

import logging
import os
import urllib.parse

from oslo_config import cfg
import swiftclient

from stores import base, errors
from stores.swift import accounts
from stores.swift.accounts import (SCHEME, References, TenantAccount,
                                   storage_url_from_catalog)
from stores.swift.failures import store_error
from stores.swift.reader import SwiftReader
from stores.swift.trusts import Trustee, trustee_problem
from stores.swift.writer import (SwiftWriter, delete_container, delete_prefix,
                                 is_segmented, segments_of)

__all__ = ['SwiftStore']

LOG = logging.getLogger(__name__)

ONE_MB = 1024 * 1024
# Multi-tenant locations: the account's storage URL with the scheme swift+http(s).
TENANT_SCHEMES = ('swift+https', 'swift+http', 'swift')
# Swift's default; the cluster's own value is read from /info at start-up.
_DEFAULT_MAX_SEGMENTS = 1000

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
]

# Upstream's credentials in the main config, deprecated there for
# swift_store_config_file but still read when no such file is set: the account of
# default_swift_reference.
_MAIN_CONFIG_CREDENTIALS = {
    'auth_address': 'swift_store_auth_address',
    'auth_version': 'swift_store_auth_version',
    'user': 'swift_store_user',
    'key': 'swift_store_key',
    'application_credential_id': 'swift_store_application_credential_id',
    'application_credential_secret': 'swift_store_application_credential_secret',
    'project_name': 'swift_store_project_name',
    'project_id': 'swift_store_project_id',
}
_REASON = 'Set it in the section of swift_store_config_file instead, as upstream.'
_credential_opts = [
    cfg.StrOpt(option, secret=key in ('user', 'key', 'application_credential_secret'),
               default='3' if key == 'auth_version' else None,
               deprecated_for_removal=True, deprecated_reason=_REASON,
               help='Read only when swift_store_config_file is not set: the '
                    '%s of the one account (default_swift_reference), as a '
                    'section of that file would give it.' % key)
    for key, option in _MAIN_CONFIG_CREDENTIALS.items()
]

_opts += _credential_opts + [
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
    cfg.BoolOpt('swift_store_use_trusts', default=True,
                help='Multi-tenant: an upload written in segments, and a download '
                     'that may resume (swift_store_retry_get_count), reach Swift with '
                     'the tokens of a Keystone trust from the caller to the service '
                     'user of default_swift_reference (a password reference), so '
                     'that they outlive the caller\'s token; the trust is deleted '
                     'when the transfer ends. False, or no such reference: the '
                     'caller\'s token throughout.'),
    cfg.IntOpt('swift_store_expire_soon_interval', default=60, min=0,
               help='A Keystone token (of a swift_store_config_file reference, or '
                    'multi-tenant of a trust) that expires within this many seconds '
                    'is renewed before the next request of an upload or download.'),
]


class SwiftStore(base.Store):
    """Image data as objects in a Swift account named by a config-file reference."""

    driver = 'swift'
    schemes = (SCHEME,) + TENANT_SCHEMES

    def __init__(self, conf, group, store_id):
        super().__init__(conf, group, store_id)
        self._references = References({}, self.options)
        self._trustee = None
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

    def load(self):
        options = self.options
        if self.large_object_size <= 0 or self.large_object_chunk_size <= 0:
            raise errors.BadConfiguration(
                'swift_store_large_object_size and swift_store_large_object_chunk_size '
                'must be positive')
        if not options.swift_store_config_file and options.swift_store_auth_address:
            self._references = References(
                {self.reference: self._main_config_reference()}, options)
        elif options.swift_store_config_file or not self.multi_tenant:
            self._references = References.from_file(self._config_file(), options)
        if self.multi_tenant:
            # No caller yet, so no account to look at: capabilities are read from the
            # first upload's Swift. References serve older swift+config data, and
            # the default one is the trustee.
            self._trustee = self._load_trustee()
            return
        if self.reference not in self._references:
            raise errors.BadConfiguration(
                'default_swift_reference %r is not a section of %s'
                % (self.reference, options.swift_store_config_file))

    def _load_trustee(self):
        """The ``Trustee`` of ``swift_store_use_trusts``, None without one (a
        warning says why: uploads then need tokens that outlive them)."""
        if not self.options.swift_store_use_trusts:
            return None
        if self.reference not in self._references:
            problem = ('no credentials for it: set swift_store_auth_address, '
                       'swift_store_user ("project:user") and swift_store_key, or '
                       'a [%s] section in swift_store_config_file' % self.reference)
        else:
            problem = trustee_problem(self._references.section(self.reference))
        if problem:
            LOG.warning('[%s] swift_store_use_trusts: the service user of '
                        'default_swift_reference %r cannot take Keystone trusts (%s); '
                        'long uploads and downloads use the caller\'s token and fail '
                        'when it expires. Set swift_store_use_trusts = false to say '
                        'that this is meant.', self.group, self.reference, problem)
            return None
        return Trustee(self._references.section(self.reference),
                       self._references.verify)

    def _main_config_reference(self):
        """Upstream's deprecated swift_store_user, swift_store_key... as the one
        reference, with its Keystone domains (``default``)."""
        section = {key: self.options[option]
                   for key, option in _MAIN_CONFIG_CREDENTIALS.items()
                   if self.options[option]}
        return accounts.checked_reference(
            section, '[%s] swift_store_auth_address without swift_store_config_file'
            % self.group)

    def _config_file(self):
        """``swift_store_config_file``; a relative name looked up as upstream's
        driver does, as oslo.config finds files (beside the config files first)."""
        path = self.options.swift_store_config_file
        if path and not os.path.isabs(path):
            return self.conf.find_file(path) or path
        return path

    def configure(self):
        self.load()
        if self.multi_tenant:
            if self._trustee is not None:
                # Credentials that Keystone refuses fail at start, not as a warning
                # at every long upload.
                self._trustee.check()
            return
        options = self.options
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

    def _delegated(self, account, credentials):
        """``account``, the caller's, reached with the tokens of a new Keystone trust
        (a ``TrustAccount``) where ``swift_store_use_trusts`` has a trustee; else,
        or when Keystone refuses the trust (logged), ``account`` itself."""
        if (self._trustee is None or not isinstance(account, TenantAccount)
                or not (credentials.user_id and credentials.roles)):
            return account   # a trust names its trustor and the roles it delegates
        try:
            return self._trustee.delegate(account.storage_url, credentials,
                                          self.options)
        except Exception as exc:
            # As upstream: the transfer goes on with the caller's token.
            LOG.warning('no Keystone trust for a transfer of project %s (%s): it uses '
                        'the caller\'s token, and fails if that expires first',
                        credentials.project_id, exc)
            return account

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

    def check_location(self, url):
        self._parse(url)

    def writes_at(self, url):
        # Its uploads go to the default reference's account (or, multi-tenant, the
        # caller's) and to the container container_for names: another Swift store
        # on the same account may read this URL, but only the one writing there
        # is its home.
        try:
            key, container, name = self._parse(url)
        except errors.BadLocation:
            return False
        if key[0] == 'reference' and key[1] != self.reference:
            return False
        return container == self.container_for(name)

    def canonical(self, url):
        key, container, name = self._parse(url)
        if key[0] == 'reference':   # e.g. an upper-case scheme names the same object
            return self._reference_account(key[1]).location(container, name)
        return url

    # -- the Store interface -----------------------------------------------------------

    def open_writer(self, image_id, hashing_algorithm='sha512', size=None,
                    credentials=None):
        if not image_id or '/' in image_id:
            raise errors.BadLocation('invalid object name %r' % image_id)
        container = self.container_for(image_id)
        account = self._upload_account(credentials)
        if is_segmented(size, self.large_object_size):
            # Upstream's rule: a single PUT is authorised as it starts, so only
            # uploads of several requests need a trust.
            account = self._delegated(account, credentials)
        try:
            conn = account.connect()
        except BaseException:
            account.close()
            raise
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
                raise errors.Duplicate('image data for %s already exists' % image_id)
        except errors.StoreError:
            account.release(conn)
            account.close()
            raise
        except Exception as exc:
            account.release(conn)
            account.close()
            raise store_error(exc, 'preparing to write %s' % image_id, writing=True)
        return SwiftWriter(account, conn, container, image_id, size, hashing_algorithm,
                           large_object_size=self.large_object_size,
                           segment_size=self.large_object_chunk_size,
                           max_segments=self.max_segments)

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
        account = self._account(key, credentials)
        retries = self.options.swift_store_retry_get_count
        if retries:
            # Upstream's rule: a GET is authorised as it starts; only its resumes
            # need a token that is still valid.
            account = self._delegated(account, credentials)
        return SwiftReader(account, container, obj, offset, length, retries=retries)

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
                delete_prefix(conn, container, segments_of(image_id))
            except swiftclient.ClientException as exc:
                if exc.http_status != 404:   # no container: nothing was written
                    raise store_error(exc, 'removing segments of %s' % image_id)
            except Exception as exc:
                raise store_error(exc, 'removing segments of %s' % image_id)

    def discard_object(self, image_id, credentials=None):
        """The object in ``container_for(image_id)`` of the account uploads write to
        (the default reference's, or the caller's), removed as ``delete`` removes
        it: with its segments and, multi-tenant, the image's own container."""
        account = self._upload_account(credentials)
        container = self.container_for(image_id)
        try:
            self.delete(account.location(container, image_id), credentials=credentials)
        except errors.NotFound:
            if account.container_per_image:
                # A dead upload created the image's container and committed nothing.
                with account.connection() as conn:
                    try:
                        delete_container(conn, container)
                    except Exception as exc:
                        raise store_error(exc, 'removing container %s' % container)

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
                        delete_prefix(conn, urllib.parse.unquote(dlo_container),
                                      urllib.parse.unquote(prefix))
                    conn.delete_object(container, obj)
            except Exception as exc:
                raise store_error(exc, 'delete %s' % url)
            # Segments of uploads that died without cleaning up (a killed process).
            delete_prefix(conn, container, segments_of(obj), best_effort=True)
            if key[0] == 'storage':
                delete_container(conn, container)

    def describe(self):
        return {'container': self.options.swift_store_container,
                'multi_tenant': self.multi_tenant,
                'large_object_size': self.large_object_size,
                'large_object_chunk_size': self.large_object_chunk_size}
