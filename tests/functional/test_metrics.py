"""Prometheus metrics: off by default; when on, scraped from the real daemons and
read with prometheus_client's own parser, every worker's samples added up."""

import os
import signal
import socket
import time

import pytest
import requests
from prometheus_client import parser

from tests.fixtures import deployment, processes
from tests.fixtures import disk_images


def _samples(text):
    """``{(name, frozenset(labels)): value}`` of a Prometheus text exposition."""
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in parser.text_string_to_metric_families(text)
            for sample in family.samples}


def _value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0)


def test_metrics_are_off_by_default(glance):
    # Version negotiation answers it (300), as any unknown path.
    response = requests.get(glance.url + '/metrics')
    assert response.status_code == 300
    assert 'glance_http_requests' not in response.text


def test_both_daemons_count_requests_latency_bytes_and_registry_round_trips(
        tmp_path):
    registry_port = processes.free_port()
    with deployment.running(tmp_path / 'glance', api_extra={
            'metrics': {'enabled': 'true'}}, registry_extra={
            'metrics': {'enabled': 'true', 'bind_port': registry_port}}) as glance:
        client = glance.client(project='measured-project')
        image = client.create_image(name='measured')
        data = disk_images.raw(5000)
        assert client.upload(image['id'], data).status_code == 204
        # Two workers answer these: the scrape must add both up.
        for _ in range(10):
            assert client.get('/v2/images/%s' % image['id']).status_code == 200
        assert client.get('/v2/images/%s/file' % image['id']).content == data
        os.unlink(os.path.join(glance.datadir, image['id']))
        missing = client.get('/v2/images/%s/file' % image['id'])
        assert missing.status_code == 204   # no store holds its data, as upstream
        assert client.get('/v2/nowhere').status_code == 404
        # Answered in front of the application, each under its own path.
        assert requests.get(glance.url + '/versions').status_code == 200
        assert requests.get(glance.url + '/').status_code == 300
        assert requests.get(glance.url + '/healthcheck').status_code == 200

        # A request is counted once its response is sent (gunicorn's access hook):
        # the scrape may reach the other worker before the last one is.
        deadline = time.monotonic() + 10
        while True:
            scrape = requests.get(glance.url + '/metrics')
            assert scrape.status_code == 200
            assert scrape.headers['Content-Type'].startswith('text/plain')
            api = _samples(scrape.text)
            last = [_value(api, 'glance_http_requests_total', route=route,
                           method='GET', status=status)
                    for route, status in (('/', '300'), ('/healthcheck', '200'))]
            if all(last) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        registry = _samples(requests.get(
            'http://127.0.0.1:%d/' % registry_port).text)
        # The registry's listener is separate: not on its own port.
        assert requests.get(glance.registry.url + '/metrics').status_code != 200

    one = '/v2/images/<image_id>'
    assert _value(api, 'glance_http_requests_total', route='/v2/images',
                  method='POST', status='201') == 1
    assert _value(api, 'glance_http_requests_total', route=one, method='GET',
                  status='200') == 10
    assert _value(api, 'glance_http_requests_total', route='unmatched',
                  method='GET', status='404') == 1
    # The deployment's readiness poll asks /versions too.
    assert _value(api, 'glance_http_requests_total', route='/versions',
                  method='GET', status='200') >= 1
    assert _value(api, 'glance_http_requests_total', route='/',
                  method='GET', status='300') == 1
    assert _value(api, 'glance_http_requests_total', route='/healthcheck',
                  method='GET', status='200') == 1
    assert _value(api, 'glance_http_request_duration_seconds_count', route=one,
                  method='GET') == 10
    assert _value(api, 'glance_http_request_duration_seconds_bucket', route=one,
                  method='GET', le='+Inf') == 10
    assert _value(api, 'glance_http_request_duration_seconds_sum', route=one,
                  method='GET') > 0
    file_route = '/v2/images/<image_id>/file'
    assert _value(api, 'glance_http_request_bytes_total', route=file_route) == 5000
    assert _value(api, 'glance_http_response_bytes_total', route=file_route) == \
        5000 + len(missing.content)
    assert _value(api, 'glance_uploaded_bytes_total', store='file') == 5000
    assert _value(api, 'glance_uploads_in_flight') == 0
    assert _value(api, 'glance_store_errors_total', store='file',
                  operation='read') == 1
    # Each GET of an image is one registry read.
    assert _value(api, 'glance_registry_call_duration_seconds_count', method='GET',
                  outcome='200') >= 10
    assert _value(api, 'glance_registry_call_duration_seconds_count', method='POST',
                  outcome='201') == 1

    assert _value(registry, 'glance_http_requests_total', route='/v1/images',
                  method='POST', status='201') == 1
    assert _value(registry, 'glance_http_requests_total',
                  route='/v1/images/{image_id}', method='GET', status='200') >= 10


def test_metrics_keep_working_after_the_workers_are_replaced(tmp_path):
    # A worker leaves through the arbiter's stack (gunicorn's SystemExit), past
    # serve's clean-up: it removed the metrics directory the workers share, and
    # from the first SIGHUP (logrotate) every API request answered 500 and every
    # scrape of either daemon failed.
    registry_port = processes.free_port()
    with deployment.running(tmp_path / 'glance', api_extra={
            'metrics': {'enabled': 'true'}}, registry_extra={
            'metrics': {'enabled': 'true', 'bind_port': registry_port}}) as glance:
        client = glance.client()
        assert client.get('/v2/images').status_code == 200
        for daemon in (glance.registry, glance.api):
            os.kill(daemon.process.pid, signal.SIGHUP)
        for daemon in (glance.registry, glance.api):
            deadline = time.monotonic() + 15
            while 'Worker exiting' not in daemon.log_tail(200):
                assert time.monotonic() < deadline, daemon.log_tail()
                time.sleep(0.1)
        time.sleep(0.5)   # every old worker gone
        for _ in range(6):   # both new workers
            assert client.get('/v2/images').status_code == 200
        # The old workers' counts are kept, the new ones' added.
        _assert_requests_counted(glance.url + '/metrics', 7, route='/v2/images')
        _assert_requests_counted('http://127.0.0.1:%d/' % registry_port, 7,
                                 route='/v1/images')


def _assert_requests_counted(url, expected, route):
    """The scrape at ``url`` counts ``expected`` answered GETs of ``route``
    within 10 s: a request is counted as its access line is written,
    just after its answer was sent (a loaded machine may scrape first)."""
    deadline = time.monotonic() + 10
    while True:
        scrape = requests.get(url)
        assert scrape.status_code == 200
        counted = _value(_samples(scrape.text), 'glance_http_requests_total',
                         route=route, method='GET', status='200')
        if counted == expected or time.monotonic() > deadline:
            assert counted == expected
            return
        time.sleep(0.1)


def test_the_image_cache_counts_its_hits_misses_fills_and_bytes(tmp_path):
    with deployment.running(tmp_path / 'glance', api_extra={
            'DEFAULT': {'image_cache_dir': str(tmp_path / 'cache'), 'workers': 1},
            'metrics': {'enabled': 'true'}}) as glance:
        client = glance.client()
        image = client.create_image(name='cached')
        data = disk_images.raw(70000)
        assert client.upload(image['id'], data).status_code == 204
        assert client.get('/v2/images/%s/file' % image['id']).content == data
        deadline = time.monotonic() + 10
        while image['id'] not in [cached['image_id'] for cached in client.get(
                '/v2/cache').json()['cached_images']]:
            assert time.monotonic() < deadline, 'the cache was not filled'
            time.sleep(0.1)
        for _ in range(2):
            assert client.get('/v2/images/%s/file' % image['id']).content == data
        api = _samples(requests.get(glance.url + '/metrics').text)

    # The first download misses and fills the cache; the others hit it.
    assert _value(api, 'glance_image_cache_requests_total', result='miss') == 1
    assert _value(api, 'glance_image_cache_requests_total', result='hit') == 2
    assert _value(api, 'glance_image_cache_events_total', event='fills') == 1
    assert _value(api, 'glance_image_cache_bytes_total', event='filled') == 70000
    assert _value(api, 'glance_image_cache_bytes_total', event='served') == 140000


def test_a_metrics_port_in_use_refuses_to_start(tmp_path):
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon = processes.registry_daemon(
            str(tmp_path), 'sqlite:///%s' % (tmp_path / 'unused.sqlite'),
            processes.new_secret(),
            extra={'metrics': {'enabled': 'true', 'bind_port': port}})
        deployment.db_sync(str(tmp_path), daemon.config['database']['connection'])
        with pytest.raises(RuntimeError) as failed:
            daemon.start()
    assert 'exited with 2' in str(failed.value)
    assert 'cannot serve metrics on 127.0.0.1:%d' % port in str(failed.value)
