"""Property protections: who may create, read, update and delete which custom properties.

``property_protection_file`` is an ini file whose section names are regular
expressions over property names, each with ``create``, ``read``, ``update`` and
``delete`` rules; the first section that matches a property decides, and a property no
section matches is denied (upstream's rules). With ``property_protection_rule_format
= roles`` a rule lists roles (``@`` anyone, ``!`` no one); with ``policies`` it names
a policy rule. A property the caller may not read does not exist for it: it is left
out of responses and cannot be updated or removed.

A malformed file stops the API at start-up rather than failing requests.
"""

import configparser
import os
import re

from oslo_config import cfg

from glance_api import patterns
from glance_api.http import errors
from glance_api.access import policy

OPERATIONS = ('create', 'read', 'update', 'delete')

protection_opts = [
    cfg.StrOpt('property_protection_file',
               help='Ini file of property protection rules; unset, custom '
                    'properties are not protected.'),
    cfg.StrOpt('property_protection_rule_format', default='roles',
               choices=['roles', 'policies'],
               help='Whether the rules in property_protection_file list roles or '
                    'name policy rules.'),
]


class InvalidConfiguration(ValueError):
    """The property protection file cannot be used."""


def register_opts(conf):
    conf.register_opts(protection_opts)


class PropertyProtections:
    """The parsed rules: ``[(patterns.Pattern, {operation: rule}), ...]`` in file
    order."""

    def __init__(self, rules, rule_format, enforcer):
        self._rules = rules
        self._format = rule_format
        self._enforcer = enforcer
        #: The sections RE2 cannot evaluate: matched by Python's backtracking re.
        self.backtracking = [pattern.text for pattern, _ in rules
                             if not pattern.linear]

    def warn_backtracking(self, log):
        """Say, at start, which sections a tenant's property name may keep Python's
        backtracking re busy on."""
        for section in self.backtracking:
            log.warning("property protection section [%s] is evaluated by a "
                        "backtracking engine (Python's re), not RE2, which cannot "
                        "express it with the same meaning: a tenant's property name "
                        "may hold an API thread for seconds.", section)

    @classmethod
    def from_config(cls, conf, enforcer):
        """The configured protections, or None when no file is configured."""
        path = conf.property_protection_file
        if not path:
            return None
        if not os.path.isabs(path):
            # As upstream: a relative name is looked up as oslo.config finds files,
            # beside the config files first.
            path = conf.find_file(path) or path
        parser = configparser.RawConfigParser()
        try:
            with open(path) as f:
                parser.read_file(f)
        except (OSError, configparser.Error) as exc:
            raise InvalidConfiguration('cannot read property protection file %s: %s'
                                       % (path, exc))
        rules = []
        for section in parser.sections():
            try:
                # Matched against the property names tenants choose, on every
                # request that shows or changes an image: RE2 where it can.
                pattern = patterns.compile(section)
            except re.error as exc:
                raise InvalidConfiguration('property protection section [%s] is not '
                                           'a valid regular expression: %s'
                                           % (section, exc))
            unknown = set(parser.options(section)) - set(OPERATIONS)
            if unknown:
                raise InvalidConfiguration('property protection section [%s] has '
                                           'unknown operations: %s'
                                           % (section, ', '.join(sorted(unknown))))
            operations = {}
            for operation in OPERATIONS:
                # A missing operation is allowed to no one (upstream's rule).
                value = parser.get(section, operation, fallback='!')
                operations[operation] = [v.strip() for v in value.split(',')
                                         if v.strip()]
            rules.append((pattern, operations))
        rule_format = conf.property_protection_rule_format
        if rule_format == 'policies':
            enforcer.load_rules()
            for _, operations in rules:
                for names in operations.values():
                    for name in names:
                        if name not in ('@', '!') and name not in enforcer.rules:
                            raise InvalidConfiguration(
                                'property protection rule names unknown policy '
                                '%r' % name)
        return cls(rules, rule_format, enforcer)

    def allowed(self, ctx, name, operation):
        for pattern, operations in self._rules:
            if pattern.search(name):
                return self._grants(ctx, operations[operation])
        return False

    def _grants(self, ctx, values):
        if '!' in values:
            return False
        if '@' in values:
            return True
        if self._format == 'roles':
            roles = {r.lower() for r in policy.credentials(ctx)['roles']}
            return any(value.lower() in roles for value in values)
        return any(self._enforcer.enforce(value, {}, policy.credentials(ctx))
                   for value in values)

    def check(self, ctx, name, operation):
        if not self.allowed(ctx, name, operation):
            raise errors.Forbidden("Property '%s' is protected" % name)

    def readable(self, ctx, record):
        """``record`` with the properties the caller may not read left out."""
        properties = record.get('properties') or {}
        visible = {k: v for k, v in properties.items()
                   if self.allowed(ctx, k, 'read')}
        if len(visible) == len(properties):
            return record
        return dict(record, properties=visible)

    def check_changes(self, ctx, old_properties, changes):
        """403 unless the caller may make each property change (None removes)."""
        for name, value in changes.items():
            if value is None:
                self.check(ctx, name, 'delete')
            elif name in old_properties:
                self.check(ctx, name, 'update')
            else:
                self.check(ctx, name, 'create')
