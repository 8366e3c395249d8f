"""The HTTP driver: read-only access to image data at an ``http://`` or ``https://``
URL (docs/stores.rst)."""

import contextlib
import re

from oslo_config import cfg
import requests
import urllib3

from stores import base, errors

# Upstream glance_store follows at most this many redirects.
MAX_REDIRECTS = 5
_TIMEOUT = (10, 120)   # seconds to connect, seconds without a byte received

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
    """Image data served by a web server; read-only."""

    driver = 'http'
    schemes = ('http', 'https')
    writable = False

    @classmethod
    def option_list(cls):
        return _opts

    def _session(self):
        session = requests.Session()
        session.max_redirects = MAX_REDIRECTS
        session.proxies.update(self.options.http_proxy_information or {})
        options = self.options
        session.verify = (options.https_ca_certificates_file
                          or not options.https_insecure)
        # Image bytes as stored: no transparent gzip decoding of the body.
        session.headers['Accept-Encoding'] = 'identity'
        return session

    def open_reader(self, url, offset=0, length=None, credentials=None):
        self.check_location(url)
        session = self._session()
        try:
            return _HttpReader(session, url, offset, length)
        except BaseException:
            session.close()
            raise

    def stat(self, url, credentials=None):
        self.check_location(url)
        with contextlib.closing(self._session()) as session:
            response = _request(session, 'HEAD', url, allow_redirects=True)
            with response:
                if response.status_code == 405:   # HEAD not allowed: GET no bytes
                    with _HttpReader(session, url, 0, 0) as reader:
                        return reader.size
                _raise_for_status(response, url)
                return _size(response, url)


class _HttpReader(base.Reader):

    def __init__(self, session, url, offset, length):
        self._session = session
        headers = {}
        if length == 0:
            headers['Range'] = 'bytes=0-0'   # only the size is wanted
        elif offset or length is not None:
            end = '' if length is None else offset + length - 1
            headers['Range'] = 'bytes=%d-%s' % (offset, end)
        self._response = _request(session, 'GET', url, headers=headers, stream=True)
        self._url = url
        skip = 0
        if self._response.status_code == 416:   # the range starts at or past the end
            size = _size(self._response, url)
            self._response.close()
        else:
            _raise_for_status(self._response, url)
            size = _size(self._response, url)
            if self._response.status_code != 206:
                skip = offset   # the server ignored Range and sends everything
        super().__init__(size, offset, length)
        self._skip = skip
        self._remaining = self.length

    def __next__(self):
        while self._remaining > 0:
            try:
                chunk = self._response.raw.read(base.CHUNK_SIZE, decode_content=False)
            except (OSError, urllib3.exceptions.HTTPError,
                    requests.RequestException) as exc:
                raise errors.StoreUnavailable('download of %s broke off: %s'
                                              % (self._url, exc))
            if not chunk:
                raise errors.StoreUnavailable('download of %s ended %d bytes early'
                                              % (self._url, self._remaining))
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
        self._session.close()


def _request(session, method, url, **kwargs):
    try:
        return session.request(method, url, timeout=_TIMEOUT, **kwargs)
    except requests.TooManyRedirects:
        raise errors.StoreUnavailable('%s redirects more than %d times'
                                      % (url, MAX_REDIRECTS))
    except requests.RequestException as exc:
        raise errors.StoreUnavailable('cannot reach %s: %s' % (url, exc))


def _raise_for_status(response, url):
    status = response.status_code
    if status in (404, 410):
        response.close()
        raise errors.NotFound('%s answered %d' % (url, status))
    if not 200 <= status < 300:
        response.close()
        raise errors.StoreUnavailable('%s answered %d' % (url, status))


def _size(response, url):
    content_range = response.headers.get('Content-Range', '')
    total = content_range.rpartition('/')[2]
    if _is_size(total):
        return int(total)
    length = response.headers.get('Content-Length', '')
    if response.status_code in (200, 204) and _is_size(length):
        return int(length)
    response.close()
    raise errors.StoreUnavailable('%s did not say how large the image is' % url)


def _is_size(text):
    # ASCII digits (isdigit() alone takes '²'), and few enough: int() refuses a
    # number of over 4,300 digits, and no data is larger than 64 bits can count.
    return re.fullmatch(r'[0-9]{1,19}', text) is not None
