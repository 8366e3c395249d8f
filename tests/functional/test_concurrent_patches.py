"""JSON patches racing other writers of the same image.

The API reads the image, plays the patch on it and sends the registry what changes.
A patch judges ``replace``/``remove`` (the property must exist) and the 2.0 media
type's ``add`` (it must not) on the image it read; another writer may change that
property before the patch is written. Then the patch must fail as it would have
after that writer (409), not undo the other writer's change while both get 200.

Each test holds the database's write lock (the gate of ``races``) while the patch
waits there, having read the image, and meanwhile changes the property as the
committed write of another client would.
"""

import sqlite3
import threading

from tests.fixtures.deployment import PATCH_2_1
from tests.unit.registry import races

PATCH_2_0 = 'application/openstack-images-v2.0-json-patch'


def _patch_while_property_changes(glance, client, image_id, operations, media_type,
                                  change_sql, params):
    """Send the patch; once it waits at the database's write lock, run
    ``change_sql`` there (another writer's committed change); the response."""
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(
        client.patch_image(image_id, operations, media_type=media_type)))
    gate = races.GATES['sqlite'](glance.database_url)
    try:
        thread.start()
        gate.wait_for(1)
        database = glance.database_url[len('sqlite:///'):]
        with sqlite3.connect(database, timeout=30) as conn:
            conn.execute(change_sql, params)
        conn.close()
    finally:
        gate.open()
    thread.join()
    return outcome[0]


def _remove_property(image_id, name):
    return ('DELETE FROM image_properties WHERE image_id = ? AND name = ?',
            (image_id, name))


def _add_property(image_id, name, value):
    return ('INSERT INTO image_properties (image_id, name, value) VALUES (?, ?, ?)',
            (image_id, name, value))


def test_replace_of_a_property_removed_meanwhile_conflicts(glance, tenant):
    image = tenant.create_image(color='red')
    response = _patch_while_property_changes(
        glance, tenant, image['id'],
        [{'op': 'replace', 'path': '/color', 'value': 'blue'}],
        PATCH_2_1,
        *_remove_property(image['id'], 'color'))
    assert response.status_code == 409, response.text
    assert 'color' in response.json()['message']
    assert 'color' not in tenant.image(image['id'])


def test_remove_of_a_property_removed_meanwhile_conflicts(glance, tenant):
    image = tenant.create_image(color='red')
    response = _patch_while_property_changes(
        glance, tenant, image['id'],
        [{'op': 'remove', 'path': '/color'},
         {'op': 'add', 'path': '/color', 'value': 'blue'}],
        PATCH_2_1,
        *_remove_property(image['id'], 'color'))
    assert response.status_code == 409, response.text
    assert 'color' not in tenant.image(image['id'])


def test_2_0_add_of_a_property_added_meanwhile_conflicts(glance, tenant):
    image = tenant.create_image()
    response = _patch_while_property_changes(
        glance, tenant, image['id'], [{'add': '/color', 'value': 'blue'}], PATCH_2_0,
        *_add_property(image['id'], 'color', 'red'))
    assert response.status_code == 409, response.text
    assert 'color' in response.json()['message']
    assert tenant.image(image['id'])['color'] == 'red'


def test_2_1_add_overwrites_a_property_added_meanwhile(glance, tenant):
    # 2.1's add sets the property whether or not it exists: no conflict to find.
    image = tenant.create_image()
    response = _patch_while_property_changes(
        glance, tenant, image['id'],
        [{'op': 'add', 'path': '/color', 'value': 'blue'}],
        PATCH_2_1,
        *_add_property(image['id'], 'color', 'red'))
    assert response.status_code == 200, response.text
    assert tenant.image(image['id'])['color'] == 'blue'
