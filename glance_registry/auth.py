"""Who is calling the registry: a signed identity, or a Keystone service token.

Every caller may send an identity signed with the shared secret for the request it
comes with (``identity.Identity.verify``). With ``accept_service_tokens``, a caller
may instead present a Keystone token (``X-Auth-Token``): ``wrap`` puts
keystonemiddleware's ``auth_token``, configured from ``[keystone_authtoken]``, in
front of the registry in ``delay_auth_decision`` mode, so that requests without a
token still reach the registry and are checked for a signature as before. A token
is accepted only if Keystone validated it and it carries the ``service`` role: the
registry holds every project's images, so only services may talk to it, never end
users.

``authenticate(request, ...)`` is the one place that decides; handlers receive the
``Identity``.
"""

from keystonemiddleware import auth_token
from oslo_config import cfg

from glance_registry import validation
from glance_registry.client import errors
from glance_registry.client import identity as identity_module

auth_opts = [
    cfg.BoolOpt('accept_service_tokens', default=False,
                help='Also accept callers that present a Keystone token '
                     '(X-Auth-Token) with the "service" role, validated by '
                     'keystonemiddleware as configured in [keystone_authtoken]. The '
                     'token\'s user and project are the caller. Requests signed with '
                     'registry_auth_secret keep working.'),
]

TOKEN_HEADER = 'X-Auth-Token'
#: The longest project id a caller may have: what it creates (an image, a task, a
#: catalog namespace) is owned by its project, in columns of this size (upstream's
#: too), and the API refuses a longer ``X-Project-Id`` as well.
MAX_PROJECT_ID = 255
SERVICE_ROLE = 'service'
ADMIN_ROLE = 'admin'

# Set by auth_token on every request it passed on; it removes any a client sent.
_IDENTITY_STATUS = 'X-Identity-Status'
# Present only when auth_token handled the request (a client cannot put it there).
_TOKEN_AUTH_ENVIRON = 'keystone.token_auth'


def register_opts(conf):
    conf.register_opts(auth_opts)


def wrap(app, conf):
    """``app`` behind keystonemiddleware when ``conf`` accepts service tokens."""
    if not conf.accept_service_tokens:
        return app
    return auth_token.AuthProtocol(app, {'oslo_config_config': conf,
                                         'delay_auth_decision': True})


def by_token(request, accept_service_tokens):
    """Whether ``authenticate`` judges ``request`` by its token (not a signature)."""
    return accept_service_tokens and TOKEN_HEADER in request.headers


def authenticate(request, secret, accept_service_tokens=False):
    """The caller's ``Identity``.

    ``errors.Unauthorized`` for a missing, forged or expired signature, one made for
    another request (method, path, query string or body), or an invalid token (also
    when Keystone cannot be reached to validate it);
    ``errors.Forbidden`` for a valid token without the service role;
    ``errors.BadRequest`` for a caller whose project id is longer than
    ``MAX_PROJECT_ID`` (nothing could be owned by it: on PostgreSQL and MariaDB its
    writes failed with 500).
    """
    if by_token(request, accept_service_tokens):
        caller = _from_service_token(request)
    else:
        body = validation.bounded_body(request)
        signed = identity_module.SignedRequest.from_environ(request.environ, body)
        try:
            caller = identity_module.Identity.verify(request.headers, secret, signed)
        except identity_module.InvalidSignature as exc:
            raise errors.Unauthorized(str(exc), reason='invalid_credentials') from None
    if caller.project_id is not None and len(caller.project_id) > MAX_PROJECT_ID:
        raise errors.BadRequest("The caller's project id is longer than %d characters"
                                % MAX_PROJECT_ID, reason='invalid_request')
    return caller


def _from_service_token(request):
    if (_TOKEN_AUTH_ENVIRON not in request.environ
            or request.headers.get(_IDENTITY_STATUS) != 'Confirmed'):
        raise errors.Unauthorized('invalid, expired or unverifiable token',
                                  reason='invalid_credentials')
    headers = request.headers
    roles = tuple(role.strip() for role in headers.get('X-Roles', '').split(',')
                  if role.strip())
    lowered = {role.lower() for role in roles}
    if SERVICE_ROLE not in lowered:
        raise errors.Forbidden("The token does not carry the '%s' role: only services "
                               "may call the registry" % SERVICE_ROLE,
                               reason='not_a_service')
    return identity_module.Identity(user_id=headers.get('X-User-Id') or None,
                                    project_id=headers.get('X-Project-Id') or None,
                                    roles=roles, is_admin=ADMIN_ROLE in lowered,
                                    by_token=True)
