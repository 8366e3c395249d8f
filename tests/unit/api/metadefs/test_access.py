"""glance_api.metadefs.access: policy rules judged per class of namespace, with a real
oslo.policy enforcer and upstream's defaults or operators' overrides."""

import types

import flask
import pytest
from oslo_config import cfg
from oslo_policy import policy as oslo_policy

from glance_api.access import context as context_module
from glance_api.access import policy
from glance_api.http import errors
from glance_api.metadefs import access

ALL = frozenset(['own-public', 'own-private', 'other-public', 'other-private'])


def _enforcer(rules=None):
    conf = cfg.ConfigOpts()
    policy.register_opts(conf)
    conf([], project='glance-tests')
    enforcer = policy.new_enforcer(conf)
    if rules:
        enforcer.load_rules()
        enforcer.set_rules(oslo_policy.Rules.from_dict(rules), overwrite=False,
                           use_conf=False)
    return enforcer


@pytest.fixture
def judge():
    """``judge(ctx, rules=None)``: run ``access`` calls in an app with an enforcer
    holding upstream's defaults, overridden by ``rules``."""
    def make(rules=None):
        app = flask.Flask('test')
        app.extensions['glance'] = types.SimpleNamespace(policy=_enforcer(rules))
        return app.app_context()
    return make


def ctx(project='alpha', roles=('member', 'reader'), admin=False):
    return context_module.RequestContext(user_id='u', project_id=project, roles=roles,
                                         is_admin=admin, request_id='req-x')


@pytest.mark.parametrize('caller, see, write', [
    (ctx(), {'own-public', 'own-private', 'other-public'}, set()),
    (ctx(roles=('reader',)), {'own-public', 'own-private', 'other-public'}, set()),
    (ctx(roles=('member',)), set(), set()),    # not a reader: sees nothing
    (ctx(roles=('admin',), admin=True), ALL, ALL),
    (ctx(project=None, roles=(), admin=True), {'other-public', 'other-private'},
     {'other-public', 'other-private'}),
])
def test_upstreams_defaults_by_class(judge, caller, see, write):
    with judge():
        verdict = access.for_namespace(caller, ('add_metadef_tag',),
                                       items='get_metadef_object')
    assert verdict.see == see
    assert verdict.allow == (('add_metadef_tag', write),)
    assert verdict.items == see


def test_an_override_is_judged_per_class(judge):
    with judge({'modify_metadef_namespace': 'role:member and project_id:%(project_id)s',
                'get_metadef_namespace': "'private':%(visibility)s"}):
        verdict = access.for_namespace(ctx(), ('modify_metadef_namespace',))
    assert verdict.see == {'own-private', 'other-private'}
    assert verdict.allow == (('modify_metadef_namespace',
                              {'own-public', 'own-private'}),)


def test_without_a_namespace_a_refusal_is_403_or_404_as_upstream(judge):
    with judge():
        access.enforce_without_namespace(ctx(roles=('admin',), admin=True),
                                         'add_metadef_namespace')
        with pytest.raises(errors.Forbidden) as raised:
            access.enforce_without_namespace(ctx(), 'add_metadef_namespace')
        assert raised.value.message == ('You are not authorized to complete '
                                        'add_metadef_namespace action.')
        # A caller get_metadef_namespace refuses too is told nothing exists.
        with pytest.raises(errors.NotFound):
            access.enforce_without_namespace(ctx(roles=('member',)),
                                             'add_metadef_namespace')
