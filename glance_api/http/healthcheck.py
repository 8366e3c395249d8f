"""``/healthcheck`` for load balancers, answered in front of authentication.

Shaped like upstream's (oslo.middleware's healthcheck in Glance's paste pipeline):
``GET`` answers ``200 OK`` (text), ``HEAD`` ``204``, and both ``503`` with the reason
when the worker cannot serve. Two things make it unhealthy: the file named by
``[healthcheck] disable_by_file_path`` exists (operators drain a node by creating it,
as upstream), or a signed call to the registry's health check fails (upstream has no
registry; without one, every image call here would fail): that one call proves the
registry answers, accepts our ``registry_auth_secret`` and can write its database.
No token is needed and nothing about the deployment is revealed beyond the reason.
"""

import os

from oslo_config import cfg

from glance_registry import metrics

GROUP = 'healthcheck'
PATH = '/healthcheck'

healthcheck_opts = [
    cfg.StrOpt('disable_by_file_path',
               help='While this file exists, /healthcheck answers 503 so that load '
                    'balancers take the node out of rotation.'),
]


def register_opts(conf):
    conf.register_opts(healthcheck_opts, group=GROUP)


class Healthcheck:
    """WSGI middleware that answers ``/healthcheck`` and passes everything else on."""

    def __init__(self, app, conf, registry):
        self.app = app
        self.disable_file = conf.healthcheck.disable_by_file_path
        self.registry = registry

    def __call__(self, environ, start_response):
        if environ.get('PATH_INFO') != PATH:
            return self.app(environ, start_response)
        environ[metrics.ROUTE_ENVIRON] = PATH
        method = environ.get('REQUEST_METHOD')
        if method not in ('GET', 'HEAD'):
            start_response('405 Method Not Allowed', [('Allow', 'GET, HEAD'),
                                                      ('Content-Length', '0')])
            return [b'']
        problem = self._problem()
        if method == 'HEAD':
            status = '503 Service Unavailable' if problem else '204 No Content'
            start_response(status, [('Content-Length', '0')])
            return [b'']
        body = (problem or 'OK').encode()
        start_response('503 Service Unavailable' if problem else '200 OK',
                       [('Content-Type', 'text/plain; charset=UTF-8'),
                        ('Content-Length', str(len(body)))])
        return [body]

    def _problem(self):
        if self.disable_file and os.path.exists(self.disable_file):
            return 'DISABLED BY FILE'
        return self.registry.health_problem()
