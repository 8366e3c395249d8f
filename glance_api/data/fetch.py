"""Reading a web URL for web-download (the simplest version: the hardened one, with
each redirect re-checked and the name resolved once, replaces it).

``open_url(conf, url, max_bytes=None)`` is a context manager yielding a response
with ``iter_content(chunk_size)``, ``headers`` and ``url`` (the final URL); it
raises ``Refused`` when ``[import_filtering_opts]`` refuses the URL (redirects are
not followed) and ``Failed`` when the fetch fails. Both messages are safe to show
users: details go to the log.
"""

import contextlib
import logging

import requests

from glance_api.data import import_filtering

LOG = logging.getLogger(__name__)

_TIMEOUT = (10, 60)


class Refused(Exception):
    """The import filters refuse the URL."""


class Failed(Exception):
    """Reading the URL failed."""


@contextlib.contextmanager
def open_url(conf, url, *, max_bytes=None):
    if not import_filtering.allows(conf, url):
        raise Refused('The URL %s is not allowed by this cloud\'s import filtering '
                      'options.' % url)
    try:
        response = requests.get(url, stream=True, allow_redirects=False,
                                timeout=_TIMEOUT)
    except requests.RequestException as exc:
        LOG.warning('web-download of %s failed: %s', url, exc)
        raise Failed('The URL %s could not be read.' % url) from None
    with contextlib.closing(response):
        if response.is_redirect:
            raise Refused('The URL %s redirects; redirects are not followed.' % url)
        if response.status_code != 200:
            LOG.warning('web-download of %s answered %d', url, response.status_code)
            raise Failed('The URL %s could not be read.' % url)
        length = response.headers.get('Content-Length')
        if max_bytes is not None and length and length.isdigit() \
                and int(length) > max_bytes:
            raise Failed('The data at %s is larger than %d bytes.' % (url, max_bytes))
        yield _Response(response)


class _Response:
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
            LOG.warning('web-download of %s broke: %s', self.url, exc)
            raise Failed('Reading %s was interrupted.' % self.url) from None
