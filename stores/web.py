"""Reading web URLs for the service without letting a URL reach what it must not.

Both the http store (locations) and the API's imports (web-download, glance-download,
through ``glance_api.data.fetch``) read URLs that tenants chose. This module is the
one place that does it, so it lives below both (the API imports the stores, never
the reverse). ``UrlPolicy`` is upstream's ``[import_filtering_opts]`` (the API builds
it from those options) plus the rule upstream lacks: no internal addresses.

``open_url`` checks the URL, resolves its host name once, checks every address, and
connects to a checked address while sending the original ``Host`` (and, for https,
the original name in SNI and the certificate check): a name that resolves to a
public address when checked and to 127.0.0.1 when connecting (DNS rebinding) cannot
reach loopback. It follows redirects itself, each hop checked the same way, and
raises ``Refused`` or ``Failed`` with a message safe to show anyone: which address,
port or status was involved is logged, never told to the client (it would make the
service a port scanner of its own network).
"""

import base64
import dataclasses
import ipaddress
import logging
import socket
import time
import urllib.parse

import urllib3

LOG = logging.getLogger(__name__)

#: Upstream glance_store follows at most this many redirects.
MAX_REDIRECTS = 5
#: Seconds to connect, and seconds without a byte received.
TIMEOUTS = (10, 120)
#: Extra attempts at getting an answer (never after a body started to arrive).
RETRIES = 2
_BACKOFF = 0.5   # seconds before the first retry, doubled each time

DEFAULT_PORTS = {'http': 80, 'https': 443}
_REDIRECTS = (301, 302, 303, 307, 308)
# Answers worth asking again: the server or a gateway in front of it is busy.
_RETRY_STATUSES = (502, 503, 504)
# A read of the connection at least this long comes from a source that keeps up:
# one read gives a TLS record (16 KiB at most), or one piece of a chunked body
# (8 KiB from many servers), however much more has arrived.
_FULL_READ = 4 * 1024
# Seconds a chunk that has data waits for more (WebResponse._fill).
_FILL_SECONDS = 1.0
_NAT64 = ipaddress.ip_network('64:ff9b::/96')
_CREDENTIAL_HEADERS = frozenset({'authorization', 'x-auth-token', 'x-service-token',
                                 'cookie', 'proxy-authorization'})

REFUSED = 'The URL, or a URL it redirects to, is not one this service may read.'
FAILED = 'The data at the URL could not be read.'


class Refused(Exception):
    """The URL or a redirect hop is not allowed. ``str()`` is safe to show
    clients; ``detail`` (logged) says why."""

    def __init__(self, message=REFUSED, detail=None):
        super().__init__(message)
        self.detail = detail or message


class Failed(Exception):
    """Reading the URL failed: unreachable, timed out, an error status, too large.
    ``str()`` is safe to show clients; ``detail`` (logged) and ``status`` (the
    HTTP status, when one answered) are not."""

    def __init__(self, message=FAILED, detail=None, status=None):
        super().__init__(message)
        self.detail = detail or message
        self.status = status


class TooLarge(Failed):
    """The body is (or declares it is) larger than the reader's ``max_bytes``:
    a limit the caller can name, unlike why a URL could not be read."""


def _normalized_hosts(hosts):
    # Host names compare case-insensitively; addresses in their canonical spelling.
    normalized = set()
    for host in hosts:
        host = str(host).strip().lower().strip('[]')
        try:
            host = str(ipaddress.ip_address(host))
        except ValueError:
            pass
        normalized.add(host)
    return frozenset(normalized)


@dataclasses.dataclass(frozen=True)
class UrlPolicy:
    """Which URLs may be read: upstream's ``[import_filtering_opts]``.

    For each of schemes, hosts and ports an allow-list, when not empty, is the only
    list obeyed (it beats the deny-list, as upstream); otherwise the deny-list
    refuses what it names. Beyond upstream: a host that resolves to an internal
    address (loopback, private, link-local, shared, multicast, reserved,
    unspecified; IPv4 inside IPv6 counts as IPv4) is refused unless
    ``allowed_hosts`` names the host or the address; ``disallowed_hosts`` applies to
    the resolved addresses as well as to the name.
    """

    allowed_schemes: tuple = ('http', 'https')
    disallowed_schemes: tuple = ()
    allowed_hosts: tuple = ()
    disallowed_hosts: tuple = ()
    allowed_ports: tuple = (80, 443)
    disallowed_ports: tuple = ()

    def __post_init__(self):
        for name in ('allowed_schemes', 'disallowed_schemes'):
            object.__setattr__(self, name,
                               frozenset(s.lower() for s in getattr(self, name)))
        for name in ('allowed_hosts', 'disallowed_hosts'):
            object.__setattr__(self, name, _normalized_hosts(getattr(self, name)))
        for name in ('allowed_ports', 'disallowed_ports'):
            object.__setattr__(self, name, frozenset(int(p) for p in getattr(self, name)))

    def refusal(self, url):
        """Why ``url`` may not be read, judged on its text alone; None if it may
        (its host's addresses are judged when it is opened)."""
        try:
            target = _Target.parse(url)
        except ValueError as exc:
            return 'not a usable URL (%s)' % exc
        if not _passes(target.scheme, self.allowed_schemes, self.disallowed_schemes):
            return 'scheme %s is not allowed' % target.scheme
        if not _passes(target.host, self.allowed_hosts, self.disallowed_hosts):
            return 'host %s is not allowed' % target.host
        if not _passes(target.port, self.allowed_ports, self.disallowed_ports):
            return 'port %d is not allowed' % target.port
        literal = _address(target.host)
        if literal is not None:
            return self.address_refusal(target.host, literal)
        return None

    def address_refusal(self, host, address):
        """Why ``host`` may not be reached at ``address`` (an ``ipaddress`` object);
        None if it may."""
        named = _normalized_hosts([host]) | {str(address)}
        if self.allowed_hosts:
            if _is_internal(address) and not named & self.allowed_hosts:
                return '%s resolves to internal address %s' % (host, address)
            return None
        if str(address) in self.disallowed_hosts:
            return '%s resolves to disallowed address %s' % (host, address)
        if _is_internal(address):
            return ('%s resolves to internal address %s, which only allowed_hosts '
                    'can allow' % (host, address))
        return None


def _passes(value, allowed, disallowed):
    if allowed:
        return value in allowed
    return value not in disallowed


def _address(host):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_internal(address):
    """Whether ``address`` is anything but a public unicast address."""
    if address.version == 6:
        embedded = address.ipv4_mapped
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            address = embedded
    return (not address.is_global or address.is_private or address.is_loopback
            or address.is_link_local or address.is_multicast or address.is_reserved
            or address.is_unspecified)


@dataclasses.dataclass(frozen=True)
class _Target:
    """One URL, taken apart as the request to it needs it."""

    url: str
    scheme: str
    host: str        # lower case; an IPv6 address without brackets
    port: int
    path: str        # path and query, as sent on the request line
    host_header: str
    auth: str | None  # user:password given in the URL
    #: The addresses its host resolved to, once checked: the only ones connected to.
    addresses: tuple = ()

    @classmethod
    def parse(cls, url):
        parsed = urllib.parse.urlsplit(url)
        scheme = parsed.scheme.lower()
        port = parsed.port   # ValueError when not a number or out of range
        host = (parsed.hostname or '').lower()
        if not scheme or not host:
            raise ValueError('no scheme or host')
        if port is None:
            port = DEFAULT_PORTS.get(scheme)
            if port is None:
                raise ValueError('no port')
        if any(ord(c) < 33 for c in host):
            raise ValueError('control characters in the host')
        literal = _address(host)
        if literal is not None:
            host = str(literal)   # one spelling, as the filters' lists are read
        else:
            host = host.encode('idna').decode('ascii')   # UnicodeError: ValueError
        shown = '[%s]' % host if ':' in host else host
        if port != DEFAULT_PORTS.get(scheme):
            shown += ':%d' % port
        path = parsed.path or '/'
        if parsed.query:
            path += '?' + parsed.query
        # The request line is ASCII: escape what is not (escapes already there stay).
        path = urllib.parse.quote(path, safe="/?%:@!$&'()*+,;=~")
        auth = None
        if parsed.username is not None:
            auth = '%s:%s' % (urllib.parse.unquote(parsed.username),
                              urllib.parse.unquote(parsed.password or ''))
        return cls(url, scheme, host, port, path, shown, auth)

    @property
    def origin(self):
        return (self.scheme, self.host, self.port)

    @property
    def shown(self):
        """The URL without credentials, for the log: without its user info, and
        without its query string, where a presigned URL keeps its signature (S3's
        ``X-Amz-Signature``, Swift's ``temp_url_sig``)."""
        return '%s://%s%s' % (self.scheme, self.host_header,
                              self.path.split('?', 1)[0])


@dataclasses.dataclass(frozen=True)
class Tls:
    """How https servers are verified: ``verify`` their certificate (against
    ``ca_file`` when given, else the system's CAs)."""

    verify: bool = True
    ca_file: str | None = None


class WebResponse:
    """The final answer to a request: ``status``, ``headers`` (case-insensitive),
    ``url`` (after redirects) and the body through ``read`` or ``iter_content``.
    Reading more than ``max_bytes`` raises ``TooLarge``. A context manager; ``close``
    releases the connection."""

    def __init__(self, raw, target, pool, max_bytes):
        self._raw = raw
        self._pool = pool
        self._target = target
        self._max_bytes = max_bytes
        self.status = raw.status
        self.headers = raw.headers
        self.url = target.url
        #: ``url`` for the log (``_Target.shown``).
        self.shown = target.shown
        self.bytes_read = 0

    def read(self, amount):
        """Up to ``amount`` bytes of the body (fewer only at its end); b'' at
        its end."""
        return self._take(self._raw.read, amount)

    def iter_content(self, chunk_size=64 * 1024):
        """The body in chunks of at most ``chunk_size`` bytes: whole ones from a
        source that keeps up, and as much as has arrived from one that trickles,
        so that a reader that reports progress (an import renewing its lease as
        it moves) sees it moving, not stuck until a whole chunk has come."""
        while True:
            chunk = self._take(self._raw.read1, chunk_size)
            if not chunk:
                return
            if _FULL_READ <= len(chunk) < chunk_size:
                chunk = self._fill(chunk, chunk_size)
            yield chunk

    def _fill(self, chunk, chunk_size):
        # Given read by read, each chunk of a fast source would cost its reader
        # a pass of inspection, hashing and store writes: 64 for 1 MiB over TLS,
        # 128 chunked. _FILL_SECONDS ends the chunk: a reader sees a source that
        # pauses move at least that often, plus one pause; one that trickles
        # (short reads) fills nothing.
        pieces, size = [chunk], len(chunk)
        deadline = time.monotonic() + _FILL_SECONDS
        while size < chunk_size and time.monotonic() < deadline:
            piece = self._take(self._raw.read1, chunk_size - size)
            if not piece:
                break
            pieces.append(piece)
            size += len(piece)
        return b''.join(pieces)

    def _take(self, read, amount):
        try:
            chunk = read(amount, decode_content=False)
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            raise _failed(self._target, 'the body broke off: %s' % exc)
        self.bytes_read += len(chunk)
        if self._max_bytes is not None and self.bytes_read > self._max_bytes:
            raise _failed(self._target, 'the body is larger than %d bytes'
                          % self._max_bytes, TooLarge)
        return chunk

    def close(self):
        self._raw.release_conn()
        self._raw.close()
        _close(self._pool)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False


def open_url(policy, url, *, method='GET', headers=None, max_bytes=None,
             timeouts=TIMEOUTS, retries=RETRIES, max_redirects=MAX_REDIRECTS,
             tls=Tls(), proxies=None):
    """A ``WebResponse`` to ``method`` (GET or HEAD: both idempotent, so retried)
    on ``url``, after redirects; whatever its status.

    Raises ``Refused`` if ``policy`` refuses the URL or any redirect hop (by name or
    by the addresses its host resolves to), ``Failed`` if no answer came after
    ``retries`` more attempts, redirects went on past ``max_redirects``, or the
    declared length exceeds ``max_bytes``. ``proxies`` maps a scheme to a proxy
    URL; through a proxy the proxy connects, so the address checked is the one
    this process resolved, and the proxy must not be able to reach what the
    policy refuses.
    """
    if method not in ('GET', 'HEAD'):
        raise ValueError('only idempotent GET and HEAD are supported')
    first = current = _checked_target(policy, url)
    for _ in range(max_redirects + 1):
        request_headers = dict(headers or {})
        # Credentials (in the URL or in headers such as a token) go to the first
        # URL's origin only, never to where it redirects elsewhere.
        if current.origin != first.origin:
            request_headers = {name: value for name, value in request_headers.items()
                               if name.lower() not in _CREDENTIAL_HEADERS}
        elif current.auth:
            request_headers['Authorization'] = 'Basic ' + base64.b64encode(
                current.auth.encode()).decode()
        raw, pool = _answer(current, method, request_headers, timeouts, retries,
                            tls, proxies)
        location = raw.headers.get('Location')
        if raw.status in _REDIRECTS and location:
            raw.drain_conn()
            raw.release_conn()
            _close(pool)
            try:
                next_url = urllib.parse.urljoin(current.url, location.strip())
            except ValueError as exc:
                raise _failed(current, 'unusable redirect %r: %s' % (location, exc))
            LOG.info('%s redirects to %s', current.shown,
                     _without_credentials(next_url))
            current = _checked_target(policy, next_url, redirected_from=current)
            continue
        response = WebResponse(raw, current, pool, max_bytes)
        declared = raw.headers.get('Content-Length', '')
        if (max_bytes is not None and declared.isascii() and declared.isdigit()
                and int(declared) > max_bytes and method == 'GET'
                and 200 <= raw.status < 300):
            response.close()
            raise _failed(current, 'declares %s bytes, more than %d'
                          % (declared, max_bytes), TooLarge)
        return response
    raise _failed(current, 'redirects more than %d times' % max_redirects)


def _checked_target(policy, url, redirected_from=None):
    """The parsed ``url`` with the addresses it may be reached at; Refused if
    the policy refuses it."""
    via = '' if redirected_from is None else ' (redirected from %s)' % (
        redirected_from.shown)
    reason = policy.refusal(url)
    if reason:
        LOG.warning('refused to read %s%s: %s', _without_credentials(url), via,
                    reason)
        raise Refused(detail=reason)
    target = _Target.parse(url)
    try:
        # The one resolution of this hop: every connection goes to these.
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _failed(target, 'cannot resolve %s: %s' % (target.host, exc))
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split('%', 1)[0])
        if address not in addresses:
            addresses.append(address)
    for address in addresses:
        reason = policy.address_refusal(target.host, address)
        if reason:
            # One bad address refuses the name: a resolver that mixes internal
            # addresses in is not to be trusted with the others either.
            LOG.warning('refused to read %s%s: %s', target.shown, via, reason)
            raise Refused(detail=reason)
    return dataclasses.replace(target, addresses=tuple(addresses))


def _answer(resolved, method, headers, timeouts, retries, tls, proxies):
    """``(urllib3 response, its pool)`` once a server answered; Failed after
    ``retries`` more attempts without one."""
    last = None
    # Each checked address in turn (a name may have one that does not answer);
    # through a proxy, which connects by name, once.
    addresses = resolved.addresses[:1] if _proxy_for(resolved, proxies) else (
        resolved.addresses)
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(_BACKOFF * 2 ** (attempt - 1))
        for address in addresses:
            pool = _pool(resolved, address, timeouts, tls, proxies)
            try:
                raw = _send(pool, resolved, method, headers, proxies)
            except (OSError, urllib3.exceptions.HTTPError) as exc:
                _close(pool)
                last = '%s at %s: %s' % (resolved.shown, address, exc)
                continue
            if raw.status in _RETRY_STATUSES and attempt < retries:
                last = '%s answered %d' % (resolved.shown, raw.status)
                raw.drain_conn()
                raw.release_conn()
                _close(pool)
                break
            return raw, pool
        LOG.info('attempt %d of %d at %s failed: %s', attempt + 1, retries + 1,
                 resolved.shown, last)
    raise _failed(resolved, last)


def _proxy_for(resolved, proxies):
    return (proxies or {}).get(resolved.scheme)


def _pool(resolved, address, timeouts, tls, proxies):
    timeout = urllib3.Timeout(connect=timeouts[0], read=timeouts[1])
    tls_args = {}
    if resolved.scheme == 'https':
        tls_args = {'cert_reqs': 'CERT_REQUIRED' if tls.verify else 'CERT_NONE',
                    'ca_certs': tls.ca_file}
        if not tls.verify:
            tls_args['assert_hostname'] = False
    proxy = _proxy_for(resolved, proxies)
    if proxy:
        return urllib3.ProxyManager(proxy, num_pools=1, timeout=timeout,
                                    retries=False, **tls_args)
    if resolved.scheme == 'https':
        if _address(resolved.host) is None:
            # Connect to the checked address; SNI and the certificate check use
            # the name the URL gave.
            tls_args['server_hostname'] = resolved.host
            if tls.verify:
                tls_args['assert_hostname'] = resolved.host
        return urllib3.HTTPSConnectionPool(str(address), resolved.port,
                                           timeout=timeout, retries=False,
                                           maxsize=1, **tls_args)
    return urllib3.HTTPConnectionPool(str(address), resolved.port, timeout=timeout,
                                      retries=False, maxsize=1)


def _close(pool):
    # A connection pool closes; a ProxyManager (pools by proxy) clears.
    if isinstance(pool, urllib3.PoolManager):
        pool.clear()
    else:
        pool.close()


def _send(pool, resolved, method, headers, proxies):
    headers = dict(headers)
    headers['Host'] = resolved.host_header
    # Image bytes as stored: no transparent decoding of a compressed body.
    headers.setdefault('Accept-Encoding', 'identity')
    if _proxy_for(resolved, proxies):
        return pool.urlopen(method, resolved.url, headers=headers, redirect=False,
                            retries=False, preload_content=False,
                            decode_content=False)
    return pool.urlopen(method, resolved.path, headers=headers, redirect=False,
                        retries=False, preload_content=False, decode_content=False,
                        assert_same_host=False)


def _failed(target, detail, error=Failed):
    LOG.warning('cannot read %s: %s', target.shown, detail)
    return error(detail=detail)


def _without_credentials(url):
    try:
        return _Target.parse(url).shown
    except ValueError:
        return '(an unusable URL)'
