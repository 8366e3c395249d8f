"""Another region's image service, for the glance-download import method: where it
is (the caller's service catalog), what an image of it is, and its data.

Calls go with the caller's token to the endpoint the catalog names, only if
``[import_filtering_opts]`` allows its URL (as web-download's), without following
redirects. Upstream's ``[glance_download_properties] extra_properties`` says which
properties of the remote image the local one takes.
"""

import contextlib
import logging
import urllib.parse

import requests

from glance_api.data import fetch, import_filtering
from glance_api.option_types import BracketedListOpt

LOG = logging.getLogger(__name__)

GROUP = 'glance_download_properties'
_TIMEOUT = (10, 60)

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


def _get(conf, url, token, stream=False):
    if not import_filtering.allows(conf, url):
        raise RemoteError('The image service at %s is not allowed by this cloud\'s '
                          'import filtering options.' % _origin(url))
    try:
        response = requests.get(url, headers={'X-Auth-Token': token,
                                              'Accept': 'application/json'},
                                stream=stream, allow_redirects=False,
                                timeout=_TIMEOUT)
    except requests.RequestException as exc:
        LOG.warning('glance-download: %s failed: %s', url, exc)
        raise RemoteError('The image service at %s could not be reached.'
                          % _origin(url)) from None
    return response


def _origin(url):
    parts = urllib.parse.urlsplit(url)
    return '%s://%s' % (parts.scheme, parts.netloc)


def image(conf, base_url, image_id, token):
    """The remote image's document; RemoteError unless it is there and active."""
    response = _get(conf, '%s/v2/images/%s' % (base_url, urllib.parse.quote(
        image_id, safe='')), token)
    with contextlib.closing(response):
        if response.status_code != 200:
            LOG.warning('glance-download: image %s answered %d', image_id,
                        response.status_code)
            raise RemoteError('Image %s could not be found in the remote image '
                              'service.' % image_id)
        document = response.json()
    if document.get('status') != 'active':
        raise RemoteError('Image %s of the remote image service is %s, not active.'
                          % (image_id, document.get('status')))
    return document


def copied_properties(conf, document):
    """The properties of the remote ``document`` the local image takes."""
    wanted = getattr(conf, GROUP).extra_properties
    return {name: value for name, value in document.items()
            if isinstance(value, str) and any(name.startswith(prefix)
                                              for prefix in wanted)}


@contextlib.contextmanager
def open_data(conf, url, token, max_bytes=None):
    """The remote image's data at ``url``, as ``fetch.open_url`` yields it;
    ``fetch.Refused`` or ``fetch.Failed``."""
    try:
        response = _get(conf, url, token, stream=True)
    except RemoteError as exc:
        raise fetch.Failed(str(exc)) from None
    with contextlib.closing(response):
        if response.status_code != 200:
            LOG.warning('glance-download: %s answered %d', url, response.status_code)
            raise fetch.Failed('The data of the remote image could not be read.')
        length = response.headers.get('Content-Length')
        if max_bytes is not None and length and length.isdigit() \
                and int(length) > max_bytes:
            raise fetch.Failed('The remote image is larger than %d bytes.'
                               % max_bytes)
        yield _Body(response)


class _Body:
    def __init__(self, response):
        self._response = response
        self.headers = response.headers
        self.url = response.url

    def iter_content(self, chunk_size):
        try:
            for chunk in self._response.iter_content(chunk_size):
                if chunk:
                    yield chunk
        except requests.RequestException as exc:
            LOG.warning('glance-download of %s broke: %s', self.url, exc)
            raise fetch.Failed('Reading the remote image was interrupted.') from None
