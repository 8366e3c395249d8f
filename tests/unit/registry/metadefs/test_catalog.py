"""``glance-manage db load_metadefs | unload_metadefs | export_metadefs`` on every
backend: the standard catalog, loading twice, merging, bad files, round trips."""

import json
import os

import pytest

from glance_registry import db as db_module
from glance_registry.client import identity
from glance_registry.client.metadefs import Access
from glance_registry.metadefs import catalog
from glance_registry.metadefs import models as metadef_models
from glance_registry.metadefs import namespaces
from glance_registry.metadefs import validation
from tests.unit.registry.conftest import BACKEND_PARAMS
from tests.unit.registry.conftest import manage
from tests.unit.registry.conftest import sync
from tests.unit.registry.conftest import write_database_config

ADMIN = identity.Identity('admin', None, ('admin',), is_admin=True)


@pytest.fixture(params=BACKEND_PARAMS)
def database(request, databases, tmp_path):
    """``(url, config path)`` of a new, synced database of each backend."""
    url = databases.create(request.param)
    sync(url)
    return url, write_database_config(str(tmp_path), url)


def rows(url):
    """Every row of every catalog table, timestamps included."""
    db = db_module.open_database(url)
    try:
        with db_module.connection(db):
            return {model.__name__: [tuple(row) for row in model.select().order_by(
                model.id).tuples().execute(db)] for model in metadef_models.MODELS}
    finally:
        db.close_all()


def namespace(url, name):
    db = db_module.open_database(url)
    try:
        with db_module.connection(db):
            return namespaces.get_namespace(db, ADMIN, Access(), name)
    finally:
        db.close_all()


def write(directory, file_name, document):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, file_name), 'w') as f:
        json.dump(document, f)


def test_the_standard_catalog_loads_and_loading_it_again_changes_nothing(database):
    url, config = database
    assert len([f for f in os.listdir(catalog.standard_catalog())
                if f.endswith('.json')]) == 32
    loaded = manage(config, 'db', 'load_metadefs')
    assert '32 namespaces loaded' in loaded.stderr
    before = rows(url)
    again = manage(config, 'db', 'load_metadefs')
    assert '32 skipped' in again.stderr
    merged = manage(config, 'db', 'load_metadefs', '--merge', '--prefer_new')
    assert '32 unchanged' in merged.stderr
    assert rows(url) == before
    pinning = namespace(url, 'OS::Compute::CPUPinning')
    assert (pinning['visibility'], pinning['protected'], pinning['owner']) == (
        'public', True, 'admin')
    assert pinning['properties']['cpu_policy']['enum'] == ['shared', 'dedicated']
    assert {a['name']: a['prefix'] for a in pinning['resource_type_associations']} == {
        'OS::Glance::Image': 'hw_', 'OS::Cinder::Volume': 'hw_',
        'OS::Nova::Flavor': 'hw:'}
    # Upstream loads resource types from the catalog as protected ("seeded").
    assert {row[1]: row[2] for row in before['ResourceType']}['OS::Glance::Image'] is True
    # A file without a visibility gives a private namespace.
    assert namespace(url, 'OS::OperatingSystem')['visibility'] == 'private'


FILE = {
    'namespace': 'Test::Merge', 'display_name': 'Merge', 'visibility': 'public',
    'protected': True, 'owner': 'someone',
    'resource_type_associations': [{'name': 'OS::Glance::Image', 'prefix': 'a_'}],
    'properties': {'p1': {'type': 'string', 'title': 'P1'}},
    'objects': [{'name': 'o1', 'required': ['x'],
                 'properties': {'x': {'type': 'integer', 'title': 'X'}}}],
    'tags': [{'name': 't1'}],
}
CHANGED = dict(
    FILE, display_name='Merged',
    resource_type_associations=[{'name': 'OS::Glance::Image', 'prefix': 'b_'},
                                {'name': 'OS::Nova::Flavor', 'prefix': 'b:'}],
    properties={'p1': {'type': 'string', 'title': 'P1 changed'},
                'p2': {'type': 'integer', 'title': 'P2', 'default': 3}},
    objects=[{'name': 'o2', 'properties': {}}], tags=[{'name': 't2'}])


def _summary(url):
    ns = namespace(url, 'Test::Merge')
    return (ns['display_name'],
            {a['name']: a['prefix'] for a in ns['resource_type_associations']},
            {name: d['title'] for name, d in ns['properties'].items()},
            sorted(o['name'] for o in ns['objects']),
            sorted(t['name'] for t in ns['tags']))


@pytest.mark.parametrize('options, expected', [
    ((), ('Merge', {'OS::Glance::Image': 'a_'}, {'p1': 'P1'}, ['o1'], ['t1'])),
    (('--merge',), ('Merge', {'OS::Glance::Image': 'a_', 'OS::Nova::Flavor': 'b:'},
                    {'p1': 'P1', 'p2': 'P2'}, ['o1', 'o2'], ['t1', 't2'])),
    (('--merge', '--prefer_new'),
     ('Merged', {'OS::Glance::Image': 'b_', 'OS::Nova::Flavor': 'b:'},
      {'p1': 'P1 changed', 'p2': 'P2'}, ['o1', 'o2'], ['t1', 't2'])),
    (('--merge', '--overwrite'),
     ('Merged', {'OS::Glance::Image': 'b_', 'OS::Nova::Flavor': 'b:'},
      {'p1': 'P1 changed', 'p2': 'P2'}, ['o2'], ['t2'])),
])
def test_loading_over_an_existing_namespace(database, tmp_path, options, expected):
    """Skipped without --merge; --merge adds what it lacks, --prefer_new also takes
    what differs, --overwrite makes it exactly the file. Twice is once."""
    url, config = database
    write(str(tmp_path / 'a'), 'merge.json', FILE)
    write(str(tmp_path / 'b'), 'merge.json', CHANGED)
    manage(config, 'db', 'load_metadefs', '--path', str(tmp_path / 'a'))
    manage(config, 'db', 'load_metadefs', '--path', str(tmp_path / 'b'), *options)
    assert _summary(url) == expected
    before = rows(url)
    again = manage(config, 'db', 'load_metadefs', '--path', str(tmp_path / 'b'),
                   *options)
    assert rows(url) == before
    assert ('1 unchanged' if options else '1 skipped') in again.stderr


def test_a_bad_file_loads_nothing_and_the_others_load(database, tmp_path):
    url, config = database
    directory = str(tmp_path / 'files')
    write(directory, '1-good.json', dict(FILE, namespace='Test::Good'))
    with open(os.path.join(directory, '2-broken.json'), 'w') as f:
        f.write('{"namespace": ')
    write(directory, '3-bad-property.json', dict(
        FILE, namespace='Test::Bad', properties={'p': {'type': 'str', 'title': 'P'}}))
    write(directory, '4-twice.json', dict(FILE, namespace='Test::Twice',
                                          tags=[{'name': 't'}, {'name': 't'}]))
    write(directory, '5-slash.json', dict(FILE, namespace='Test/Slash'))
    result = manage(config, 'db', 'load_metadefs', '--path', directory, check=False)
    assert result.returncode == 1
    assert '1 namespaces loaded' in result.stderr and '4 files failed' in result.stderr
    for bad in ('2-broken.json', '3-bad-property.json', '4-twice.json', '5-slash.json'):
        assert '%s: not loaded' % bad in result.stderr
    assert [row[1] for row in rows(url)['Namespace']] == ['Test::Good']


@pytest.mark.parametrize('args, message', [
    (('load_metadefs', '--prefer_new'), 'give --merge too'),
    (('load_metadefs', '--merge', '--prefer_new', '--overwrite'), 'at most one of'),
    (('load_metadefs', '--path', '/nonexistent/metadefs'), 'neither a file nor a '
                                                            'directory'),
    (('export_metadefs',), 'export_metadefs needs --path'),
    (('export_metadefs', '--path', '/nonexistent/metadefs'), 'is not a directory'),
])
def test_options_a_command_cannot_work_with_exit_2_saying_why(database, args, message):
    _url, config = database
    result = manage(config, 'db', *args, check=False)
    assert result.returncode == 2
    assert message in result.stderr


def test_a_namespace_without_an_owner_keeps_none_through_export_and_load(database,
                                                                        tmp_path):
    # The no-auth caller (an admin without a project) makes namespaces without an
    # owner; exported and loaded back they belonged to 'admin', a project name.
    url, config = database
    db = db_module.open_database(url)
    try:
        with db_module.connection(db):
            body = {'namespace': 'Test::Ownerless'}
            namespaces.create_namespace(db, ADMIN, validation.namespace_values(body),
                                        validation.namespace_contents(body))
    finally:
        db.close_all()
    exported = str(tmp_path / 'exported')
    os.makedirs(exported)
    manage(config, 'db', 'export_metadefs', '--path', exported)
    with open(os.path.join(exported, 'Test-Ownerless.json')) as f:
        assert json.load(f)['owner'] is None
    manage(config, 'db', 'unload_metadefs')
    manage(config, 'db', 'load_metadefs', '--path', exported)
    assert namespace(url, 'Test::Ownerless')['owner'] is None
    # A file that says nothing of the owner is upstream's: the admins'.
    write(str(tmp_path / 'upstream'), 'u.json', {'namespace': 'Test::Upstream'})
    manage(config, 'db', 'load_metadefs', '--path', str(tmp_path / 'upstream'))
    assert namespace(url, 'Test::Upstream')['owner'] == 'admin'


def test_a_database_not_synced_is_refused(databases, tmp_path):
    config = write_database_config(str(tmp_path), databases.create('sqlite'))
    result = manage(config, 'db', 'load_metadefs', check=False)
    assert result.returncode == 2
    assert 'run `glance-manage db sync` first' in result.stderr


def test_export_then_unload_then_load_gives_the_catalog_back(database, tmp_path):
    url, config = database
    manage(config, 'db', 'load_metadefs')
    write(str(tmp_path / 'mine'), 'mine.json', dict(FILE, namespace='Test::Mine'))
    manage(config, 'db', 'load_metadefs', '--path', str(tmp_path / 'mine'))
    names = [row[1] for row in rows(url)['Namespace']]
    before = {name: namespace(url, name) for name in names}
    exported = str(tmp_path / 'exported')
    os.makedirs(exported)
    manage(config, 'db', 'export_metadefs', '--path', exported)
    assert sorted(os.listdir(exported))[:2] == ['CIM-ProcessorAllocationSettingData.json',
                                               'CIM-ResourceAllocationSettingData.json']
    assert len(os.listdir(exported)) == len(names) == 33
    with open(os.path.join(exported, 'Test-Mine.json')) as f:
        mine = json.load(f)
    # The object's required properties and the owner travel too.
    assert (mine['objects'][0]['required'], mine['owner']) == (['x'], 'someone')
    assert '33 namespaces deleted' in manage(config, 'db', 'unload_metadefs').stderr
    assert all(not table for table in rows(url).values())
    manage(config, 'db', 'load_metadefs', '--path', exported)

    def without_times(value):
        if isinstance(value, dict):
            return {key: without_times(item) for key, item in value.items()
                    if key not in ('created_at', 'updated_at')}
        if isinstance(value, list):
            return [without_times(item) for item in value]
        return value
    assert {name: without_times(namespace(url, name)) for name in names} == \
        without_times(before)
