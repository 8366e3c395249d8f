"""What objects, properties and tags have in common: a row named within its
namespace, found, refused when the name is taken, deleted unless the namespace is
protected; and the transactions every operation on a namespace's contents runs in.

The messages are upstream's, which clients show.
"""

import contextlib
import dataclasses

from glance_registry import db as db_module
from glance_registry import errors
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


def row(kind, namespace, name):
    """The row of ``kind`` called ``name`` in ``namespace``, or None."""
    model = kind.model
    return (model.select()
            .where((model.namespace == namespace.id) & (model.name == name)).first())


def existing(kind, namespace, name):
    """The row; ``NotFound`` if there is none."""
    found = row(kind, namespace, name)
    if found is None:
        raise errors.NotFound('The metadata definition %s with name=%s was not found '
                              'in namespace=%s.' % (kind.label, name,
                                                    namespace.namespace),
                              resource=kind.label)
    return found


def refuse_taken(kind, namespace, name, renaming=False):
    """``Conflict`` if ``namespace`` has a ``kind`` called ``name``."""
    if row(kind, namespace, name) is None:
        return
    if renaming and kind.rename_message:
        raise errors.Conflict('Invalid update. It would result in a duplicate %s with '
                              'the same name=%s in namespace=%s.'
                              % (kind.taken_noun, name, namespace.namespace))
    raise errors.Conflict('A %s with name=%s already exists in namespace=%s.'
                          % (kind.taken_noun, name, namespace.namespace))


def delete(kind, namespace, name):
    """Delete the row; the row as it was. ``NotFound``; ``Forbidden`` if the
    namespace is protected."""
    found = existing(kind, namespace, name)
    if namespace.protected:
        raise errors.Forbidden('Metadata definition %s %s is protected and cannot be '
                               'deleted.' % (kind.label, name))
    kind.model.delete().where(kind.model.id == found.id).execute()
    return found


def create(kind, namespace, columns):
    """A new row of ``kind`` in ``namespace``; ``Conflict`` if the name is taken."""
    refuse_taken(kind, namespace, columns['name'])
    now = utcnow()
    return kind.model.create(namespace=namespace.id, created_at=now, updated_at=now,
                             **columns)


def replace(kind, namespace, name, columns):
    """Replace the row called ``name`` with ``columns`` (a new ``name`` renames
    it, ``Conflict`` if taken); the row after. ``NotFound`` if there is none."""
    found = existing(kind, namespace, name)
    if columns['name'] != name:
        refuse_taken(kind, namespace, columns['name'], renaming=True)
    columns = dict(columns, updated_at=utcnow())
    kind.model.update(**columns).where(kind.model.id == found.id).execute()
    for key, value in columns.items():
        setattr(found, key, value)
    return found
