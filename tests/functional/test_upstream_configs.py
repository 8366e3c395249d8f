"""Upstream Glance's config files, as operators have them, work here: options that
upstream's own tools and deployment tools write keep their effect, whatever the
section upstream reads them from."""

from tests.fixtures import deployment

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
