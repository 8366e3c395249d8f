"""Properties an operator gives every image its users import (upstream's
``inject_image_metadata`` import plugin, on when ``[image_import_opts]
image_import_plugins`` lists it).

As upstream: ``[inject_metadata_properties] inject`` is written into the image of
a ``glance-direct``, ``web-download`` or ``glance-download`` import (not a
``copy-image``) whose caller holds none of ``ignore_user_roles``, over what the
image had, before it becomes ``active``. What to inject is decided when the
import is asked for (the caller's roles are known then) and kept in the task, so
that a worker that takes the task over injects the same; the properties are
written in the transaction that activates the image, by the image service itself
(a caller may not set properties through a task). An import that fails injects
nothing.
"""

from oslo_config import cfg

from glance_api.access import attributes
from glance_api.http import errors

PLUGIN = 'inject_image_metadata'

opts = [
    cfg.ListOpt('ignore_user_roles', default=['admin'],
                help='Callers holding any of these roles import without the '
                     'injected properties.'),
    cfg.DictOpt('inject', default={},
                help='Properties (key:value,...) given to every image imported by '
                     'a caller without one of ignore_user_roles, with the '
                     'inject_image_metadata import plugin.'),
]

#: The methods whose images get the properties: upstream runs no plugin on a copy.
METHODS = ('glance-direct', 'web-download', 'glance-download')


def register_opts(conf):
    conf.register_opts(opts, group='inject_metadata_properties')


def list_opts():
    return [('inject_metadata_properties', opts)]


def enabled(conf):
    return PLUGIN in conf.image_import_opts.image_import_plugins


def check(conf, schemas):
    """``ValueError`` (the API refuses to start) for an ``inject`` that names a base
    property of the image, a reserved one or one longer than a property's name:
    none could ever be written so (the registry refused every activation); or
    whose value the image schema (``schemas``, the operator's typed properties)
    refuses: every imported image would hold it, and python-glanceclient, which
    checks the whole image against the schema before it patches one, could not
    change any of them (``glance image-update``: ValueError)."""
    if not enabled(conf):
        return
    inject = conf.inject_metadata_properties.inject
    for name in inject:
        try:
            # What a create refuses of a custom property's name.
            attributes.check_writable(name, creating=True)
            attributes.check_property_name(name)
            # 'properties': the record's member, which the registry's names exclude.
            custom = name not in schemas.base_properties and name != 'properties'
        except (errors.Forbidden, errors.BadRequest):
            custom = False
        if not custom:
            raise ValueError('[inject_metadata_properties] inject names %r, which is '
                             'no custom property an import may set' % name)
    try:
        schemas.validate_values(inject)
    except errors.BadRequest as exc:
        raise ValueError('[inject_metadata_properties] inject: %s' % exc.message
                         ) from None


def properties_for(conf, method, roles):
    """What an import by ``method`` of a caller with ``roles`` injects (a dict,
    empty for none)."""
    if not enabled(conf) or method not in METHODS:
        return {}
    options = conf.inject_metadata_properties
    if set(roles) & set(options.ignore_user_roles):
        return {}
    return dict(options.inject)
