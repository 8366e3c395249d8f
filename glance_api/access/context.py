"""The request context: who is calling, built once per request by the auth layer.

Handlers read ``flask.g.context`` and never look at auth headers themselves, so that
the ``noauth`` layer here and the Keystone layer (keystonemiddleware in front of the
app, which sets the same ``X-*`` headers after validating a token) are interchangeable.
"""

import dataclasses
import json
import urllib.parse

from glance_api.http import errors
from glance_registry.client.identity import Identity
import stores

#: Who the service is when it works on its own behalf rather than a caller's
#: (verifying a location's data, looking up which images use a location): it sees
#: every image, whoever's request led to the work.
SERVICE_IDENTITY = Identity(user_id=None, project_id=None, roles=('admin',),
                            is_admin=True)


@dataclasses.dataclass(frozen=True)
class RequestContext:
    user_id: str | None
    project_id: str | None
    roles: tuple
    is_admin: bool
    request_id: str
    auth_token: str | None = None
    #: The request id of the service whose request led to this one (its
    #: X-OpenStack-Request-ID), as oslo.context's.
    global_request_id: str | None = None
    service_catalog: str | None = None
    #: What a token not scoped to a project is scoped to: the system ('all') or a
    #: domain (its id). Upstream's rules are for project-scoped tokens only
    #: (``scope_types=['project']``): oslo.policy refuses others whatever their roles,
    #: so a domain's admin is not the cloud's.
    system_scope: str | None = None
    domain_id: str | None = None
    #: Whether the token's project is Keystone's admin project (oslo.context's
    #: default, True, when Keystone does not say).
    is_admin_project: bool = True
    #: The domains of the token's user and project, and what a service token sent
    #: beside it says (keystonemiddleware's X-Service-* headers): the policy
    #: values oslo.context gives upstream's rules (``service_roles:service``,
    #: ``user_domain_id:%(...)s``), by the same names (``policy.credentials``).
    user_domain_id: str | None = None
    project_domain_id: str | None = None
    service_user_id: str | None = None
    service_user_domain_id: str | None = None
    service_project_id: str | None = None
    service_project_domain_id: str | None = None
    service_roles: tuple = ()

    @property
    def identity(self):
        """The identity the registry applies visibility for."""
        return Identity(user_id=self.user_id, project_id=self.project_id,
                        roles=self.roles, is_admin=self.is_admin)

    def store_credentials(self):
        """What a store that acts as the caller (multi-tenant Swift) needs."""
        return stores.Credentials(auth_token=self.auth_token,
                                  project_id=self.project_id, user_id=self.user_id,
                                  roles=tuple(self.roles),
                                  service_catalog=_parse_catalog(self.service_catalog))

    def owns(self, image):
        """Whether the caller's project owns ``image`` (a registry record)."""
        return self.project_id is not None and image.get('owner') == self.project_id


def context_for(headers, request_id, conf, is_admin=None, global_request_id=None):
    """The context of a request whose identity headers ``conf.auth_strategy``'s layer
    guarantees. ``is_admin(context)``, if given, decides whether a caller with roles
    is an admin (upstream's ``context_is_admin`` rule); else the ``admin`` role
    does."""
    if conf.auth_strategy == 'keystone':
        ctx = from_keystone_headers(headers, request_id)
    else:
        ctx = from_trusted_headers(headers, request_id)
    if global_request_id is not None:
        ctx = dataclasses.replace(ctx, global_request_id=global_request_id)
    if is_admin is not None and ctx.roles:
        ctx = dataclasses.replace(ctx, is_admin=bool(is_admin(ctx)))
    return ctx


def from_trusted_headers(headers, request_id, admin_role='admin'):
    """A context from identity headers, as upstream's trusted-headers (noauth) context.

    ``X-Project-Id`` (or the legacy ``X-Tenant-Id``), ``X-User-Id`` and ``X-Roles``
    say who calls; the ``admin`` role makes an admin. A request with none of them acts
    as upstream's unauthenticated context: an admin with no project.
    """
    project = _identifier(headers, 'X-Project-Id') or \
        _identifier(headers, 'X-Tenant-Id') or None
    user = headers.get('X-User-Id') or None
    # python-glanceclient %-encodes the header values it sends (its library's
    # identity_headers), the comma between roles too: "member%2Creader".
    roles = _roles(urllib.parse.unquote(headers.get('X-Roles', '')))
    if project is None and user is None and not roles:
        return RequestContext(user_id=None, project_id=None, roles=(), is_admin=True,
                              request_id=request_id)
    return RequestContext(user_id=user, project_id=project, roles=roles,
                          is_admin=admin_role in {r.lower() for r in roles},
                          request_id=request_id,
                          auth_token=headers.get('X-Auth-Token'),
                          service_catalog=headers.get('X-Service-Catalog'))


def from_keystone_headers(headers, request_id, admin_role='admin'):
    """A context from the headers keystonemiddleware sets after validating a token
    (``OpenStack-System-Scope`` and ``X-Domain-Id`` say a token's scope when it is
    not a project, as oslo.context reads them)."""
    roles = _roles(headers.get('X-Roles', ''))
    return RequestContext(user_id=headers.get('X-User-Id') or None,
                          project_id=headers.get('X-Project-Id') or None,
                          roles=roles,
                          is_admin=admin_role in {r.lower() for r in roles},
                          request_id=request_id,
                          auth_token=headers.get('X-Auth-Token'),
                          service_catalog=headers.get('X-Service-Catalog'),
                          system_scope=headers.get('OpenStack-System-Scope') or None,
                          domain_id=headers.get('X-Domain-Id') or None,
                          is_admin_project=headers.get('X-Is-Admin-Project', 'true')
                          .lower() == 'true',
                          **{field: headers.get(header) or None
                             for field, header in KEYSTONE_IDS.items()},
                          service_roles=_roles(headers.get('X-Service-Roles', '')))


#: The context's fields that keystonemiddleware's headers of the same meaning fill
#: (each also a policy value of that name, ``policy.credentials``).
KEYSTONE_IDS = {'user_domain_id': 'X-User-Domain-Id',
                'project_domain_id': 'X-Project-Domain-Id',
                'service_user_id': 'X-Service-User-Id',
                'service_user_domain_id': 'X-Service-User-Domain-Id',
                'service_project_id': 'X-Service-Project-Id',
                'service_project_domain_id': 'X-Service-Project-Domain-Id'}


#: The longest project id an image's owner can hold (upstream's column too).
MAX_PROJECT_ID = 255


def _identifier(headers, name):
    """Header ``name`` as a project id; 400 if no image could be owned by it."""
    value = headers.get(name)
    if value and len(value) > MAX_PROJECT_ID:
        raise errors.BadRequest('%s is longer than %d characters'
                                % (name, MAX_PROJECT_ID))
    return value


def _roles(header):
    return tuple(r.strip() for r in header.split(',') if r.strip())


def _parse_catalog(header):
    """The ``X-Service-Catalog`` header's entries; none when absent or malformed."""
    if not header:
        return ()
    try:
        catalog = json.loads(header)
    except ValueError:
        return ()
    if not isinstance(catalog, list):
        return ()
    return tuple(entry for entry in catalog if isinstance(entry, dict))
