"""Quotas: the limits an operator sets, and how uploads reserve storage against them.

Per-image limits (``image_member_quota``, ``image_property_quota``,
``image_tag_quota``, ``image_location_quota``) and per-project limits
(``user_storage_quota`` and the ``[image_limits]`` section, whose names are upstream's
unified-limit resources; or, with ``use_keystone_limits``, Keystone's unified limits:
``keystone_limits``) are passed to the registry with each write, which checks them
inside the same transaction; so two racing requests can never both squeeze under a
limit. Negative means unlimited, as upstream.
"""

import dataclasses
import re

from oslo_config import cfg

from glance_api.access import keystone_limits
from glance_registry.client import errors as registry_errors

MiB = 1024 * 1024

quota_opts = [
    cfg.IntOpt('image_member_quota', default=128,
               help='Members an image may have; negative is unlimited.'),
    cfg.IntOpt('image_property_quota', default=128,
               help='Custom properties an image may have; negative is unlimited.'),
    cfg.IntOpt('image_tag_quota', default=128,
               help='Tags an image may have; negative is unlimited.'),
    cfg.IntOpt('image_location_quota', default=10,
               help='Locations an image may have; negative is unlimited.'),
    cfg.StrOpt('user_storage_quota', default='0',
               help='Bytes of image data a project may store, across all its images '
                    'and stores; units B, KB, MB, GB or TB (1024-based) may follow '
                    'the number. 0 is unlimited.'),
    cfg.IntOpt('upload_reservation_step', default=64, min=1,
               help='MiB of storage quota an upload of unknown size (chunked, '
                    'without x-openstack-image-size) reserves at a time when a '
                    'storage limit is set; an upload of known size reserves all of '
                    'it at once. Smaller steps cost more registry calls; an upload '
                    'never goes over the limit whatever the step.'),
]

limit_opts = [
    cfg.IntOpt('image_size_total', default=-1,
               help='MiB of image data each project may store; -1 is unlimited.'),
    cfg.IntOpt('image_count_total', default=-1,
               help='Images each project may have; -1 is unlimited.'),
    cfg.IntOpt('image_count_uploading', default=-1,
               help='Images each project may upload at once; -1 is unlimited.'),
    cfg.IntOpt('image_stage_total', default=-1,
               help='MiB each project may have staged for import; -1 is unlimited.'),
]

_UNITS = {'': 1, 'B': 1, 'KB': 1024, 'MB': MiB, 'GB': 1024 * MiB,
          'TB': 1024 * 1024 * MiB}


def register_opts(conf):
    conf.register_opts(quota_opts)
    keystone_limits.register_opts(conf)
    conf.register_opts(limit_opts, group='image_limits')


def parse_size(text):
    """Bytes in a size such as ``10GB``; ValueError if it is not one."""
    match = re.fullmatch(r'\s*(\d+)\s*([KMGT]?B?)\s*', text.upper())
    if not match:
        raise ValueError('%r is not a size (e.g. 500MB, 10GB)' % text)
    return int(match.group(1)) * _UNITS[match.group(2)]


@dataclasses.dataclass(frozen=True)
class ProjectLimits:
    """One project's limits, in the shapes the registry client takes (-1:
    unlimited)."""

    #: Bytes the project may store.
    max_storage: int
    max_images: int
    max_uploading: int
    #: MiB the project may have staged before a stage is refused.
    max_stage: int


_UNLIMITED = ProjectLimits(-1, -1, -1, -1)


class Quotas:
    """The limits: per image from the config, per project from the config or, with
    ``use_keystone_limits``, from Keystone (``keystone_limits``)."""

    def __init__(self, conf):
        self.conf = conf
        try:
            user_storage = parse_size(conf.user_storage_quota)
        except ValueError as exc:
            raise ValueError('user_storage_quota: %s' % exc)
        limits = [limit for limit in (
            user_storage if user_storage > 0 else -1,
            conf.image_limits.image_size_total * MiB
            if conf.image_limits.image_size_total >= 0 else -1) if limit >= 0]
        self._configured = ProjectLimits(
            max_storage=min(limits) if limits else -1,
            max_images=conf.image_limits.image_count_total,
            max_uploading=conf.image_limits.image_count_uploading,
            max_stage=conf.image_limits.image_stage_total)
        self._keystone = (keystone_limits.KeystoneLimits(conf)
                          if conf.use_keystone_limits else None)

    def for_project(self, project_id):
        """The ``ProjectLimits`` of ``project_id``; in Keystone, those of an image
        without an owner are unlimited."""
        if self._keystone is None:
            return self._configured
        if project_id is None:
            return _UNLIMITED
        found = self._keystone.for_project(project_id)
        size = found['image_size_total']
        return ProjectLimits(max_storage=size * MiB if size >= 0 else -1,
                             max_images=found['image_count_total'],
                             max_uploading=found['image_count_uploading'],
                             max_stage=found['image_stage_total'])

    def max_storage(self, project_id):
        """Bytes ``project_id`` may store, or -1."""
        return self.for_project(project_id).max_storage

    def for_image_write(self, creating=False, owner=None):
        quota = {'max_properties': self.conf.image_property_quota,
                 'max_tags': self.conf.image_tag_quota}
        if creating:
            quota['max_images'] = self.for_project(owner).max_images
        return quota

    def for_upload_start(self, owner, stage=False):
        limits = self.for_project(owner)
        quota = {'max_uploading': limits.max_uploading}
        if stage:
            quota['max_stage'] = limits.max_stage
        return quota

    def usage_document(self, usage, project_id):
        """``GET /v2/info/usage``'s body from the registry's usage counts of
        ``project_id``."""
        limits = self.for_project(project_id)
        size_limit = limits.max_storage // MiB if limits.max_storage >= 0 else -1
        return {'usage': {
            'image_size_total': {'limit': size_limit,
                                 'usage': usage['image_size_total'] // MiB},
            'image_stage_total': {'limit': limits.max_stage,
                                  'usage': usage['image_stage_total'] // MiB},
            'image_count_total': {'limit': limits.max_images,
                                  'usage': usage['image_count_total']},
            'image_count_uploading': {'limit': limits.max_uploading,
                                      'usage': usage['image_count_uploading']},
        }}


class Reservation:
    """Storage reserved for one upload, ahead of its bytes.

    An upload of known size reserves it all at once (``cover_exactly``) before its
    first byte. One of unknown size grows its reservation as the bytes arrive:
    ``cover(total)`` makes sure at least ``total`` bytes are reserved before they are
    written, asking the registry for a step more at a time; when a whole step no
    longer fits, it asks for exactly what is needed, so an upload can use the last
    bytes of a quota but never go past it.
    """

    def __init__(self, registry, identity, image_id, upload_id, max_storage, step,
                 request_id):
        self._registry = registry
        self._identity = identity
        self._image_id = image_id
        self._upload_id = upload_id
        self._max = max_storage
        self._step = step
        self._request_id = request_id
        self.reserved = 0

    @property
    def enabled(self):
        return self._max >= 0

    def cover(self, total):
        """Raise ``registry errors.TooLarge`` if ``total`` bytes do not fit."""
        if not self.enabled or total <= self.reserved:
            return
        try:
            self._reserve(max(total, self.reserved + self._step))
        except registry_errors.TooLarge:
            self._reserve(total)

    def cover_exactly(self, total):
        """Reserve ``total`` bytes, no step more (a declared size); raise ``registry
        errors.TooLarge`` if they do not fit."""
        if self.enabled and total > self.reserved:
            self._reserve(total)

    def _reserve(self, total):
        # An upload's bytes would be lost to a registry restart.
        self._registry.reserve(self._identity, self._image_id, total, self._max,
                               upload_id=self._upload_id,
                               request_id=self._request_id, outlast_outage=True)
        self.reserved = total
