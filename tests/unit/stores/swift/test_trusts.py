"""Keystone trusts of multi-tenant Swift without Keystone or Swift: which reference is
the trustee, when a trust-scoped token is renewed, and that a transfer's end deletes
its trust. tests/integration/test_swift_multi_tenant.py runs them for real."""

import logging

from oslo_config import cfg
import pytest

import stores
from stores import Credentials
from stores.swift import trusts
from stores.swift.accounts import TenantAccount
from stores.swift.reader import SwiftReader

MAIN_CONFIG_TRUSTEE = {'swift_store_auth_address': 'http://keystone:5000/v3',
                       'swift_store_user': 'service:glance',
                       'swift_store_key': 'secret'}


def multi_tenant(**options):
    """A multi-tenant store as loaded, not configured (which authenticates the
    trustee: test_keystone.py)."""
    store_class = stores.driver_class('swift')
    conf = cfg.ConfigOpts()
    conf.register_opts(store_class.option_list(), group='glance_store')
    conf(args=[], default_config_files=[], default_config_dirs=[])
    for name, value in {'swift_store_multi_tenant': True, **options}.items():
        conf.set_override(name, value, 'glance_store')
    store = store_class(conf, 'glance_store', 'swift')
    store.load()
    return store


def test_upstreams_main_config_credentials_are_the_trustee():
    store = multi_tenant(**MAIN_CONFIG_TRUSTEE)
    assert isinstance(store._trustee, trusts.Trustee)


def test_the_default_reference_of_the_config_file_is_the_trustee(tmp_path):
    path = tmp_path / 'glance-swift.conf'
    path.write_text('[ref1]\nauth_address = http://keystone:5000\n'
                    'user = service:glance\nkey = secret\n')
    store = multi_tenant(swift_store_config_file=str(path))
    assert isinstance(store._trustee, trusts.Trustee)


@pytest.mark.parametrize('options, why', [
    ({}, 'no credentials for it'),
    ({'swift_store_auth_address': 'http://keystone:5000/v3',
      'swift_store_application_credential_id': 'app',
      'swift_store_application_credential_secret': 'secret'},
     'an application credential cannot take a trust'),
    ({**MAIN_CONFIG_TRUSTEE, 'swift_store_auth_version': '1'},
     'not a Keystone (auth_version 3) reference'),
], ids=['no reference', 'application credential', 'tempauth'])
def test_without_a_trustee_the_store_starts_with_a_warning_and_the_callers_token(
        caplog, options, why):
    with caplog.at_level(logging.WARNING, logger='stores.swift'):
        store = multi_tenant(**options)
    assert store._trustee is None
    [warning] = [r.getMessage() for r in caplog.records
                 if 'swift_store_use_trusts' in r.getMessage()]
    assert why in warning and 'swift_store_use_trusts = false' in warning


def test_use_trusts_false_needs_no_trustee_and_says_nothing(caplog):
    with caplog.at_level(logging.WARNING, logger='stores.swift'):
        store = multi_tenant(swift_store_use_trusts=False, **MAIN_CONFIG_TRUSTEE)
    assert store._trustee is None
    assert not [r for r in caplog.records if 'swift_store_use_trusts' in r.getMessage()]


class FakeAuthRef:
    def __init__(self, expires_in):
        self.expires_in = expires_in

    def will_expire_soon(self, seconds):
        return self.expires_in <= seconds


class FakeTrustSession:
    """A keystoneauth session whose tokens are numbered, each lasting
    ``lifetime`` seconds from when it was issued (``clock`` says how many have
    passed)."""

    def __init__(self, lifetime):
        self.lifetime = lifetime
        self.issued = 0
        self.clock = 0
        self.auth = self
        self._issued_at = None

    @property
    def auth_ref(self):
        if self._issued_at is None:
            return None
        return FakeAuthRef(self._issued_at + self.lifetime - self.clock)

    def invalidate(self):
        self._issued_at = None

    def get_token(self):
        if self._issued_at is None:
            self.issued += 1
            self._issued_at = self.clock
        return 'trust-token-%d' % self.issued


class FakeConnection:
    token = None


def trust_account(session, interval=60):
    store = multi_tenant(swift_store_expire_soon_interval=interval)
    return trusts.TrustAccount('http://swift/v1/AUTH_p', session, 'trust-1',
                               store.options)


def test_a_trust_scoped_token_is_renewed_within_the_interval_of_its_expiry():
    session = FakeTrustSession(lifetime=3600)
    account = trust_account(session, interval=60)
    conn = FakeConnection()
    account.refresh(conn)
    assert conn.token == 'trust-token-1'
    session.clock = 3540 - 1    # 61 s left: still the same token
    account.refresh(conn)
    assert conn.token == 'trust-token-1'
    session.clock = 3540        # 60 s left: a new one before the next request
    account.refresh(conn)
    assert conn.token == 'trust-token-2'


class RecordingAccount:
    """An account whose connection serves one object and which records ``close``."""

    def __init__(self, data):
        self.data = data
        self.closed = 0

    def connect(self):
        account = self

        class Connection:
            def get_object(self, container, obj, resp_chunk_size, headers):
                return {'content-length': str(len(account.data))}, iter([account.data])

            def close(self):
                pass
        return Connection()

    def release(self, conn):
        conn.close()

    def refresh(self, conn):
        pass

    def close(self):
        self.closed += 1


def test_a_download_keeps_its_trust_until_the_reader_is_closed():
    account = RecordingAccount(b'x' * 10)
    reader = SwiftReader(account, 'glance_i', 'i', 0, None, retries=2)
    assert b''.join(reader) == b'x' * 10
    assert account.closed == 0
    reader.close()
    assert account.closed == 1


def test_a_trust_keystone_refuses_leaves_the_transfer_on_the_callers_token(caplog):
    store = multi_tenant(**MAIN_CONFIG_TRUSTEE)

    def refuse(*args):
        raise RuntimeError('403 Forbidden')
    store._trustee.delegate = refuse
    caller = Credentials(auth_token='user-token', project_id='p', user_id='u',
                         roles=('member',))
    account = TenantAccount('http://swift/v1/AUTH_p', caller.auth_token, store.options)
    with caplog.at_level(logging.WARNING, logger='stores.swift'):
        assert store._delegated(account, caller) is account
    assert account.token() == 'user-token'
    assert 'no Keystone trust' in caplog.text and '403 Forbidden' in caplog.text
