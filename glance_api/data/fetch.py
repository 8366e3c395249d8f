"""Reading a URL a client gave (web-download, glance-download) under the operator's
``[import_filtering_opts]``.

``open_url`` is the one way the API reads such a URL: ``stores.web`` does the work
(every redirect hop re-checked, the host resolved once and the checked address
connected to, internal addresses refused unless ``allowed_hosts`` names them, size
cap, timeouts, bounded retries). Both errors carry a message safe to show the
client; why (the address, port, status or connection error) goes to the log only,
so the service cannot be used to map the network it runs in.
"""

import logging

from glance_api.data import import_filtering
from stores import web

LOG = logging.getLogger(__name__)

#: The URL, or a URL it redirects to, is refused by the filters.
Refused = web.Refused
#: The URL could not be read: unreachable, timed out, an error status, too large.
Failed = web.Failed
#: The ``Failed`` of a body larger than ``max_bytes`` (declared or read).
TooLarge = web.TooLarge


def open_url(conf, url, *, max_bytes=None, headers=None):
    """A context manager yielding the answer to ``GET url``: ``iter_content(n)``
    (bytes chunks), ``headers``, ``url`` (after redirects).

    Raises ``Refused`` or ``Failed`` (see the module); a body that declares more
    than ``max_bytes`` raises ``TooLarge``, as reading more does while iterating.
    ``headers`` are sent with the request (e.g. ``X-Auth-Token`` for
    glance-download); credentials among them go to the URL's own origin only, not
    to where it redirects elsewhere.
    """
    response = web.open_url(import_filtering.url_policy(conf), url,
                            max_bytes=max_bytes, headers=headers)
    if not 200 <= response.status < 300:
        response.close()
        LOG.warning('cannot read %s: it answered %d', response.shown, response.status)
        raise Failed(detail='answered %d' % response.status, status=response.status)
    return response
