"""The options an import plugin's unit tests run it with."""

from oslo_config import cfg

from glance_api.data import conversion, inspection, staging


def plugin_deployment(tmp_path, plugin, image_size_cap):
    """(conf, staging store) of a deployment whose imports run ``plugin`` alone,
    staging under ``tmp_path``."""
    conf = cfg.ConfigOpts()
    staging.register_opts(conf)
    conversion.register_opts(conf)
    inspection.register_opts(conf)
    conf.register_opt(cfg.IntOpt('image_size_cap'))
    conf([], project='glance', default_config_files=[])
    conf.set_override('node_staging_uri', 'file://%s/staging' % tmp_path)
    conf.set_override('image_import_plugins', [plugin], group='image_import_opts')
    conf.set_override('image_size_cap', image_size_cap)
    return conf, staging.from_conf(conf)
