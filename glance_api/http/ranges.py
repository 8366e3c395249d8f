"""The byte range a download asks for (``Range``, or the legacy ``Content-Range``)."""

import re

from glance_api.http import errors
from glance_api.http import numbers


def requested_range(headers, size):
    """``(offset, length)`` of the requested range, None for the whole image.

    As upstream: one range only (several are 400); a malformed ``Range`` (or legacy
    ``Content-Range`` request header), or one that starts past the data, is 416.
    Unlike upstream, ``bytes=-0`` is 416 too (RFC 7233: an empty suffix cannot be
    satisfied), not the whole image. The unit is matched without regard to case,
    and blanks around ``=`` and ``-`` are allowed, as upstream's parser (webob)
    does (RFC 7233: range units are case-insensitive).
    """
    header = headers.get('Range')
    if header is not None:
        if ',' in header:
            raise errors.BadRequest('Requests with multiple ranges are not supported: '
                                    'make several single-range requests instead.')
        match = _RANGE.match(header)
        if match is None or match.group(1) == match.group(2) == '':
            raise _unsatisfiable(size, 'Invalid Range header.')
        first, last = (_position(group) for group in match.groups())
        if first is None:
            if last == 0 or size == 0:
                raise _unsatisfiable(size, _past_the_end(size, 'Range'))
            start = max(size - last, 0)
            return start, size - start
        if last is not None and last < first:
            raise _unsatisfiable(size, 'Invalid Range header.')
        if first >= size:
            raise _unsatisfiable(size, _past_the_end(size, 'Range'))
        end = min(last, size - 1) if last is not None else size - 1
        return first, end - first + 1
    legacy = headers.get('Content-Range')
    if legacy is None:
        return None
    match = _CONTENT_RANGE.match(legacy)
    if match is None:
        raise _unsatisfiable(size, 'Invalid Content-Range header.')
    start, last = (_number(group, size, 'Invalid Content-Range header.')
                   for group in match.groups())
    if last < start:
        raise _unsatisfiable(size, 'Invalid Content-Range header.')
    if start >= size or last >= size:
        raise _unsatisfiable(size, _past_the_end(size, 'Content-Range'))
    return start, last - start + 1


def _position(text):
    """A position or suffix length of a ``Range`` (None if absent). One past 64
    bits (thousands of digits, say) is past the end of any image, not converted:
    as a first position it cannot be satisfied, as a last one it means the end
    (RFC 9110: ``bytes=0-99999999999999999999`` is the whole image), as a suffix
    length the whole image."""
    if not text:
        return None
    value = numbers.non_negative_int(text)
    return numbers.INT64_MAX + 1 if value is None else value


def _number(text, size, message):
    """A position in the legacy ``Content-Range``; one past 64 bits (thousands of
    digits, say) makes it malformed, as any position past the end does."""
    value = numbers.non_negative_int(text)
    if value is None:
        raise _unsatisfiable(size, message)
    return value


# ASCII digits only: str.isdigit() also takes '²', which int() refuses.
_RANGE = re.compile(r'[ \t]*bytes[ \t]*=[ \t]*([0-9]*)[ \t]*-[ \t]*([0-9]*)[ \t]*\Z',
                    re.IGNORECASE)
_CONTENT_RANGE = re.compile(r'bytes[ \t]+([0-9]+)-([0-9]+)/(?:[0-9]+|\*)[ \t]*\Z')


def _past_the_end(size, header):
    """What is wrong with a range the image's data cannot satisfy (upstream says
    which positions there are)."""
    if size == 0:
        return 'Invalid %s header: the image data is empty.' % header
    return ('Invalid %s header: the image data has %d bytes, at positions 0 to %d.'
            % (header, size, size - 1))


def _unsatisfiable(size, message):
    return errors.RangeNotSatisfiable(message,
                                      headers={'Content-Range': 'bytes */%d' % size})
