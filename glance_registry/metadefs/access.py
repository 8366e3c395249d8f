"""Who sees a namespace and who changes it, enforced in every query and write.

The registry's own rules, whatever the caller: an admin sees and changes every
namespace; anyone else sees the public ones and those its project owns, and changes
only those its project owns (it cannot give one to another project either). A
namespace the caller may not see is ``NotFound``, as if it did not exist.

Within these rules the API applies its policy (upstream's ``metadef_*`` rules,
which operators may change) in the same call, so that a write is judged and done in
one round trip. A rule's verdict depends on the namespace only through its owner and
visibility, so the API evaluates each rule for the four *classes* of namespace, as
seen from the caller (``own-public``, ``own-private``, ``other-public``,
``other-private``), and sends the classes each rule allows
(``glance_registry.client.metadefs.Access``):

- ``see``: the classes ``get_metadef_namespace`` allows; any other namespace is
  ``NotFound``, and a list leaves it out;
- ``allow``: ``(rule, classes)`` pairs; a namespace of another class is
  ``Forbidden`` (reason ``policy_denied``) naming the rule;
- ``items``: the classes whose contents a list shows (``get_metadef_object`` for
  objects); for the others the list is empty.

A caller that sends none is judged by the registry's rules alone, and, for every
write, by the registry's own policy (``guard.Guard.catalog_access``, which the
handlers add to whatever the caller sent).
"""

import functools
import logging

import peewee

from glance_registry import db as db_module
from glance_registry.client import errors
from glance_registry.client.metadefs import Access
from glance_registry.client.metadefs import CLASSES
from glance_registry.metadefs.models import Namespace

LOG = logging.getLogger(__name__)

VISIBILITIES = ('public', 'private')


def parse(see=None, allow=(), items=None):
    """The ``Access`` that the query parameters ``see=<classes>``,
    ``allow=<rule>:<classes>`` (repeatable) and ``items=<classes>`` carry
    (comma-separated classes)."""
    rules = []
    for value in allow:
        rule, colon, classes = value.partition(':')
        if not colon or not rule:
            raise errors.BadRequest.invalid_value(
                "'allow' must read <rule>:<classes>, not %r" % value, 'allow')
        rules.append((rule, _classes('allow', classes)))
    return Access(see=None if see is None else _classes('see', see),
                  allow=tuple(rules),
                  items=None if items is None else _classes('items', items))


def _classes(name, value):
    classes = frozenset(c for c in value.split(',') if c)
    unknown = sorted(classes - set(CLASSES))
    if unknown:
        raise errors.BadRequest.invalid_value("'%s' names unknown classes %s: use %s"
                                              % (name, ', '.join(unknown),
                                                 ', '.join(CLASSES)), name)
    return classes


def class_of(identity, namespace):
    """The class of ``namespace`` (a row) as ``identity`` sees it."""
    own = identity.project_id is not None and namespace.owner == identity.project_id
    return '%s-%s' % ('own' if own else 'other',
                      'public' if namespace.visibility == 'public' else 'private')


def may_change(identity, namespace):
    return identity.is_admin or (identity.project_id is not None
                                 and namespace.owner == identity.project_id)


def visible_to(identity):
    """The namespaces ``identity`` may see at all (the registry's rule)."""
    if identity.is_admin:
        return peewee.SQL('1 = 1')
    visible = Namespace.visibility == 'public'
    if identity.project_id is not None:
        visible |= Namespace.owner == identity.project_id
    return visible


def listed_for(identity, see):
    """The namespaces a list shows: visible, and of a class in ``see`` (if any)."""
    condition = visible_to(identity)
    if see is None:
        return condition
    by_class = [_class_condition(identity, cls) for cls in sorted(see)]
    by_class = [c for c in by_class if c is not None]
    if not by_class:
        return peewee.SQL('1 = 0')
    return condition & functools.reduce(lambda a, b: a | b, by_class)


def _class_condition(identity, cls):
    owner, visibility = cls.split('-')
    public = Namespace.visibility == 'public'
    condition = public if visibility == 'public' else (Namespace.visibility != 'public')
    project = identity.project_id
    if owner == 'own':
        if project is None:
            return None
        return condition & (Namespace.owner == project)
    if project is None:
        return condition
    return condition & ((Namespace.owner != project) | Namespace.owner.is_null())


def namespace_for(db, identity, name, access, change=False, lock=False):
    """The ``Namespace`` row called ``name``, if the caller may see it and ``access``
    lets it go on: ``NotFound`` otherwise, or ``Forbidden`` (``policy_denied``: a
    rule of ``access`` refuses; ``not_owner``: ``change`` and the caller may not
    change it). ``lock`` locks the row until the transaction ends, so writers of
    one namespace take turns."""
    query = Namespace.select().where((Namespace.namespace == name)
                                     & visible_to(identity))
    if lock and db_module.dialect(db) != 'sqlite':
        query = query.for_update()
    namespace = query.first(db)
    if namespace is not None and access.see is not None \
            and class_of(identity, namespace) not in access.see:
        namespace = None
    if namespace is None:
        raise namespace_not_found(name)
    cls = class_of(identity, namespace)
    for rule, classes in access.allow:
        if cls not in classes:
            raise errors.Forbidden('You are not authorized to complete %s action.'
                                   % rule, reason='policy_denied', rule=rule)
    if change and not may_change(identity, namespace):
        raise errors.Forbidden('Only an admin or the owner of metadata definition '
                               'namespace %s may change it.' % name,
                               reason='not_owner', namespace=name)
    return namespace


def namespace_not_found(name):
    """The error for a namespace that is absent or that the caller may not see."""
    return errors.NotFound('Metadata definition namespace=%s was not found.' % name,
                           reason='metadef_not_found', resource='namespace',
                           namespace=name)


def shows_items(identity, namespace, access):
    """Whether a list of the namespace's contents shows them (``items``)."""
    return access.items is None or class_of(identity, namespace) in access.items


_RETRIES = 3


def retrying(function):
    """Run a write again when it lost a race: a deadlock (MariaDB), or a unique
    index that a concurrent writer filled first. Every write checks for duplicates
    before it inserts, so the second run answers precisely (``Conflict``, or
    success where the other writer created what this one needed)."""
    @functools.wraps(function)
    def run(*args, **kwargs):
        for attempt in range(_RETRIES):
            try:
                return function(*args, **kwargs)
            except peewee.IntegrityError:
                if attempt + 1 == _RETRIES:
                    raise errors.Conflict('A concurrent change conflicted with this '
                                          'one; try again.',
                                          reason='concurrent_change') from None
            except peewee.OperationalError as exc:
                if 'deadlock' not in str(exc).lower() or attempt + 1 == _RETRIES:
                    raise
            LOG.info('%s lost a race, retrying', function.__name__)
    return run
