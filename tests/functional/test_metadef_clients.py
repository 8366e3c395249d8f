"""The metadata definitions catalog through the standard clients, unchanged:
python-glanceclient's ``glance md-*`` commands (every one of the 28 operations),
openstacksdk's metadef calls, and python-openstackclient showing the standard
catalog that ``glance-manage db load_metadefs`` loaded."""

import json
import os
import subprocess
import sys
import uuid

import openstack
import pytest

from tests.fixtures import processes

BIN = os.path.dirname(sys.executable)


def run(command, env, check=True):
    result = subprocess.run(command, env=dict(os.environ, **env), capture_output=True,
                            text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture
def glance_cli(glance, tmp_path):
    # Its own schema cache: glanceclient keeps the schemas under $HOME.
    env = {'OS_IMAGE_URL': glance.url, 'OS_AUTH_TOKEN': 'none',
           'HOME': str(tmp_path)}
    return lambda *args, check=True: run([os.path.join(BIN, 'glance')] + list(args),
                                         env, check)


@pytest.fixture
def ns():
    return 'CLI::%s' % uuid.uuid4().hex[:12]


def test_every_operation_through_glance_md_commands(glance_cli, ns, tmp_path):
    out = glance_cli('md-namespace-create', ns, '--visibility', 'public',
                     '--display-name', 'Made by glance', '--description', 'cli').stdout
    assert ns in out and 'Made by glance' in out
    assert ns in glance_cli('md-namespace-list', '--visibility', 'public').stdout
    glance_cli('md-namespace-update', ns, '--description', 'changed')
    assert 'changed' in glance_cli('md-namespace-show', ns).stdout

    # Resource types.
    glance_cli('md-resource-type-associate', ns, '--name', 'OS::Glance::Image',
               '--prefix', 'hw_')
    assert 'OS::Glance::Image' in glance_cli('md-namespace-resource-type-list', ns).stdout
    assert 'OS::Glance::Image' in glance_cli('md-resource-type-list').stdout
    assert ns in glance_cli('md-namespace-list', '--resource-types',
                            'OS::Glance::Image').stdout

    # Properties.
    glance_cli('md-property-create', ns, '--name', 'cpu', '--title', 'CPU', '--type',
               'string', '--schema', json.dumps({'enum': ['a', 'b']}))
    assert 'cpu' in glance_cli('md-property-list', ns).stdout
    assert '"a", "b"' in glance_cli('md-property-show', ns, 'cpu').stdout
    assert 'hw_cpu' in glance_cli('md-namespace-show', ns, '--resource-type',
                                  'OS::Glance::Image').stdout
    glance_cli('md-property-update', ns, 'cpu', '--title', 'The CPU')
    assert 'The CPU' in glance_cli('md-property-show', ns, 'cpu').stdout

    # Objects.
    glance_cli('md-object-create', ns, '--name', 'obj', '--schema', json.dumps({
        'description': 'an object', 'required': ['x'],
        'properties': {'x': {'type': 'integer', 'title': 'X', 'default': 3}}}))
    assert 'obj' in glance_cli('md-object-list', ns).stdout
    assert 'an object' in glance_cli('md-object-show', ns, 'obj').stdout
    assert 'integer' in glance_cli('md-object-property-show', ns, 'obj', 'x').stdout
    glance_cli('md-object-update', ns, 'obj', '--name', 'obj2')
    assert 'obj2' in glance_cli('md-object-list', ns).stdout

    # Tags.
    glance_cli('md-tag-create', ns, '--name', 'zero')
    # Replaces the namespace's tags. (With --append, glanceclient 4.x fails before
    # sending anything: it cannot quote the boolean header value it builds.)
    glance_cli('md-tag-create-multiple', ns, '--names', 'two,three')
    glance_cli('md-tag-create', ns, '--name', 'one')
    listed = glance_cli('md-tag-list', ns).stdout.split()
    assert {'one', 'two', 'three'} <= set(listed) and 'zero' not in listed
    assert 'one' in glance_cli('md-tag-show', ns, 'one').stdout
    glance_cli('md-tag-update', ns, 'one', '--name', 'uno')
    glance_cli('md-tag-delete', ns, 'uno')
    listed = glance_cli('md-tag-list', ns).stdout
    assert 'uno' not in listed and 'two' in listed

    # Deleting.
    glance_cli('md-object-delete', ns, 'obj2')
    glance_cli('md-property-delete', ns, 'cpu')
    glance_cli('md-resource-type-deassociate', ns, 'OS::Glance::Image')
    glance_cli('md-namespace-tags-delete', ns)
    assert 'two' not in glance_cli('md-tag-list', ns).stdout
    glance_cli('md-namespace-delete', ns)
    missing = glance_cli('md-namespace-show', ns, check=False)
    assert missing.returncode != 0
    assert 'was not found' in missing.stdout + missing.stderr

    # A whole namespace from a file, then emptied kind by kind.
    document = tmp_path / 'ns.json'
    document.write_text(json.dumps({
        'namespace': ns + '::imported', 'properties': {'p': {'type': 'string',
                                                             'title': 'P'}},
        'objects': [{'name': 'o'}], 'tags': [{'name': 't'}]}))
    glance_cli('md-namespace-import', '--file', str(document))
    glance_cli('md-namespace-objects-delete', ns + '::imported')
    glance_cli('md-namespace-properties-delete', ns + '::imported')
    shown = glance_cli('md-namespace-show', ns + '::imported').stdout
    assert '"o"' not in shown and '"p"' not in shown and '"t"' in shown
    glance_cli('md-namespace-delete', ns + '::imported')


def test_glance_shows_the_servers_refusal(glance_cli, ns):
    glance_cli('md-namespace-create', ns, '--protected', 'True')
    result = glance_cli('md-namespace-delete', ns, check=False)
    assert result.returncode != 0
    assert 'is protected and cannot be deleted' in result.stdout + result.stderr
    duplicate = glance_cli('md-namespace-create', ns, check=False)
    assert 'already exists' in duplicate.stdout + duplicate.stderr


def test_glance_shows_why_a_name_too_long_for_a_url_is_refused(glance_cli):
    # The request line is over the server's limit: refused before the app reads
    # the request, in a body glanceclient can show (it crashed on the JSON shape).
    result = glance_cli('md-namespace-show', 'x' * 9000, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'HTTP 414' in output and 'Request Line is too large' in output, output[-300:]


@pytest.fixture
def conn(glance):
    connection = openstack.connection.Connection(auth_type='none',
                                                 image_endpoint_override=glance.url)
    yield connection
    connection.close()


def test_every_operation_through_openstacksdk(conn, ns):
    image = conn.image
    created = image.create_metadef_namespace(namespace=ns, visibility='public',
                                             description='sdk')
    assert (created.namespace, created.visibility) == (ns, 'public')
    assert ns in [n.namespace for n in image.metadef_namespaces()]
    image.update_metadef_namespace(ns, description='changed', visibility='public')
    assert image.get_metadef_namespace(ns).description == 'changed'

    image.create_metadef_resource_type_association(ns, name='OS::Nova::Flavor',
                                                   prefix='hw:')
    assert [a.name for a in image.metadef_resource_type_associations(ns)] == [
        'OS::Nova::Flavor']
    assert 'OS::Nova::Flavor' in [rt.name for rt in image.metadef_resource_types()]
    assert ns in [n.namespace for n in image.metadef_namespaces(
        resource_types='OS::Nova::Flavor')]

    image.create_metadef_property(ns, name='cores', type='integer', title='Cores',
                                  minimum=1)
    assert image.get_metadef_property('cores', ns).minimum == 1
    # A property is replaced whole, its name included (upstream's schema requires
    # it), so the SDK must be given every attribute.
    image.update_metadef_property('cores', ns, name='cores', type='integer',
                                  title='CPU cores')
    assert [p.title for p in image.metadef_properties(ns)] == ['CPU cores']

    image.create_metadef_object(ns, name='obj', required=['x'],
                                properties={'x': {'type': 'string', 'title': 'X'}})
    assert image.get_metadef_object('obj', ns).required == ['x']
    image.update_metadef_object('obj', ns, name='obj', description='described')
    assert [o.description for o in image.metadef_objects(ns)] == ['described']

    image.add_tag_to_metadef_namespace(ns, 'sdk-tag')
    namespace = image.get_metadef_namespace(ns)
    namespace.set_tags(image, ['a', 'b'], append=True)
    shown = image.get(image.get_endpoint().rstrip('/') + '/metadefs/namespaces/'
                      + ns).json()
    assert sorted(t['name'] for t in shown['tags']) == ['a', 'b', 'sdk-tag']
    image.remove_tag_from_metadef_namespace(ns, 'a')
    image.remove_tags_from_metadef_namespace(ns)

    image.delete_metadef_object('obj', ns)
    image.create_metadef_object(ns, name='obj2')
    image.delete_all_metadef_objects(ns)
    assert list(image.metadef_objects(ns)) == []
    image.delete_metadef_property('cores', ns)
    image.create_metadef_property(ns, name='p2', type='string', title='P2')
    image.delete_all_metadef_properties(ns)
    assert list(image.metadef_properties(ns)) == []
    image.delete_metadef_resource_type_association('OS::Nova::Flavor', ns)
    assert list(image.metadef_resource_type_associations(ns)) == []

    for schema in (image.get_metadef_namespace_schema,
                   image.get_metadef_namespaces_schema,
                   image.get_metadef_resource_type_schema,
                   image.get_metadef_resource_types_schema,
                   image.get_metadef_object_schema, image.get_metadef_objects_schema,
                   image.get_metadef_property_schema,
                   image.get_metadef_properties_schema,
                   image.get_metadef_tag_schema, image.get_metadef_tags_schema):
        assert schema().properties
    image.delete_metadef_namespace(ns)
    with pytest.raises(openstack.exceptions.NotFoundException):
        image.get_metadef_namespace(ns)


def test_openstackclient_lists_the_standard_catalog_once_loaded(glance, tmp_path):
    config = tmp_path / 'manage.conf'
    config.write_text(processes.ini({'database': {'connection': glance.database_url}}))
    subprocess.run([sys.executable, '-m', 'glance_registry.manage', '--config-file',
                    str(config), 'db', 'load_metadefs'], check=True,
                   capture_output=True, timeout=120)
    env = {'OS_AUTH_TYPE': 'none', 'OS_ENDPOINT': glance.url,
           'OS_IMAGE_API_VERSION': '2'}
    listed = json.loads(run([os.path.join(BIN, 'openstack'), 'image', 'metadef',
                             'namespace', 'list', '-f', 'json'], env).stdout)
    names = {entry['namespace'] for entry in listed}
    assert {'OS::Compute::CPUPinning', 'OS::Compute::LibvirtImage',
            'OS::Compute::Watchdog', 'OS::Glance::Signatures',
            'OS::Software::DBMS'} <= names
    shown = json.loads(run([os.path.join(BIN, 'openstack'), 'image', 'metadef',
                            'namespace', 'show', 'OS::Compute::LibvirtImage', '-f',
                            'json'], env).stdout)
    assert shown['display_name'] == 'libvirt Driver Options for Images'
