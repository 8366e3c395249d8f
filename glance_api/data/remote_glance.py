"""Another region's image service, for the glance-download import method: where it
is (the caller's service catalog), what an image of it is, and its data.

Calls go with the caller's token to the endpoint the catalog names, read through
``fetch.open_url`` as web-download's: ``[import_filtering_opts]`` applies to the URL
and every redirect, and the token goes to the endpoint's own origin only. Upstream's ``[glance_download_properties] extra_properties`` says which
properties of the remote image the local one takes.
"""

import json
import urllib.parse

from glance_api.data import fetch
from glance_api.option_types import BracketedListOpt
from glance_registry.client import vocabulary

GROUP = 'glance_download_properties'

download_opts = [
    BracketedListOpt('extra_properties',
                     default=['hw_', 'trait:', 'os_distro', 'os_secure_boot',
                              'os_type'],
                     help='Properties (or prefixes of them) of the remote image that '
                          'a glance-download import copies to the local image.'),
]


def register_opts(conf):
    conf.register_opts(download_opts, group=GROUP)


def list_opts():
    return [(GROUP, download_opts)]


class RemoteError(Exception):
    """The remote image cannot be imported (the message is for the client)."""


def endpoint(catalog, region, interface):
    """The URL of the ``image`` service in ``region`` at ``interface`` in the
    caller's ``catalog`` (``X-Service-Catalog`` entries: keystonemiddleware passes
    the v2 form, ``publicURL`` and the like; Keystone v3's has ``interface`` and
    ``url``); RemoteError if none."""
    for service in catalog or ():
        if service.get('type') != 'image':
            continue
        for entry in service.get('endpoints') or ():
            if region not in (entry.get('region_id'), entry.get('region')):
                continue
            url = entry.get(interface + 'URL') or (
                entry.get('url') if entry.get('interface') == interface else None)
            if url:
                return url.rstrip('/')
    raise RemoteError('No %s image service in region %s in your service catalog.'
                      % (interface, region))


def _origin(url):
    parts = urllib.parse.urlsplit(url)
    return '%s://%s' % (parts.scheme, parts.netloc)


# A remote image document is small; more than this is not one.
_MAX_DOCUMENT = 1024 * 1024


def image(conf, base_url, image_id, token):
    """The remote image's document; RemoteError unless it is there and active."""
    url = '%s/v2/images/%s' % (base_url, urllib.parse.quote(image_id, safe=''))
    try:
        with fetch.open_url(conf, url, max_bytes=_MAX_DOCUMENT,
                            headers=_headers(token)) as response:
            document = json.loads(b''.join(response.iter_content(65536)))
    except fetch.Refused:
        raise RemoteError('The image service at %s is not allowed by this cloud\'s '
                          'import filtering options.' % _origin(url)) from None
    except (fetch.Failed, ValueError):
        raise RemoteError('Image %s could not be found in the remote image '
                          'service.' % image_id) from None
    if not isinstance(document, dict) or document.get('status') != 'active':
        raise RemoteError('Image %s of the remote image service is %s, not active.'
                          % (image_id, document.get('status')
                             if isinstance(document, dict) else 'unreadable'))
    return document


#: Keys of an image document that are not custom properties: the image's own
#: attributes and the document's links and lists.
_NOT_PROPERTIES = frozenset(vocabulary.IMAGE_ATTRIBUTES) | {
    'self', 'file', 'schema', 'direct_url', 'locations', 'stores', 'tags'}


def copied_properties(conf, document):
    """The custom properties of the remote ``document`` the local image takes: not
    its attributes (``os_hash_value`` is the remote data's, whatever prefix asks
    for it), nor the ``os_glance*`` ones, the other region's bookkeeping of its
    own imports (upstream: that prefix is reserved and never copied)."""
    wanted = getattr(conf, GROUP).extra_properties
    return {name: value for name, value in document.items()
            if isinstance(value, str) and name not in _NOT_PROPERTIES
            and not name.startswith(vocabulary.RESERVED_PROPERTY_PREFIX)
            and any(name.startswith(prefix) for prefix in wanted)}


def open_data(conf, url, token, max_bytes=None):
    """The remote image's data at ``url``, as ``fetch.open_url`` yields it (the
    caller's token sent to that origin only); ``fetch.Refused`` or ``fetch.Failed``."""
    return fetch.open_url(conf, url, max_bytes=max_bytes, headers=_headers(token))


def _headers(token):
    return {'X-Auth-Token': token, 'Accept': 'application/json'}
