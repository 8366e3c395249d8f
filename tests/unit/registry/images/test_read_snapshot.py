"""A multi-statement read sees one snapshot of the database (``db.read_transaction``):
a list reads its page, then the page's properties, tags, locations and memberships
in a statement of its own (``records.list_images``), and a write committed between
the two must show in the list whole or not at all, on every backend."""

from glance_registry import db as db_module
from glance_registry.client import list_params
from glance_registry.images import records
from glance_registry.images import writes
from tests.unit.registry.conftest import ADMIN
from tests.unit.registry.images.test_child_status import RAW


def stage(record):
    return record['name'], record['properties']['stage']


def test_a_patch_committed_between_a_lists_statements_is_not_seen_half_applied(
        registry, scope, monkeypatch):
    """A PATCH of the name and a property commits after the list read its page and
    before it read the page's properties: the list shows the image as it was (its
    page's snapshot), never the old name with the new property."""
    reader = db_module.open_database(registry.database_url)
    writer = db_module.open_database(registry.database_url)
    try:
        with db_module.connection(writer):
            image = writes.create_image(writer, ADMIN, dict(RAW, name='before'),
                                        properties={'test_scope': scope,
                                                    'stage': 'before'})
        read_children = records._records

        def patched_meanwhile(db, rows, identity):
            with db_module.connection(writer):
                writes.update_image(writer, ADMIN, image['id'],
                                    values={'name': 'after'},
                                    properties={'stage': 'after'})
            return read_children(db, rows, identity)

        query = list_params.parse_list_params([('test_scope', scope)])
        with monkeypatch.context() as patch:
            patch.setattr(records, '_records', patched_meanwhile)
            with db_module.connection(reader):
                listed, = records.list_images(reader, ADMIN, query)[0]
        with db_module.connection(reader):
            listed_later, = records.list_images(reader, ADMIN, query)[0]
    finally:
        reader.close_all()
        writer.close_all()
    assert stage(listed) == ('before', 'before')
    assert stage(listed_later) == ('after', 'after')
