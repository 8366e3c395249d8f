"""The HTTP driver: read-only access to image data at an ``http://`` or ``https://``
URL (docs/stores.rst)."""

import logging
import re

from oslo_config import cfg

from stores import base, errors, web

LOG = logging.getLogger(__name__)

# What clients are told; why (address, port, status, connection error) is logged by
# stores.web, never shown: it would let tenants map the service's network.
_REFUSED = ('The location\'s URL, or a URL it redirects to, is not one this service '
            'may read.')
_NOT_FOUND = 'There is no image data at the location.'
_UNAVAILABLE = 'The image data at the location cannot be read now.'

_opts = [
    cfg.StrOpt('https_ca_certificates_file',
               help='CA bundle for verifying https locations\' certificates.'),
    cfg.BoolOpt('https_insecure', default=True,
                help='Do not verify https locations\' certificates (upstream\'s '
                     'default; ignored when https_ca_certificates_file is set).'),
    cfg.DictOpt('http_proxy_information', default={},
                help='Proxies by scheme, e.g. "http:http://proxy:3128, '
                     'https:http://proxy:3128".'),
]


class HttpStore(base.Store):
    """Image data served by a web server; read-only.

    Every URL, and every URL it redirects to, is read under ``url_policy``
    (``stores.web``: the import filters, no internal addresses unless allowed, the
    host resolved once and the checked address connected to); the API sets it from
    ``[import_filtering_opts]`` (``StoreSet.from_config(url_policy=...)``).
    """

    driver = 'http'
    schemes = ('http', 'https')
    writable = False
    #: Upstream's import-filtering defaults until the API sets the operator's.
    url_policy = web.UrlPolicy()

    @classmethod
    def option_list(cls):
        return _opts

    def open_reader(self, url, offset=0, length=None, credentials=None):
        self.check_location(url)
        return _HttpReader(self, url, offset, length)

    def stat(self, url, credentials=None):
        self.check_location(url)
        with self.request('HEAD', url) as response:
            if response.status == 405:   # HEAD not allowed: GET no bytes
                with _HttpReader(self, url, 0, 0) as reader:
                    return reader.size
            _raise_for_status(response)
            return _size(response)

    def request(self, method, url, headers=None):
        """The ``stores.web.WebResponse`` to ``method`` on ``url``; store errors
        with generic messages when it is refused or no answer comes."""
        options = self.options
        tls = web.Tls(verify=bool(options.https_ca_certificates_file
                                  or not options.https_insecure),
                      ca_file=options.https_ca_certificates_file)
        try:
            return web.open_url(self.url_policy, url, method=method, headers=headers,
                                tls=tls, proxies=options.http_proxy_information or None)
        except web.Refused:
            raise errors.BadLocation(_REFUSED)
        except web.Failed:
            raise errors.StoreUnavailable(_UNAVAILABLE)


class _HttpReader(base.Reader):

    def __init__(self, store, url, offset, length):
        headers = {}
        if length == 0:
            headers['Range'] = 'bytes=0-0'   # only the size is wanted
        elif offset or length is not None:
            end = '' if length is None else offset + length - 1
            headers['Range'] = 'bytes=%d-%s' % (offset, end)
        self._response = store.request('GET', url, headers=headers)
        skip = 0
        try:
            if self._response.status == 416:   # the range starts at or past the end
                size = _size(self._response)
            else:
                _raise_for_status(self._response)
                size = _size(self._response)
                if self._response.status != 206:
                    skip = offset   # the server ignored Range and sends everything
        except BaseException:
            self._response.close()
            raise
        super().__init__(size, offset, length)
        self._skip = skip
        self._remaining = self.length

    def __next__(self):
        while self._remaining > 0:
            try:
                chunk = self._response.read(base.CHUNK_SIZE)
            except web.Failed:
                raise errors.StoreUnavailable(_UNAVAILABLE)
            if not chunk:
                LOG.warning('%s ended %d bytes early', self._response.shown,
                            self._remaining)
                raise errors.StoreUnavailable(_UNAVAILABLE)
            if self._skip:
                dropped = min(self._skip, len(chunk))
                chunk, self._skip = chunk[dropped:], self._skip - dropped
                if not chunk:
                    continue
            chunk = chunk[:self._remaining]
            self._remaining -= len(chunk)
            return chunk
        raise StopIteration

    def close(self):
        self._response.close()


def _raise_for_status(response):
    status = response.status
    if 200 <= status < 300:
        return
    LOG.warning('%s answered %d', response.shown, status)
    if status in (404, 410):
        raise errors.NotFound(_NOT_FOUND)
    raise errors.StoreUnavailable(_UNAVAILABLE)


def _size(response):
    content_range = response.headers.get('Content-Range', '')
    total = content_range.rpartition('/')[2]
    if _is_size(total):
        return int(total)
    length = response.headers.get('Content-Length', '')
    if response.status in (200, 204) and _is_size(length):
        return int(length)
    LOG.warning('%s did not say how large the image is', response.shown)
    raise errors.StoreUnavailable(_UNAVAILABLE)


def _is_size(text):
    # ASCII digits (isdigit() alone takes '²'), and few enough: int() refuses a
    # number of over 4,300 digits, and no data is larger than 64 bits can count.
    return re.fullmatch(r'[0-9]{1,19}', text) is not None
