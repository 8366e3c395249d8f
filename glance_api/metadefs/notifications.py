"""Where the catalog's writes would be announced, once notifications exist.

Every write of ``glance_api.v2.metadefs`` calls ``emit`` exactly once on success
(a bulk tag creation once per tag), with upstream's event type and the API
document of what was written (deleted things as they were):

- ``metadef_namespace.create``, ``.update``, ``.delete``, ``.delete_objects``,
  ``.delete_properties``, ``.delete_tags``
- ``metadef_object.create``, ``.update``, ``.delete``
- ``metadef_property.create``, ``.update``, ``.delete``
- ``metadef_resource_type.create``, ``.delete`` (associations)
- ``metadef_tag.create``, ``.update``, ``.delete``

Sending them (oslo.messaging, upstream's payload shapes) belongs here alone.
"""

import logging

LOG = logging.getLogger(__name__)


def emit(ctx, event_type, payload):
    """Announce ``event_type`` about ``payload``; for now, a debug log line."""
    LOG.debug('%s by %s (request %s): %s', event_type, ctx.user_id, ctx.request_id,
              payload.get('namespace') or payload.get('name'))
