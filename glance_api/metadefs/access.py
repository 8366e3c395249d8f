"""Upstream's ``metadef_*`` policy, judged together with the registry in one call.

A rule's verdict on a namespace depends on the namespace only through its owner
and visibility (the target upstream builds: ``project_id`` the owner,
``visibility``). So each rule is evaluated here for the four classes of namespace,
as the caller sees them (its own project's or another's, public or private), and
the registry, which finds the namespace, applies the verdict of its class in the
same call (``glance_registry.metadefs.access``): a write is judged before it is
done, with one round trip.

As upstream: a namespace that ``get_metadef_namespace`` does not let the caller
see is 404, whatever the operation; another refused rule is 403.
"""

from glance_api.access import policy
from glance_api.http import errors
from glance_api.services import services
from glance_registry.client.metadefs import Access

#: The rule that decides whether the caller sees a namespace at all.
SEE = 'get_metadef_namespace'


def allowed_classes(ctx, rule):
    """The classes of namespace on which ``rule`` lets ``ctx`` act."""
    return policy.namespace_classes(services().policy, ctx, rule)


def for_namespace(ctx, rules=(), items=None):
    """The ``Access`` of a call on one namespace that checks ``rules`` (in order),
    whose list shows its items only where the rule ``items`` allows."""
    return Access(see=allowed_classes(ctx, SEE),
                  allow=tuple((rule, allowed_classes(ctx, rule)) for rule in rules),
                  items=None if items is None else allowed_classes(ctx, items))


def enforce_without_namespace(ctx, rule):
    """Enforce ``rule`` on an operation that names no namespace (creating one,
    listing), on upstream's target: the caller's own project. Refused, it is 404
    where ``get_metadef_namespace`` refuses that target too, else 403."""
    target = {'project_id': ctx.project_id} if ctx.project_id is not None else {}
    enforcer = services().policy
    if policy.allowed(enforcer, ctx, rule, target=target):
        return
    if not policy.allowed(enforcer, ctx, SEE, target=target):
        raise errors.NotFound('The resource could not be found.')
    raise errors.Forbidden('You are not authorized to complete %s action.' % rule)
