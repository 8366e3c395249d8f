"""Every option the API process reads, registered in one call.

The options of the API's own modules live here; the server, registry-client and store
options are declared beside the code that reads them and only gathered here.
"""

import itertools

from oslo_config import cfg

import stores
from glance_api import ignored_opts, notifications
from glance_api.access import keystone_limits, policy, protections, quotas
from glance_api.data import (conversion, deleted_data, import_filtering, imports,
                             inject_metadata, inspection, locations, remote_glance,
                             runner, scrubbing, staging, staging_sweep, store_data)
from glance_api.data.cache import housekeeping, image_cache
from glance_api.http import auth, cors, healthcheck, json_body, proxy
from glance_registry import client, metrics, process
from glance_registry.client import list_params, vocabulary

DISK_FORMATS = ['ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi',
                'iso', 'ploop']
CONTAINER_FORMATS = ['ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed']

api_opts = [
    cfg.StrOpt('auth_strategy', default='noauth', choices=['noauth', 'keystone'],
               help='How callers are authenticated. "keystone" validates tokens '
                    'with keystonemiddleware, configured in [keystone_authtoken]. '
                    '"noauth" trusts the X-Project-Id/X-User-Id/X-Roles headers: '
                    'use it only on a trusted network.'),
    *list_params.limit_opts,
    cfg.IntOpt('image_size_cap', default=1099511627776, min=1,
               help='Largest image, in bytes, that can be uploaded (default 1 TiB).'),
    cfg.StrOpt('hashing_algorithm', default='sha512',
               help='hashlib algorithm for os_hash_value (the multihash).'),
    cfg.StrOpt('public_endpoint',
               help='Public URL of this API, used in the versions document instead '
                    'of the request\'s host (set it behind a proxy).'),
    cfg.IntOpt('upload_lease_time', default=300, min=1,
               max=vocabulary.MAX_LEASE_SECONDS,
               help='Seconds an upload holds its image (status saving) without '
                    'renewing; it renews every third of that while bytes arrive. '
                    'When an API worker dies mid-upload, a new upload of the image '
                    'is accepted once this has run out, instead of a 409.'),
    cfg.IntOpt('upload_chunk_size', default=1024 * 1024, min=4096,
               help='Bytes read from the client per chunk during an upload; memory '
                    'used per upload is bounded by a few chunks.'),
    cfg.BoolOpt('show_image_direct_url', default=False,
                help='Show the store location of an image as direct_url. Exposes '
                     'backend details: a security risk.'),
    cfg.BoolOpt('probe_stores_on_start', default=True,
                help='Write, read and delete a test object in every store (and '
                     'the staging store) when the API starts, before its workers, '
                     'so that a misconfigured or unreachable store fails at once. '
                     'With false, a store that cannot be reached (a Swift that is '
                     'down) is logged and the API starts, as upstream\'s does: '
                     'requests that need it answer 503 until it is back; a store '
                     'whose settings are wrong still stops the start. A worker '
                     'started later (a restart) does not probe, and one store '
                     'failing since is logged and does not stop it.'),
]

# Upstream still reads them from [DEFAULT] too, their section before Newton.
image_format_opts = [
    cfg.ListOpt('disk_formats', default=DISK_FORMATS, deprecated_group='DEFAULT',
                help='Disk formats images may declare.'),
    cfg.ListOpt('container_formats', default=CONTAINER_FORMATS,
                deprecated_group='DEFAULT',
                help='Container formats images may declare.'),
]

def _server_opts():
    return process.server_opts('0.0.0.0', 9292, 16)


def register_opts(conf):
    conf.register_opts(api_opts)
    conf.register_opts(_server_opts())
    conf.register_opts(image_format_opts, group='image_format')
    inspection.register_opts(conf)
    client.register_opts(conf)
    stores.register_opts(conf)
    policy.register_opts(conf)
    quotas.register_opts(conf)
    protections.register_opts(conf)
    locations.register_opts(conf)
    store_data.register_opts(conf)
    deleted_data.register_opts(conf)
    # The API's workers sweep deleted images' data with the scrubber's leases.
    conf.register_opts(scrubbing.scrubber_opts)
    healthcheck.register_opts(conf)
    image_cache.register_opts(conf)
    housekeeping.register_opts(conf)
    runner.register_opts(conf)
    imports.register_opts(conf)
    staging.register_opts(conf)
    staging_sweep.register_opts(conf)
    notifications.register_opts(conf)
    metrics.register_opts(conf)
    json_body.register_opts(conf)
    proxy.register_opts(conf)
    cors.register_opts(conf)
    auth.register_opts(conf)
    ignored_opts.register_opts(conf)


def list_opts():
    """For oslo-config-generator (namespace ``glance.api``)."""
    store_opts = dict(stores.list_opts())
    return [
        ('DEFAULT', list(itertools.chain(api_opts, _server_opts(), client.client_opts,
                                         store_opts['DEFAULT']))),
        ('DEFAULT', quotas.quota_opts + keystone_limits.keystone_limit_opts
         + protections.protection_opts
         + locations.location_opts + store_data.delete_opts
         + deleted_data.deleted_data_opts),
        ('image_format', image_format_opts + inspection.inspection_opts),
        ('image_limits', quotas.limit_opts),
        # oslo.limit's, for use_keystone_limits (it reads them itself).
        ('oslo_limit', keystone_limits.list_oslo_limit_opts()),
        (import_filtering.GROUP, import_filtering.filtering_opts),
        ('glance_store', store_opts['glance_store']),
        *stores.list_order_opts(),
        ('DEFAULT', runner.runner_opts + imports.import_opts),
        *staging.list_opts(),
        ('DEFAULT', staging_sweep.sweep_opts),
        *conversion.list_opts(),
        *inject_metadata.list_opts(),
        *remote_glance.list_opts(),
        (healthcheck.GROUP, healthcheck.healthcheck_opts),
        # glance-scrubber's (it reads the API's configuration), and the API's
        # sweep of deleted images' data.
        ('DEFAULT', scrubbing.scrubber_opts),
        ('DEFAULT', image_cache.cache_opts + housekeeping.housekeeping_opts),
        ('DEFAULT', process.logging_opts() + notifications.notification_opts),
        *notifications.list_opts(),
        (metrics.GROUP, metrics.metrics_opts),
        (json_body.GROUP, json_body.body_opts + proxy.proxy_opts),
        (cors.GROUP, cors.cors_opts()),
        (auth.PASTE_DEPLOY_GROUP, auth.paste_deploy_opts),
    ]
