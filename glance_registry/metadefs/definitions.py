"""Property definitions: what one may hold, and how it reads back.

A property definition describes a key a resource may carry (``hw_cpu_policy``: a
string, one of ``shared`` or ``dedicated``...). Its members are upstream's (a subset
of JSON schema plus ``operators``, ``readonly`` and ``confidential``); anything else
is refused, as are values of the wrong type, so that every stored definition can
be read back.

``check`` validates a definition as a client or a catalog file gives it and returns
what is stored; ``render`` is how a stored definition reads back, with upstream's
conversions that clients see: ``default`` as a string (``180`` reads ``"180"``)
and ``minimum``/``maximum`` as integers.
"""

from glance_registry.client import errors

TYPES = ('array', 'boolean', 'integer', 'number', 'object', 'string')
_INT64_MAX = 2 ** 63 - 1

# Every error of a definition: reason invalid_value, field the member at fault.
_invalid = errors.BadRequest.invalid_value


def _type(where, name, value):
    # Upstream's schema lists null among the types' names, but for a member that
    # must be a string, which null is not: the API refuses it, and a stored null
    # made the clients that validate what they read against that schema (glance
    # md-namespace-show, md-property-show) fail on the namespace.
    if value not in TYPES:
        raise _invalid("%s: '%s' must be one of %s, not %r"
                       % (where, name, ', '.join(TYPES), value), name)
    return value


def _string(where, name, value):
    if not isinstance(value, str):
        raise _invalid("%s: '%s' must be a string" % (where, name), name)
    if '\x00' in value:
        raise _invalid("%s: '%s' contains a NUL character" % (where, name), name)
    return value


def _strings(where, name, value):
    if not isinstance(value, list):
        raise _invalid("%s: '%s' must be an array of strings" % (where, name), name)
    for item in value:
        _string(where, '%s item' % name, item)
    return value


def _boolean(where, name, value):
    if not isinstance(value, bool):
        raise _invalid("%s: '%s' must be a boolean" % (where, name), name)
    return value


def _number(where, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _invalid("%s: '%s' must be a number" % (where, name), name)
    # It reads back as an integer (upstream's model), which must fit 64 bits.
    if abs(value) > _INT64_MAX:
        raise _invalid("%s: '%s' is out of range" % (where, name), name)
    return value


def _count(where, name, value):
    if isinstance(value, bool) or not isinstance(value, int) \
            or not 0 <= value <= _INT64_MAX:
        raise _invalid("%s: '%s' must be an integer of at least 0" % (where, name),
                       name)
    return value


def _default(where, name, value):
    # Upstream's model keeps a scalar default as its string; an array or object
    # default it silently drops. Refused here instead.
    if value is not None and (isinstance(value, (list, dict))
                              or not isinstance(value, (str, int, float))):
        raise _invalid("%s: '%s' must be a string, number or boolean"
                       % (where, name), name)
    if isinstance(value, str):
        _string(where, name, value)
    return value


def _items(where, name, value):
    if not isinstance(value, dict):
        raise _invalid("%s: '%s' must be an object" % (where, name), name)
    unknown = sorted(set(value) - {'type', 'enum'})
    if unknown:
        raise _invalid("%s: unknown member of 'items': %s"
                       % (where, ', '.join(map(repr, unknown))), name)
    if 'type' not in value:
        raise _invalid("%s: 'items' needs a 'type'" % where, name)
    checked = {'type': _type(where, 'items.type', value['type'])}
    if 'enum' in value:
        checked['enum'] = _strings(where, 'items.enum', value['enum'])
    return checked


FIELDS = {
    'type': _type,
    'title': _string,
    'description': _string,
    'operators': _strings,
    'default': _default,
    'readonly': _boolean,
    'minimum': _number,
    'maximum': _number,
    'enum': _strings,
    'pattern': _string,
    'minLength': _count,
    'maxLength': _count,
    'confidential': _boolean,
    'items': _items,
    'uniqueItems': _boolean,
    'minItems': _count,
    'maxItems': _count,
    'additionalItems': _boolean,
}
REQUIRED = ('type', 'title')
# Besides 'default', whose null is a value, null means "not given".
_NULLABLE = frozenset(['default'])


def check(definition, where):
    """The definition to store for ``definition`` (a ``name`` member, which names
    the property where the definition stands alone, is dropped: the property's
    name is its own column). ``where`` names it in errors ("property 'x'")."""
    if not isinstance(definition, dict):
        raise _invalid('%s must be an object' % where)
    unknown = sorted(set(definition) - set(FIELDS) - {'name'})
    if unknown:
        raise _invalid('%s: unknown attribute%s %s' % (
            where, 's' if len(unknown) > 1 else '', ', '.join(map(repr, unknown))))
    for name in REQUIRED:
        if name not in definition:
            raise _invalid("%s: '%s' is required" % (where, name), name)
    checked = {}
    for name, value in definition.items():
        if name == 'name':
            continue
        if value is None and name not in _NULLABLE:
            if name in REQUIRED:
                raise _invalid("%s: '%s' is required" % (where, name), name)
            continue
        checked[name] = FIELDS[name](where, name, value)
    return checked


def render(definition):
    """How a stored definition reads back (upstream's conversions)."""
    rendered = {}
    for name, value in definition.items():
        if name == 'default' and value is not None:
            # str(True) is 'True', as upstream answers it.
            value = str(value)
        elif name in ('minimum', 'maximum'):
            value = int(value)
        rendered[name] = value
    return rendered
