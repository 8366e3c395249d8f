"""Who may read an image's data, told to the stores that keep their own access lists.

Multi-tenant Swift keeps each image in its owner's account, where another project's
token reads it only if the image's container says so. The lists are derived state:
after anything that changes who may read an image (its upload, a visibility change,
a member added or removed) ``sync`` recomputes them from the image's record and
members: everyone for public and community images; the owner and every member
whatever its status for shared ones; the owner alone for private ones. Upstream
lets a private image's members keep reading its data with their own tokens (they
were members while it was shared, and the API no longer shows it to them): here
they lose it with the visibility, and get it back if it is shared again. Other
stores ignore access lists, and with none that keeps them ``sync`` costs nothing.

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


# How many times ``sync`` writes the lists while the image keeps changing under it.
SYNC_ATTEMPTS = 3


def sync(record, locations=None):
    """Make the data of image ``record`` (at ``locations``, by default its active
    ones) readable by exactly the projects that may read the image.

    Requests that change one image at once each write the lists after their own
    change, in any order: the one writing last may hold the older change (an image
    made ``public`` and then ``shared`` again, left readable by everyone). So after
    writing, ``sync`` reads the image again and, if who may read it is no longer what
    it wrote, writes that: whichever request writes last then leaves the current
    lists."""
    if not any(store.acts_as_caller for store in services().stores):
        return
    if locations is None:
        locations = documents.active_locations(record)
    targets = stores_holding(locations, lambda store: store.acts_as_caller)
    if not targets:
        return
    credentials = caller_credentials()
    access = _access(record)
    for _ in range(SYNC_ATTEMPTS):
        if access is None:   # better a stale list than one without the members
            return
        for store, url in targets:
            try:
                store.set_acls(url, access[0], access[1], credentials=credentials)
            except store_errors.StoreError as exc:
                LOG.error('image %s: the access list of its data at %s could not be '
                          'updated (%s); it is written again on the image\'s next '
                          'change', record['id'], url, exc)
        current = _current(record['id'])
        if current is None:
            return
        written, access = access, _access(current)
        if access == written:
            return
    LOG.error('image %s: its data\'s access list may be stale: the image kept '
              'changing while it was written; it is written again on the image\'s '
              'next change', record['id'])


def _access(record):
    """``(public, readers)`` of image ``record``: everyone for public and community
    images, the owner and every member for shared ones, the owner alone for
    private ones; None if the members are unknown."""
    if record['visibility'] in PUBLIC_VISIBILITIES:
        return True, []
    if record['visibility'] != 'shared':
        return False, [record['owner']] if record['owner'] else []
    members = _member_ids(record['id'])
    if members is None:
        return None
    return False, [project for project in [record['owner'], *members] if project]


def _current(image_id):
    """The image's record as it is now; None if it is gone or cannot be read."""
    try:
        return services().registry.get_image(SERVICE_IDENTITY, image_id,
                                             request_id=g.request_id)
    except registry_errors.NotFound:
        return None
    except registry_errors.RegistryError as exc:
        LOG.error('image %s: cannot read it again to check its data\'s access list: '
                  '%s', image_id, exc)
        return None


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
