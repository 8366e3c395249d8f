"""The facts the registry and its callers share, each defined once: identifiers,
statuses, attribute names, list limits, lease bounds and the wire's time format."""

import datetime
import re

# An image id: a UUID in its canonical form, hyphens included. The pattern is
# upstream's, as the image schema serves it (glance_api.schemas).
IMAGE_ID_PATTERN = ('^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}'
                    '-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$')
_IMAGE_ID = re.compile(IMAGE_ID_PATTERN)


def is_image_id(value):
    """Whether ``value`` is an image id (a string, whole: no trailing newline)."""
    return isinstance(value, str) and _IMAGE_ID.fullmatch(value) is not None


def names_another_image(url, image_id):
    """Whether the last segment of location ``url`` is the id of an image other than
    ``image_id``: the name under which a store this service writes puts that
    image's data. Any such name counts, whether or not the image exists: asking
    would tell the caller about images it cannot see. (The other half of "the same
    data" is another live image's location at the same URL: the registry's
    ``data_owners``.)"""
    name = url.rstrip('/').rsplit('/', 1)[-1]
    return name != image_id and is_image_id(name)


# Every image status, in the image schema's order; the registry's status table
# (glance_registry.images.status.ALLOWED) says which moves between them are allowed.
IMAGE_STATUSES = ('queued', 'saving', 'active', 'killed', 'deleted', 'uploading',
                  'importing', 'pending_delete', 'deactivated')

MEMBER_STATUSES = ('pending', 'accepted', 'rejected')

VISIBILITIES = ('public', 'private', 'shared', 'community')

# A location whose data is being verified under a lease; the others are 'active'
# (or any status a caller gives).
PENDING_LOCATION = 'pending'
# The locations of an image deleted at once (not pending_delete) take this status
# (upstream's name) in the delete's transaction: its data is still to be removed
# from the stores. Whoever removes it confirms, and they become DATA_REMOVED.
DATA_TO_REMOVE = 'pending_delete'
DATA_REMOVED = 'deleted'

# The image record's own attributes, the images table's columns, in the order the
# registry reads them: no custom property may take one of these names.
IMAGE_ATTRIBUTES = ('id', 'name', 'status', 'visibility', 'protected', 'os_hidden',
                    'checksum', 'os_hash_algo', 'os_hash_value', 'size', 'virtual_size',
                    'min_disk', 'min_ram', 'disk_format', 'container_format', 'owner',
                    'created_at', 'updated_at', 'deleted', 'deleted_at')
# Those a caller may set when creating or updating an image.
WRITABLE_ATTRIBUTES = ('name', 'visibility', 'protected', 'os_hidden', 'min_disk',
                       'min_ram', 'disk_format', 'container_format', 'owner')
# Those describing the image's data, set together with a status change.
DATA_ATTRIBUTES = ('size', 'virtual_size', 'checksum', 'os_hash_algo', 'os_hash_value')
# The image service keeps its own state in properties under this prefix (an
# import's lock and outcome): upstream's rule, no client sets them.
RESERVED_PROPERTY_PREFIX = 'os_glance'

# Images in a page of a list that gives no limit, and the most a page holds: the
# defaults of the options both daemons read (client.list_params.limit_opts).
LIST_LIMIT_DEFAULT = 25
LIST_LIMIT_MAX = 1000

# A day: an upload that cannot renew its lease within that is gone, and verifying
# the data of one location never needs a longer claim.
MAX_LEASE_SECONDS = 86400

# Times on the wire: UTC, ISO 8601, whole seconds, with a Z.
TIMESTAMP_FORMAT = '%Y-%m-%dT%H:%M:%SZ'


def format_timestamp(when):
    """A naive UTC ``datetime`` as the wire writes times; None stays None."""
    if when is None:
        return None
    return when.strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text):
    """A time the wire wrote (``TIMESTAMP_FORMAT``) as an aware UTC ``datetime``;
    ``ValueError`` for any other text."""
    when = datetime.datetime.strptime(text, TIMESTAMP_FORMAT)
    return when.replace(tzinfo=datetime.timezone.utc)
