"""Who may read an image's data, told to the stores that keep their own access lists.

Multi-tenant Swift keeps each image in its owner's account, where another project's
token reads it only if the image's container says so. The lists are derived state:
after anything that changes who may read an image (its upload, a visibility change,
a member added or removed) ``sync`` recomputes them from the image's record and
members, as upstream does: everyone for public and community images, else the owner
and every member whatever its status. Other stores ignore access lists, and with
none that keeps them ``sync`` costs nothing.

A store that refuses (Swift down, a caller whose token may not change the owner's
account) is logged and the request still succeeds: the image's metadata changed,
and the next change of the same image writes the whole list again.
"""

import logging

from flask import g

from glance_api.images import documents
from glance_api.access.context import SERVICE_IDENTITY
from glance_api.services import services
from glance_api.data.store_data import caller_credentials, stores_holding
from glance_registry.client import errors as registry_errors
from stores import errors as store_errors

LOG = logging.getLogger(__name__)

PUBLIC_VISIBILITIES = ('public', 'community')


def sync(record, locations=None):
    """Make the data of image ``record`` (at ``locations``, by default its active
    ones) readable by exactly the projects that may read the image."""
    if not any(store.acts_as_caller for store in services().stores):
        return
    if locations is None:
        locations = documents.active_locations(record)
    targets = stores_holding(locations, lambda store: store.acts_as_caller)
    if not targets:
        return
    public = record['visibility'] in PUBLIC_VISIBILITIES
    readers = []
    if not public:
        members = _member_ids(record['id'])
        if members is None:   # better a stale list than one without the members
            return
        readers = [project for project in [record['owner'], *members] if project]
    credentials = caller_credentials()
    for store, url in targets:
        try:
            store.set_acls(url, public, readers, credentials=credentials)
        except store_errors.StoreError as exc:
            LOG.error('image %s: the access list of its data at %s could not be '
                      'updated (%s); it is written again on the image\'s next change',
                      record['id'], url, exc)


def _member_ids(image_id):
    """Every member's project id; None if the registry cannot say."""
    try:
        members = services().registry.list_members(SERVICE_IDENTITY, image_id,
                                                   request_id=g.request_id)
    except registry_errors.RegistryError as exc:
        LOG.error('image %s: its data\'s access list is left as it was: cannot list '
                  'its members: %s', image_id, exc)
        return None
    return [member['member_id'] for member in members]
