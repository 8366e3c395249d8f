"""Per-project limits kept in Keystone (unified limits), read with oslo.limit.

With ``[DEFAULT] use_keystone_limits = true`` a project's limits are the Keystone
limits of this service's endpoint (``[oslo_limit]``: the endpoint, and the
credentials to read them with, which need reader on the system scope): the
project's own limit of each resource, else the registered (default) one, else 0, as
upstream. The resources are upstream's: ``image_size_total`` and
``image_stage_total`` (MiB), ``image_count_total`` and ``image_count_uploading``.

oslo.limit only reads the process-wide ``cfg.CONF``: ``KeystoneLimits`` loads the
API's config files into it once, when it is built. Limits are read from Keystone
anew for every request that needs them (as upstream, a changed limit applies at
once); the registry then enforces them inside its write transaction, like the
configured ones (``quotas``).
"""

import logging

from oslo_config import cfg

from glance_api.http import errors

LOG = logging.getLogger(__name__)

RESOURCES = ('image_size_total', 'image_stage_total', 'image_count_total',
             'image_count_uploading')

keystone_limit_opts = [
    cfg.BoolOpt('use_keystone_limits', default=False,
                help='Read per-project limits (image_size_total, image_stage_total, '
                     'image_count_total, image_count_uploading) from Keystone with '
                     'oslo.limit, configured in [oslo_limit], instead of '
                     '[image_limits] and user_storage_quota. A resource without a '
                     'registered limit in Keystone is limited to 0.'),
]


def register_opts(conf):
    conf.register_opts(keystone_limit_opts)


def list_oslo_limit_opts():
    """``[oslo_limit]``'s own options (which endpoint's limits), for the sample
    config; the credentials there are keystoneauth's (``auth_type``, ``auth_url``,
    ``username``, ``system_scope``, ...), as in ``[keystone_authtoken]``."""
    from oslo_limit import opts as oslo_limit_opts
    return [opt for opt in oslo_limit_opts.list_opts()[0][1]
            if opt.dest in _ENDPOINT_OPTIONS]


_ENDPOINT_OPTIONS = ('endpoint_id', 'endpoint_service_name', 'endpoint_service_type',
                     'endpoint_region_name', 'endpoint_interface')


class KeystoneLimits:
    """Reads a project's limits from Keystone."""

    def __init__(self, conf):
        # oslo.limit's own options, and its keystoneauth ones, live in cfg.CONF.
        cfg.CONF(args=[], project='glance', default_config_files=list(conf.config_file))
        from oslo_limit import limit
        self._limit = limit

    def registered(self):
        """``{resource: default limit}`` of every limit registered in Keystone for
        this service's endpoint; ``errors.Unavailable`` if Keystone cannot be
        asked."""
        return dict(self._ask(lambda enforcer: enforcer.get_registered_limits(None),
                              'the registered limits'))

    def for_project(self, project_id):
        """``{resource: limit}`` of ``project_id`` (-1: unlimited).

        ``errors.Unavailable`` if Keystone cannot be asked.
        """
        return dict(self._ask(
            lambda enforcer: enforcer.get_project_limits(project_id, RESOURCES),
            'the limits of project %s' % project_id))

    def _ask(self, question, what):
        try:
            # A new enforcer each time: one caches the limits it has read.
            return question(self._limit.Enforcer(_no_usage))
        except Exception as exc:   # noqa: BLE001 -- oslo.limit's, keystoneauth's,
            # openstacksdk's many errors (a Keystone outage, bad credentials, no
            # such endpoint): all mean the limits are unknown.
            LOG.error('cannot read %s from Keystone: %s', what, exc)
            raise errors.Unavailable('The project limits cannot be read from '
                                     'Keystone; try again later.') from None


def _no_usage(project_id, resource_names):
    # Only limits are read through oslo.limit: the registry counts usage and
    # enforces in its own transaction.
    raise AssertionError('usage is counted by the registry')
