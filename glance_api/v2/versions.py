"""The version documents at / (300 Multiple Choices) and /versions (200), as upstream.

Glance has no microversion header: clients learn features from this list, so it must
advertise exactly what upstream does for the same configuration.
"""

from flask import request

from glance_api.http import responses
from glance_api.services import services


def _versions(conf):
    current = [('2.17', 'CURRENT')]
    if conf.enabled_backends:
        # Multi-store features (2.8-2.13) are advertised only when configured.
        middle = [(v, 'SUPPORTED') for v in ('2.13', '2.12', '2.11', '2.10', '2.9',
                                             '2.8')]
    else:
        middle = [('2.9', 'SUPPORTED')]
    old = [(v, 'SUPPORTED') for v in ('2.7', '2.6', '2.5', '2.4', '2.3', '2.2', '2.1',
                                      '2.0')]
    return current + middle + old


def _document():
    conf = services().conf
    base = (conf.public_endpoint or request.host_url).rstrip('/')
    return {'versions': [
        {'id': 'v%s' % version, 'status': status,
         'links': [{'rel': 'self', 'href': '%s/v2/' % base}]}
        for version, status in _versions(conf)]}


def root():
    """The versions document with 300 Multiple Choices."""
    return responses.json(_document(), status=300)


def versions():
    """The versions document with 200."""
    return responses.json(_document())
