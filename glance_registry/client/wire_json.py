"""Reading a JSON body as both daemons do: fast (orjson), nesting bounded, integers
within 64 bits.

orjson reads an integer beyond 64 bits as a float: a client would be told that its
integer "1e+20 is not of type 'integer'", and one in free-form data (location
metadata) would be stored as a float. So a document holding a float is read again
by the standard parser with its integers checked. No valid image body holds a
float, so this second reading is rare.
"""

import json

import orjson

#: The integers every part of the service carries (orjson's, in both daemons).
SMALLEST, LARGEST = -2 ** 63, 2 ** 64 - 1


class Malformed(ValueError):
    """Not JSON; the parser's message."""


class TooDeep(ValueError):
    """Arrays and objects nested deeper than allowed: validating or quoting such a
    value recurses once per level, and a thousand levels exhausted Python's stack."""


class IntegerOutOfRange(ValueError):
    """An integer the service cannot carry; its text (shortened)."""


def loads(data, max_depth):
    """The JSON document ``data`` holds. ``Malformed``, ``TooDeep`` past
    ``max_depth`` levels of arrays and objects, ``IntegerOutOfRange``."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise Malformed(str(exc)) from None
    too_deep, has_float = _shape(document, max_depth)
    if too_deep:
        raise TooDeep(max_depth)
    if has_float:
        try:
            document = json.loads(data, parse_int=_integer)
        except IntegerOutOfRange:
            raise
        except ValueError as exc:   # where the two parsers' rules differ
            raise Malformed(str(exc)) from None
    return document


def _integer(text):
    if len(text.lstrip('-')) <= 20:   # never convert hundreds of digits
        value = int(text)
        if SMALLEST <= value <= LARGEST:
            return value
    raise IntegerOutOfRange(text if len(text) <= 24 else text[:20] + '...')


def _shape(document, limit):
    """Whether ``document`` nests arrays and objects more than ``limit`` deep, and
    whether it holds a float (iteratively: the document may be deeper than the
    recursion limit). Only one iterator per open level is held, whatever the
    document's width: a record per value cost tens of bytes each, hundreds of MB
    for a body of small values."""
    if not isinstance(document, (dict, list)):
        return False, isinstance(document, float)
    if limit == 0:
        return True, False
    has_float = False
    open_levels = [iter(_members(document))]
    while open_levels:
        for value in open_levels[-1]:
            if isinstance(value, (dict, list)):
                # ``value`` is at the depth of the number of levels open.
                if len(open_levels) == limit:
                    return True, has_float
                open_levels.append(iter(_members(value)))
                break
            has_float = has_float or isinstance(value, float)
        else:
            open_levels.pop()
    return False, has_float


def _members(container):
    return container.values() if isinstance(container, dict) else container
