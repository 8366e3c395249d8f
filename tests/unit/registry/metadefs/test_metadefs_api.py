"""The metadata definitions catalog over the registry's HTTP API, on every backend:
records, contents, visibility and ownership, the API's policy verdicts, protection,
lists, and the refusal of bodies the catalog cannot hold."""

import threading
import uuid

import pytest
import requests

from glance_registry.client import errors
from glance_registry.client import identity
from glance_registry.client.metadefs import Access
from glance_registry.client.metadefs import CLASSES
from tests.unit.registry.conftest import ADMIN

STRING = {'type': 'string', 'title': 'A string'}


@pytest.fixture
def name():
    """A factory of namespace names unique to this test."""
    prefix = 'test-%s' % uuid.uuid4().hex[:12]
    return lambda suffix='ns': '%s::%s' % (prefix, suffix)


def create(client, caller, namespace, **values):
    return client.create_metadef_namespace(caller, dict(values, namespace=namespace))


def test_a_namespace_is_created_with_its_contents_and_read_back_whole(client, project,
                                                                      name):
    owner = project('owner')
    created = create(
        client, owner, name(), display_name='Shown', description='What it is',
        visibility='public',
        properties={'hw_thing': {'type': 'integer', 'title': 'Thing', 'minimum': 1}},
        objects=[{'name': 'obj', 'description': 'd', 'required': ['a'],
                  'properties': {'a': STRING}}],
        tags=['t1', 't2'],
        resource_type_associations=[{'name': 'OS::Glance::Image', 'prefix': 'hw_'}])
    assert created['owner'] == owner.project_id
    assert created['visibility'] == 'public' and created['protected'] is False
    assert created['properties'] == {'hw_thing': {'type': 'integer', 'title': 'Thing',
                                                  'minimum': 1}}
    assert [(o['name'], o['required'], o['properties']) for o in created['objects']] \
        == [('obj', ['a'], {'a': STRING})]
    assert sorted(t['name'] for t in created['tags']) == ['t1', 't2']
    association, = created['resource_type_associations']
    assert (association['name'], association['prefix'],
            association['properties_target']) == ('OS::Glance::Image', 'hw_', None)
    assert client.get_metadef_namespace(owner, name()) == created
    assert 'OS::Glance::Image' in [rt['name']
                                   for rt in client.list_metadef_resource_types(owner)]


def test_definitions_read_back_as_upstream_answers_them(client, project, name):
    """A default reads back as a string, minimum and maximum as integers."""
    owner = project()
    create(client, owner, name())
    client.create_metadef_property(owner, name(), 'p', {
        'type': 'number', 'title': 'P', 'default': 1.5, 'minimum': 0.5,
        'maximum': 10, 'readonly': True, 'name': 'ignored'})
    client.create_metadef_property(owner, name(), 'q', dict(STRING, default=True))
    assert client.get_metadef_property(owner, name(), 'p') == {
        'name': 'p', 'type': 'number', 'title': 'P', 'default': '1.5', 'minimum': 0,
        'maximum': 10, 'readonly': True}
    assert client.list_metadef_properties(owner, name())['q']['default'] == 'True'


def test_a_name_given_twice_conflicts_and_leaves_nothing(client, project, name):
    owner = project()
    for resource, contents in (
            ('tag', {'tags': ['a', 'a']}),
            ('object', {'objects': [{'name': 'o'}, {'name': 'o'}]}),
            ('resource_type_association',
             {'resource_type_associations': [{'name': 'X::Y'}, {'name': 'X::Y'}]})):
        with pytest.raises(errors.Conflict) as raised:
            create(client, owner, name(), **contents)
        assert (raised.value.reason, raised.value.details['resource']) == (
            'duplicate_metadef', resource)
        with pytest.raises(errors.NotFound):
            client.get_metadef_namespace(owner, name())
    create(client, owner, name())
    with pytest.raises(errors.Conflict) as raised:
        create(client, ADMIN, name())
    assert raised.value.message == ('The metadata definition namespace=%s already '
                                    'exists.' % name())
    assert (raised.value.reason, raised.value.details) == (
        'duplicate_metadef', {'resource': 'namespace', 'namespace': name(),
                              'name': name()})


def test_every_name_is_unique_in_its_namespace(client, project, name):
    owner = project()
    create(client, owner, name())
    client.create_metadef_object(owner, name(), {'name': 'o'})
    client.create_metadef_property(owner, name(), 'p', STRING)
    client.create_metadef_tag(owner, name(), 't')
    client.associate_metadef_resource_type(owner, name(), {'name': 'OS::Nova::Flavor'})
    for duplicate in (lambda: client.create_metadef_object(owner, name(), {'name': 'o'}),
                      lambda: client.create_metadef_property(owner, name(), 'p', STRING),
                      lambda: client.create_metadef_tag(owner, name(), 't'),
                      lambda: client.create_metadef_tags(owner, name(), ['t'],
                                                         append=True),
                      lambda: client.associate_metadef_resource_type(
                          owner, name(), {'name': 'OS::Nova::Flavor'})):
        with pytest.raises(errors.Conflict) as raised:
            duplicate()
        assert raised.value.reason == 'duplicate_metadef'


def test_others_see_public_namespaces_and_their_own(client, project, name):
    alpha, beta = project('alpha'), project('beta')
    alpha_reader = identity.Identity('reader', alpha.project_id, ('reader',))
    create(client, alpha, name('public'), visibility='public')
    create(client, alpha, name('private'))
    for caller in (alpha, alpha_reader, ADMIN):
        client.get_metadef_namespace(caller, name('private'))
    with pytest.raises(errors.NotFound) as raised:
        client.get_metadef_namespace(beta, name('private'))
    assert raised.value.message == ('Metadata definition namespace=%s was not found.'
                                    % name('private'))
    assert (raised.value.reason, raised.value.details) == (
        'metadef_not_found', {'resource': 'namespace', 'namespace': name('private')})
    anonymous = identity.Identity(None, None)
    for caller in (beta, anonymous):
        client.get_metadef_namespace(caller, name('public'))
        with pytest.raises(errors.NotFound):
            client.list_metadef_objects(caller, name('private'))
    listed = {ns['namespace'] for ns in client.list_metadef_namespaces(
        beta, limit=1000, resource_types=None)[0]}
    assert name('public') in listed and name('private') not in listed


def test_only_an_admin_or_the_owner_changes_a_namespace(client, project, name):
    """Whatever the API's policy, the registry never lets a project change another
    project's namespace, nor give one away."""
    alpha, beta = project('alpha'), project('beta')
    create(client, alpha, name(), visibility='public')
    for change in (lambda c: client.create_metadef_tag(c, name(), 'x'),
                   lambda c: client.update_metadef_namespace(
                       c, name(), {'namespace': name(), 'visibility': 'public'}),
                   lambda c: client.delete_metadef_contents(c, name(), 'tags'),
                   lambda c: client.delete_metadef_namespace(c, name())):
        with pytest.raises(errors.Forbidden) as raised:
            change(beta)
        assert (raised.value.reason, raised.value.details) == (
            'not_owner', {'namespace': name()})
    with pytest.raises(errors.Forbidden) as raised:
        client.update_metadef_namespace(alpha, name(), {
            'namespace': name(), 'visibility': 'public', 'owner': beta.project_id})
    assert (raised.value.reason, raised.value.details) == (
        'not_owner', {'owner': beta.project_id})
    with pytest.raises(errors.Forbidden):
        create(client, alpha, name('given'), owner=beta.project_id)
    # An admin may give one to any project.
    given = client.update_metadef_namespace(ADMIN, name(), {
        'namespace': name(), 'owner': beta.project_id})
    assert (given['owner'], given['visibility']) == (beta.project_id, 'private')
    client.create_metadef_tag(beta, name(), 'mine-now')


@pytest.mark.parametrize('visibility', ['public', 'private'])
def test_the_apis_verdicts_apply_per_class_of_namespace(client, project, name,
                                                        visibility):
    owner, other = project('owner'), project('other')
    create(client, owner, name(), visibility=visibility,
           objects=[{'name': 'o'}], resource_type_associations=[{'name': 'A::B'}])
    own_class = 'own-%s' % visibility
    hidden = Access(see=frozenset(CLASSES) - {own_class})
    with pytest.raises(errors.NotFound):
        client.get_metadef_namespace(owner, name(), hidden)
    assert name() not in {ns['namespace'] for ns in client.list_metadef_namespaces(
        owner, hidden, limit=1000)[0]}
    refused = Access(allow=(('get_metadef_tags', frozenset(CLASSES)),
                            ('add_metadef_tag', frozenset(CLASSES) - {own_class})))
    with pytest.raises(errors.Forbidden) as raised:
        client.create_metadef_tag(owner, name(), 'never', refused)
    assert raised.value.message == ('You are not authorized to complete add_metadef_tag '
                                    'action.')
    assert (raised.value.reason, raised.value.details) == (
        'policy_denied', {'rule': 'add_metadef_tag'})
    assert client.list_metadef_tags(owner, name()) == []
    no_items = Access(items=frozenset(CLASSES) - {own_class})
    assert client.list_metadef_objects(owner, name(), no_items) == []
    assert client.list_metadef_associations(owner, name(), no_items) == []
    assert len(client.list_metadef_objects(owner, name(), Access(
        items=frozenset([own_class])))) == 1
    if visibility == 'public':
        # The class is the caller's: a public namespace of another project.
        assert client.list_metadef_objects(other, name(), Access(
            items=frozenset(['other-public'])))[0]['name'] == 'o'


def test_a_protected_namespace_keeps_its_contents(client, project, name):
    owner = project()
    create(client, owner, name(), protected=True, objects=[{'name': 'o'}],
           properties={'p': STRING}, tags=['t'],
           resource_type_associations=[{'name': 'OS::Glance::Image'}])
    refusals = {
        'namespace': lambda: client.delete_metadef_namespace(owner, name()),
        'objects': lambda: client.delete_metadef_contents(owner, name(), 'objects'),
        'properties': lambda: client.delete_metadef_contents(owner, name(),
                                                             'properties'),
        'tags': lambda: client.delete_metadef_contents(owner, name(), 'tags'),
        'object': lambda: client.delete_metadef_object(owner, name(), 'o'),
        'property': lambda: client.delete_metadef_property(owner, name(), 'p'),
        'tag': lambda: client.delete_metadef_tag(owner, name(), 't'),
        'association': lambda: client.dissociate_metadef_resource_type(
            owner, name(), 'OS::Glance::Image'),
        'replaced tags': lambda: client.create_metadef_tags(owner, name(), ['new']),
    }
    for what, refused in refusals.items():
        with pytest.raises(errors.Forbidden) as raised:
            refused()
        assert 'protected' in raised.value.message, what
        assert (raised.value.reason, raised.value.details) == (
            'protected', {'namespace': name()}), what
    whole = client.get_metadef_namespace(owner, name())
    assert (len(whole['objects']), len(whole['properties']), len(whole['tags']),
            len(whole['resource_type_associations'])) == (1, 1, 1, 1)
    # Adding is allowed, and unprotecting (an update) too.
    client.create_metadef_tags(owner, name(), ['added'], append=True)
    client.update_metadef_namespace(owner, name(), {'namespace': name()})
    for what in ('object', 'property', 'tag', 'association', 'objects', 'properties',
                 'tags', 'replaced tags', 'namespace'):
        refusals[what]()
    with pytest.raises(errors.NotFound):
        client.get_metadef_namespace(owner, name())


def test_replacing_tags_is_all_or_nothing(client, project, name):
    owner = project()
    create(client, owner, name(), tags=['a', 'b'])
    with pytest.raises(errors.Conflict):
        client.create_metadef_tags(owner, name(), ['c', 'd', 'c'])
    with pytest.raises(errors.Conflict):
        client.create_metadef_tags(owner, name(), ['c', 'a'], append=True)
    assert sorted(t['name'] for t in client.list_metadef_tags(owner, name())) == ['a', 'b']
    assert [t['name'] for t in client.create_metadef_tags(owner, name(), ['c', 'a'])] \
        == ['c', 'a']
    assert client.create_metadef_tags(owner, name(), []) == []
    assert sorted(t['name'] for t in client.list_metadef_tags(owner, name())) == ['a', 'c']


def test_renaming_keeps_the_contents_and_refuses_a_taken_name(client, project, name):
    owner = project()
    create(client, owner, name('a'), tags=['t'], objects=[{'name': 'o1'}, {'name': 'o2'}],
           properties={'p1': STRING, 'p2': STRING})
    create(client, owner, name('b'))
    with pytest.raises(errors.Conflict):
        client.update_metadef_namespace(owner, name('a'), {'namespace': name('b')})
    renamed = client.update_metadef_namespace(owner, name('a'), {
        'namespace': name('c'), 'display_name': 'C', 'visibility': 'public'})
    assert (renamed['namespace'], renamed['display_name']) == (name('c'), 'C')
    assert client.get_metadef_namespace(owner, name('c'))['tags'][0]['name'] == 't'
    with pytest.raises(errors.Conflict):
        client.update_metadef_object(owner, name('c'), 'o1', {'name': 'o2'})
    with pytest.raises(errors.Conflict):
        client.update_metadef_property(owner, name('c'), 'p1', 'p2', STRING)
    client.create_metadef_tag(owner, name('c'), 'u')
    with pytest.raises(errors.Conflict):
        client.update_metadef_tag(owner, name('c'), 't', 'u')
    assert client.update_metadef_object(owner, name('c'), 'o1', {
        'name': 'o3', 'required': ['x']})['required'] == ['x']
    assert client.update_metadef_property(owner, name('c'), 'p1', 'p3', dict(
        STRING, enum=['a']))['enum'] == ['a']
    assert client.update_metadef_tag(owner, name('c'), 't', 'v')['name'] == 'v'
    whole = client.get_metadef_namespace(owner, name('c'))
    assert sorted(o['name'] for o in whole['objects']) == ['o2', 'o3']
    assert sorted(whole['properties']) == ['p2', 'p3']
    assert sorted(t['name'] for t in whole['tags']) == ['u', 'v']


def test_names_carry_the_prefix_of_a_resource_type(client, project, name):
    owner = project()
    create(client, owner, name(), properties={'cpu': STRING},
           objects=[{'name': 'o', 'required': ['x'], 'properties': {'x': STRING}}],
           resource_type_associations=[{'name': 'OS::Glance::Image', 'prefix': 'hw_'},
                                       {'name': 'OS::Nova::Flavor', 'prefix': 'hw:'},
                                       {'name': 'OS::Cinder::Volume'}])
    flavor = client.get_metadef_namespace(owner, name(), resource_type='OS::Nova::Flavor')
    assert list(flavor['properties']) == ['hw:cpu']
    assert (flavor['objects'][0]['required'], list(flavor['objects'][0]['properties'])) \
        == (['hw:x'], ['hw:x'])
    for plain in ('OS::Cinder::Volume', 'Not::Associated'):
        assert list(client.get_metadef_namespace(
            owner, name(), resource_type=plain)['properties']) == ['cpu']
    assert client.get_metadef_property(owner, name(), 'hw_cpu',
                                       resource_type='OS::Glance::Image')['name'] == 'cpu'
    for missing, resource_type in (('cpu', 'OS::Glance::Image'),
                                   ('hw_cpu', 'Not::Associated'),
                                   ('cpu', 'OS::Cinder::Volume')):
        with pytest.raises(errors.NotFound):
            client.get_metadef_property(owner, name(), missing,
                                        resource_type=resource_type)


def test_deleting_a_namespace_deletes_its_contents_not_its_resource_types(
        client, project, name):
    owner = project()
    resource_type = 'Test::%s' % uuid.uuid4().hex
    create(client, owner, name(), objects=[{'name': 'o'}], properties={'p': STRING},
           tags=['t'], resource_type_associations=[{'name': resource_type}])
    deleted = client.delete_metadef_namespace(owner, name())
    assert deleted['namespace'] == name()
    create(client, owner, name())
    whole = client.get_metadef_namespace(owner, name())
    assert (whole['objects'], whole['properties'], whole['tags'],
            whole['resource_type_associations']) == ([], {}, [], [])
    assert resource_type in [rt['name'] for rt in client.list_metadef_resource_types(owner)]


def test_deleting_all_of_one_kind_leaves_the_others(client, project, name):
    owner = project()
    create(client, owner, name(), objects=[{'name': 'o'}], properties={'p': STRING},
           tags=['t'])
    for kind in ('objects', 'properties', 'tags'):
        assert client.delete_metadef_contents(owner, name(), kind)['namespace'] == name()
    whole = client.get_metadef_namespace(owner, name())
    assert (whole['objects'], whole['properties'], whole['tags']) == ([], {}, [])


def test_namespace_lists_page_sort_and_filter(client, project, name):
    owner = project()
    resource_type = 'Test::%s' % uuid.uuid4().hex
    for suffix in ('c', 'a', 'b', 'd'):
        create(client, owner, name(suffix), visibility='public' if suffix < 'c'
               else 'private',
               resource_type_associations=[{'name': resource_type}] if suffix != 'd'
               else [])

    def names(**query):
        found, marker = [], None
        while True:
            page, marker = client.list_metadef_namespaces(
                owner, resource_types=[resource_type, 'Other::Type'], marker=marker,
                **query)
            found += [ns['namespace'].rsplit('::', 1)[1] for ns in page]
            assert len(page) <= query.get('limit', 1000)
            if marker is None:
                return found

    assert names(limit=1) == ['b', 'a', 'c']            # newest first
    assert names(limit=2, sort_key='namespace', sort_dir='asc') == ['a', 'b', 'c']
    assert names(sort_key='namespace', sort_dir='desc') == ['c', 'b', 'a']
    assert names(limit=1, sort_key='updated_at', sort_dir='asc') == ['c', 'a', 'b']
    assert names(visibility='private') == ['c']
    page, marker = client.list_metadef_namespaces(owner, limit=0)
    assert (page, marker) == ([], None)
    assert page == [] and client.list_metadef_namespaces(
        owner, resource_types=['No::Such'])[0] == []
    with pytest.raises(errors.NotFound):
        client.list_metadef_namespaces(owner, marker=name('missing'))
    for bad in ({'sort_key': 'owner'}, {'sort_dir': 'up'}, {'visibility': 'shared'},
                {'limit': -1}):
        with pytest.raises(errors.BadRequest):
            client.list_metadef_namespaces(owner, **bad)


def test_tag_lists_page_and_sort(client, project, name):
    owner = project()
    create(client, owner, name())
    for tag in ('b', 'c', 'a'):
        client.create_metadef_tag(owner, name(), tag)

    def tags(**query):
        return [t['name'] for t in client.list_metadef_tags(owner, name(), **query)]

    assert tags() == ['a', 'c', 'b']
    assert tags(sort_key='name', sort_dir='asc') == ['a', 'b', 'c']
    assert tags(sort_key='name', sort_dir='asc', marker='a', limit=1) == ['b']
    assert tags(limit=0) == []
    with pytest.raises(errors.NotFound) as raised:
        tags(marker='z')
    assert (raised.value.reason, raised.value.details) == (
        'metadef_not_found', {'resource': 'tag', 'namespace': name(), 'name': 'z'})


@pytest.mark.parametrize('body, message', [
    ({'namespace': ''}, "'namespace' must not be empty"),
    ({'namespace': 'a/b'}, "'namespace' cannot contain '/'"),
    ({'namespace': 'x' * 81}, "'namespace' is longer than 80 characters"),
    ({'namespace': 1}, "'namespace' must be a string, not integer"),
    ({'namespace': '{ns}', 'visibility': 'shared'}, "'visibility' must be one of"),
    ({'namespace': '{ns}', 'protected': 'yes'}, "'protected' must be a boolean"),
    ({'namespace': '{ns}', 'owner': ''}, "'owner' must not be empty"),
    ({'namespace': '{ns}', 'colour': 'red'}, "Unknown namespace attribute: 'colour'"),
    ({'namespace': '{ns}', 'description': 'x' * 501},
     "'description' is longer than 500 characters"),
    ({'namespace': '{ns}', 'tags': ['a/b']}, "'tags item' cannot contain '/'"),
    ({'namespace': '{ns}', 'tags': 'a'}, "'tags' must be an array"),
    ({'namespace': '{ns}', 'objects': [{'name': 'o', 'self': 'x'}]},
     "Unknown objects[0] attribute: 'self'"),
    ({'namespace': '{ns}', 'objects': [{'name': 'o', 'required': ['a', 'a']}]},
     "lists a property twice"),
    ({'namespace': '{ns}', 'properties': {'p': {'title': 'T'}}},
     "property 'p': 'type' is required"),
    ({'namespace': '{ns}', 'properties': {'p': dict(STRING, colour=1)}},
     "property 'p': unknown attribute 'colour'"),
    ({'namespace': '{ns}', 'properties': {'p': dict(STRING, enum=[1])}},
     "'enum item' must be a string"),
    ({'namespace': '{ns}', 'properties': {'p': dict(STRING, type='text')}},
     "'type' must be one of array"),
    ({'namespace': '{ns}', 'properties': {'p': dict(STRING, default=[1])}},
     "'default' must be a string, number or boolean"),
    ({'namespace': '{ns}', 'properties': {'p': dict(STRING, minimum=1e20)}},
     "'minimum' is out of range"),
    ({'namespace': '{ns}', 'properties': {'p': dict(STRING, maxLength=-1)}},
     "'maxLength' must be an integer of at least 0"),
    ({'namespace': '{ns}', 'properties': {'p': dict(STRING, items={'enum': []})}},
     "'items' needs a 'type'"),
    ({'namespace': '{ns}', 'properties': {'p': dict(STRING, title=None)}},
     "'title' is required"),
    ({'namespace': '{ns}', 'properties': {'p': dict(STRING, description='\x00')}},
     "contains a NUL character"),
    ({'namespace': '{ns}', 'resource_type_associations': [{'name': 'X', 'prefix': 3}]},
     "'resource_type_associations[0].prefix' must be a string"),
])
def test_a_body_the_catalog_cannot_hold_is_refused_saying_why(client, name, body,
                                                              message):
    body = {key: name() if value == '{ns}' else value for key, value in body.items()}
    with pytest.raises(errors.BadRequest) as raised:
        client.create_metadef_namespace(ADMIN, body)
    assert message in raised.value.message
    assert raised.value.reason == 'invalid_value'
    with pytest.raises(errors.NotFound):
        client.get_metadef_namespace(ADMIN, name())


def test_a_grant_that_names_no_class_is_refused(registry, name):
    create(registry.client, ADMIN, name())
    for query in ('see=everyone', 'allow=no-colon', 'allow=:own-public',
                  'items=own', 'limit=1'):
        response = requests.get('%s/v1/metadefs/namespaces/%s?%s'
                                % (registry.url, name(), query),
                                auth=registry.auth(), timeout=30)
        assert response.status_code == 400, (query, response.text)
        assert response.json()['error']['reason'] == 'invalid_value', query


def test_concurrent_first_associations_of_a_resource_type_all_succeed(client, project,
                                                                      name):
    """The resource type is created once; the writers that lose the race to create
    it retry and use it."""
    owner = project()
    resource_type = 'Race::%s' % uuid.uuid4().hex
    names = [name(str(i)) for i in range(6)]
    for namespace in names:
        create(client, owner, namespace)
    failures, barrier = [], threading.Barrier(len(names))

    def associate(namespace):
        barrier.wait()
        try:
            client.associate_metadef_resource_type(owner, namespace,
                                                   {'name': resource_type})
        except Exception as exc:   # noqa: BLE001 (reported below)
            failures.append(exc)

    threads = [threading.Thread(target=associate, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert [rt['name'] for rt in client.list_metadef_resource_types(owner)].count(
        resource_type) == 1
    page, _ = client.list_metadef_namespaces(owner, resource_types=[resource_type],
                                             limit=1000)
    assert sorted(ns['namespace'] for ns in page) == sorted(names)
