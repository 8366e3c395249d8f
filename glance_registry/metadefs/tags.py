"""Tags: the names a resource may be tagged with, in a namespace."""

import dataclasses

from glance_registry import db as db_module
from glance_registry import errors
from glance_registry.metadefs import access as access_module
from glance_registry.metadefs import namespaces
from glance_registry.metadefs import records
from glance_registry.metadefs.models import Tag
from glance_registry.models import utcnow

SORT_KEYS = ('name', 'created_at', 'updated_at')


@dataclasses.dataclass(frozen=True)
class ListQuery:
    """Tags after ``marker`` (a tag name) in ``sort_key`` order; all of them
    without a ``limit``, as upstream."""

    limit: int | None = None
    marker: str | None = None
    sort_key: str = 'created_at'
    sort_dir: str = 'desc'


def _not_found(name, namespace_name):
    return errors.NotFound('The metadata definition tag with name=%s was not found in '
                           'namespace=%s.' % (name, namespace_name), resource='tag')


def _duplicate(name, namespace_name):
    return errors.Conflict('A metadata tag with name=%s already exists in '
                           'namespace=%s.' % (name, namespace_name))


def _row(namespace, name):
    return (Tag.select().where((Tag.namespace == namespace.id) & (Tag.name == name))
            .first())


def list_tags(db, identity, access, namespace_name, query):
    """A namespace's tags in the query's order; ``NotFound`` for an unknown
    marker."""
    with db_module.read_transaction(db):
        namespace = access_module.namespace_for(db, identity, namespace_name, access)
        keys = [query.sort_key] + [key for key in ('created_at', 'id')
                                   if key != query.sort_key]
        fields = [getattr(Tag, key) for key in keys]
        condition = Tag.namespace == namespace.id
        if query.marker is not None:
            marker = _row(namespace, query.marker)
            if marker is None:
                raise _not_found(query.marker, namespace_name)
            condition &= namespaces._after(fields, marker, query.sort_dir)
        if query.limit == 0:
            return []
        order = [field.asc() if query.sort_dir == 'asc' else field.desc()
                 for field in fields]
        rows = Tag.select().where(condition).order_by(*order)
        if query.limit is not None:
            rows = rows.limit(query.limit)
        return [records.tag(row) for row in rows]


def get_tag(db, identity, access, namespace_name, name):
    with db_module.read_transaction(db):
        namespace = access_module.namespace_for(db, identity, namespace_name, access)
        row = _row(namespace, name)
        if row is None:
            raise _not_found(name, namespace_name)
        return records.tag(row)


@access_module.retrying
def create_tag(db, identity, access, namespace_name, name):
    """Add one tag; its record. ``Conflict`` if the namespace has it."""
    with db_module.write_transaction(db):
        namespace = access_module.namespace_for(db, identity, namespace_name, access,
                                                change=True, lock=True)
        if _row(namespace, name) is not None:
            raise _duplicate(name, namespace_name)
        now = utcnow()
        return records.tag(Tag.create(namespace=namespace.id, name=name,
                                      created_at=now, updated_at=now))


@access_module.retrying
def create_tags(db, identity, access, namespace_name, names, append=False):
    """Add tags; without ``append`` they replace the namespace's tags. Their
    records. ``Conflict`` (and no change) for a name given twice, or, appending,
    one the namespace has. Replacing the tags of a protected namespace that has
    some is ``Forbidden`` (it would delete them). No names change nothing, as
    upstream."""
    with db_module.write_transaction(db):
        namespace = access_module.namespace_for(db, identity, namespace_name, access,
                                                change=True, lock=True)
        if not names:
            return []
        existing = {row.name for row in Tag.select(Tag.name)
                    .where(Tag.namespace == namespace.id)}
        if not append:
            if existing and namespace.protected:
                raise errors.Forbidden('Metadata definition namespace %s is protected: '
                                       'its tags cannot be replaced, only appended to.'
                                       % namespace_name)
            Tag.delete().where(Tag.namespace == namespace.id).execute()
            existing = set()
        now = utcnow()
        created = []
        for name in names:
            if name in existing:
                raise _duplicate(name, namespace_name)
            existing.add(name)
            created.append(records.tag(Tag.create(namespace=namespace.id, name=name,
                                                  created_at=now, updated_at=now)))
        return created


@access_module.retrying
def update_tag(db, identity, access, namespace_name, name, new_name):
    """Rename a tag; its record."""
    with db_module.write_transaction(db):
        namespace = access_module.namespace_for(db, identity, namespace_name, access,
                                                change=True, lock=True)
        row = _row(namespace, name)
        if row is None:
            raise _not_found(name, namespace_name)
        if new_name != name and _row(namespace, new_name) is not None:
            raise _duplicate(new_name, namespace_name)
        row.name, row.updated_at = new_name, utcnow()
        (Tag.update(name=row.name, updated_at=row.updated_at)
         .where(Tag.id == row.id).execute())
        return records.tag(row)


@access_module.retrying
def delete_tag(db, identity, access, namespace_name, name):
    """Delete a tag; its record as it was. ``Forbidden`` if the namespace is
    protected."""
    with db_module.write_transaction(db):
        namespace = access_module.namespace_for(db, identity, namespace_name, access,
                                                change=True, lock=True)
        row = _row(namespace, name)
        if row is None:
            raise _not_found(name, namespace_name)
        if namespace.protected:
            raise errors.Forbidden('Metadata definition tag %s is protected and cannot '
                                   'be deleted.' % name)
        Tag.delete().where(Tag.id == row.id).execute()
        return records.tag(row)
