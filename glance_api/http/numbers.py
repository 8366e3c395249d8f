"""Numbers in client input (headers, query parameters, JSON pointer indexes).

``int()`` is not a parser for client input: it takes ``' 1_000 '``, ``'+5'`` and
non-ASCII digits (``'²'``), and raises ``ValueError`` for a number of more than
4,300 digits (Python's int-string limit), which surfaced as a ``500``. Every
non-negative integer a client sends goes through ``non_negative_int``.
"""

import re

INT64_MAX = 2 ** 63 - 1

_DIGITS = re.compile(r'[0-9]+')


def non_negative_int(text, maximum=INT64_MAX):
    """The integer ``text`` spells in ASCII digits, or None if it spells none or
    one over ``maximum``: no byte offset, size or position beyond 64 bits exists,
    and a number that long is refused without converting it."""
    if text is None or not _DIGITS.fullmatch(text):
        return None
    digits = text.lstrip('0') or '0'
    if len(digits) > len(str(maximum)):
        return None
    value = int(digits)
    return value if value <= maximum else None
