"""Upstream options this service accepts and ignores, and the warning each gets.

Upstream's config files load here unchanged; an option of upstream's that this
service does not implement would otherwise be without effect and without a word.
``warn`` logs one WARNING per such option the operator set (to anything but
upstream's default) when glance-api starts, saying what this service does instead.
README.rst ("Configuration") lists them.
"""

from oslo_config import cfg

from glance_registry import process

#: ``(group, upstream's option and default, what this service does instead)``. The
#: ``glance_store`` ones are looked for in every ``enabled_backends`` section too,
#: where multi-store configs put a store's options.
IGNORED = [
    ('DEFAULT', cfg.BoolOpt('allow_anonymous_access', default=False),
     'requests without a valid token are never given upstream\'s anonymous '
     'read-only access.'),
    ('DEFAULT', cfg.StrOpt('metadata_encryption_key', secret=True),
     'image locations are stored unencrypted in the registry\'s database.'),
    ('DEFAULT', cfg.IntOpt('max_request_id_length', default=64),
     'the API gives each request an id of its own; a client\'s '
     'X-OpenStack-Request-ID is the global request id only in OpenStack\'s form '
     '(req- and a UUID).'),
    ('taskflow_executor', cfg.StrOpt('conversion_format'),
     'legacy import tasks are converted as other imports are, by the '
     'image_conversion plugin to [image_conversion] output_format.'),
    ('glance_store', cfg.StrOpt('filesystem_store_metadata_file'),
     'a file store location\'s metadata holds its store id only.'),
    ('glance_store', cfg.BoolOpt('filesystem_thin_provisioning', default=False),
     'the file store writes every byte, runs of zeros included (no sparse files).'),
    ('glance_store', cfg.IntOpt('filesystem_store_timeout', default=0),
     'file store operations have no time limit (a hung NFS mount holds the '
     'request).'),
    ('glance_store', cfg.BoolOpt('swift_buffer_on_upload', default=False),
     'Swift segments are streamed as they arrive, never buffered on local disk: '
     'a segment that fails fails the upload.'),
    # oslo.policy's option: without upstream's deprecated rules, false changes
    # nothing, and an operator relying on it must learn so.
    ('oslo_policy', cfg.BoolOpt('enforce_new_defaults', default=True),
     'the secure-RBAC defaults apply whatever it says (upstream\'s deprecated '
     'defaults, such as rule:default for image, member and task rules, are not '
     'kept).'),
    ('profiler', cfg.BoolOpt('enabled', default=False),
     'this service makes no OSProfiler traces.'),
    # A pipeline of upstream's names is run as upstream's; middleware an
    # operator added to the file under that name would be dropped without a word.
    ('paste_deploy', cfg.StrOpt('config_file'),
     'the paste file is not read: the API runs upstream\'s pipeline for '
     '[paste_deploy] flavor, without middleware added to that file.'),
]

_STORE_GROUP = 'glance_store'


def register_opts(conf):
    """Register them, so that their values can be read (and are checked); one a
    library registered already (oslo.policy's) is read as the library's."""
    for group, opt, _instead in IGNORED:
        try:
            conf.register_opt(opt, group=None if group == 'DEFAULT' else group)
        except cfg.DuplicateOptError:
            pass


def warn(conf, log):
    """Log, at WARNING on ``log``, each ignored option the operator set; ``Refused``
    for a value that is not of the option's type in a store section."""
    for group, opt, instead in IGNORED:
        groups = [group]
        if group == _STORE_GROUP:
            groups += sorted(conf.enabled_backends or {})
        for section in groups:
            if section != group:   # an enabled_backends section
                conf.register_opt(opt, group=section)
            options = conf if section == 'DEFAULT' else conf[section]
            try:
                value = options[opt.dest]
            except cfg.Error as exc:
                raise process.Refused('configuration error: %s' % exc) from None
            if value != opt.default:
                log.warning('[%s] %s = %s is ignored: %s', section, opt.dest,
                            '****' if opt.secret else value, instead)
