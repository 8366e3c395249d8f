"""/v2/schemas: the JSON schemas of the API's documents (``glance_api.images.schemas``)."""

from glance_api.http import responses
from glance_api.services import services


def image_schema():
    """The image schema: base attributes, format enums, custom-property rule."""
    return responses.json(services().schemas.image)


def images_schema():
    """The schema of an image list page."""
    return responses.json(services().schemas.images)


def member_schema():
    """The schema of an image member."""
    return responses.json(services().schemas.member)


def members_schema():
    """The schema of an image's member list."""
    return responses.json(services().schemas.members)
