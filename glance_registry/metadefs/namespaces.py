"""Namespaces: list, create (with contents), show, update, delete, and emptying.

Functions take the database, the caller's ``Identity``, the API's ``Access``
verdicts (``access``) and values checked by ``validation``; each runs in one
transaction and returns records (``records``).
"""

import dataclasses
import functools
import operator

import orjson
import peewee

from glance_registry import db as db_module
from glance_registry.client import errors
from glance_registry.metadefs import access as access_module
from glance_registry.metadefs import contents
from glance_registry.metadefs import records
from glance_registry.metadefs import resource_types
from glance_registry.metadefs.models import Association
from glance_registry.metadefs.models import Namespace
from glance_registry.metadefs.models import Object
from glance_registry.metadefs.models import Property
from glance_registry.metadefs.models import ResourceType
from glance_registry.metadefs.models import Tag
from glance_registry.models import utcnow

SORT_KEYS = ('namespace', 'created_at', 'updated_at')
SORT_DIRS = ('asc', 'desc')


@dataclasses.dataclass(frozen=True)
class ListQuery:
    """A page of namespaces: ``limit`` of them after ``marker`` (a namespace name)
    in ``sort_key`` order, of one ``visibility`` and associated with one of
    ``resource_types`` if given."""

    limit: int
    marker: str | None = None
    sort_key: str = 'created_at'
    sort_dir: str = 'desc'
    visibility: str | None = None
    resource_types: tuple | None = None


def sort_fields(model, sort_key):
    """The fields a list of ``model`` sorts by: ``sort_key``, then created_at and
    the id, so that ties are broken and every row has one place."""
    keys = [sort_key] + [key for key in ('created_at', 'id') if key != sort_key]
    return [getattr(model, key) for key in keys]


def ordering(fields, direction):
    return [field.asc() if direction == 'asc' else field.desc() for field in fields]


def after(fields, marker, direction):
    """Rows after ``marker`` in the order of ``fields`` (a keyset condition)."""
    compare = operator.gt if direction == 'asc' else operator.lt
    alternatives = []
    for i, field in enumerate(fields):
        equal = [earlier == getattr(marker, earlier.name) for earlier in fields[:i]]
        alternatives.append(functools.reduce(
            operator.and_, equal + [compare(field, getattr(marker, field.name))]))
    return functools.reduce(operator.or_, alternatives)


def list_namespaces(db, identity, access, query):
    """A page of namespace records (with their resource type associations) and the
    name to continue from (None on the last page). ``NotFound`` for a marker the
    caller cannot see."""
    with db_module.read_transaction(db):
        condition = access_module.listed_for(identity, access.see)
        if query.visibility is not None:
            condition &= Namespace.visibility == query.visibility
        if query.resource_types is not None:
            associated = (Association.select(peewee.SQL('1'))
                          .join(ResourceType)
                          .where((Association.namespace == Namespace.id)
                                 & ResourceType.name.in_(list(query.resource_types))))
            condition &= peewee.fn.EXISTS(associated)
        fields = sort_fields(Namespace, query.sort_key)
        if query.marker is not None:
            marker = (Namespace.select()
                      .where((Namespace.namespace == query.marker)
                             & access_module.listed_for(identity, access.see))
                      .first(db))
            if marker is None:
                raise access_module.namespace_not_found(query.marker)
            condition &= after(fields, marker, query.sort_dir)
        if query.limit == 0:
            return [], None
        rows = list(Namespace.select().where(condition)
                    .order_by(*ordering(fields, query.sort_dir))
                    .limit(query.limit + 1).execute(db))
        page = rows[:query.limit]
        associations = resource_types.associations_of(db, [row.id for row in page])
        next_marker = page[-1].namespace if len(rows) > query.limit else None
        return [records.namespace(row, associations[row.id]) for row in page], \
            next_marker


def get_namespace(db, identity, access, name, resource_type=None):
    """The full record of a namespace: its resource type associations, properties,
    objects and tags. With ``resource_type`` (associated with a prefix) the names
    of its properties, and those objects list and require, carry the prefix."""
    with contents.reading(db, identity, access, name) as namespace:
        record = _full_record(db, namespace)
    if resource_type is not None:
        _apply_prefix(record, resource_type)
    return record


def _full_record(db, namespace):
    record = records.namespace(
        namespace, resource_types.associations_of(db, [namespace.id])[namespace.id])
    record['properties'] = {
        row.name: records.property_definition(row)
        for row in Property.select().where(Property.namespace == namespace.id)
        .order_by(Property.id).execute(db)}
    record['objects'] = [records.object_(row) for row in Object.select()
                         .where(Object.namespace == namespace.id).order_by(Object.id)
                         .execute(db)]
    # Newest first, as the tag list's default order.
    record['tags'] = [records.tag(row) for row in Tag.select()
                      .where(Tag.namespace == namespace.id)
                      .order_by(Tag.created_at.desc(), Tag.id.desc()).execute(db)]
    return record


def _apply_prefix(record, resource_type):
    prefix = next((association['prefix'] for association
                   in record['resource_type_associations']
                   if association['name'] == resource_type), None)
    if not prefix:
        return
    record['properties'] = {prefix + name: definition
                            for name, definition in record['properties'].items()}
    for obj in record['objects']:
        obj['properties'] = {prefix + name: definition
                             for name, definition in obj['properties'].items()}
        obj['required'] = [prefix + name for name in obj['required']]


def owner_for(identity, values):
    """The owner of a namespace a caller creates or updates with ``values``: the
    one given, else the caller's project. ``Forbidden`` for a caller who is not an
    admin and gives another project (or has none)."""
    owner = values.get('owner', identity.project_id)
    if not identity.is_admin and (owner is None or owner != identity.project_id):
        raise errors.Forbidden('You are not permitted to create or update a metadata '
                               'definition namespace owned by %s.' % owner,
                               reason='not_owner', owner=owner)
    return owner


def _refuse_duplicate(db, name, renaming=False):
    if Namespace.select().where(Namespace.namespace == name).exists(db):
        if renaming:
            message = ('Invalid update. It would result in a duplicate metadata '
                       'definition namespace with the same name of %s' % name)
        else:
            message = 'The metadata definition namespace=%s already exists.' % name
        raise contents.duplicate(message, 'namespace', name, name)


@access_module.retrying
def create_namespace(db, identity, values, included):
    """Create a namespace with the contents ``included``
    (``validation.namespace_contents``) in one transaction; its full record.
    ``Conflict`` if the name is taken or the contents repeat a name."""
    with db_module.write_transaction(db):
        owner = owner_for(identity, values)
        _refuse_duplicate(db, values['namespace'])
        now = utcnow()
        namespace = contents.insert(db, Namespace, dict(
            values, owner=owner, created_at=now, updated_at=now))
        add_contents(db, namespace, included, now)
        return _full_record(db, namespace)


def add_contents(db, namespace, included, now, protected_types=False):
    """Add the properties, objects, tags and associations ``included`` to
    ``namespace`` (a new row, in the caller's transaction; resource types created
    ``protected_types``); ``Conflict`` for a name given twice."""
    name = namespace.namespace
    stamps = {'namespace': namespace.id, 'created_at': now, 'updated_at': now}
    for property_name, definition in included['properties'].items():
        contents.insert(db, Property, dict(
            stamps, name=property_name, definition=orjson.dumps(definition).decode()))
    _refuse_repeats([obj['name'] for obj in included['objects']],
                    'A metadata definition object with name=%s already exists in '
                    'namespace=' + name + '.', 'object', name)
    for obj in included['objects']:
        contents.insert(db, Object, dict(
            stamps, name=obj['name'], description=obj['description'],
            required=orjson.dumps(obj['required']).decode(),
            properties=orjson.dumps(obj['properties']).decode()))
    _refuse_repeats(included['tags'], 'A metadata tag with name=%s already exists in '
                                      'namespace=' + name + '.', 'tag', name)
    for tag in included['tags']:
        contents.insert(db, Tag, dict(stamps, name=tag))
    for association in included['resource_type_associations']:
        resource_types.add_association(db, namespace, association, now,
                                       protected_types)


def _refuse_repeats(names, message, resource, namespace_name):
    seen = set()
    for name in names:
        if name in seen:
            raise contents.duplicate(message % name, resource, namespace_name, name)
        seen.add(name)


@access_module.retrying
def update_namespace(db, identity, access, name, values):
    """Replace the base attributes of a namespace (a rename too); its base record.
    ``Conflict`` if the new name is taken."""
    with contents.writing(db, identity, access, name) as namespace:
        values = dict(values, owner=owner_for(identity, values))
        if values['namespace'] != namespace.namespace:
            _refuse_duplicate(db, values['namespace'], renaming=True)
        values['updated_at'] = utcnow()
        Namespace.update(**values).where(Namespace.id == namespace.id).execute(db)
        for key, value in values.items():
            setattr(namespace, key, value)
        return records.namespace(namespace)


@access_module.retrying
def delete_namespace(db, identity, access, name):
    """Delete a namespace and everything in it; its base record as it was.
    ``Forbidden`` if it is protected."""
    with contents.writing(db, identity, access, name) as namespace:
        _refuse_if_protected(namespace)
        record = records.namespace(namespace)
        # Its contents go by ON DELETE CASCADE.
        Namespace.delete().where(Namespace.id == namespace.id).execute(db)
        return record


CONTENTS = {'objects': Object, 'properties': Property, 'tags': Tag}


@access_module.retrying
def delete_contents(db, identity, access, name, kind):
    """Delete every object, property or tag (``kind``) of a namespace; its base
    record. ``Forbidden`` if it is protected."""
    with contents.writing(db, identity, access, name) as namespace:
        _refuse_if_protected(namespace)
        model = CONTENTS[kind]
        model.delete().where(model.namespace == namespace.id).execute(db)
        return records.namespace(namespace)


def _refuse_if_protected(namespace):
    contents.refuse_if_protected(
        namespace, 'Metadata definition namespace %s is protected and cannot be '
                   'deleted.' % namespace.namespace)
