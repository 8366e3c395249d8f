"""glance_registry.metadefs.definitions: what a property definition may hold and how
it reads back (no database)."""

import pytest

from glance_registry.client import errors
from glance_registry.metadefs import definitions

FULL = {'type': 'array', 'title': 'T', 'description': 'd', 'operators': ['<or>'],
        'default': 'x', 'readonly': True, 'minimum': -3, 'maximum': 7.9,
        'enum': ['a'], 'pattern': '^a$', 'minLength': 0, 'maxLength': 4,
        'confidential': False, 'items': {'type': 'string', 'enum': ['a', 'b']},
        'uniqueItems': True, 'minItems': 1, 'maxItems': 2, 'additionalItems': False}


def test_every_member_of_upstreams_model_is_kept_and_a_name_dropped():
    assert definitions.check(dict(FULL, name='n'), 'p') == FULL


def test_nulls_mean_not_given_except_for_default():
    assert definitions.check({'type': 'string', 'title': 'T', 'default': None,
                              'description': None, 'enum': None}, 'p') == {
        'type': 'string', 'title': 'T', 'default': None}


@pytest.mark.parametrize('stored, read', [
    ({'default': 180}, {'default': '180'}),
    ({'default': 1.5}, {'default': '1.5'}),
    ({'default': True}, {'default': 'True'}),
    ({'default': None}, {'default': None}),
    ({'minimum': 0.5, 'maximum': -2.5}, {'minimum': 0, 'maximum': -2}),
    ({'enum': ['x'], 'readonly': False}, {'enum': ['x'], 'readonly': False}),
])
def test_definitions_read_back_with_upstreams_conversions(stored, read):
    assert definitions.render(stored) == read


@pytest.mark.parametrize('member, value', [
    ('type', 'text'), ('title', 3), ('operators', 'a'), ('operators', [1]),
    ('default', {}), ('default', [1]), ('readonly', 'true'), ('minimum', True),
    ('minimum', '1'), ('maximum', 1e19), ('enum', [None]), ('minLength', -1),
    ('minLength', 1.0), ('maxItems', True), ('items', []), ('items', {'enum': []}),
    ('items', {'type': 'string', 'x': 1}), ('uniqueItems', 'no'), ('pattern', '\x00'),
    ('colour', 'red'), ('required', ['a']),
    # The schema clients validate a definition with says a string (a catalog file
    # loaded with null made glance md-namespace-show fail on the namespace).
    ('type', None), ('items', {'type': None}),
])
def test_a_wrong_member_is_refused_saying_which(member, value):
    definition = {'type': 'string', 'title': 'T', member: value}
    with pytest.raises(errors.BadRequest) as raised:
        definitions.check(definition, "property 'p'")
    assert raised.value.message.startswith("property 'p'")


@pytest.mark.parametrize('definition', [{'title': 'T'}, {'type': 'string'},
                                        {'type': None, 'title': 'T'},
                                        {'type': 'string', 'title': None}, [], 'x'])
def test_type_and_title_are_required(definition):
    with pytest.raises(errors.BadRequest):
        definitions.check(definition, "property 'p'")
