"""``glance-manage db purge`` and ``db purge_images_table`` against a running
deployment: purged images stay gone, and their ids can never be taken again."""

import datetime
import sqlite3
import subprocess
import sys


def _manage(glance, *args):
    result = subprocess.run(
        [sys.executable, '-m', 'glance_registry.manage', '--config-file',
         glance.registry.config_path] + list(args),
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _age(glance, image_id, days):
    """Make the deletion of ``image_id`` ``days`` old (the test cannot wait)."""
    when = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) \
        - datetime.timedelta(days=days)
    with sqlite3.connect(glance.database_url[len('sqlite:///'):]) as conn:
        conn.execute('UPDATE images SET deleted_at = ? WHERE id = ?',
                     (when.strftime('%Y-%m-%d %H:%M:%S.%f'), image_id))


def test_a_new_image_can_never_take_the_id_of_a_purged_one(glance, tenant):
    image = tenant.create_image(name='purged', tags=['t'], foo='bar')
    assert tenant.upload(image['id'], b'x' * 1024).status_code == 204
    assert tenant.delete('/v2/images/%s' % image['id']).status_code == 204
    _age(glance, image['id'], 400)
    assert 'Purged 1 image rows' in _manage(
        glance, 'db', 'purge', '--age_in_days', '365', '--max_rows', '-1') \
        + _manage(glance, 'db', 'purge_images_table', '--age_in_days', '365',
                  '--max_rows', '-1')
    assert tenant.get('/v2/images/%s' % image['id']).status_code == 404
    again = tenant.post('/v2/images', json={'id': image['id'], 'name': 'again',
                                            'disk_format': 'raw',
                                            'container_format': 'bare'})
    assert again.status_code == 409, again.text
    assert 'An image with identifier %s already exists' % image['id'] in again.text
    assert tenant.get('/v2/images/%s' % image['id']).status_code == 404


def test_purge_leaves_recently_deleted_and_live_images_alone(glance, tenant):
    live = tenant.create_image(name='live', tags=['kept'])
    recent = tenant.create_image(name='recent')
    assert tenant.delete('/v2/images/%s' % recent['id']).status_code == 204
    _manage(glance, 'db', 'purge', '--age_in_days', '1', '--max_rows', '-1')
    _manage(glance, 'db', 'purge_images_table', '--age_in_days', '1')
    assert tenant.image(live['id'])['tags'] == ['kept']
    with sqlite3.connect(glance.database_url[len('sqlite:///'):]) as conn:
        assert conn.execute('SELECT status FROM images WHERE id = ?',
                            (recent['id'],)).fetchone() == ('deleted',)
