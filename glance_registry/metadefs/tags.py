"""Tags: the names a resource may be tagged with, in a namespace."""

import dataclasses

from glance_registry.metadefs import access as access_module
from glance_registry.metadefs import contents
from glance_registry.metadefs import namespaces
from glance_registry.metadefs import records
from glance_registry.metadefs.models import Tag
from glance_registry.models import utcnow

SORT_KEYS = ('name', 'created_at', 'updated_at')
# Upstream words a taken tag name the same way for a rename.
TAGS = contents.Kind(Tag, 'tag', 'metadata tag', rename_message=False)


@dataclasses.dataclass(frozen=True)
class ListQuery:
    """Tags after ``marker`` (a tag name) in ``sort_key`` order; all of them
    without a ``limit``, as upstream."""

    limit: int | None = None
    marker: str | None = None
    sort_key: str = 'created_at'
    sort_dir: str = 'desc'


def list_tags(db, identity, access, namespace_name, query):
    """A namespace's tags in the query's order; ``NotFound`` for an unknown
    marker."""
    with contents.reading(db, identity, access, namespace_name) as namespace:
        fields = namespaces.sort_fields(Tag, query.sort_key)
        condition = Tag.namespace == namespace.id
        if query.marker is not None:
            marker = contents.existing(db, TAGS, namespace, query.marker)
            condition &= namespaces.after(fields, marker, query.sort_dir)
        if query.limit == 0:
            return []
        rows = (Tag.select().where(condition)
                .order_by(*namespaces.ordering(fields, query.sort_dir)))
        if query.limit is not None:
            rows = rows.limit(query.limit)
        return [records.tag(row) for row in rows.execute(db)]


def get_tag(db, identity, access, namespace_name, name):
    with contents.reading(db, identity, access, namespace_name) as namespace:
        return records.tag(contents.existing(db, TAGS, namespace, name))


@access_module.retrying
def create_tag(db, identity, access, namespace_name, name):
    """Add one tag; its record. ``Conflict`` if the namespace has it."""
    with contents.writing(db, identity, access, namespace_name) as namespace:
        return records.tag(contents.create(db, TAGS, namespace, {'name': name}))


@access_module.retrying
def create_tags(db, identity, access, namespace_name, names, append=False):
    """Add tags; without ``append`` they replace the namespace's tags. Their
    records. ``Conflict`` (and no change) for a name given twice, or, appending,
    one the namespace has. Replacing the tags of a protected namespace that has
    some is ``Forbidden`` (it would delete them). No names change nothing, as
    upstream."""
    with contents.writing(db, identity, access, namespace_name) as namespace:
        if not names:
            return []
        existing = {name for name, in Tag.select(Tag.name)
                    .where(Tag.namespace == namespace.id).tuples().execute(db)}
        if not append:
            if existing:
                contents.refuse_if_protected(
                    namespace, 'Metadata definition namespace %s is protected: its '
                               'tags cannot be replaced, only appended to.'
                               % namespace_name)
            Tag.delete().where(Tag.namespace == namespace.id).execute(db)
            existing = set()
        now = utcnow()
        created = []
        for name in names:
            if name in existing:
                raise contents.duplicate('A metadata tag with name=%s already exists '
                                         'in namespace=%s.' % (name, namespace_name),
                                         'tag', namespace_name, name)
            existing.add(name)
            created.append(records.tag(contents.insert(db, Tag, {
                'namespace': namespace.id, 'name': name, 'created_at': now,
                'updated_at': now})))
        return created


@access_module.retrying
def update_tag(db, identity, access, namespace_name, name, new_name):
    """Rename a tag; its record."""
    with contents.writing(db, identity, access, namespace_name) as namespace:
        return records.tag(contents.replace(db, TAGS, namespace, name,
                                             {'name': new_name}))


@access_module.retrying
def delete_tag(db, identity, access, namespace_name, name):
    """Delete a tag; its record as it was. ``Forbidden`` if the namespace is
    protected."""
    with contents.writing(db, identity, access, namespace_name) as namespace:
        return records.tag(contents.delete(db, TAGS, namespace, name))
