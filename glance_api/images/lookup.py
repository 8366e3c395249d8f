"""Finding an image as the caller sees it, and showing it to the caller."""

from flask import g

from glance_api.access import policy
from glance_api.http import errors
from glance_api.images import documents
from glance_api.services import services
from glance_registry.client import errors as registry_errors
from glance_registry.client import vocabulary


def load_image(image_id):
    """The registry record of a visible image as the caller sees it; 404 otherwise.

    Properties the caller may not read (property protections) are left out.
    """
    if not vocabulary.is_image_id(image_id):
        raise errors.NotFound('No image found with ID %s' % image_id)
    try:
        record = services().registry.get_image(g.context.identity, image_id,
                                               request_id=g.request_id)
    except registry_errors.NotFound:
        raise errors.NotFound('No image found with ID %s' % image_id)
    return readable(record)


def readable(record):
    """``record`` without the properties the caller may not read."""
    protections = services().protections
    return protections.readable(g.context, record) if protections else record


def image_document(record):
    """The API document of ``record`` for the caller: readable properties only, and
    locations (``direct_url``, ``locations``) only if policy lets it see them."""
    conf = services().conf
    see_locations = False
    if conf.show_image_direct_url or conf.show_multiple_locations:
        see_locations = policy.allowed(services().policy, g.context,
                                       'get_image_location', record)
    return documents.image(readable(record), conf, services().stores,
                           show_locations=see_locations)


