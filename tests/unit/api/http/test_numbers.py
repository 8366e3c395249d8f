"""Numbers in client input: only ASCII digits, never past 64 bits, never a 500."""

import pytest

from glance_api.http import numbers


@pytest.mark.parametrize('text,expected', [
    ('0', 0), ('42', 42), ('007', 7), ('0' * 5000 + '5', 5),
    (str(numbers.INT64_MAX), numbers.INT64_MAX),
    (str(numbers.INT64_MAX + 1), None),
    ('9' * 5000, None),          # past Python's int-string limit
    ('', None), (None, None), ('-1', None), ('+1', None), (' 1', None),
    ('1_000', None), ('\u00b2', None), ('\u0661', None), ('1.0', None),
])
def test_non_negative_int(text, expected):
    assert numbers.non_negative_int(text) == expected


def test_a_maximum_refuses_larger_numbers():
    assert numbers.non_negative_int('10', maximum=10) == 10
    assert numbers.non_negative_int('11', maximum=10) is None
