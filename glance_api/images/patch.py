"""Image JSON patches: upstream's subset of RFC 6902 in its two media types.

``parse`` turns a request body into ``Change`` records (or a 400); ``apply`` plays them
on an image record and returns the ``Update`` to send to the registry (or a 403/409).
Only ``add``, ``remove`` and ``replace`` exist, on top-level paths; ``/tags`` is
replaced as a whole. Media type 2.1 (``{"op": "add", "path": "/x", "value": ...}``)
lets ``add`` overwrite a property; the older 2.0 form (``{"add": "/x", "value": ...}``)
answers 409 when the property is already there.

The one deeper path is upstream's: ``add`` and ``remove`` of a location name its
index, ``/locations/N`` (``-``: the end), while ``replace`` takes ``/locations``
whole. ``apply`` never sees those changes: ``glance_api.locations`` plays them.
"""

import dataclasses
import re

from glance_api.access import attributes
from glance_api.http import errors

MEDIA_TYPE_2_1 = 'application/openstack-images-v2.1-json-patch'
MEDIA_TYPE_2_0 = 'application/openstack-images-v2.0-json-patch'
MEDIA_TYPES = (MEDIA_TYPE_2_0, MEDIA_TYPE_2_1)
OPERATIONS = ('add', 'remove', 'replace')


# Depth of the pointers each operation takes on ``locations`` (upstream's
# _path_depth_limits); every other attribute takes depth 1.
LOCATIONS = 'locations'
_LOCATION_DEPTHS = {'add': 2, 'remove': 2, 'replace': 1}


@dataclasses.dataclass(frozen=True)
class Change:
    op: str
    name: str
    value: object = None
    #: The second token of a ``/locations/N`` pointer (a string), else None.
    index: str | None = None


@dataclasses.dataclass
class Update:
    """What a patch changes: base ``values``, ``properties`` (None removes) and tags;
    and ``expected_properties``, what it judged on the image as read: for each
    property whose first operation needs it to exist (``replace``, ``remove``:
    True) or not (the 2.0 ``add``: False). The registry checks them again where it
    writes, so that a patch racing another writer fails as it would have after it."""

    document: dict
    values: dict
    properties: dict
    tags: list | None
    expected_properties: dict = dataclasses.field(default_factory=dict)

    def is_empty(self):
        return not (self.values or self.properties or self.tags is not None)


def parse(body, media_type):
    """The changes a patch document asks for; 400 if it is not a valid patch."""
    if not isinstance(body, list):
        raise errors.BadRequest('A JSON patch must be a JSON array of operation '
                                'objects.')
    changes = []
    for operation in body:
        if not isinstance(operation, dict):
            raise errors.BadRequest('Each patch operation must be a JSON object.')
        if media_type == MEDIA_TYPE_2_1:
            op, path = _parse_2_1(operation)
        else:
            op, path = _parse_2_0(operation)
        if op in ('add', 'replace') and 'value' not in operation:
            raise errors.BadRequest('Operation "%s" requires a member named "value".'
                                    % op)
        tokens = _parse_pointer(path)
        depth = _LOCATION_DEPTHS[op] if tokens[0] == LOCATIONS else 1
        if len(tokens) != depth:
            if tokens[0] != LOCATIONS:
                raise errors.BadRequest('Nested paths are not allowed: `%s`.' % path)
            raise errors.BadRequest("Invalid JSON pointer for this resource: '%s'"
                                    % path)
        changes.append(Change(op, tokens[0], operation.get('value'),
                              tokens[1] if depth == 2 else None))
    return changes


def split_locations(changes):
    """``(location changes, other changes)``, each in the order given."""
    return ([change for change in changes if change.name == LOCATIONS],
            [change for change in changes if change.name != LOCATIONS])


def _parse_2_1(operation):
    op = operation.get('op')
    if op not in OPERATIONS:
        raise errors.BadRequest('Operation "op" must be one of "add", "remove" or '
                                '"replace", not %r.' % (op,))
    if 'path' not in operation:
        raise errors.BadRequest('Operation "%s" requires a member named "path".' % op)
    return op, operation['path']


def _parse_2_0(operation):
    ops = [key for key in OPERATIONS if key in operation]
    if len(ops) != 1:
        raise errors.BadRequest('Operation objects must contain exactly one member '
                                'named "add", "remove", or "replace".')
    return ops[0], operation[ops[0]]


def _parse_pointer(path):
    """The decoded tokens of a JSON pointer (at most two; see ``parse``)."""
    if not isinstance(path, str) or not path.startswith('/'):
        raise errors.BadRequest('Pointer `%s` does not start with "/".' % (path,))
    tokens = path[1:].split('/')
    if '//' in path:
        raise errors.BadRequest('Pointer `%s` contains adjacent "/".' % path)
    if len(path) > 1 and path.endswith('/'):
        raise errors.BadRequest('Pointer `%s` ends with "/".' % path)
    if not all(tokens):
        raise errors.BadRequest('Pointer `%s` does not contain a valid token.' % path)
    if len(tokens) > 2:
        raise errors.BadRequest('Nested paths are not allowed: `%s`.' % path)
    # Upstream's test: each "~" must start "~0" or "~1" (removing the escapes
    # one kind after the other would let "~~01" through).
    if re.search('~[^01]', path) or path.endswith('~'):
        raise errors.BadRequest('Pointer `%s` contains "~" not part of a '
                                'recognized escape sequence.' % path)
    return [token.replace('~1', '/').replace('~0', '~') for token in tokens]


def apply(changes, record, schemas, media_type=MEDIA_TYPE_2_1):
    """Play ``changes`` on the image ``record``; the resulting ``Update``.

    As upstream's deserializer, every change is checked before any is played: the
    attribute must be writable (403) and the value it sets must fit the image
    schema (400). Only the values a patch sets are validated, never the image as
    stored: an image whose disk_format the operator has since dropped from
    ``disk_formats`` can still be renamed, unprotected and deleted. A custom
    property the schema requires may not be removed (400).
    """
    base_properties = schemas.base_properties
    for change in changes:
        attributes.check_writable(change.name)
        if change.op != 'remove':
            if change.name not in base_properties:
                attributes.check_property_name(change.name)
            schemas.validate_values({change.name: change.value})
            schemas.check_required_given({change.name: change.value})
        elif (change.name in schemas.required_properties
              and change.name not in base_properties):
            # Ours: upstream checks required properties on create only, so a
            # patch could take away what the operator made mandatory.
            raise errors.BadRequest("Property %s is required by the image schema "
                                    "and may not be removed." % change.name)
    base = {key: record.get(key) for key in attributes.WRITABLE_BASE}
    properties = dict(record.get('properties') or {})
    tags = list(record.get('tags') or [])
    expected = {}
    for change in changes:
        name = change.name
        if name == 'tags' or name in base_properties:
            if change.op == 'remove':
                raise errors.Forbidden('Property %s may not be removed.' % name)
            if change.op == 'add' and media_type == MEDIA_TYPE_2_0:
                # Upstream's draft-4 add: a base attribute is always present.
                raise errors.Conflict('Property %s already present.' % name)
            if name == 'tags':
                tags = change.value
            else:
                base[name] = change.value
            continue
        # Only a property's first operation reads the image as stored; the later
        # ones read what the patch made of it.
        expected.setdefault(name, _precondition(change.op, media_type))
        if change.op == 'add':
            if media_type == MEDIA_TYPE_2_0 and name in properties:
                raise errors.Conflict('Property %s already present.' % name)
            properties[name] = change.value
        elif name not in properties:
            raise errors.Conflict('Property %s does not exist.' % name)
        elif change.op == 'replace':
            properties[name] = change.value
        else:
            del properties[name]

    properties = attributes.stored_properties(properties)
    document = dict(properties, **base, tags=tags)
    old_properties = record.get('properties') or {}
    property_changes = {key: value for key, value in properties.items()
                        if old_properties.get(key) != value}
    property_changes.update({key: None for key in old_properties
                             if key not in properties})
    old_tags = sorted(record.get('tags') or [])
    new_tags = None
    if sorted(set(tags)) != old_tags:
        new_tags = sorted(set(tags))
    return Update(
        document=document,
        values={key: value for key, value in base.items() if value != record.get(key)},
        properties=property_changes,
        tags=new_tags,
        expected_properties={name: present for name, present in expected.items()
                             if present is not None})


def _precondition(op, media_type):
    """Whether an operation needs its property to exist (True), to be absent
    (False), or neither (None): 2.1's ``add`` sets it either way."""
    if op != 'add':
        return True
    return False if media_type == MEDIA_TYPE_2_0 else None
