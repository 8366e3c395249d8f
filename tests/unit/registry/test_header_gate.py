"""Where a request head ends (``glance_registry.header_gate``); the worker itself is
tested against real daemons (tests/functional/test_slow_clients.py)."""

import email.utils
import time

import pytest
from gunicorn import util as gunicorn_util

from glance_registry import header_gate


@pytest.mark.parametrize('chunks, ends', [
    ([b'GET / HTTP/1.1\r\nHost: x\r\n\r\n'], True),
    ([b'GET / HTTP/1.1\r\nHost: x\r\n'], False),
    # The empty line split across reads, however it falls.
    ([b'GET / HTTP/1.1\r\nHost: x\r\n\r', b'\n'], True),
    ([b'GET / HTTP/1.1\r\nHost: x\r', b'\n\r\n'], True),
    ([b'GET / HTTP/1.1\r\nHost: x', b'\r', b'\n', b'\r', b'\n'], True),
    ([b'GET / HTTP/1.0\n', b'\n'], True),                 # bare line feeds
    ([b'GET / HTTP/1.1\r\n', b'X: a\r\n', b'Y: b'], False),
])
def test_head_end_is_found_across_reads(chunks, ends):
    head = bytearray()
    found = False
    for chunk in chunks:
        since = len(head)
        head += chunk
        found = header_gate._head_ends(head, since)
    assert found is ends


def test_the_date_header_is_the_current_second_in_http_form():
    # Made once a second (header_gate._http_date): still this second's date.
    for _ in range(3):
        before = int(time.time())
        date = gunicorn_util.http_date()
        if int(time.time()) == before:
            break
    assert date == email.utils.formatdate(before, usegmt=True)
    assert gunicorn_util.http_date(0) == 'Thu, 01 Jan 1970 00:00:00 GMT'
