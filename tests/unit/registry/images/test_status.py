"""The status table is upstream's, and what it implies for the registry."""

import pytest

from glance_registry.client import errors
from glance_registry.client import vocabulary
from glance_registry.images import status

# Upstream glance/domain Image.valid_state_targets, written out independently.
UPSTREAM = {
    'queued': {'saving', 'uploading', 'importing', 'active', 'deleted'},
    'saving': {'active', 'killed', 'deleted', 'queued'},
    'uploading': {'importing', 'queued', 'deleted'},
    'importing': {'active', 'deleted', 'queued'},
    'active': {'pending_delete', 'deleted', 'deactivated'},
    'deactivated': {'active', 'deleted'},
    'killed': {'deleted'},
    'pending_delete': {'deleted', 'active'},
    'deleted': set(),
}


def test_table_is_upstreams_state_machine():
    assert {k: set(v) for k, v in status.ALLOWED.items()} == UPSTREAM


def test_every_target_is_a_known_status():
    for targets in status.ALLOWED.values():
        assert targets <= status.STATUSES


def test_deleted_is_terminal_and_every_other_status_can_be_deleted():
    assert not status.ALLOWED['deleted']
    for source in status.STATUSES - {'deleted'}:
        assert status.can_transition(source, 'deleted')


@pytest.mark.parametrize('source,target', [
    ('queued', 'killed'), ('active', 'queued'), ('active', 'saving'),
    ('deleted', 'active'), ('killed', 'active'), ('saving', 'saving'),
    ('bogus', 'active'), ('queued', 'bogus'),
])
def test_moves_outside_the_table_conflict(source, target):
    assert not status.can_transition(source, target)
    with pytest.raises(errors.Conflict) as raised:
        status.check_transition(source, target, current_status='x')
    assert raised.value.details == {'current_status': 'x'}


@pytest.mark.parametrize('target', ['saving', 'active', 'importing'])
def test_taking_data_needs_both_formats(target):
    assert status.missing_formats(target, None, None) == [
        'disk_format', 'container_format']
    assert status.missing_formats(target, 'raw', '') == ['container_format']
    assert status.missing_formats(target, 'raw', 'bare') == []


@pytest.mark.parametrize('target', ['queued', 'uploading', 'killed', 'deactivated'])
def test_other_targets_need_no_formats(target):
    assert status.missing_formats(target, None, None) == []


def test_the_table_has_a_row_for_every_image_status_of_the_vocabulary():
    assert set(status.ALLOWED) == set(vocabulary.IMAGE_STATUSES) == status.STATUSES
