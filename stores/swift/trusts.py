"""Keystone trusts for multi-tenant Swift (``swift_store_use_trusts``): a long
transfer reaches the caller's account with trust-scoped tokens, so that it outlives
the caller's own token.

As upstream's driver: the trustee is the user of ``default_swift_reference``; the
trust delegates the roles of the caller's token on its project and impersonates the
caller (Swift sees the caller's user and project, as with the caller's token); a new
token is asked for with the trust when the current one is within
``swift_store_expire_soon_interval`` seconds of expiring; the trust is deleted when
the transfer ends. Unlike upstream's, a download keeps its trust until it is
closed: upstream deletes it as the download starts, before the resumes that need it.
"""

import logging
import threading

from stores import errors
from stores.swift.accounts import (TenantAccount, keystone_session,
                                   password_credentials)

LOG = logging.getLogger(__name__)


def trustee_problem(reference):
    """Why the reference ``reference`` (a checked section) cannot be a trustee, or
    None: a trust-scoped token is asked for with a Keystone v3 password."""
    if reference['auth_version'] != '3':
        return 'it is not a Keystone (auth_version 3) reference'
    if reference.get('application_credential_id') or not reference.get('user'):
        return ('an application credential cannot take a trust: it needs user and '
                'key')
    return None


class Trustee:
    """The service's own user (a password reference), which trusts delegate to."""

    def __init__(self, reference, verify):
        self._reference = reference
        self._verify = verify
        self._session = None
        self._lock = threading.Lock()

    def user_id(self):
        """The trustee's Keystone user id (authenticating once)."""
        with self._lock:
            if self._session is None:
                self._session = keystone_session(self._reference, self._verify)
            session = self._session
        return session.get_user_id()

    def check(self):
        """Authenticate; StoreUnavailable if Keystone refuses or cannot be reached."""
        try:
            self.user_id()
        except Exception as exc:
            raise errors.StoreUnavailable(
                'the service user of default_swift_reference, which '
                'swift_store_use_trusts delegates to, cannot authenticate with '
                'Keystone: %s' % exc)

    def delegate(self, storage_url, credentials, options):
        """A ``TrustAccount`` on ``storage_url`` with a new trust from the caller
        (``credentials``: token, user, project, roles) to this user.

        Raises what Keystone or keystoneauth raise; a trust that was created is
        deleted again when no trust-scoped token can be had with it.
        """
        from keystoneauth1 import session, token_endpoint
        from keystoneclient.v3 import client
        caller = session.Session(
            auth=token_endpoint.Token(password_credentials(self._reference)['auth_url'],
                                      credentials.auth_token),
            verify=self._verify)
        trusts = client.Client(session=caller).trusts
        trust_id = trusts.create(
            trustee_user=self.user_id(), trustor_user=credentials.user_id,
            project=credentials.project_id, role_names=list(credentials.roles),
            impersonation=True).id
        account = TrustAccount(storage_url, self._trust_session(trust_id), trust_id,
                               options)
        try:
            account.token()
        except BaseException:
            try:
                trusts.delete(trust_id)
            except Exception as exc:
                _log_left(trust_id, exc)
            raise
        return account

    def _trust_session(self, trust_id):
        from keystoneauth1 import session
        from keystoneauth1.identity import v3
        arguments = {key: value for key, value
                     in password_credentials(self._reference).items()
                     if not key.startswith('project_')}
        return session.Session(auth=v3.Password(trust_id=trust_id, **arguments),
                               verify=self._verify)


class TrustAccount(TenantAccount):
    """The caller's account reached with the tokens of a trust, which ``close``
    deletes."""

    def __init__(self, storage_url, session, trust_id, options):
        super().__init__(storage_url, None, options)
        self.trust_id = trust_id
        self._session = session
        self._lock = threading.Lock()
        self._closed = False

    def token(self):
        """A trust-scoped token that is valid for at least
        ``swift_store_expire_soon_interval`` seconds."""
        try:
            with self._lock:
                auth_ref = self._session.auth.auth_ref
                if auth_ref is not None and auth_ref.will_expire_soon(
                        self._options.swift_store_expire_soon_interval):
                    LOG.info('renewing the token of Keystone trust %s', self.trust_id)
                    self._session.invalidate()
                return self._session.get_token()
        except Exception as exc:
            raise errors.StoreUnavailable('no token for Keystone trust %s: %s'
                                          % (self.trust_id, exc))

    def refresh(self, conn):
        conn.token = self.token()

    def close(self):
        with self._lock:
            if self._closed:
                return
            self._closed = True
        from keystoneclient.v3 import client
        try:
            # The trust's own token may delete it: it impersonates the trustor.
            client.Client(session=self._session).trusts.delete(self.trust_id)
        except Exception as exc:
            _log_left(self.trust_id, exc)


def _log_left(trust_id, exc):
    LOG.error('could not delete Keystone trust %s (%s): it delegates its trustor\'s '
              'roles to the service user until it is deleted (openstack trust delete '
              '%s)', trust_id, exc, trust_id)
