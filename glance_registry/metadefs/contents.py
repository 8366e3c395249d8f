"""What objects, properties and tags have in common: a row named within its
namespace, found, refused when the name is taken, deleted unless the namespace is
protected; and the transactions every operation on a namespace's contents runs in.

The messages are upstream's, which clients show; the reasons (``metadef_not_found``,
``duplicate_metadef``, ``protected``) and details (``resource``, ``namespace``,
``name``) are the registry's.
"""

import contextlib
import dataclasses

from glance_registry import db as db_module
from glance_registry.client import errors
from glance_registry.metadefs import access as access_module
from glance_registry.models import utcnow


@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind of content: its model, what upstream calls it in messages, and
    whether a rename to a taken name has its own message ("Invalid update")."""

    model: type
    label: str
    taken_noun: str
    rename_message: bool = True


@contextlib.contextmanager
def reading(db, identity, access, namespace_name):
    """A read transaction and the namespace, if the caller may see it."""
    with db_module.read_transaction(db):
        yield access_module.namespace_for(db, identity, namespace_name, access)


@contextlib.contextmanager
def writing(db, identity, access, namespace_name):
    """A write transaction and the namespace, locked, if the caller may change it."""
    with db_module.write_transaction(db):
        yield access_module.namespace_for(db, identity, namespace_name, access,
                                          change=True, lock=True)


def row(db, kind, namespace, name):
    """The row of ``kind`` called ``name`` in ``namespace``, or None."""
    model = kind.model
    return (model.select()
            .where((model.namespace == namespace.id) & (model.name == name)).first(db))


def existing(db, kind, namespace, name):
    """The row; ``NotFound`` if there is none."""
    found = row(db, kind, namespace, name)
    if found is None:
        raise errors.NotFound('The metadata definition %s with name=%s was not found '
                              'in namespace=%s.' % (kind.label, name,
                                                    namespace.namespace),
                              reason='metadef_not_found', resource=kind.label,
                              namespace=namespace.namespace, name=name)
    return found


def refuse_taken(db, kind, namespace, name, renaming=False):
    """``Conflict`` if ``namespace`` has a ``kind`` called ``name``."""
    if row(db, kind, namespace, name) is None:
        return
    if renaming and kind.rename_message:
        message = ('Invalid update. It would result in a duplicate %s with the same '
                   'name=%s in namespace=%s.')
    else:
        message = 'A %s with name=%s already exists in namespace=%s.'
    raise duplicate(message % (kind.taken_noun, name, namespace.namespace), kind.label,
                    namespace.namespace, name)


def duplicate(message, resource, namespace_name, name):
    """The error for a name ``namespace_name`` has already (``resource`` says of
    what kind)."""
    return errors.Conflict(message, reason='duplicate_metadef', resource=resource,
                           namespace=namespace_name, name=name)


def refuse_if_protected(namespace, message):
    """``Forbidden`` (``protected``) with ``message`` if ``namespace`` is
    protected."""
    if namespace.protected:
        raise errors.Forbidden(message, reason='protected',
                               namespace=namespace.namespace)


def delete(db, kind, namespace, name):
    """Delete the row; the row as it was. ``NotFound``; ``Forbidden`` if the
    namespace is protected."""
    found = existing(db, kind, namespace, name)
    refuse_if_protected(namespace, 'Metadata definition %s %s is protected and cannot '
                                   'be deleted.' % (kind.label, name))
    kind.model.delete().where(kind.model.id == found.id).execute(db)
    return found


def insert(db, model, columns):
    """A new row of ``model`` with ``columns``, as an instance holding its id."""
    return model(id=model.insert(**columns).execute(db), **columns)


def create(db, kind, namespace, columns):
    """A new row of ``kind`` in ``namespace``; ``Conflict`` if the name is taken."""
    refuse_taken(db, kind, namespace, columns['name'])
    now = utcnow()
    return insert(db, kind.model, dict(columns, namespace=namespace.id, created_at=now,
                                       updated_at=now))


def replace(db, kind, namespace, name, columns):
    """Replace the row called ``name`` with ``columns`` (a new ``name`` renames
    it, ``Conflict`` if taken); the row after. ``NotFound`` if there is none."""
    found = existing(db, kind, namespace, name)
    if columns['name'] != name:
        refuse_taken(db, kind, namespace, columns['name'], renaming=True)
    columns = dict(columns, updated_at=utcnow())
    kind.model.update(**columns).where(kind.model.id == found.id).execute(db)
    for key, value in columns.items():
        setattr(found, key, value)
    return found
