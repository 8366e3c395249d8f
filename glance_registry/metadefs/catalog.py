"""The catalog's files: ``glance-manage db load_metadefs``, ``unload_metadefs`` and
``export_metadefs``.

A catalog file is one namespace as JSON: its attributes (``namespace``,
``display_name``, ``description``, ``visibility``, ``protected``, ``owner``), its
``resource_type_associations``, ``properties`` (name -> definition), ``objects`` and
``tags`` (``[{"name": ...}]``), the shape upstream's ``etc/metadefs`` files have. The
standard catalog (``etc/metadefs`` in the source, installed under
``<prefix>/etc/glance/metadefs``) is what ``load`` reads without a path.

Loading checks every file as the API checks a new namespace and loads each in one
transaction, so a bad file is reported and loads nothing while the others load. A
namespace that exists already is left alone, unless ``merge``: then what it lacks
is added, and with ``prefer_new`` what differs takes the file's value, with
``overwrite`` the namespace ends exactly as the file says (what the file does not
have is removed). Rows change only where the file differs, so loading the same
files twice changes nothing.
"""

import dataclasses
import json
import logging
import os
import re
import sys
import sysconfig

import orjson
import peewee
from oslo_config import cfg

from glance_registry import db as db_module
from glance_registry.client import errors
from glance_registry.metadefs import contents
from glance_registry.metadefs import namespaces
from glance_registry.metadefs import resource_types
from glance_registry.metadefs import validation
from glance_registry.metadefs.models import Association
from glance_registry.metadefs.models import Namespace
from glance_registry.metadefs.models import Object
from glance_registry.metadefs.models import Property
from glance_registry.metadefs.models import ResourceType
from glance_registry.metadefs.models import Tag
from glance_registry.models import utcnow

LOG = logging.getLogger(__name__)

catalog_opts = [
    cfg.StrOpt('metadata_source_path',
               help='Directory of metadata definition files (JSON, one namespace '
                    'each) that `glance-manage db load_metadefs` loads and `db '
                    'export_metadefs` writes when no --path is given. Unset, '
                    'load_metadefs loads the standard catalog installed with '
                    'glance-next, and export_metadefs needs --path.'),
]

# Upstream's loader gives a namespace without an owner to this one.
DEFAULT_OWNER = 'admin'


def register_opts(conf):
    conf.register_opts(catalog_opts)


def standard_catalog():
    """The directory of the standard catalog: installed with the package, or in
    the source tree this module runs from."""
    candidates = [os.path.join(sysconfig.get_path('data'), 'etc', 'glance', 'metadefs'),
                  os.path.join(sys.prefix, 'etc', 'glance', 'metadefs'),
                  os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, 'etc',
                               'metadefs')]
    for candidate in candidates:
        if os.path.isdir(candidate):
            return os.path.normpath(candidate)
    raise FileNotFoundError('the standard metadata definitions catalog is not '
                            'installed (looked in %s)' % ', '.join(candidates))


@dataclasses.dataclass
class Report:
    """What a load did, file by file."""

    loaded: list = dataclasses.field(default_factory=list)
    merged: list = dataclasses.field(default_factory=list)
    unchanged: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)
    failed: list = dataclasses.field(default_factory=list)


class CatalogError(Exception):
    """Options or paths that a catalog command cannot work with."""


def catalog_files(path):
    """The JSON files at ``path`` (a file, or a directory's ``*.json``), sorted."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise CatalogError('%s is neither a file nor a directory' % path)
    files = sorted(os.path.join(path, name) for name in os.listdir(path)
                   if name.endswith('.json')
                   and os.path.isfile(os.path.join(path, name)))
    if not files:
        raise CatalogError('no metadata definition files (*.json) in %s' % path)
    return files


def load(db, path, merge=False, prefer_new=False, overwrite=False):
    """Load the files at ``path`` (see the module's docstring); a ``Report``."""
    if (prefer_new or overwrite) and not merge:
        raise CatalogError('--prefer_new and --overwrite are options of --merge: '
                           'give --merge too')
    if prefer_new and overwrite:
        raise CatalogError('give at most one of --prefer_new and --overwrite')
    report = Report()
    for file_path in catalog_files(path):
        try:
            namespace = _read(file_path)
        except (OSError, ValueError, errors.BadRequest) as exc:
            LOG.error('%s: not loaded: %s', file_path, exc)
            report.failed.append(file_path)
            continue
        try:
            with db_module.connection(db), db_module.write_transaction(db):
                outcome = _load_one(db, namespace, merge, prefer_new, overwrite)
        except (errors.RegistryError, peewee.IntegrityError) as exc:
            # A name given twice in the file: nothing of it was loaded.
            LOG.error('%s: not loaded: %s', file_path, exc)
            report.failed.append(file_path)
            continue
        LOG.info('%s: namespace %s %s', file_path, namespace['values']['namespace'],
                 outcome)
        getattr(report, outcome).append(namespace['values']['namespace'])
    return report


def _read(file_path):
    """A file's namespace, checked: ``{"values", "contents"}``."""
    with open(file_path, 'rb') as f:
        document = orjson.loads(f.read())
    if not isinstance(document, dict):
        raise ValueError('a catalog file holds one JSON object')
    known = set(validation.NAMESPACE_FIELDS) | set(validation.NAMESPACE_CONTENTS)
    unknown = sorted(set(document) - known)
    if unknown:
        raise ValueError('unknown members %s' % ', '.join(unknown))
    values = validation.namespace_values(document)
    # A file without "owner" is upstream's: its namespace is the admins'. An
    # exported namespace that had none (an admin without a project made it) says
    # "owner": null, and keeps none, as upstream's loader keeps it.
    values.setdefault('owner', None if 'owner' in document else DEFAULT_OWNER)
    tags = document.get('tags') or []
    if not isinstance(tags, list) or not all(isinstance(tag, dict) and set(tag) ==
                                             {'name'} for tag in tags):
        raise ValueError("'tags' must be a list of {\"name\": ...} objects")
    included = validation.namespace_contents(dict(
        document, tags=[tag['name'] for tag in tags]))
    return {'values': values, 'contents': included}


def _load_one(db, namespace, merge, prefer_new, overwrite):
    """Load one checked namespace (in the caller's transaction); what happened:
    ``loaded``, ``merged``, ``unchanged`` or ``skipped``. The resource types it
    creates are protected (upstream's "seeded-system" types)."""
    values, included = namespace['values'], namespace['contents']
    now = utcnow()
    row = (Namespace.select().where(Namespace.namespace == values['namespace'])
           .first(db))
    if row is None:
        row = contents.insert(db, Namespace,
                              dict(values, created_at=now, updated_at=now))
        namespaces.add_contents(db, row, included, now, protected_types=True)
        return 'loaded'
    if not merge:
        return 'skipped'
    replace = prefer_new or overwrite
    changed = False
    if replace and any(getattr(row, key) != value for key, value in values.items()):
        Namespace.update(**dict(values, updated_at=now)).where(
            Namespace.id == row.id).execute(db)
        changed = True
    changed |= _merge_associations(db, row, included['resource_type_associations'],
                                   replace, overwrite, now)
    changed |= _merge_named(db, row, Property, {
        name: {'definition': _json(definition)}
        for name, definition in included['properties'].items()},
        replace, overwrite, now)
    changed |= _merge_named(db, row, Object, {
        obj['name']: {'description': obj['description'],
                      'required': _json(obj['required']),
                      'properties': _json(obj['properties'])}
        for obj in included['objects']}, replace, overwrite, now)
    changed |= _merge_named(db, row, Tag, {name: {} for name in included['tags']},
                            replace, overwrite, now)
    return 'merged' if changed else 'unchanged'


def _json(value):
    return orjson.dumps(value).decode()


def _merge_named(db, namespace, model, wanted, replace, overwrite, now):
    """Make ``namespace``'s rows of ``model`` hold ``wanted`` ({name: columns}):
    add the missing, update the different (``replace``), delete the others
    (``overwrite``). Whether anything changed."""
    changed = False
    rows = {row.name: row for row in model.select()
            .where(model.namespace == namespace.id).execute(db)}
    for name, columns in wanted.items():
        row = rows.pop(name, None)
        if row is None:
            model.insert(namespace=namespace.id, name=name, created_at=now,
                         updated_at=now, **columns).execute(db)
            changed = True
        elif replace and any(getattr(row, key) != value
                             for key, value in columns.items()):
            (model.update(updated_at=now, **columns).where(model.id == row.id)
             .execute(db))
            changed = True
    if overwrite and rows:
        (model.delete().where(model.id.in_([row.id for row in rows.values()]))
         .execute(db))
        changed = True
    return changed


def _merge_associations(db, namespace, wanted, replace, overwrite, now):
    changed = False
    rows = {row.resource_type.name: row for row in
            Association.select(Association, ResourceType.name).join(ResourceType)
            .where(Association.namespace == namespace.id).execute(db)}
    for association in wanted:
        row = rows.pop(association['name'], None)
        if row is None:
            resource_types.add_association(db, namespace, association, now,
                                           protected_type=True)
            changed = True
        elif replace and (row.prefix, row.properties_target) != (
                association['prefix'], association['properties_target']):
            (Association.update(prefix=association['prefix'],
                                properties_target=association['properties_target'],
                                updated_at=now)
             .where(Association.id == row.id).execute(db))
            changed = True
    if overwrite and rows:
        (Association.delete()
         .where(Association.id.in_([row.id for row in rows.values()])).execute(db))
        changed = True
    return changed


def unload(db):
    """Delete the whole catalog (every namespace, whoever created it, and every
    resource type); the number of namespaces deleted."""
    with db_module.connection(db), db_module.write_transaction(db):
        count = Namespace.select().count(db)
        for model in (Tag, Property, Object, Association, Namespace, ResourceType):
            model.delete().execute(db)
    return count


def export(db, path):
    """Write every namespace to ``path`` as a catalog file named after it; the
    files written."""
    if not os.path.isdir(path):
        raise CatalogError('%s is not a directory' % path)
    written = []
    with db_module.connection(db), db_module.read_transaction(db):
        taken = set()
        for row in Namespace.select().order_by(Namespace.id).execute(db):
            file_path = os.path.join(path, _file_name(row.namespace, taken))
            with open(file_path, 'w') as f:
                json.dump(_document(db, row), f, indent=4, ensure_ascii=False)
                f.write('\n')
            written.append(file_path)
    return written


def _file_name(name, taken):
    # OS::Compute::Libvirt -> OS-Compute-Libvirt.json (upstream named files after
    # the display name, so two namespaces could overwrite each other's file).
    stem = re.sub(r'[^\w.-]+', '-', name).strip('-.') or 'namespace'
    candidate, number = stem, 1
    while candidate.lower() in taken:
        number += 1
        candidate = '%s-%d' % (stem, number)
    taken.add(candidate.lower())
    return candidate + '.json'


def _document(db, row):
    document = {'namespace': row.namespace}
    for key in ('display_name', 'description', 'visibility', 'protected', 'owner'):
        value = getattr(row, key)
        if value is not None:
            document[key] = bool(value) if key == 'protected' else value
    # Without it, loading the file back would give the namespace to 'admin'.
    document.setdefault('owner', None)
    document['resource_type_associations'] = [
        {key: value for key, value in (('name', association.resource_type.name),
                                       ('prefix', association.prefix),
                                       ('properties_target',
                                        association.properties_target))
         if value is not None}
        for association in Association.select(Association, ResourceType.name)
        .join(ResourceType).where(Association.namespace == row.id)
        .order_by(Association.id).execute(db)]
    document['properties'] = {
        prop.name: orjson.loads(prop.definition) for prop in Property.select()
        .where(Property.namespace == row.id).order_by(Property.id).execute(db)}
    document['objects'] = []
    for obj in (Object.select().where(Object.namespace == row.id).order_by(Object.id)
                .execute(db)):
        exported = {'name': obj.name}
        if obj.description is not None:
            exported['description'] = obj.description
        required = orjson.loads(obj.required)
        if required:
            exported['required'] = required
        exported['properties'] = orjson.loads(obj.properties)
        document['objects'].append(exported)
    document['tags'] = [{'name': tag.name} for tag in Tag.select()
                        .where(Tag.namespace == row.id).order_by(Tag.id).execute(db)]
    return document

