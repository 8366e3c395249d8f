"""Which image attributes clients may write, and upstream's 403 for those they may not."""

from glance_api.http import errors
from glance_registry.client import vocabulary

# Never accepted in a create body.
DISALLOWED_ON_CREATE = frozenset(['direct_url', 'self', 'file', 'schema', 'stores'])
READ_ONLY = frozenset(['created_at', 'updated_at', 'status', 'checksum', 'size',
                       'virtual_size', 'direct_url', 'self', 'file', 'schema', 'id',
                       'os_hash_algo', 'os_hash_value', 'stores'])
RESERVED = frozenset(['location', 'deleted', 'deleted_at'])
# Glance keeps internal state in properties under this prefix (upstream rule).
RESERVED_PREFIX = vocabulary.RESERVED_PROPERTY_PREFIX

# The longest custom property name (upstream's column, and its check on create).
MAX_PROPERTY_NAME = 255

# Base attributes stored as image columns; everything else a client sends besides
# ``tags`` is a custom property.
WRITABLE_BASE = vocabulary.WRITABLE_ATTRIBUTES


def check_writable(name, creating=False):
    """403 for an attribute clients may not write, in upstream's words.

    ``locations`` may not be given on create; in a patch its changes are
    ``glance_api.locations``' to judge.
    """
    if creating and name in DISALLOWED_ON_CREATE:
        raise errors.Forbidden("Attribute '%s' is read-only." % name)
    if name in RESERVED or name.startswith(RESERVED_PREFIX):
        raise errors.Forbidden("Attribute '%s' is reserved." % name)
    if name in READ_ONLY and not (creating and name == 'id'):
        raise errors.Forbidden("Attribute '%s' is read-only." % name)
    if creating and name == 'locations':
        # Upstream's ImageFactory reserves it: locations are added to an existing
        # image (PATCH /locations or POST /v2/images/{id}/locations).
        raise errors.Forbidden("Attribute '%s' is reserved." % name)


def check_property_name(name):
    """400 for a custom property name longer than upstream's column, in its words."""
    if len(name) > MAX_PROPERTY_NAME:
        raise errors.BadRequest('Custom property should not be greater than %d '
                                'characters.' % MAX_PROPERTY_NAME)


def stored_properties(properties):
    """``properties`` as the registry keeps them: one the image schema lets be
    null (``kernel_id``) is stored as absent, since the registry keeps strings
    only."""
    return {name: value for name, value in properties.items() if value is not None}
