"""The API nodes' cached copies in the registry (glance_registry.cache_copies), on
every database backend: what GET /v2/cache/nodes/{image_id} answers from."""

import uuid

import pytest

from glance_registry.client import errors

RAW = {'disk_format': 'raw', 'container_format': 'bare'}


def _node():
    return 'http://node-%s:9292' % uuid.uuid4().hex[:8]


def test_an_image_nobody_holds_has_no_nodes(client, project, make_image):
    image = make_image(project(), **RAW)
    admin = project('admin', admin=True)
    assert client.list_cache_nodes(admin, image['id']) == []
    assert client.list_cache_nodes(admin, str(uuid.uuid4())) == []


def test_reported_copies_are_listed_by_node_until_dropped(client, project, make_image):
    admin, owner = project('admin', admin=True), project()
    image, other = make_image(owner, **RAW), make_image(owner, **RAW)
    node_a, node_b = sorted([_node(), _node()])
    assert client.report_cache_copies(admin, node_b, held=[image['id']]) == {
        'added': 1, 'removed': 0}
    client.report_cache_copies(admin, node_a, held=[image['id'], other['id']])
    client.report_cache_copies(admin, node_a, held=[image['id']])   # again: kept
    assert client.list_cache_nodes(admin, image['id']) == [node_a, node_b]
    assert client.list_cache_nodes(admin, other['id']) == [node_a]
    assert client.report_cache_copies(admin, node_a, dropped=[image['id']]) == {
        'added': 0, 'removed': 1}
    assert client.list_cache_nodes(admin, image['id']) == [node_b]
    assert client.list_cache_nodes(admin, other['id']) == [node_a]


def test_replacing_a_nodes_set_changes_that_node_only(client, project, make_image):
    admin, owner = project('admin', admin=True), project()
    kept, gone, new = (make_image(owner, **RAW) for _ in range(3))
    node, neighbour = _node(), _node()
    client.report_cache_copies(admin, node, held=[kept['id'], gone['id']])
    client.report_cache_copies(admin, neighbour, held=[gone['id']])
    assert client.replace_cache_copies(admin, node, [kept['id'], new['id']]) == {
        'added': 1, 'removed': 1}
    assert client.replace_cache_copies(admin, node, [kept['id'], new['id']]) == {
        'added': 0, 'removed': 0}
    assert client.list_cache_nodes(admin, kept['id']) == [node]
    assert client.list_cache_nodes(admin, new['id']) == [node]
    assert client.list_cache_nodes(admin, gone['id']) == [neighbour]
    client.replace_cache_copies(admin, node, [])
    assert client.list_cache_nodes(admin, kept['id']) == []


def test_copies_of_absent_or_deleted_images_are_never_recorded(client, project,
                                                               make_image):
    admin, owner = project('admin', admin=True), project()
    deleted = make_image(owner, **RAW)
    client.delete_image(owner, deleted['id'])
    absent, node = str(uuid.uuid4()), _node()
    assert client.report_cache_copies(admin, node, held=[absent, deleted['id']]) == {
        'added': 0, 'removed': 0}
    assert client.replace_cache_copies(admin, node, [absent, deleted['id']]) == {
        'added': 0, 'removed': 0}
    assert client.list_cache_nodes(admin, deleted['id']) == []
    assert client.list_cache_nodes(admin, absent) == []


@pytest.mark.parametrize('delayed', [False, True], ids=['at_once', 'pending_delete'])
def test_deleting_an_image_forgets_every_nodes_copy(client, project, make_image,
                                                    delayed):
    admin, owner = project('admin', admin=True), project()
    image, other = make_image(owner, **RAW), make_image(owner, **RAW)
    client.add_location(owner, image['id'], 'file:///copies-%s' % image['id'],
                        transition=('queued', 'active'), values={'size': 3})
    node_a, node_b = _node(), _node()
    for node in (node_a, node_b):
        client.report_cache_copies(admin, node, held=[image['id'], other['id']])
    assert client.delete_image(owner, image['id'], delayed=delayed)['delayed'] is delayed
    assert client.list_cache_nodes(admin, image['id']) == []
    assert client.list_cache_nodes(admin, other['id']) == sorted([node_a, node_b])


@pytest.mark.parametrize('body_call, field', [
    (lambda client, admin: client.report_cache_copies(admin, '', held=[]), 'node'),
    (lambda client, admin: client.report_cache_copies(admin, 'n' * 256), 'node'),
    (lambda client, admin: client.report_cache_copies(admin, 'n', held=['x']),
     'held'),
    (lambda client, admin: client.replace_cache_copies(admin, 'n', ['../x']),
     'image_ids'),
], ids=['empty_node', 'long_node', 'bad_held_id', 'bad_replaced_id'])
def test_bad_reports_are_400_naming_the_field(client, project, body_call, field):
    with pytest.raises(errors.BadRequest) as refused:
        body_call(client, project('admin', admin=True))
    assert refused.value.details.get('field') == field


def test_a_huge_value_that_is_no_image_id_is_not_echoed_whole(client, project):
    # A 1 MB string among the ids: the error names it, shortened, not sent back.
    with pytest.raises(errors.BadRequest) as refused:
        client.report_cache_copies(project('admin', admin=True), _node(),
                                   held=['x' * 1_000_000])
    assert refused.value.details.get('field') == 'held'
    assert "'held' holds 'xxxx" in str(refused.value)
    assert len(str(refused.value)) < 1000


def test_an_image_both_held_and_dropped_is_400(client, project):
    image_id = str(uuid.uuid4())
    with pytest.raises(errors.BadRequest):
        client.report_cache_copies(project('admin', admin=True), _node(),
                                   held=[image_id], dropped=[image_id])


@pytest.mark.parametrize('call', [
    lambda client, who: client.list_cache_nodes(who, str(uuid.uuid4())),
    lambda client, who: client.report_cache_copies(who, 'http://x', held=[]),
    lambda client, who: client.replace_cache_copies(who, 'http://x', []),
], ids=['list', 'report', 'replace'])
def test_only_admins_use_the_copies(client, project, call):
    with pytest.raises(errors.Forbidden) as refused:
        call(client, project())
    assert refused.value.reason == 'admin_only'


def test_a_copy_reported_while_its_image_is_deleted_is_never_left_listed(
        client, project, make_image, race):
    """The report reads the image under a shared lock: either the delete commits
    first and the report records nothing, or the delete waits for it and removes
    its row."""
    admin, owner = project('admin', admin=True), project()
    image = make_image(owner, **RAW)
    node = _node()
    deleted, reported = race([
        lambda: client.delete_image(owner, image['id']),
        lambda: client.report_cache_copies(admin, node, held=[image['id']]),
    ])
    assert deleted['id'] == image['id']
    assert reported['removed'] == 0
    assert client.list_cache_nodes(admin, image['id']) == []
