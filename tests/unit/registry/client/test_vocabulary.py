"""The facts the registry and its callers share."""

import datetime

import pytest

from glance_registry.client import vocabulary


@pytest.mark.parametrize('value', [
    '7c3b9c5e-1f0a-4b8e-9d2c-0123456789ab',
    '7C3B9C5E-1F0A-4B8E-9D2C-0123456789AB',
])
def test_an_image_id_is_a_canonical_uuid(value):
    assert vocabulary.is_image_id(value)


@pytest.mark.parametrize('value', [
    '7c3b9c5e1f0a4b8e9d2c0123456789ab',          # no hyphens
    '7c3b9c5e-1f0a-4b8e-9d2c-0123456789ab\n',    # a trailing newline
    '{7c3b9c5e-1f0a-4b8e-9d2c-0123456789ab}',
    '7c3b9c5e-1f0a-4b8e-9d2c-0123456789ag',
    '',
    None,
    42,
])
def test_anything_else_is_no_image_id(value):
    assert not vocabulary.is_image_id(value)


def test_timestamps_read_back_as_they_were_written():
    when = datetime.datetime(2026, 11, 27, 9, 0, 1, 999999)
    text = vocabulary.format_timestamp(when)
    assert text == '2026-11-27T09:00:01Z'
    assert vocabulary.parse_timestamp(text) == datetime.datetime(
        2026, 11, 27, 9, 0, 1, tzinfo=datetime.timezone.utc)
    assert vocabulary.format_timestamp(None) is None


@pytest.mark.parametrize('text', ['2026-11-27 09:00:01', '2026-11-27T09:00:01',
                                  '2026-11-27T09:00:01+00:00', ''])
def test_a_time_in_another_format_is_refused(text):
    with pytest.raises(ValueError):
        vocabulary.parse_timestamp(text)


def test_the_attribute_lists_are_subsets_of_the_record():
    record = set(vocabulary.IMAGE_ATTRIBUTES)
    assert set(vocabulary.WRITABLE_ATTRIBUTES) < record
    assert set(vocabulary.DATA_ATTRIBUTES) < record
    assert not set(vocabulary.WRITABLE_ATTRIBUTES) & set(vocabulary.DATA_ATTRIBUTES)
