"""What every list (images, tasks, metadefs) reads of its query the same way: a
parameter given once, and ``limit``."""

from glance_api.http import errors

# What a list without a maximum (metadef tags) is asked for at most: more than
# any namespace holds, and small enough for every database's LIMIT (and the
# registry, which takes at most 18 digits).
UNBOUNDED = 2 ** 31 - 1


def single(args, name, default=None):
    """The value of query parameter ``name`` in ``args`` (a multi-valued mapping:
    ``request.args``), ``default`` without one. 400 if it is given more than once:
    which of the values was meant is anyone's guess (upstream takes the first of
    some parameters and the last of others); the registry refuses it too."""
    values = args.getlist(name)
    if len(values) > 1:
        raise errors.BadRequest("Parameter '%s' may be given only once" % name)
    return values[0] if values else default


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
