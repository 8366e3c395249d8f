"""Quotas: the limits an operator sets, and how uploads reserve storage against them.

Per-image limits (``image_member_quota``, ``image_property_quota``,
``image_tag_quota``, ``image_location_quota``) and per-project limits
(``user_storage_quota`` and the ``[image_limits]`` section, whose names are upstream's
unified-limit resources) are passed to the registry with each write, which checks them
inside the same transaction; so two racing requests can never both squeeze under a
limit. Negative means unlimited, as upstream.
"""

import re

from oslo_config import cfg

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
               help='MiB of storage quota an upload reserves at a time when a '
                    'storage limit is set. Smaller steps cost more registry calls; '
                    'an upload never goes over the limit whatever the step.'),
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
    conf.register_opts(limit_opts, group='image_limits')


def parse_size(text):
    """Bytes in a size such as ``10GB``; ValueError if it is not one."""
    match = re.fullmatch(r'\s*(\d+)\s*([KMGT]?B?)\s*', text.upper())
    if not match:
        raise ValueError('%r is not a size (e.g. 500MB, 10GB)' % text)
    return int(match.group(1)) * _UNITS[match.group(2)]


class Quotas:
    """The configured limits, in the shapes the registry client takes."""

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
        #: Bytes a project may store, or -1.
        self.max_storage = min(limits) if limits else -1

    def for_image_write(self, creating=False):
        quota = {'max_properties': self.conf.image_property_quota,
                 'max_tags': self.conf.image_tag_quota}
        if creating:
            quota['max_images'] = self.conf.image_limits.image_count_total
        return quota

    def for_upload_start(self):
        return {'max_uploading': self.conf.image_limits.image_count_uploading}

    def usage_document(self, usage):
        """``GET /v2/info/usage``'s body from the registry's usage counts."""
        limits = self.conf.image_limits
        size_limit = self.max_storage // MiB if self.max_storage >= 0 else -1
        return {'usage': {
            'image_size_total': {'limit': size_limit,
                                 'usage': usage['image_size_total'] // MiB},
            'image_stage_total': {'limit': limits.image_stage_total,
                                  'usage': usage['image_stage_total'] // MiB},
            'image_count_total': {'limit': limits.image_count_total,
                                  'usage': usage['image_count_total']},
            'image_count_uploading': {'limit': limits.image_count_uploading,
                                      'usage': usage['image_count_uploading']},
        }}


class Reservation:
    """Storage reserved for one upload, grown ahead of the bytes as they arrive.

    ``cover(total)`` makes sure at least ``total`` bytes are reserved before they are
    written, asking the registry for a step more at a time; when a whole step no
    longer fits, it asks for exactly what is needed, so an upload can use the last
    bytes of a quota but never go past it.
    """

    def __init__(self, registry, identity, image_id, max_storage, step, request_id):
        self._registry = registry
        self._identity = identity
        self._image_id = image_id
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

    def _reserve(self, total):
        self._registry.reserve(self._identity, self._image_id, total, self._max,
                               request_id=self._request_id)
        self.reserved = total
