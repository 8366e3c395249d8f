"""Which web URLs the service may be told to read: upstream's ``[import_filtering_opts]``.

Upstream filters the URI of a web-download import with these options, and (glance
33.0.0) the http(s) URLs given to ``POST /v2/images/{id}/locations``; here every
http(s) location a client adds goes through ``allows``. For each of schemes, hosts
and ports, an allow-list, when set, is the only list obeyed (it beats the deny-list);
otherwise the deny-list refuses what it names.

The options read upstream's bracketed spelling (``allowed_ports = [80,443]``) and the
plain one (``80,443``); hosts are host names or IP addresses, as upstream checks.

The rules themselves are ``stores.web.UrlPolicy`` (the http store applies them too,
and stores may not import the API); beyond upstream, a host at an internal address
(loopback, private, link-local, ...) is refused unless ``allowed_hosts`` names it.
``glance_api.data.fetch`` reads URLs under them.
"""

import logging

from oslo_config import types

from glance_api.option_types import BracketedListOpt
from stores import web

LOG = logging.getLogger(__name__)

GROUP = 'import_filtering_opts'

_PORT = types.Integer(min=1, max=65535)

filtering_opts = [
    BracketedListOpt('allowed_schemes', default=['http', 'https'],
                     help='URL schemes the service may read from; when set, '
                          'disallowed_schemes is ignored.'),
    BracketedListOpt('disallowed_schemes', default=[],
                     help='URL schemes refused (used only when allowed_schemes is '
                          'empty).'),
    BracketedListOpt('allowed_hosts', item_type=types.HostAddress(), default=[],
                     help='Host names or IP addresses the service may read from; '
                          'when set, disallowed_hosts is ignored. Empty: any host '
                          'at a public address. A host that resolves to a '
                          'loopback, private, link-local or other internal '
                          'address is read only when listed here (by name or '
                          'address).'),
    BracketedListOpt('disallowed_hosts', item_type=types.HostAddress(), default=[],
                     help='Host names or IP addresses refused (used only when '
                          'allowed_hosts is empty); a name that resolves to a listed '
                          'address is refused too.'),
    BracketedListOpt('allowed_ports', item_type=_PORT, default=[80, 443],
                     help='Ports the service may connect to; when set, '
                          'disallowed_ports is ignored. A URL without a port uses its '
                          'scheme\'s default (80 for http, 443 for https).'),
    BracketedListOpt('disallowed_ports', item_type=_PORT, default=[],
                     help='Ports refused (used only when allowed_ports is empty).'),
]


def register_opts(conf):
    conf.register_opts(filtering_opts, group=GROUP)


def url_policy(conf):
    """The filters ``conf`` sets, as the ``stores.web.UrlPolicy`` that enforces them."""
    options = getattr(conf, GROUP)
    return web.UrlPolicy(
        allowed_schemes=tuple(options.allowed_schemes),
        disallowed_schemes=tuple(options.disallowed_schemes),
        allowed_hosts=tuple(options.allowed_hosts),
        disallowed_hosts=tuple(options.disallowed_hosts),
        allowed_ports=tuple(options.allowed_ports),
        disallowed_ports=tuple(options.disallowed_ports))


def allows(conf, url):
    """Whether the filters let the service read ``url``, judged on its text (the
    addresses its host resolves to are checked when it is read)."""
    reason = url_policy(conf).refusal(url)
    if reason:
        LOG.info('import filtering refuses a URL: %s', reason)
    return reason is None
