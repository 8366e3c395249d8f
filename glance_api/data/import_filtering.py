"""Which web URLs the service may be told to read: upstream's ``[import_filtering_opts]``.

Upstream filters the URI of a web-download import with these options, and (glance
33.0.0) the http(s) URLs given to ``POST /v2/images/{id}/locations``; here every
http(s) location a client adds goes through ``allows``. For each of schemes, hosts
and ports, an allow-list, when set, is the only list obeyed (it beats the deny-list);
otherwise the deny-list refuses what it names.

The options read upstream's bracketed spelling (``allowed_ports = [80,443]``) and the
plain one (``80,443``); hosts are host names or IP addresses, as upstream checks.
"""

import logging
import urllib.parse

from oslo_config import types

from glance_api.option_types import BracketedListOpt

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
                          'when set, disallowed_hosts is ignored. Empty: any host.'),
    BracketedListOpt('disallowed_hosts', item_type=types.HostAddress(), default=[],
                     help='Host names or IP addresses refused (used only when '
                          'allowed_hosts is empty).'),
    BracketedListOpt('allowed_ports', item_type=_PORT, default=[80, 443],
                     help='Ports the service may connect to; when set, '
                          'disallowed_ports is ignored. A URL without a port uses its '
                          'scheme\'s default (80 for http, 443 for https).'),
    BracketedListOpt('disallowed_ports', item_type=_PORT, default=[],
                     help='Ports refused (used only when allowed_ports is empty).'),
]

_DEFAULT_PORTS = {'http': 80, 'https': 443}


def register_opts(conf):
    conf.register_opts(filtering_opts, group=GROUP)


def allows(conf, url):
    """Whether the filters let the service read ``url``."""
    options = getattr(conf, GROUP)
    try:
        parsed = urllib.parse.urlparse(url)
        port = parsed.port
    except ValueError:   # a port that is not a number, or out of range
        return False
    scheme = parsed.scheme.lower()
    host = parsed.hostname
    if port is None:
        port = _DEFAULT_PORTS.get(scheme)
    return (bool(scheme) and _passes(scheme, _lower(options.allowed_schemes),
                                     _lower(options.disallowed_schemes))
            and bool(host) and _passes(host, _lower(options.allowed_hosts),
                                       _lower(options.disallowed_hosts))
            and port is not None and _passes(port, options.allowed_ports,
                                             options.disallowed_ports))


def _lower(hosts):
    # Host names compare case-insensitively (urlparse lowers the URL's).
    return [host.lower() for host in hosts]


def _passes(value, allowed, disallowed):
    if allowed:
        return value in allowed
    return value not in disallowed
