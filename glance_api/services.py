"""What handlers need besides the request, held by the app: ``services()`` returns it."""

import dataclasses

from flask import current_app


@dataclasses.dataclass
class Services:
    """Config, registry client, stores, schemas and policy enforcer of one app."""

    conf: object
    registry: object
    stores: object
    schemas: object
    policy: object


def services():
    """The current app's ``Services``."""
    return current_app.extensions['glance']
