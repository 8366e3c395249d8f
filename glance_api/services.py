"""What handlers need besides the request, held by the app: ``services()`` returns it.

The ground every layer of ``glance_api`` may import: it imports none of them at run
time (the types below are for readers and type checkers only).
"""

from __future__ import annotations

import dataclasses
import typing

from flask import current_app

if typing.TYPE_CHECKING:
    from oslo_config import cfg
    from oslo_policy import policy

    from glance_api.access.protections import PropertyProtections
    from glance_api.access.quotas import Quotas
    from glance_api.data.cache.image_cache import ImageCache
    from glance_api.images.schemas import Schemas
    from glance_registry.client import RegistryClient
    from stores import StoreSet


@dataclasses.dataclass
class Services:
    """Config, registry client, stores, schemas, policy enforcer and quotas of one app
    (built by ``glance_api.app.create_app``, the one composition root)."""

    conf: cfg.ConfigOpts
    registry: RegistryClient
    stores: StoreSet
    schemas: Schemas
    policy: policy.Enforcer
    quotas: Quotas
    #: None when properties are not protected.
    protections: PropertyProtections | None = None
    #: This node's image cache; None when ``image_cache_dir`` is unset.
    cache: ImageCache | None = None


def services() -> Services:
    """The current app's ``Services``."""
    return current_app.extensions['glance']
