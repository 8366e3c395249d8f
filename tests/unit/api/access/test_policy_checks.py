"""oslo.policy's checks through our enforcer: the signature of each check class is
inspected once, and legacy checks (three arguments) still work beside current ones
(four: the rule's name too), alone and nested in ``or``/``and``/``not``/``rule:``."""

import inspect

import pytest
from oslo_config import cfg
from oslo_policy import _checks
from oslo_policy import policy

from glance_api.access import policy as glance_policy


class _LegacyCheck(_checks.Check):
    """A check written before oslo.policy passed the rule's name."""

    def __call__(self, target, creds, enforcer):
        return self.match == target.get('answer')


class _NamedCheck(_checks.Check):
    """A current check: it sees which rule it is evaluated for."""

    seen = []

    def __call__(self, target, creds, enforcer, current_rule=None):
        self.seen.append(current_rule)
        return self.match == target.get('answer')


@pytest.fixture
def enforcer():
    _checks.register('glance_test_legacy', _LegacyCheck)
    _checks.register('glance_test_named', _NamedCheck)
    conf = cfg.ConfigOpts()
    glance_policy.register_opts(conf)
    conf([], project='glance-test-none')
    made = glance_policy.new_enforcer(conf)
    made.register_defaults([
        policy.RuleDefault('legacy', 'glance_test_legacy:yes'),
        policy.RuleDefault('named', 'glance_test_named:yes'),
        policy.RuleDefault('either', 'glance_test_legacy:yes or '
                                     'glance_test_named:also'),
        policy.RuleDefault('both', 'rule:legacy and not glance_test_named:no'),
    ])
    yield made
    _checks.registered_checks.pop('glance_test_legacy', None)
    _checks.registered_checks.pop('glance_test_named', None)


@pytest.mark.parametrize('rule, answer, expected', [
    ('legacy', 'yes', True),
    ('legacy', 'no', False),
    ('named', 'yes', True),
    ('named', 'no', False),
    ('either', 'yes', True),
    ('either', 'also', True),
    ('either', 'no', False),
    ('both', 'yes', True),
    ('both', 'no', False),
])
def test_legacy_and_current_checks_decide_as_oslo_policy_does(enforcer, rule, answer,
                                                              expected):
    for _ in range(3):  # the first call inspects, the next ones use the cache
        assert enforcer.enforce(rule, {'answer': answer}, {}) is expected


def test_a_current_check_is_told_the_rule_it_serves(enforcer):
    _NamedCheck.seen.clear()
    enforcer.enforce('named', {'answer': 'yes'}, {})
    enforcer.enforce('named', {'answer': 'yes'}, {})
    assert _NamedCheck.seen == ['named', 'named']


def test_each_check_class_is_inspected_once(enforcer, monkeypatch):
    enforcer.enforce('either', {'answer': 'no'}, {})   # every class of it seen
    inspected = []
    real = inspect.getfullargspec

    def counting(function):
        inspected.append(function)
        return real(function)

    monkeypatch.setattr(inspect, 'getfullargspec', counting)
    for _ in range(5):
        assert enforcer.enforce('either', {'answer': 'also'}, {})
    assert inspected == []


def test_a_check_with_its_own_call_is_inspected_as_oslo_policy_does(enforcer):
    check = _LegacyCheck('glance_test_legacy', 'yes')
    # oslo.policy inspects the instance's attribute but Python calls the class's
    # __call__: an attribute taking five arguments (as a method with ``self``
    # does) makes it pass four to the three-argument class method.
    check.__call__ = lambda self, target, creds, enforcer, current_rule: None
    with pytest.raises(TypeError):
        _checks._check(check, {'answer': 'yes'}, {}, enforcer, 'legacy')


def test_an_oslo_policy_whose_check_function_differs_keeps_its_own(monkeypatch):
    def other_check(rule, target, creds, enforcer, current_rule, extra=None):
        return False

    monkeypatch.setattr(_checks, '_check', other_check)
    glance_policy._cache_check_arities()
    assert _checks._check is other_check
