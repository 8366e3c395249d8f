"""Fixtures for the registry tests: a real registry daemon per database backend.

``registry`` is session-scoped and parametrised over sqlite, postgresql and mysql:
pytest runs every test that uses it once per backend, with one daemon per backend
for the whole session. Tests share that database, so each one works in its own
projects (``project``) and finds its own images with a unique property
(``scope``): nothing depends on what other tests created.
"""

import dataclasses
import functools
import os
import secrets
import subprocess
import sys
import uuid

import pytest

from glance_api.access import policy
from glance_registry import client as client_module
from glance_registry import db as db_module
from glance_registry import migrations
from glance_registry.client import identity
from tests.fixtures import processes
from tests.fixtures import registry_signing
from tests.fixtures.databases import databases  # noqa: F401 (a fixture)
from tests.unit.registry import races

ADMIN = identity.Identity('admin-user', 'admin-project', ('admin',), is_admin=True)

BACKEND_PARAMS = [
    pytest.param('sqlite', id='sqlite'),
    pytest.param('postgresql', id='postgresql', marks=pytest.mark.postgresql),
    pytest.param('mysql', id='mysql', marks=pytest.mark.mysql),
]


def manage(config_path, *args, check=True):
    """Run ``glance-manage --config-file config_path args...``."""
    result = subprocess.run(
        [sys.executable, '-m', 'glance_registry.manage', '--config-file', config_path]
        + list(args), capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError('glance-manage %s failed (%d):\n%s%s' % (
            ' '.join(args), result.returncode, result.stdout, result.stderr))
    return result


def sync(database_url):
    """Bring the schema of ``database_url`` up to date (``db sync``, in process)."""
    db = db_module.open_database(database_url)
    try:
        migrations.upgrade(db)
    finally:
        db.close_all()


def write_database_config(workdir, database_url, name='manage.conf'):
    path = os.path.join(workdir, name)
    with open(path, 'w') as f:
        f.write(processes.ini({'database': {'connection': database_url}}))
    return path


def data_rules_config(workdir):
    """Registry options for the tests of its data rules, whose callers carry no
    roles and whose locations are short made-up URLs: a policy that lets every
    caller do everything, a file store at ``/`` (so ``file:///a`` is one of its
    files) and an http store reading any port. The guard's own rules, with the
    default policy, are tested in ``test_guard.py``."""
    policy_path = os.path.join(workdir, 'open-policy.yaml')
    with open(policy_path, 'w') as f:
        f.write(''.join('"%s": ""\n' % rule.name for rule in policy.RULES))
    return {
        'DEFAULT': {'enabled_backends': 'root:file, web:http',
                    'node_staging_uri': 'file:///staging'},
        'glance_store': {'default_backend': 'root'},
        'root': {'filesystem_store_datadir': '/'},
        'import_filtering_opts': {'allowed_ports': ''},
        'oslo_policy': {'policy_file': policy_path},
    }


@dataclasses.dataclass
class Registry:
    backend: str
    database_url: str
    daemon: processes.Daemon
    secret: str
    client: client_module.RegistryClient

    @property
    def url(self):
        return self.daemon.url

    def auth(self, caller=ADMIN):
        """A requests auth that signs each request for ``caller``."""
        return registry_signing.Signed(caller, self.secret)


@pytest.fixture(scope='session', params=BACKEND_PARAMS)
def registry(request, databases, tmp_path_factory):  # noqa: F811
    """A running registry daemon over a freshly synced database of one backend."""
    backend = request.param
    database_url = databases.create(backend)
    workdir = str(tmp_path_factory.mktemp('registry-%s' % backend))
    sync(database_url)
    secret = processes.new_secret()
    daemon = processes.registry_daemon(workdir, database_url, secret,
                                       extra=data_rules_config(workdir)).start()
    client = client_module.RegistryClient(daemon.url, secret, timeout=30)
    yield Registry(backend, database_url, daemon, secret, client)
    client.close()
    daemon.stop()


@pytest.fixture
def client(registry):
    return registry.client


@pytest.fixture
def race(registry):
    """``race(calls)``: run the zero-argument ``calls`` against the registry at once,
    overlapping for certain (``races.race``); their outcomes."""
    return functools.partial(races.race, registry)


@pytest.fixture
def project():
    """A factory of identities in new, unique projects."""
    def make(name='member', admin=False):
        project_id = '%s-%s' % (name, secrets.token_hex(4))
        return identity.Identity('user-' + project_id, project_id,
                                 ('admin',) if admin else ('member',), is_admin=admin)
    return make


@pytest.fixture
def scope():
    """A value unique to this test, set as the ``test_scope`` property of its images."""
    return uuid.uuid4().hex


@pytest.fixture
def file_url(scope):
    """``file_url(name)``: a URL of the file store that is this test's own (the same
    for the same name): two live images may not share a writable store's URL, and
    tests share the database."""
    return lambda name: 'file:///%s-%s' % (name, scope)


@pytest.fixture
def make_image(client, scope):
    """Create an image in this test's scope: ``make_image(caller, **values)``."""
    def make(caller, properties=None, **values):
        properties = dict(properties or {}, test_scope=scope)
        return client.create_image(caller, dict(values, properties=properties))
    return make


@pytest.fixture
def list_scope(client, scope):
    """List this test's images: ``list_scope(caller, [(key, value), ...])``."""
    def list_(caller, params=()):
        return client.list_images(caller, [('test_scope', scope)] + list(params))
    return list_
