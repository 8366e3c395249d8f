"""Option types that read upstream Glance's spellings of a value.

Upstream declares some list options with ``bounds=True``, so its configs (and its
documentation) write them in brackets: ``allowed_ports = [80,443]``,
``enabled_import_methods = [glance-direct,web-download]``. oslo.config's plain list
type reads that as one item ``[80`` (an ``int()`` error at start-up); its bracketed
type refuses the plain ``80,443``. ``BracketedListOpt`` takes both, and shows
upstream's spelling in the sample config. Declare with it every list option that
upstream declares with brackets.
"""

from oslo_config import cfg
from oslo_config import types


class BracketedList(types.List):
    """A list written ``[a,b]`` (upstream's spelling) or ``a,b``; items may be
    quoted (``["a","b"]``) where the item type allows, as upstream's do."""

    def __init__(self, item_type=None, type_name='list value'):
        super().__init__(item_type=item_type, bounds=True, type_name=type_name)

    def __call__(self, value):
        if isinstance(value, str):
            text = value.strip().rstrip(',')
            if not (text.startswith('[') and text.endswith(']')):
                value = '[%s]' % text
        return super().__call__(value)


class BracketedListOpt(cfg.Opt):
    """A list option read with ``BracketedList``; ``item_type`` as ``cfg.ListOpt``'s
    (``types.String(quotes=True)`` by default, as upstream's string lists)."""

    def __init__(self, name, item_type=None, **kwargs):
        item_type = item_type or types.String(quotes=True)
        super().__init__(name, type=BracketedList(item_type), **kwargs)
