"""The authentication layer in front of the Flask app.

``wrap(wsgi_app, conf)`` puts, from the outside in:

- ``unauthenticated`` layers, if given: what is answered without a token (version
  discovery);
- with ``auth_strategy = keystone``, keystonemiddleware's ``auth_token``, configured
  from ``[keystone_authtoken]``: it strips any identity headers the client sent,
  validates the token (401 with ``WWW-Authenticate`` if missing, expired or invalid;
  503 if Keystone cannot be reached) and sets the ``X-*`` identity headers; inside
  it, ``_ConfirmedOnly`` refuses what ``delay_auth_decision`` lets through
  unauthenticated; around it, ``_AuthFailures`` answers 503 when ``auth_token``
  itself fails (a ``[keystone_authtoken]`` without an auth plugin raises on every
  request, which reached gunicorn as a bare HTML 500).

``glance_api.access.context.context_for`` then builds the ``RequestContext`` from the
headers the active layer guarantees; handlers never read auth headers themselves.
"""

import json
import logging
import sys

from keystonemiddleware import auth_token
from oslo_config import cfg

LOG = logging.getLogger(__name__)

#: Upstream Glance's ``[paste_deploy] flavor``s (its glance-api-paste.ini pipelines).
FLAVORS = ['keystone', 'keystone+caching', 'keystone+cachemanagement', 'caching',
           'cachemanagement', 'trusted-auth', 'trusted-auth+cachemanagement']

PASTE_DEPLOY_GROUP = 'paste_deploy'

paste_deploy_opts = [
    # Empty is upstream's default pipeline. Other names are refused: the paste file
    # is not read, so what an operator's own pipeline would run is unknown (and a
    # typo, "keystne", would otherwise serve every caller unauthenticated).
    cfg.StrOpt('flavor', choices=[''] + FLAVORS,
               help='Upstream Glance\'s pipeline name, read so that its configs keep '
                    'their meaning: a "keystone" flavor means auth_strategy = '
                    'keystone (refused with auth_strategy = noauth). The cache is on '
                    'when image_cache_dir is set, whatever the flavor.'),
]


def register_opts(conf):
    conf.register_opts(paste_deploy_opts, group=PASTE_DEPLOY_GROUP)


def resolve_strategy(conf):
    """Make ``auth_strategy`` what upstream's ``[paste_deploy] flavor`` says: upstream
    turns Keystone on with ``flavor = keystone...`` alone, so such a config left at
    ``noauth`` would make every caller an admin. ``ValueError`` when the two options
    contradict each other."""
    flavor = conf.paste_deploy.flavor or ''
    if not flavor.startswith('keystone'):
        return
    set_by = conf.get_location('auth_strategy').location
    if set_by == cfg.Locations.opt_default:
        conf.set_override('auth_strategy', 'keystone')
    elif conf.auth_strategy != 'keystone':
        raise ValueError('[paste_deploy] flavor = %s asks for Keystone authentication '
                         'but auth_strategy = %s: remove one of them'
                         % (flavor, conf.auth_strategy))


def wrap(wsgi_app, conf, unauthenticated=()):
    """``wsgi_app`` behind authentication, and behind each of the ``unauthenticated``
    middleware factories (innermost first), which see requests before any token is
    checked."""
    if conf.auth_strategy == 'keystone':
        wsgi_app = _AuthFailures(auth_token.AuthProtocol(
            _ConfirmedOnly(wsgi_app), {'oslo_config_config': conf}))
    for layer in unauthenticated:
        wsgi_app = layer(wsgi_app)
    return wsgi_app


class _ConfirmedOnly:
    """Answers 401 to a request whose user or service token ``auth_token`` did not
    confirm.

    With ``[keystone_authtoken] delay_auth_decision = true``, ``auth_token`` passes
    such requests on, without identity headers, for the application to decide
    (``X-Identity-Status: Invalid``). Upstream refuses them unless
    ``allow_anonymous_access``, which this service does not offer; so does this,
    with ``auth_token``'s own body (its ``process_response`` adds
    ``WWW-Authenticate``). Without it they reached the app as a caller with no
    project and no roles."""

    BODY = json.dumps({'error': {
        'code': 401, 'title': 'Unauthorized',
        'message': 'The request you have made requires authentication.'}}).encode()

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get('HTTP_X_IDENTITY_STATUS') == 'Confirmed' and \
                environ.get('HTTP_X_SERVICE_IDENTITY_STATUS',
                            'Confirmed') == 'Confirmed':
            environ[_AuthFailures.PASSED] = True
            return self.app(environ, start_response)
        start_response('401 Unauthorized', [
            ('Content-Type', 'application/json; charset=UTF-8'),
            ('Content-Length', str(len(self.BODY)))])
        return [self.BODY]


class _AuthFailures:
    """Answers 503, in ``auth_token``'s own JSON shape, to a request on which
    ``auth_token`` raised rather than answered: its configuration cannot check a
    token (no auth plugin in ``[keystone_authtoken]``), or the identity service
    answered what it cannot use. The operator's log says why, with the traceback
    the first time. What the application raises is not this layer's."""

    PASSED = 'glance.auth.passed'
    BODY = json.dumps({'error': {
        'code': 503, 'title': 'Service Unavailable',
        'message': 'The server cannot check tokens: its Keystone authentication is '
                   'not usable (the operator\'s log says why).'}}).encode()
    _told = False

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        try:
            return self.app(environ, start_response)
        except Exception as exc:
            if environ.get(self.PASSED):
                raise
            LOG.error('cannot check the token of %s %s: %s: %s; answered 503 (check '
                      '[keystone_authtoken]: auth_type, auth_url and the service '
                      'credentials)', environ.get('REQUEST_METHOD'),
                      environ.get('PATH_INFO'), type(exc).__name__, exc,
                      exc_info=not _AuthFailures._told)
            _AuthFailures._told = True
            start_response('503 Service Unavailable', [
                ('Content-Type', 'application/json; charset=UTF-8'),
                ('Content-Length', str(len(self.BODY)))], sys.exc_info())
            return [self.BODY]
