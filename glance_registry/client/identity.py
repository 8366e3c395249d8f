"""Who is calling the registry, and the signature that proves the caller said so.

The API (or another internal service holding the shared secret) sends the identity of
the user it acts for in ``X-Registry-*`` headers, signed with HMAC-SHA256 over those
headers and an expiry time. The registry verifies the signature before it touches the
database and applies visibility rules for that identity in its queries.
"""

import dataclasses
import hmac
import time

HEADER_USER = 'X-Registry-User-Id'
HEADER_PROJECT = 'X-Registry-Project-Id'
HEADER_ROLES = 'X-Registry-Roles'
HEADER_ADMIN = 'X-Registry-Is-Admin'
HEADER_EXPIRES = 'X-Registry-Expires'
HEADER_SIGNATURE = 'X-Registry-Signature'

# Long enough for one request on a slow registry; short enough that a captured header
# set is of little use.
DEFAULT_TTL = 300


class InvalidSignature(Exception):
    """The identity headers are missing, forged or expired."""


@dataclasses.dataclass(frozen=True)
class Identity:
    """The caller the registry acts for."""

    user_id: str | None
    project_id: str | None
    roles: tuple = ()
    is_admin: bool = False

    def sign(self, secret, ttl=DEFAULT_TTL, now=None):
        """The headers that carry this identity, signed with ``secret`` (bytes)."""
        expires = str(int((now or time.time()) + ttl))
        fields = self._fields(expires)
        return {
            HEADER_USER: fields[0],
            HEADER_PROJECT: fields[1],
            HEADER_ROLES: fields[2],
            HEADER_ADMIN: fields[3],
            HEADER_EXPIRES: expires,
            HEADER_SIGNATURE: _mac(secret, fields),
        }

    @classmethod
    def verify(cls, headers, secret, now=None):
        """The identity that ``headers`` carry; ``InvalidSignature`` unless signed."""
        signature = headers.get(HEADER_SIGNATURE)
        expires = headers.get(HEADER_EXPIRES, '')
        if not signature or not (expires.isascii() and expires.isdigit()):
            raise InvalidSignature('missing registry credentials')
        fields = (headers.get(HEADER_USER, ''), headers.get(HEADER_PROJECT, ''),
                  headers.get(HEADER_ROLES, ''), headers.get(HEADER_ADMIN, ''), expires)
        # compare_digest refuses non-ASCII text rather than answering False.
        if not signature.isascii() or \
                not hmac.compare_digest(signature, _mac(secret, fields)):
            raise InvalidSignature('bad registry signature')
        if int(expires) < (now or time.time()):
            raise InvalidSignature('registry credentials expired')
        roles = tuple(r for r in fields[2].split(',') if r)
        return cls(user_id=fields[0] or None, project_id=fields[1] or None,
                   roles=roles, is_admin=fields[3] == '1')

    def _fields(self, expires):
        return (self.user_id or '', self.project_id or '', ','.join(self.roles),
                '1' if self.is_admin else '0', expires)


def _mac(secret, fields):
    if isinstance(secret, str):
        secret = secret.encode()
    # Newlines cannot appear in header values, so joining on them is unambiguous.
    message = '\n'.join(fields).encode()
    # The one-shot form: every registry call signs once and verifies once.
    return hmac.digest(secret, message, 'sha256').hex()
