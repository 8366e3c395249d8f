"""Leases run on the database's clock: registries on hosts whose clocks disagree
agree on when a lease runs out.

Two registry daemons share one PostgreSQL or MariaDB database; one runs a day
ahead of, or behind, the real time (libfaketime, Debian's ``faketime``). Whichever
of them grants a lease, the other can neither take over the live upload or
verification it holds, nor see it run out later than it does. (SQLite has one host,
whose clock the database's is.)
"""

import datetime
import email.utils
import subprocess
import time

import pytest
import requests

from glance_registry.client import Lease
from glance_registry.client import errors
from glance_registry.client import registry_client as client_module
from tests.fixtures import processes, tools
from tests.fixtures.databases import databases  # noqa: F401 (a fixture)
from tests.unit.registry.conftest import data_rules_config, sync

RAW = {'disk_format': 'raw', 'container_format': 'bare'}


class OnHostClock:
    """A registry client whose callers sign on the registry host's clock, as the
    API beside it would (a signature expires: the skewed registry refuses one made
    a day ago or a day ahead)."""

    def __init__(self, client, offset):
        self._client = client
        self._offset = offset

    def __getattr__(self, name):
        method = getattr(self._client, name)
        return lambda caller, *args, **kwargs: method(
            _SignedAt(caller, self._offset), *args, **kwargs)


class _SignedAt:

    def __init__(self, caller, offset):
        self._caller = caller
        self._offset = offset

    def sign(self, secret, request):
        return self._caller.sign(secret, request, now=time.time() + self._offset)


def faketime_env(offset):
    """The environment libfaketime needs to run a process ``offset`` off (``+1d``),
    as Debian's ``faketime`` command sets it."""
    faketime = tools.require('faketime', 'faketime')
    shown = subprocess.run([faketime, '-f', offset, 'env'], capture_output=True,
                           text=True, check=True).stdout
    env = dict(line.split('=', 1) for line in shown.splitlines() if '=' in line)
    return {'LD_PRELOAD': env['LD_PRELOAD'], 'FAKETIME': env['FAKETIME']}


def server_time(url):
    """The time the daemon's clock says (its ``Date`` header)."""
    date = requests.get(url + '/healthcheck', timeout=10).headers['Date']
    return email.utils.parsedate_to_datetime(date)


@pytest.fixture(scope='module', params=[(backend, skew)
                                        for backend in ('postgresql', 'mysql')
                                        for skew in ('+1d', '-1d')],
                ids=lambda param: '%s%s' % param)
def two_registries(request, databases, tmp_path_factory):  # noqa: F811
    """Two registries on one database, as clients: ``honest``, and ``skewed`` a day
    ahead or behind."""
    backend, skew = request.param
    url = databases.create(backend)
    sync(url)
    secret = processes.new_secret()
    daemons = []
    clients = {}
    try:
        for name, offset in (('honest', None), ('skewed', skew)):
            workdir = tmp_path_factory.mktemp('%s-%s' % (name, backend))
            daemon = processes.registry_daemon(str(workdir), url, secret,
                                               extra=data_rules_config(str(workdir)))
            if offset:
                daemon.env = faketime_env(offset)
            daemons.append(daemon.start())
            clients[name] = client_module.RegistryClient(daemon.url, secret,
                                                         timeout=30)
        off = (server_time(daemons[1].url)
               - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        assert abs(off) > 20 * 3600, 'faketime did not take: %ss' % off
        yield {'honest': clients['honest'],
               'skewed': OnHostClock(clients['skewed'], off)}
    finally:
        for client in clients.values():
            client.close()
        for daemon in daemons:
            daemon.stop()


@pytest.mark.parametrize('holder, intruder', [('honest', 'skewed'),
                                              ('skewed', 'honest')])
def test_a_live_upload_cannot_be_taken_over_through_a_drifting_clock(
        two_registries, project, holder, intruder):
    caller = project()
    holding, intruding = two_registries[holder], two_registries[intruder]
    image = holding.create_image(caller, dict(RAW))
    holding.transition_status(caller, image['id'], 'queued', 'saving', lease=60,
                              upload_id='live-upload')
    with pytest.raises(errors.Conflict) as refused:
        intruding.transition_status(caller, image['id'], 'queued', 'saving',
                                    lease=60, upload_id='intruder')
    assert refused.value.reason == 'held_by_upload'
    # Counted on one clock: what is left is what was granted.
    assert 55 <= refused.value.details['upload_lease_seconds_left'] <= 60
    # The live upload renews through either registry and finishes.
    intruding.renew_upload_lease(caller, image['id'], 60, upload_id='live-upload')
    active = holding.transition_status(caller, image['id'], 'saving', 'active',
                                       values={'size': 0}, upload_id='live-upload')
    assert active['status'] == 'active'


@pytest.mark.parametrize('holder, intruder', [('honest', 'skewed'),
                                              ('skewed', 'honest')])
def test_a_location_being_verified_cannot_be_claimed_through_a_drifting_clock(
        two_registries, project, holder, intruder):
    caller = project()
    holding, intruding = two_registries[holder], two_registries[intruder]
    image = holding.create_image(caller, dict(RAW))
    holding.add_location(caller, image['id'], 'http://example.com/disk',
                         status='pending', transition=('queued', 'importing'),
                         values={'os_hash_algo': 'sha512', 'os_hash_value': 'a' * 128},
                         lease=Lease('worker-1', 60))
    with pytest.raises(errors.Conflict) as refused:
        intruding.claim_location(caller, image['id'], 'http://example.com/disk',
                                 Lease('worker-2', 60))
    assert refused.value.reason == 'location_leased'
    # What an API worker reads to decide whether to take over: the same from both.
    for client in (holding, intruding):
        (location,) = client.get_image(caller, image['id'])['locations']
        assert 55 <= location['lease_seconds_left'] <= 60, location
