"""The catalog's notification payloads are upstream's, built from API documents."""

import pytest

from glance_api import notifications
from glance_api.metadefs import notifications as metadef_notifications


@pytest.fixture
def sent(monkeypatch):
    found = []
    monkeypatch.setattr(notifications, 'notify',
                        lambda ctx, event_type, payload: found.append(
                            (event_type, payload)))
    return found


def test_an_object_lists_its_properties_by_name_and_keeps_its_old_name(sent):
    metadef_notifications.emit(None, 'metadef_object.update', {
        'name': 'new', 'description': 'd', 'required': ['speed'],
        'properties': {'speed': {'type': 'integer', 'title': 'Speed'}},
        'created_at': 'c', 'updated_at': 'u', 'self': '/x', 'schema': '/y'},
        'NS', old_name='old')
    [(event_type, payload)] = sent
    assert event_type == 'metadef_object.update'
    assert {k: v for k, v in payload.items() if k != 'properties'} == {
        'namespace': 'NS', 'name': 'new', 'name_old': 'old', 'required': ['speed'],
        'description': 'd', 'created_at': 'c', 'updated_at': 'u', 'deleted': False,
        'deleted_at': None}
    [speed] = payload['properties']
    assert (speed['name'], speed['type'], speed['title'], speed['enum']) == (
        'speed', 'integer', 'Speed', None)


@pytest.mark.parametrize('event_type, document, expected', [
    ('metadef_tag.delete', {'name': 't', 'created_at': 'c', 'updated_at': 'u'},
     {'namespace': 'NS', 'name': 't', 'name_old': 't', 'created_at': 'c',
      'updated_at': 'u', 'deleted': True}),
    ('metadef_resource_type.create', {'name': 'OS::Glance::Image', 'prefix': 'hw_',
                                      'created_at': 'c'},
     {'namespace': 'NS', 'name': 'OS::Glance::Image',
      'name_old': 'OS::Glance::Image', 'prefix': 'hw_', 'properties_target': None,
      'created_at': 'c', 'updated_at': None, 'deleted': False, 'deleted_at': None}),
])
def test_tags_and_resource_type_associations(sent, event_type, document, expected):
    metadef_notifications.emit(None, event_type, document, 'NS')
    [(_, payload)] = sent
    if expected['deleted']:
        assert payload.pop('deleted_at').endswith('Z')
    assert payload == expected
