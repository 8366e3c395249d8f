"""The operator's regular expressions (``glance_api.patterns``): matched by RE2, in
time linear in the value, with exactly the answers of Python's ``re.search``; what
RE2 cannot express keeps Python's re and says so."""

import random
import re
import time

import pytest

from glance_api import patterns

# Each a few milliseconds on RE2; on Python's re, 2 ** 59 steps and more (0.8 s at
# 24 characters, twice that for each character more).
CATASTROPHIC = [
    (r'^([0-9]+)+$', '1' * 59 + 'x'),
    (r'^(\d+)*$', '1' * 59 + 'x'),
    (r'^(\w+\s?)*$', 'word ' * 12 + '!'),
    (r'^(a|aa)+$', 'a' * 59 + 'b'),
    (r'^(x+x+)+y$', 'x' * 60),
]

# Where the two engines read the same text differently, and the cases around them.
SUBJECTS = ['', 'a', 'a\n', 'a\n\n', '\na', 'ab', 'ab\n', 'abab', 'aXb', 'a\nb', 'A',
            '123', '12\n', '12x', '\u0661\u0662\u0663', '\uff11', '\u00b2', 'x\n',
            ' x', '\u2028x', '\u00a0x', '\x1cx', '\u3000x', 'foo', 'a foo', '\u00e9foo',
            '\u00e9', '_', 'caf\u00e9', '\u00df', '\u1e9e', 'K', 'k', '\u212a', 'b', 'bc',
            'bc\n', 'ABC', 'abc', 'aBc', 'S', '\u017f', 'I', '\u0130', '\u0131', '\u03c3',
            '\u03a3', '\u03c2', 'x' * 300]

# (pattern, evaluated by RE2): RE2 for all that it can say with Python's meaning.
PATTERNS = [
    (r'^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}'
     r'-([0-9a-fA-F]){12}$', True),
    (r'^\d+$', True),               # Python's \d: every decimal digit, not 0-9 only
    (r'^\w+$', True),               # Unicode letters and digits
    (r'^\S+\s\S+$', True),
    (r'^[^\W\d]+$', True),
    (r'^a$', True),                 # Python's $ matches before a final newline too
    (r'^(a|b)c?$', True),
    (r'(a$)?', True),
    (r'a{,3}$', True),
    (r'^(?:ab)*?$', True),
    (r'\Aa\Z', True),
    (r'(?s)a.b', True),
    (r'a.b', True),
    (r'[\s\S]', True),
    (r'[^a-z]', True),
    (r'(?x) a b  # verbose', True),
    (r'\N{DIGIT ONE}', True),
    (r'(?a)^\w+\b', True),          # ASCII word boundaries are RE2's too
    (r'[\ud800-\udfff]', True),
    (r'(a)\1', False),              # backreference
    (r'^(?!admin)', False),         # lookahead
    (r'(?<=a)b', False),            # lookbehind
    (r'(?i)^abc$', True),           # folded as Python folds
    (r'(?i)^[a-z]+$', True),
    (r'(?i)[^s]', True),
    (r'^(?i:\u03c3)$', True),
    ('^(?:\u0130|([Kk]))$', True),  # RE2 alone matched the Kelvin sign
    (r'(?m)^b$', False),            # line anchors differ in detail
    (r'\bfoo', False),              # Python's word boundary is Unicode
    (r'a$b', False),                # a $ something may follow
    (r'(a$)+', False),
    (r'(?>a+)b', False),            # atomic group
    (r'x{1001}', False),            # over RE2's repetition limit
]


@pytest.mark.parametrize('pattern, value', CATASTROPHIC)
def test_a_catastrophic_pattern_answers_a_long_value_at_once(pattern, value):
    compiled = patterns.compile(pattern)
    started = time.monotonic()
    assert compiled.search(value) is False
    assert time.monotonic() - started < 0.5
    assert compiled.linear


@pytest.mark.parametrize('pattern, linear', PATTERNS)
def test_a_pattern_answers_as_pythons_re(pattern, linear):
    compiled = patterns.compile(pattern)
    assert compiled.linear is linear
    assert compiled.text == pattern
    answers = {value: compiled.search(value) for value in SUBJECTS}
    assert answers == {value: re.search(pattern, value) is not None
                       for value in SUBJECTS}


@pytest.mark.parametrize('category, negation', [
    (r'\d', r'\D'), (r'\w', r'\W'), (r'\s', r'\S'),
    (r'(?a)\d', r'(?a)\D'), (r'(?a)\w', r'(?a)\W'), (r'(?a)\s', r'(?a)\S'),
])
def test_a_class_matches_every_character_pythons_does_and_no_other(category,
                                                                  negation):
    # Every character but the surrogates, which no value holds.
    everything = ''.join(chr(code) for code in range(0x110000)
                         if not 0xD800 <= code <= 0xDFFF)
    for this, other in ((category, negation), (negation, category)):
        flags, this_class = (this[:4], this[4:]) if this.startswith('(?a)') \
            else ('', this)
        members = ''.join(re.findall(this, everything))
        others = ''.join(re.findall(other, everything))
        assert len(members) + len(others) == len(everything)
        assert patterns.compile(r'%s\A%s*\Z' % (flags, this_class)).search(members)
        assert not patterns.compile(this).search(others)


def test_a_value_with_a_lone_surrogate_matches_nothing():
    # RE2 reads UTF-8; no JSON body holds one (orjson refuses it).
    assert patterns.compile('.*').search('\ud800') is False


def test_what_pythons_re_refuses_is_refused_as_re_compile_refuses_it():
    with pytest.raises(re.error, match='missing \\), unterminated subpattern'):
        patterns.compile('(a')


def test_random_patterns_answer_as_pythons_re():
    # Patterns built from the pieces where the engines differ: Unicode classes,
    # case folding, anchors, and alternatives RE2 merges into classes.
    pieces = ['a', 'k', 's', '\u03c3', '\u00df', '\\d', '\\w', '\\W', '\\s', '.', '[ab]',
              '[^k]', '[a-z]', '[Kk]', '[^\\W\\d]', 'x', '\u0130', '$', '^', '\\Z',
              '(?i:k)', '(?-i:s)', '(?a:\\w)', '(?s:.)', '\\n']
    characters = ['a', 'A', 'k', 'K', '\u212a', 's', 'S', '\u017f', '\u03c3', '\u03a3',
                  '\u03c2', 'i', '\u0130', '\u0131', '\u00df', 'x', '1', '\u0661', '_',
                  '\n', ' ', '\u2028']
    chance = random.Random(20261207)

    def piece(depth=0):
        roll = chance.random()
        if depth > 3 or roll < 0.3:
            return chance.choice(pieces)
        if roll < 0.5:
            return piece(depth + 1) + piece(depth + 1)
        if roll < 0.7:
            return '(?:%s|%s)' % (piece(depth + 1), piece(depth + 1))
        if roll < 0.85:
            return '(%s)%s' % (piece(depth + 1), chance.choice('*+?'))
        return piece(depth + 1) + '$'

    for _ in range(500):
        pattern = chance.choice(['', '(?i)', '(?a)', '(?ia)', '(?s)']) + piece()
        try:
            compiled = patterns.compile(pattern)
        except re.error:
            continue
        for _ in range(20):
            value = ''.join(chance.choice(characters)
                            for _ in range(chance.randint(0, 5)))
            assert compiled.search(value) == (re.search(pattern, value) is not None), (
                pattern, value)
