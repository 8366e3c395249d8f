"""Regular expressions an operator writes, matched against what tenants send:
the ``pattern`` of a typed custom property (``schema-image.json``) and the sections
of the property protection file.

Python's ``re`` backtracks: ``^([0-9]+)+$`` takes seconds on a 30-character value
that does not match, twice as long for each character more, and holds an API
thread all that time. ``compile`` translates a pattern into the syntax of RE2
(``google-re2``), whose time is linear in the value's length, keeping Python's
meaning exactly: the translation works on Python's own parse of the pattern, and
spells out what the two engines read differently (``\\d``, ``\\w`` and ``\\s`` are
Unicode classes in Python, ASCII in RE2; Python's ``$`` also matches before a
final newline, RE2's does not; under ``(?i)`` each engine folds case by its own
tables).

A pattern RE2 cannot express with the same meaning (backreferences, lookaround,
atomic groups, ``(?m)``, a Unicode ``\\b``, a repetition over 1000, ...)
is kept on Python's ``re``: ``Pattern.linear`` is then False, for the caller to
warn the operator at start.
"""

import functools
import re

import re2

# Python's own parser of its syntax (private, but the same shape from 3.6 on): the
# translation reads what re reads. A node it does not know keeps the pattern on re.
try:
    from re import _constants as sre, _parser as sre_parse
except ImportError:     # Python 3.10
    import sre_constants as sre
    import sre_parse

# Never in a str from a JSON body (orjson refuses lone surrogates), nor encodable
# as the UTF-8 RE2 reads.
_SURROGATES = (0xD800, 0xDFFF)
_CHARACTERS = ((0, _SURROGATES[0] - 1), (_SURROGATES[1] + 1, 0x10FFFF))

# One character in Python's syntax, inside a class or out.
_CHARACTER = r'\U%08x'

_CATEGORIES = {
    sre.CATEGORY_DIGIT: r'\d', sre.CATEGORY_NOT_DIGIT: r'\D',
    sre.CATEGORY_SPACE: r'\s', sre.CATEGORY_NOT_SPACE: r'\S',
    sre.CATEGORY_WORD: r'\w', sre.CATEGORY_NOT_WORD: r'\W',
}


class _Untranslatable(Exception):
    """The pattern has no RE2 spelling with Python's meaning."""


class Pattern:
    """A compiled operator's pattern: ``search(value)`` as ``re.search`` answers."""

    def __init__(self, text, search, linear):
        self.text = text
        self._search = search
        #: Matched by RE2 (time linear in the value), not Python's backtracking re.
        self.linear = linear

    def search(self, value):
        """Whether the pattern matches somewhere in the str ``value``."""
        try:
            return self._search(value) is not None
        except UnicodeEncodeError:
            # A lone surrogate, which RE2 cannot read: such a value can be neither
            # sent as JSON nor stored.
            return False


def compile(text):
    """``text`` (Python's syntax) compiled, on RE2 where it means the same; re.error
    for what Python's re refuses, as ``re.compile`` would raise it."""
    fallback = re.compile(text)
    try:
        translated = _translate(text)
        options = re2.Options()
        # Else RE2 prints each pattern it refuses on stderr.
        options.log_errors = False
        return Pattern(text, re2.compile(translated, options).search, True)
    except (_Untranslatable, re2.error, RecursionError):
        return Pattern(text, fallback.search, False)


def _translate(text):
    parsed = sre_parse.parse(text)
    flags = parsed.state.flags
    if flags & sre.SRE_FLAG_MULTILINE:
        # Line anchors differ in detail between the engines.
        raise _Untranslatable(text)
    return _sequence(parsed, flags, tail=True)


def _sequence(items, flags, tail):
    items = list(items)
    return ''.join(_item(op, av, flags, tail and i == len(items) - 1)
                   for i, (op, av) in enumerate(items))


def _item(op, av, flags, tail):
    """One node of Python's parse in RE2's syntax; ``tail`` if nothing can follow
    it in a match."""
    if op is sre.LITERAL:
        if flags & sre.SRE_FLAG_IGNORECASE:
            return _class(_python_set(_CHARACTER % av, flags))
        return _class([(av, av)])
    if op is sre.NOT_LITERAL:
        if flags & sre.SRE_FLAG_IGNORECASE:
            return _class(_python_set('[^%s]' % (_CHARACTER % av), flags))
        return _class(_complement([(av, av)]))
    if op is sre.ANY:
        return '(?s:.)' if flags & sre.SRE_FLAG_DOTALL else r'[^\n]'
    if op is sre.IN:
        return _class(_set(av, flags))
    if op is sre.BRANCH:
        return '(?:%s)' % '|'.join(_sequence(alternative, flags, tail)
                                   for alternative in av[1])
    if op is sre.SUBPATTERN:
        _group, add_flags, del_flags, pattern = av
        if (add_flags | del_flags) & sre.SRE_FLAG_MULTILINE:
            raise _Untranslatable(op)
        return '(?:%s)' % _sequence(pattern, (flags | add_flags) & ~del_flags, tail)
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
        # Greedy or lazy: the same answer to "is there a match".
        low, high, pattern = av
        bounds = '{%d,}' % low if high == sre.MAXREPEAT else '{%d,%d}' % (low, high)
        return '(?:%s)%s' % (_sequence(pattern, flags, tail and high <= 1), bounds)
    if op is sre.AT:
        return _anchor(av, flags, tail)
    # GROUPREF, ASSERT, ASSERT_NOT, ATOMIC_GROUP, POSSESSIVE_REPEAT, ...
    raise _Untranslatable(op)


def _anchor(at, flags, tail):
    if at in (sre.AT_BEGINNING, sre.AT_BEGINNING_STRING):
        return r'\A'
    if at is sre.AT_END_STRING:
        return r'\z'
    if at is sre.AT_END and tail:
        # Python's $ also matches before a final newline: where nothing follows it,
        # consuming that newline gives the same answer.
        return r'(?:\n?\z)'
    if at in (sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY) and flags & sre.SRE_FLAG_ASCII:
        # RE2's word boundaries are ASCII ones, as Python's under (?a).
        return r'\b' if at is sre.AT_BOUNDARY else r'\B'
    raise _Untranslatable(at)


def _set(items, flags):
    """The characters a Python class (``[...]``) matches, as ranges."""
    if flags & sre.SRE_FLAG_IGNORECASE:
        # Which characters fold to which is Python's own, version by version.
        return _python_set('[%s]' % ''.join(_class_text(op, av) for op, av in items),
                           flags)
    ranges, negate = [], False
    for op, av in items:
        if op is sre.NEGATE:
            negate = True
        elif op is sre.LITERAL:
            ranges.append((av, av))
        elif op is sre.RANGE:
            ranges.append(av)
        elif op is sre.CATEGORY and av in _CATEGORIES:
            ranges.extend(_python_set(_CATEGORIES[av], flags))
        else:
            raise _Untranslatable(op)
    return _complement(ranges) if negate else _normalise(ranges)


def _class_text(op, av):
    """An item of a Python class, in Python's syntax again."""
    if op is sre.NEGATE:
        return '^'
    if op is sre.LITERAL:
        return _CHARACTER % av
    if op is sre.RANGE:
        return '%s-%s' % (_CHARACTER % av[0], _CHARACTER % av[1])
    if op is sre.CATEGORY and av in _CATEGORIES:
        return _CATEGORIES[av]
    raise _Untranslatable(op)


def _python_set(text, flags):
    """The characters the one-character Python pattern ``text`` matches under
    ``flags``, as ranges."""
    return _matched(text, flags & (sre.SRE_FLAG_IGNORECASE | sre.SRE_FLAG_ASCII))


@functools.cache
def _matched(text, flags):
    # Asked of Python's re itself: the Unicode tables of the two engines need not
    # be of the same version.
    characters = _all_characters()
    gap = _SURROGATES[1] - _SURROGATES[0] + 1

    def code(index):
        return index if index < _SURROGATES[0] else index + gap

    runs = re.finditer('(?:%s)+' % text, characters, flags)
    return tuple(_normalise((code(run.start()), code(run.end() - 1)) for run in runs))


@functools.cache
def _all_characters():
    """Every character but the surrogates, in order."""
    return ''.join(''.join(map(chr, range(low, high + 1))) for low, high in _CHARACTERS)


def _normalise(ranges):
    """Sorted, merged ranges of characters, without the surrogates."""
    clipped = sorted((max(low, part_low), min(high, part_high))
                     for low, high in ranges for part_low, part_high in _CHARACTERS
                     if max(low, part_low) <= min(high, part_high))
    merged = []
    for low, high in clipped:
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


def _complement(ranges):
    missing, start = [], 0
    for low, high in _normalise(ranges):
        if low > start:
            missing.append((start, low - 1))
        start = high + 1
    if start <= 0x10FFFF:
        missing.append((start, 0x10FFFF))
    return _normalise(missing)


def _class(ranges):
    if not ranges:
        return r'[^\x{0}-\x{10ffff}]'     # matches nothing, as Python's [^\s\S]
    ranges = list(ranges)
    upper = ranges[0][0]
    if 'A' <= chr(upper) <= 'Z' and ranges == [(upper, upper), (upper + 32,) * 2]:
        # RE2 reads [Kk] as a case-insensitive k, and where it merges that into an
        # alternation (ab|[Kk] -> [Kk]|ab) folds it as Unicode does: the Kelvin sign
        # matched. A surrogate, which no value holds, keeps the class a class.
        ranges.append((_SURROGATES[0], _SURROGATES[0]))
    return '[%s]' % ''.join(r'\x{%x}' % low if low == high
                            else r'\x{%x}-\x{%x}' % (low, high)
                            for low, high in ranges)
