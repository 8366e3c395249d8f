"""Who is calling the registry, and the signature that proves the caller said so.

The API (or another internal service holding the shared secret) sends the identity of
the user it acts for in ``X-Registry-*`` headers, signed with HMAC-SHA256 over those
headers, an expiry time and the request itself: its method, path, query string and a
digest of its body. A captured header set is therefore good for nothing but the very
request it came with (the same method, path, query and body), and only until it
expires. The registry verifies the signature before it touches the database and
applies its rules for that identity.
"""

import dataclasses
import hashlib
import hmac
import time
import urllib.parse

HEADER_USER = 'X-Registry-User-Id'
HEADER_PROJECT = 'X-Registry-Project-Id'
HEADER_ROLES = 'X-Registry-Roles'
HEADER_ADMIN = 'X-Registry-Is-Admin'
HEADER_EXPIRES = 'X-Registry-Expires'
HEADER_SIGNATURE = 'X-Registry-Signature'

# Long enough for one call on a slow registry and a little clock skew between hosts;
# short enough that even the one request a captured header set is good for cannot
# be replayed for long.
DEFAULT_TTL = 60


class InvalidSignature(Exception):
    """The identity headers are missing, forged, expired or made for another
    request."""


@dataclasses.dataclass(frozen=True)
class SignedRequest:
    """What a signature binds the identity to: the request as the registry sees it.

    ``path`` is the decoded path (bytes: what ``%xx`` escapes stand for), so that
    the sender's percent-encoding and the server's decoding agree; ``query`` is the
    query string exactly as sent.
    """

    method: str
    path: bytes
    query: str = ''
    body: bytes = b''

    @classmethod
    def from_target(cls, method, target, body=None):
        """The request to ``target`` (a path with an optional ``?query``, as sent
        on the request line)."""
        path, _, query = target.partition('?')
        return cls(method, urllib.parse.unquote_to_bytes(path), query, body or b'')

    @classmethod
    def from_environ(cls, environ, body):
        """The request a WSGI server handed over (PEP 3333 latin-1 strings)."""
        path = (environ.get('SCRIPT_NAME', '') + environ.get('PATH_INFO', ''))
        return cls(environ.get('REQUEST_METHOD', ''), path.encode('latin-1'),
                   environ.get('QUERY_STRING', ''), body or b'')

    def digest(self):
        # Each part is hashed on its own, so no choice of path, query or body can
        # make two different requests join into the same message.
        parts = (self.method.encode('latin-1'), self.path,
                 self.query.encode('latin-1'), self.body)
        return '\n'.join(hashlib.sha256(part).hexdigest() for part in parts)


@dataclasses.dataclass(frozen=True)
class Identity:
    """The caller the registry acts for."""

    user_id: str | None
    project_id: str | None
    roles: tuple = ()
    is_admin: bool = False
    #: Called with a Keystone service token, not signed with the shared secret:
    #: a service, not the API (never sent; the registry sets it).
    by_token: bool = dataclasses.field(default=False, compare=False)

    def sign(self, secret, request, ttl=DEFAULT_TTL, now=None):
        """The headers that carry this identity for ``request`` (a
        ``SignedRequest``), signed with ``secret``."""
        expires = str(int((now or time.time()) + ttl))
        fields = self._fields(expires)
        return {
            HEADER_USER: fields[0],
            HEADER_PROJECT: fields[1],
            HEADER_ROLES: fields[2],
            HEADER_ADMIN: fields[3],
            HEADER_EXPIRES: expires,
            HEADER_SIGNATURE: _mac(secret, fields, request),
        }

    @classmethod
    def verify(cls, headers, secret, request, now=None):
        """The identity that ``headers`` carry for ``request``; ``InvalidSignature``
        unless they were signed with ``secret`` for this very request and have not
        expired."""
        signature = headers.get(HEADER_SIGNATURE)
        expires = headers.get(HEADER_EXPIRES, '')
        if not signature or not (expires.isascii() and expires.isdigit()):
            raise InvalidSignature('missing registry credentials')
        fields = (headers.get(HEADER_USER, ''), headers.get(HEADER_PROJECT, ''),
                  headers.get(HEADER_ROLES, ''), headers.get(HEADER_ADMIN, ''), expires)
        # compare_digest refuses non-ASCII text rather than answering False.
        if not signature.isascii() or \
                not hmac.compare_digest(signature, _mac(secret, fields, request)):
            raise InvalidSignature(
                'bad registry signature: it was not made with this registry\'s '
                'secret for this request (its method, path, query string and body '
                'are signed; a signature is good for no other request)')
        if int(expires) < (now or time.time()):
            raise InvalidSignature('registry credentials expired')
        roles = tuple(r for r in fields[2].split(',') if r)
        return cls(user_id=fields[0] or None, project_id=fields[1] or None,
                   roles=roles, is_admin=fields[3] == '1')

    def _fields(self, expires):
        return (self.user_id or '', self.project_id or '', ','.join(self.roles),
                '1' if self.is_admin else '0', expires)


def _mac(secret, fields, request):
    if isinstance(secret, str):
        secret = secret.encode()
    # Newlines cannot appear in header values, so joining on them is unambiguous.
    message = '\n'.join(fields + (request.digest(),)).encode()
    # The one-shot form: every registry call signs once and verifies once.
    return hmac.digest(secret, message, 'sha256').hex()
