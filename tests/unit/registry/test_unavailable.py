"""When the database cannot be written or reached, the registry answers 503, says why,
and keeps serving what it still can."""

import contextlib
import os
import threading
import time

import pytest
import requests

from glance_registry import client as client_module
from glance_registry import db as db_module
from glance_registry.client import errors
from glance_registry.client import identity
from glance_registry.client import list_params
from glance_registry.images import records
from glance_registry.images import writes
from tests.fixtures import databases as databases_module
from tests.fixtures import processes
from tests.fixtures import registry_signing
from tests.fixtures import skips
from tests.fixtures import tools
from tests.unit.registry.conftest import ADMIN
from tests.unit.registry.conftest import data_rules_config
from tests.unit.registry.conftest import sync

CALLER = identity.Identity('user', 'unavailable-project')


@contextlib.contextmanager
def unwritable(path):
    """Make the file ``path`` unwritable, even for root, for the block."""
    if os.geteuid() != 0:
        os.chmod(path, 0o444)
        try:
            yield
        finally:
            os.chmod(path, 0o644)
        return
    # Root writes through any mode bits; the immutable attribute stops it.
    with tools.immutable(path):
        yield


def test_unwritable_sqlite_file_answers_503_for_writes_and_serves_reads(
        databases, tmp_path):
    url = databases.create('sqlite')
    sync(url)
    db = db_module.open_database(url)
    with db_module.connection(db):
        image = writes.create_image(db, CALLER, {'name': 'before'})
    db.close_all()
    path = url[len('sqlite:///'):]
    secret = processes.new_secret()
    daemon = processes.registry_daemon(str(tmp_path), url, secret,
                                       extra=data_rules_config(str(tmp_path)))
    client = daemon_client(daemon, secret)
    with unwritable(path):
        daemon.start(healthy=False)
        try:
            assert client.get_image(CALLER, image['id'])['name'] == 'before'
            # Reads work, but a registry that cannot write is not healthy: the
            # health check writes (a SELECT 1 would say 200 here).
            health = requests.get(daemon.url + '/healthcheck')
            assert health.status_code == 503
            assert health.json()['error']['message'] == \
                'the image database is read-only'
            assert client.health_problem() == (
                'REGISTRY DATABASE UNAVAILABLE: the image database is read-only')
            for write in (lambda: client.create_image(CALLER, {'name': 'new'}),
                          lambda: client.update_image(CALLER, image['id'],
                                                      values={'name': 'after'}),
                          lambda: client.add_tag(CALLER, image['id'], 't'),
                          lambda: client.delete_image(CALLER, image['id'])):
                with pytest.raises(errors.Unavailable) as raised:
                    write()
                assert 'read-only' in raised.value.message
            response = requests.post(daemon.url + '/v1/images', json={},
                                     auth=registry_signing.Signed(CALLER, secret))
            assert response.status_code == 503
            assert response.json()['error']['code'] == 'unavailable'
        finally:
            client.close()
            daemon.stop()
    db = db_module.open_database(url)
    with db_module.connection(db):
        listed, _ = records.list_images(db, ADMIN, list_params.parse_list_params([]))
    db.close_all()
    assert [(r['id'], r['name'], r['tags']) for r in listed] == [
        (image['id'], 'before', [])]


def daemon_client(daemon, secret):
    return client_module.RegistryClient(daemon.url, secret, timeout=30)


@pytest.mark.postgresql
def test_vanished_database_server_answers_503_and_health_fails(databases, tmp_path):
    url = databases.create('postgresql')
    sync(url)
    secret = processes.new_secret()
    daemon = processes.registry_daemon(str(tmp_path), url, secret,
                                       extra=data_rules_config(str(tmp_path))).start()
    client = daemon_client(daemon, secret)
    try:
        image = client.create_image(CALLER, {})
        # Dropping the database terminates the registry's pooled connections and
        # makes new ones fail: what a database restart or outage looks like.
        admin = databases_module.admin_connection('postgresql')
        with admin.cursor() as cursor:
            cursor.execute('DROP DATABASE %s WITH (FORCE)' % url.rsplit('/', 1)[1])
        admin.close()
        for _ in range(4):  # Each worker's pool, whichever worker answers.
            with pytest.raises(errors.Unavailable) as raised:
                client.get_image(CALLER, image['id'])
            assert raised.value.message == 'the image database is unavailable'
        response = requests.get(daemon.url + '/healthcheck')
        assert response.status_code == 503
        assert response.json()['error']['code'] == 'unavailable'
    finally:
        client.close()
        daemon.stop()


_KILL_CONNECTIONS = {
    'postgresql': ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE datname = %s AND pid <> pg_backend_pid()"),
    'mysql': "SELECT id FROM information_schema.processlist WHERE db = %s",
}


def test_connections_the_server_dropped_are_replaced_without_errors(registry, project):
    """After a database restart, pooled connections are dead: no request may fail."""
    if registry.backend == 'sqlite':
        skips.not_applicable('SQLite has no server to drop connections')
    caller, client = project(), registry.client
    image = client.create_image(caller, {})
    for _ in range(8):  # Fill both workers' pools.
        client.get_image(caller, image['id'])
    name = registry.database_url.rsplit('/', 1)[1]
    admin = databases_module.admin_connection(registry.backend)
    with admin.cursor() as cursor:
        cursor.execute(_KILL_CONNECTIONS[registry.backend], (name,))
        if registry.backend == 'mysql':
            for (thread_id,) in cursor.fetchall():
                cursor.execute('KILL %d' % thread_id)
    admin.close()
    for _ in range(8):
        assert client.get_image(caller, image['id'])['id'] == image['id']


def _allow_connections(url, allowed):
    admin = databases_module.admin_connection('postgresql')
    with admin.cursor() as cursor:
        cursor.execute('ALTER DATABASE %s ALLOW_CONNECTIONS %s'
                       % (url.rsplit('/', 1)[1], 'true' if allowed else 'false'))
    admin.close()


@pytest.mark.postgresql
def test_a_registry_started_before_its_database_waits_for_it(databases, tmp_path):
    """A host booting may start the registry before the database server accepts
    connections: it tries again, as upstream's oslo.db does, and then serves."""
    url = databases.create('postgresql')
    sync(url)
    secret = processes.new_secret()
    daemon = processes.registry_daemon(
        str(tmp_path), url, secret,
        extra=processes.merged(data_rules_config(str(tmp_path)),
                               {'database': {'retry_interval': 1}}))
    _allow_connections(url, False)
    timer = threading.Timer(3, _allow_connections, (url, True))
    timer.start()
    try:
        daemon.start()
        client = daemon_client(daemon, secret)
        try:
            assert client.create_image(CALLER, {'name': 'after'})['name'] == 'after'
        finally:
            client.close()
    finally:
        timer.join()
        daemon.stop()
    assert 'trying again in 1 s (10 attempts left)' in daemon.log_tail()


@pytest.mark.postgresql
def test_a_registry_whose_database_never_answers_refuses_to_start(databases,
                                                                  tmp_path):
    url = databases.create('postgresql')
    sync(url)
    _allow_connections(url, False)
    daemon = processes.registry_daemon(
        str(tmp_path), url, processes.new_secret(),
        extra={'database': {'max_retries': 1, 'retry_interval': 1}})
    with pytest.raises(RuntimeError) as refused:
        daemon.start()
    assert 'registry exited with 2' in str(refused.value)
    assert 'trying again in 1 s (1 attempts left)' in str(refused.value)
    assert 'refusing to start: cannot reach postgresql://' in str(refused.value)


def test_an_unreadable_sqlite_file_is_refused_at_once(databases, tmp_path):
    """A file has no server to wait for: no retries, whatever max_retries says."""
    url = databases.create('sqlite')
    os.mkdir(url[len('sqlite:///'):])   # SQLite: "unable to open database file"
    daemon = processes.registry_daemon(
        str(tmp_path), url, processes.new_secret(),
        extra={'database': {'max_retries': 3, 'retry_interval': 30}})
    with pytest.raises(RuntimeError) as refused:
        daemon.start()
    assert 'refusing to start: cannot read the schema version of sqlite' \
        in str(refused.value)
    assert 'trying again' not in str(refused.value)


@pytest.mark.parametrize('backend', [
    pytest.param('postgresql', marks=pytest.mark.postgresql),
    pytest.param('mysql', marks=pytest.mark.mysql)])
def test_a_write_stuck_behind_a_row_lock_answers_503_after_lock_wait_timeout(
        backend, databases, tmp_path):
    """Another transaction holding the image's row (an operator's session left
    open, a stuck client) makes a write wait ``lock_wait_timeout`` seconds, then
    fail as busy: the API gets an answer well before its own timeout, and the
    registry's thread and connection are freed. PostgreSQL would wait for ever."""
    url = databases.create(backend)
    sync(url)
    secret = processes.new_secret()
    daemon = processes.registry_daemon(
        str(tmp_path), url, secret,
        extra=processes.merged(data_rules_config(str(tmp_path)),
                               {'database': {'lock_wait_timeout': 1}})).start()
    client = daemon_client(daemon, secret)
    holder = databases_module.connect(url)
    try:
        image = client.create_image(CALLER, {'name': 'before'})
        with holder.cursor() as cursor:
            cursor.execute('BEGIN')
            cursor.execute('SELECT id FROM images WHERE id = %s FOR UPDATE',
                           (image['id'],))
            started = time.monotonic()
            with pytest.raises(errors.Unavailable) as raised:
                client.update_image(CALLER, image['id'], values={'name': 'after'})
            waited = time.monotonic() - started
            assert raised.value.message == 'the image database is busy; try again'
            assert 0.9 < waited < 10
            # Reads do not wait for the lock.
            assert client.get_image(CALLER, image['id'])['name'] == 'before'
            cursor.execute('ROLLBACK')
        assert client.update_image(CALLER, image['id'],
                                   values={'name': 'after'})['name'] == 'after'
    finally:
        holder.close()
        client.close()
        daemon.stop()
