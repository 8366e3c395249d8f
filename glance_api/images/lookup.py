"""Finding an image as the caller sees it, and showing it to the caller."""

from flask import g

from glance_api.access import policy
from glance_api.http import errors
from glance_api.images import documents
from glance_api.services import services
from glance_registry.client import vocabulary


def load_image(image_id):
    """The registry record of a visible image as the caller sees it; 404 otherwise.

    Properties the caller may not read (property protections) are left out.
    """
    if not vocabulary.is_image_id(image_id):
        raise errors.NotFound('No image found with ID %s' % image_id)
    record = services().registry.get_image(g.context.identity, image_id,
                                           request_id=g.request_id)
    return readable(record)


def readable(record):
    """``record`` without the properties the caller may not read."""
    protections = services().protections
    return protections.readable(g.context, record) if protections else record


def image_document(record):
    """The API document of ``record`` for the caller (``image_documents``)."""
    return image_documents([record])[0]


def image_documents(records):
    """The API documents of ``records`` for the caller: readable properties only,
    and locations (``direct_url``, ``locations``) only if policy lets it see them.
    The services and options are read once for a whole page: each read of an
    option costs about 2 us, and a page of 25 made a hundred of them."""
    found = services()
    conf, protections = found.conf, found.protections
    direct_url, locations = conf.show_image_direct_url, conf.show_multiple_locations

    def document(record):
        see_locations = (direct_url or locations) and policy.allowed(
            found.policy, g.context, 'get_image_location', record)
        if protections:
            record = protections.readable(g.context, record)
        return documents.image(record, found.stores, direct_url=direct_url,
                               locations=locations, show_locations=bool(see_locations))
    return [document(record) for record in records]
