"""What handlers need besides the request, held by the app: ``services()`` returns it."""

import dataclasses

from flask import current_app


@dataclasses.dataclass
class Services:
    """Config, registry client, stores, schemas, policy enforcer and quotas of one app."""

    conf: object
    registry: object
    stores: object
    schemas: object
    policy: object
    quotas: object
    #: ``PropertyProtections``, or None when properties are not protected.
    protections: object = None


def services():
    """The current app's ``Services``."""
    return current_app.extensions['glance']
