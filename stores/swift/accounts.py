"""The Swift accounts the driver reaches, and how: ``swift_store_config_file``
references with the service's credentials, or the caller's own (multi-tenant)."""

import configparser
import contextlib
import threading

import swiftclient

from stores import errors

#: The scheme of locations in a configured account:
#: ``swift+config://<reference>/<container>/<object>``.
SCHEME = 'swift+config'
# Catalog interfaces by upstream's endpoint type names.
_INTERFACES = {'publicURL': 'public', 'internalURL': 'internal', 'adminURL': 'admin'}
# Seconds a socket may sit idle (no byte sent or received) before the request fails.
_SOCKET_TIMEOUT = 120


class _Account:
    """A Swift account and how to reach it."""

    #: Whether every image has a container of its own here, removed with the image.
    container_per_image = False

    def connect(self):
        """A new swiftclient ``Connection``; give it back with ``release``."""
        raise NotImplementedError

    def release(self, conn):
        close_connection(conn)

    def refresh(self, conn):
        """Give ``conn`` a token that outlives the next request, where this account
        renews its tokens (trusts); a transfer calls it before each request."""

    def close(self):
        """End what the account holds beyond its connections (a trust); called once
        the transfer it was made for is over."""

    @contextlib.contextmanager
    def connection(self):
        """A swiftclient connection to the account, released afterwards."""
        conn = self.connect()
        try:
            yield conn
        finally:
            self.release(conn)

    def location(self, container, obj):
        """The location URL of ``container/obj`` in this account."""
        raise NotImplementedError


def close_connection(conn):
    """Close swiftclient ``conn`` and its sockets now (it may be used again: the next
    request connects anew).

    ``Connection.close`` closes the requests session, whose urllib3 (2.x) pool
    manager only forgets its pools: a pool closes its idle connections when it is
    collected, and it sits in reference cycles (the last response, the session's
    cookie jar), so each request's connection stayed open until a full garbage
    collection, in CLOSE_WAIT once Swift's idle timeout closed its end (a soak
    found 71 in one API worker of 27 threads)."""
    pools = []
    http_conn = conn.http_conn
    if isinstance(http_conn, tuple) and len(http_conn) > 1:
        session = getattr(http_conn[1], 'request_session', None)
        for adapter in getattr(session, 'adapters', {}).values():
            manager = getattr(adapter, 'poolmanager', None)
            if manager is not None:
                pools.extend(manager.pools[key] for key in manager.pools.keys())
    conn.close()
    for pool in pools:
        pool.close()


class ConfiguredAccount(_Account):
    """A ``swift_store_config_file`` reference: the service's credentials, and one
    token shared by the process."""

    def __init__(self, references, reference):
        self._references = references
        self.reference = reference

    def connect(self):
        return self._references.connect(self.reference)

    def release(self, conn):
        self._references.release(self.reference, conn)

    def refresh(self, conn):
        self._references.refresh(self.reference, conn)

    def location(self, container, obj):
        return '%s://%s/%s/%s' % (SCHEME, self.reference, container, obj)


class TenantAccount(_Account):
    """A storage URL reached with the caller's token (multi-tenant)."""

    container_per_image = True

    def __init__(self, storage_url, token, options):
        self.storage_url = storage_url
        self._token = token
        self._options = options

    def connect(self):
        options = self._options
        # No credentials to authenticate again with: a refused token is a 401.
        return swiftclient.Connection(
            preauthurl=self.storage_url, preauthtoken=self.token(), retries=0,
            insecure=options.swift_store_auth_insecure,
            cacert=options.swift_store_cacert, timeout=_SOCKET_TIMEOUT)

    def token(self):
        """The token that requests to the account carry."""
        return self._token

    def location(self, container, obj):
        http, _, rest = self.storage_url.partition('://')
        return 'swift+%s://%s/%s/%s' % (http, rest.rstrip('/'), container, obj)


class References:
    """The account references of ``swift_store_config_file``: each one's credentials,
    and the storage URL and token it last got, reused by every new connection.

    ``options`` are the store's option values (endpoint, region, TLS).
    """

    def __init__(self, sections, options):
        self._sections = sections
        self._options = options
        self._tokens = {}
        self._sessions = {}
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path, options):
        """The references of the file at ``path``, validated (BadConfiguration)."""
        return cls(read_references(path), options)

    def __contains__(self, reference):
        return reference in self._sections

    def section(self, reference):
        """The credentials of ``reference``, as validated."""
        return self._sections[reference]

    @property
    def verify(self):
        """keystoneauth's ``verify`` for the store's TLS options."""
        options = self._options
        return (False if options.swift_store_auth_insecure
                else options.swift_store_cacert or True)

    def account(self, reference):
        """The ``ConfiguredAccount`` that ``reference`` names."""
        return ConfiguredAccount(self, reference)

    def connect(self, reference):
        """A new swiftclient ``Connection``; give it back with ``release``."""
        credentials = self._sections[reference]
        options = self._options
        os_options = {'service_type': options.swift_store_service_type,
                      'endpoint_type': options.swift_store_endpoint_type}
        if options.swift_store_region:
            os_options['region_name'] = options.swift_store_region
        with self._lock:
            storage_url, token = self._tokens.get(reference, (None, None))
        storage_url = options.swift_store_endpoint or storage_url
        # retries=0: no blind resending (a streamed body cannot be replayed, and a
        # dead Swift should answer 503 at once); swiftclient still re-authenticates
        # once when a token has expired.
        common = dict(retries=0, insecure=options.swift_store_auth_insecure,
                      cacert=options.swift_store_cacert, timeout=_SOCKET_TIMEOUT,
                      preauthurl=storage_url, preauthtoken=token, os_options=os_options)
        if credentials['auth_version'] == '1':
            return swiftclient.Connection(credentials['auth_address'],
                                          credentials['user'], credentials['key'],
                                          auth_version='1', **common)
        return swiftclient.Connection(session=self._keystone_session(reference),
                                      **common)

    def refresh(self, reference, conn):
        """Give ``conn`` the reference's current Keystone token, a new one if it
        expires within ``swift_store_expire_soon_interval`` seconds: a request whose
        token Swift refuses is sent again with a new one, but a streamed segment
        cannot be. Tempauth tokens do not say when they expire."""
        if self._sections[reference]['auth_version'] == '1' or conn.token is None:
            return   # a connection without a token asks the session at its request
        session = self._keystone_session(reference)
        auth_ref = session.auth.auth_ref
        if auth_ref is None:
            return
        if auth_ref.will_expire_soon(self._options.swift_store_expire_soon_interval):
            session.invalidate()
        try:
            conn.token = session.get_token()
        except Exception as exc:
            raise errors.StoreUnavailable('renewing the token of Swift account '
                                          'reference %s: %s' % (reference, exc))

    def release(self, reference, conn):
        if conn.url and conn.token:
            with self._lock:
                self._tokens[reference] = (conn.url, conn.token)
        close_connection(conn)

    def _keystone_session(self, reference):
        with self._lock:
            session = self._sessions.get(reference)
            if session is None:
                session = self._sessions[reference] = keystone_session(
                    self._sections[reference], verify=self.verify)
            return session


def storage_url_from_catalog(catalog, service_type, endpoint_type, region=None):
    """The object-store URL of a service catalog (Keystone v3 entries, or the v2 form
    keystonemiddleware passes in ``X-Service-Catalog``); StoreUnavailable if none."""
    interface = _INTERFACES.get(endpoint_type, endpoint_type)
    for service in catalog or ():
        if service.get('type') != service_type:
            continue
        for endpoint in service.get('endpoints', ()):
            if region and region not in (endpoint.get('region'),
                                         endpoint.get('region_id')):
                continue
            if endpoint.get('interface') == interface and endpoint.get('url'):
                return endpoint['url']
            if endpoint.get(interface + 'URL'):
                return endpoint[interface + 'URL']
    raise errors.StoreUnavailable(
        'the service catalog has no %s endpoint of type %s%s' % (
            interface, service_type, ' in region %s' % region if region else ''))


def read_references(path):
    """The account references of ``swift_store_config_file``, validated."""
    if not path:
        raise errors.BadConfiguration('swift_store_config_file is required')
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path) as f:
            parser.read_file(f)
    except (OSError, configparser.Error) as exc:
        raise errors.BadConfiguration('cannot read swift_store_config_file %s: %s'
                                      % (path, exc))
    return {name: checked_reference(
                {key: _unquote(value) for key, value in parser.items(name)},
                '[%s] of %s' % (name, path))
            for name in parser.sections()}


def checked_reference(section, where):
    """One reference's credentials (``section``, a dict), validated and with its
    ``auth_version`` normalised; ``where`` names it in the BadConfiguration."""
    section = dict(section)
    section.setdefault('auth_version', '3')
    if section['auth_version'] in ('2', '2.0', '3', '3.0'):
        # Keystone's v2 API is gone; upstream also treats 2 as 3.
        section['auth_version'] = '3'
    elif section['auth_version'] in ('1', '1.0'):
        section['auth_version'] = '1'
    else:
        raise errors.BadConfiguration('%s: auth_version must be 1 or 3, not %r'
                                      % (where, section['auth_version']))
    has_application_credential = bool(section.get('application_credential_id'))
    needed = ['auth_address']
    if has_application_credential and section['auth_version'] == '3':
        needed.append('application_credential_secret')
    else:
        needed += ['user', 'key']
    missing = [key for key in needed if not section.get(key)]
    if missing:
        raise errors.BadConfiguration('%s lacks %s' % (where, ', '.join(missing)))
    return section


def _unquote(value):
    # Upstream's parser strips one pair of matching quotes around a value.
    if len(value) >= 2 and value[0] in '"\'' and value[-1] == value[0]:
        return value[1:-1]
    return value


def keystone_session(reference, verify=True):
    """A keystoneauth1 session for a Keystone v3 reference (password or app
    credential)."""
    from keystoneauth1 import session
    from keystoneauth1.identity import v3
    if reference.get('application_credential_id'):
        auth = v3.ApplicationCredential(
            auth_url=keystone_auth_url(reference),
            application_credential_id=reference['application_credential_id'],
            application_credential_secret=reference['application_credential_secret'])
    else:
        # Upstream's "project:user" form; project_name/project_id may be given instead.
        project, _, _ = reference['user'].rpartition(':')
        auth = v3.Password(project_name=project or reference.get('project_name'),
                           project_id=reference.get('project_id'),
                           **password_credentials(reference))
    return session.Session(auth=auth, verify=verify)


def keystone_auth_url(reference):
    """The reference's ``auth_address`` as a Keystone v3 URL."""
    auth_url = reference['auth_address'].rstrip('/')
    if not auth_url.rsplit('/', 1)[-1].startswith('v3'):
        auth_url += '/v3'
    return auth_url


def password_credentials(reference):
    """keystoneauth ``v3.Password`` arguments of a password reference, without its
    scope: URL, user (``user`` is upstream's "project:user"), password and the
    user's and project's domains (``default`` unless given)."""
    domains = {key: reference[key] for key in (
        'user_domain_id', 'user_domain_name', 'project_domain_id',
        'project_domain_name') if reference.get(key)}
    if not ('user_domain_id' in domains or 'user_domain_name' in domains):
        domains['user_domain_id'] = 'default'
    if not ('project_domain_id' in domains or 'project_domain_name' in domains):
        domains['project_domain_id'] = 'default'
    return dict(auth_url=keystone_auth_url(reference),
                username=reference['user'].rpartition(':')[2],
                password=reference['key'], **domains)
