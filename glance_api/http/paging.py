"""The ``limit`` query parameter of every list (images, tasks, metadefs)."""

from glance_api.http import errors

# What a list without a maximum (metadef tags) is asked for at most: more than
# any namespace holds, and small enough for every database's LIMIT (and the
# registry, which takes at most 18 digits).
UNBOUNDED = 2 ** 31 - 1


def limit(value, default, maximum=UNBOUNDED, zero=True):
    """The page size a list's ``limit`` asks for: ``default`` without one (None:
    no limit), never more than ``maximum`` (a larger limit is capped, as upstream
    caps it at ``api_limit_max``). 400 with upstream's messages unless an integer
    (an empty ``?limit=`` is none, as upstream's ``int('')``), if negative, or if
    0 and ``zero`` is false."""
    if value is None:
        return default if default is None else min(default, maximum)
    try:
        number = int(value)
    except ValueError:
        raise errors.BadRequest('limit param must be an integer') from None
    if number < 0 or (number == 0 and not zero):
        raise errors.BadRequest('limit param must be positive')
    return min(number, maximum)
