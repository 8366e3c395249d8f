"""Upstream Glance's config files, as operators have them, work here: options that
upstream's own tools and deployment tools write keep their effect, whatever the
section upstream reads them from."""

import os
import subprocess
import sys

import pytest

from tests.fixtures import deployment, processes, web_server

BIN = os.path.dirname(sys.executable)

#: Notifications to a broker that is not there: the transport is made, never used.
NO_BROKER = {
    'DEFAULT': {'transport_url': 'rabbit://glance:secret@127.0.0.1:1/'},
    'oslo_messaging_notifications': {'driver': 'messagingv2'},
}


def test_a_deprecated_rabbit_option_with_notifications_on_serves(tmp_path):
    # Deployment tools write [oslo_messaging_rabbit] options that oslo.messaging
    # has deprecated; every worker crashed on them (DuplicateOptError) and gunicorn
    # kept restarting it, so the API never answered.
    settings = dict(NO_BROKER, oslo_messaging_rabbit={
        'ssl_enforce_hostname_verification': 'true', 'direct_mandatory_flag': 'true'})
    with deployment.running(tmp_path / 'glance', api_extra=settings) as glance:
        assert glance.client().get('/v2/images').status_code == 200
    with open(glance.api.log_path) as f:
        output = f.read()
    assert 'DuplicateOptError' not in output and 'Traceback' not in output


def test_an_empty_flavor_is_upstreams_default_pipeline(tmp_path):
    # "flavor =" (as a sample with the option uncommented and no value) names
    # upstream's default, unauthenticated pipeline.
    with deployment.running(tmp_path / 'glance',
                            api_extra={'paste_deploy': {'flavor': ''}}) as glance:
        assert glance.client().get('/v2/images').status_code == 200


def test_a_keystone_flavor_without_authtoken_settings_answers_503_json(tmp_path):
    # Upstream's pipeline with no [keystone_authtoken] section: auth_token has no
    # auth plugin and raises on every request (a bare HTML 500 from gunicorn).
    with deployment.running(tmp_path / 'glance', api_extra={
            'paste_deploy': {'flavor': 'keystone+cachemanagement'}}) as glance:
        for token in ({'X-Auth-Token': 'some-token'}, {}):
            response = glance.client().get('/v2/images', headers=token)
            assert response.status_code == 503, response.text
            assert response.headers['Content-Type'].startswith('application/json')
            assert 'cannot check tokens' in response.json()['error']['message']
            assert response.headers['x-openstack-request-id'].startswith('req-')
        with open(glance.api.log_path) as f:
            log = f.read()
        assert 'cannot check the token of GET /v2/images: MissingAuthPlugin' in log
        # The traceback the first time in each of the API's two workers only.
        assert 0 < log.count('Traceback') <= 2


@pytest.mark.parametrize('flavor', ['keystone+audit', 'keystne'])
def test_a_pipeline_upstream_does_not_ship_refuses_to_start(tmp_path, flavor):
    # glance-api-paste.ini is not read, so what an operator's own pipeline runs is
    # unknown; a typo ("keystne") would otherwise serve every caller as an admin,
    # where upstream refuses to start on a pipeline its paste file lacks.
    config = tmp_path / 'glance-api.conf'
    config.write_text(processes.ini({
        'DEFAULT': {'bind_host': '127.0.0.1', 'bind_port': processes.free_port(),
                    'registry_auth_secret': processes.new_secret(), 'workers': 1},
        'paste_deploy': {'flavor': flavor},
        'glance_store': {'filesystem_store_datadir': str(tmp_path / 'images')}}))
    result = subprocess.run([sys.executable, '-m', 'glance_api.cmd', '--config-file',
                             str(config)], capture_output=True, text=True,
                            timeout=60, stdin=subprocess.DEVNULL)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert 'configuration error' in output and "found '%s'" % flavor in output
    assert 'Traceback' not in output and 'listening' not in output


def test_a_single_store_config_listing_http_reads_web_locations(tmp_path):
    # Upstream's install guide: "[glance_store] stores = file,http" beside
    # default_store = file. Images whose data is at a web URL stay readable, and
    # such locations can be added, as upstream.
    with web_server.running() as web:
        url = web.url + '/data/4096'
        settings = {
            'DEFAULT': {'show_multiple_locations': 'true'},
            'glance_store': {'stores': 'file, http', 'default_store': 'file'},
            'import_filtering_opts': {'allowed_ports': str(web.port),
                                      'allowed_hosts': '127.0.0.1'}}
        with deployment.running(tmp_path / 'glance', api_extra=settings) as glance, \
                glance.client() as admin:
            image = admin.create_image(name='on the web')
            response = admin.post('/v2/images/%s/locations' % image['id'],
                                  json={'url': url})
            assert response.status_code == 202, response.text
            image = admin.settled(image['id'])
            assert image['status'] == 'active' and image['size'] == 4096
            assert admin.get('/v2/images/%s/file' % image['id']).content == \
                web_server.pattern(4096)
            uploaded = admin.create_image(name='uploaded')
            assert admin.upload(uploaded['id'], b'x' * 1024).status_code == 204
            assert admin.image(uploaded['id'])['locations'][0]['url'].startswith(
                'file://')


def test_a_single_store_config_without_stores_reads_no_web_locations(tmp_path):
    # This service's default: only default_store (README: unlike upstream's
    # default "file,http").
    with deployment.running(tmp_path / 'glance',
                            api_extra={'DEFAULT': {'show_multiple_locations': 'true'}}
                            ) as glance, glance.client() as admin:
        image = admin.create_image(name='on the web')
        response = admin.post('/v2/images/%s/locations' % image['id'],
                              json={'url': 'http://192.0.2.1/image'})
        assert response.status_code == 400, response.text
        assert 'no configured store holds it' in response.text


def test_upstreams_import_plugins_are_all_run_without_a_warning(tmp_path):
    # Every plugin upstream ships exists here: none is named as missing. Listed
    # after image_conversion, image_decompression runs first all the same, and
    # the start says so (upstream would convert the compressed bytes).
    settings = {'image_import_opts': {'image_import_plugins':
                                      "['image_conversion', 'inject_image_metadata',"
                                      " 'image_decompression', 'no_op']"},
                'inject_metadata_properties': {'inject': 'licensed:true'}}
    with deployment.running(tmp_path / 'glance', api_extra=settings) as glance:
        assert glance.client().get('/v2/info/import').status_code == 200
    with open(glance.api.log_path) as f:
        warned = [line.split(' WARNING glance_api [-] ', 1)[1]
                  for line in f.read().splitlines()
                  if ' WARNING glance_api [-] [image_import_opts]' in line]
    assert warned == [
        '[image_import_opts] image_import_plugins lists image_decompression after '
        'image_conversion: imported data is decompressed first all the same '
        '(converting compressed bytes would make no disk).',
    ], warned


def test_import_methods_and_plugins_of_no_glance_are_named_at_start(tmp_path):
    # A typo (web_download, image_convertion) would otherwise take the method or
    # plugin the operator meant away without a word.
    settings = {'DEFAULT': {'enabled_import_methods':
                            "['glance-direct', 'web_download']"},
                'image_import_opts': {'image_import_plugins':
                                      "['image_convertion', 'no_op']"}}
    with deployment.running(tmp_path / 'glance', api_extra=settings) as glance:
        offered = glance.client().get('/v2/info/import').json()
    assert offered['import-methods']['value'] == ['glance-direct']
    with open(glance.api.log_path) as f:
        warned = [line.split(' WARNING glance_api [-] ', 1)[1]
                  for line in f.read().splitlines()
                  if ' WARNING glance_api [-] ' in line and ' lists ' in line]
    assert warned == [
        "[DEFAULT] enabled_import_methods lists 'web_download', which is no import "
        "method (glance-direct, web-download, copy-image, glance-download): not "
        "offered.",
        "[image_import_opts] image_import_plugins lists 'image_convertion', which "
        "is no import plugin (image_conversion, image_decompression, "
        "inject_image_metadata, no_op): not run.",
    ], warned


@pytest.mark.parametrize('command', ['glance-cache-prefetcher', 'glance-scrubber'])
def test_a_command_whose_registry_is_down_says_so_on_the_terminal(tmp_path, command):
    # Upstream's glance-api.conf (which these commands read) writes the log to a
    # file and, uncommented from the sample, says use_stderr = false: the one line
    # saying why the command failed must still reach whoever ran it, and no
    # traceback anywhere.
    config = tmp_path / 'glance-api.conf'
    log_file = tmp_path / 'glance.log'
    config.write_text(processes.ini({
        'DEFAULT': {'registry_auth_secret': processes.new_secret(),
                    'registry_port': processes.free_port(), 'use_stderr': 'false',
                    'log_file': str(log_file), 'image_cache_dir': str(tmp_path / 'c'),
                    'node_staging_uri': 'file://%s/staging' % tmp_path},
        'glance_store': {'filesystem_store_datadir': str(tmp_path / 'images')}}))
    result = subprocess.run([os.path.join(BIN, command), '--config-file', str(config)],
                            capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'registry unreachable at 127.0.0.1:' in result.stderr, result.stderr
    assert 'Traceback' not in result.stderr + log_file.read_text()


@pytest.mark.parametrize('command', ['glance-api', 'glance-registry', 'glance-manage',
                                     'glance-scrubber', 'glance-status',
                                     'glance-cache-pruner', 'glance-cache-manage',
                                     'glance-all'])
def test_every_command_says_its_version(command):
    # As upstream's (oslo.config's --version): deployment tools ask it.
    from importlib import metadata
    result = subprocess.run([os.path.join(BIN, command), '--version'],
                            capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == metadata.version('glance-next')
