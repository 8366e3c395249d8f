"""Where the catalog's writes are announced on the message bus.

Every write of ``glance_api.v2.metadefs`` calls ``emit`` exactly once on success
(a bulk tag creation once per tag), with upstream's event type and the API
document of what was written (deleted things as they were):

- ``metadef_namespace.create``, ``.update``, ``.delete``, ``.delete_objects``,
  ``.delete_properties``, ``.delete_tags``
- ``metadef_object.create``, ``.update``, ``.delete``
- ``metadef_property.create``, ``.update``, ``.delete``
- ``metadef_resource_type.create``, ``.delete`` (associations)
- ``metadef_tag.create``, ``.update``, ``.delete``

They are sent with ``glance_api.notifications.notify`` (oslo.messaging): the
document, with upstream's ``deleted`` and ``deleted_at`` (set by ``.delete``), as
the payload.
"""

import datetime

from glance_api import notifications


def emit(ctx, event_type, payload):
    """Announce ``event_type`` about ``payload`` (after the write committed)."""
    deleted = event_type.endswith('.delete')
    when = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    notifications.notify(ctx, event_type, dict(
        payload, deleted=deleted, deleted_at=when if deleted else None))
