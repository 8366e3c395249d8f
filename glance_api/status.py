"""``glance-status upgrade check``: is this API host ready to run this release?

    glance-status --config-file /etc/glance/glance-api.conf upgrade check [--json]

Upstream's command (oslo.upgradecheck): one line per check, the worst result is the
exit status (0 success, 1 warning, 2 failure, 255 the command itself failed). It
reads the API's configuration; the database is the registry's, checked on the
registry host with ``glance-manage db check``.
"""

import sys

from oslo_config import cfg
from oslo_log import log as oslo_log
from oslo_upgradecheck import upgradecheck

import stores
from glance_api import opts
from glance_api.access import keystone_limits
from glance_api.http import errors
from glance_registry import process
from glance_registry.client import RegistryClient

Code = upgradecheck.Code
Result = upgradecheck.Result


class Checks(upgradecheck.UpgradeCommands):
    """The checks, each a method returning a ``Result``."""

    def __init__(self, conf):
        super().__init__()
        self.conf = conf

    def _check_registry(self):
        if not self.conf.registry_auth_secret:
            return Result(Code.FAILURE, 'registry_auth_secret is not set: the API '
                                        'cannot authenticate to the registry.')
        registry = RegistryClient.from_config(self.conf)
        try:
            if not registry.healthy():
                return Result(Code.FAILURE, 'The registry at %s:%d does not answer '
                                            'its health check.'
                              % (self.conf.registry_host, self.conf.registry_port))
        finally:
            registry.close()
        return Result(Code.SUCCESS)

    def _check_stores(self):
        try:
            # Neither probed nor prepared: an upgrade check writes nothing (a file
            # store would make its data directory).
            stores.StoreSet.from_config(self.conf, probe=False, prepare=False)
        except stores.errors.StoreError as exc:
            return Result(Code.FAILURE, 'Store configuration: %s. The drivers this '
                                        'service has: file, swift, http.' % exc)
        return Result(Code.SUCCESS)

    def _check_unified_limits(self):
        if not self.conf.use_keystone_limits:
            return Result(Code.SUCCESS, 'use_keystone_limits is off: the limits are '
                                        '[image_limits] and user_storage_quota.')
        try:
            registered = keystone_limits.KeystoneLimits(self.conf).registered()
        except errors.Unavailable:
            return Result(Code.FAILURE, 'use_keystone_limits is on, but the '
                                        'registered limits cannot be read from '
                                        'Keystone: check [oslo_limit] (the endpoint '
                                        'and credentials with reader on the system '
                                        'scope) and the API log.')
        missing = [name for name in keystone_limits.RESOURCES
                   if name not in registered]
        if missing:
            return Result(Code.WARNING, 'No registered limit in Keystone for %s: '
                                        'every project is limited to 0 of it.'
                          % ', '.join(missing))
        return Result(Code.SUCCESS)

    _upgrade_checks = (
        ('Registry', _check_registry),
        ('Stores', _check_stores),
        ('Unified limits', _check_unified_limits),
    )


def main(argv=None):
    """Run ``upgrade check``; its exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv == ['--version']:
        # oslo.upgradecheck parses the command line without a version to print.
        print(process.version())
        return 0
    config_files = process.upstream_config_files('glance-api', 'glance-status')
    try:
        # Every file and value checked first, as every other command does: a
        # missing file, or a value a check would read, is one line, not a
        # traceback (oslo.upgradecheck reads the files and values unchecked).
        process.load_config(argv, _register_with_checks(Checks(None)),
                            default_config_files=config_files)
    except process.Refused as exc:
        sys.stderr.write('%s\n' % exc)
        return EXIT_COMMAND_FAILED
    conf = cfg.ConfigOpts()
    opts.register_opts(conf)
    # The command line the check above accepted (oslo.log's options too).
    oslo_log.register_options(conf)
    return upgradecheck.main(conf, 'glance', Checks(conf), argv=argv,
                             default_config_files=config_files)


#: oslo.upgradecheck's status when the command itself fails.
EXIT_COMMAND_FAILED = 255


def _register_with_checks(checks):
    def register(conf):
        opts.register_opts(conf)
        upgradecheck.register_cli_options(conf, checks)
    return register


if __name__ == '__main__':
    sys.exit(main())
