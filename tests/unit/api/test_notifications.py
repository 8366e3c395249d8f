"""The notifier's rules: off unless a driver is configured, disabled event types and
categories, and a full queue that drops instead of blocking the call."""

import time

from oslo_config import cfg

from glance_api import notifications
from glance_api.access.context import RequestContext


def _notifier(**options):
    conf = cfg.ConfigOpts()
    notifications.register_opts(conf)
    conf([], default_config_files=[])
    for name, value in options.items():
        group, _, name = name.rpartition('.')
        conf.set_override(name, value, group=group or None)
    return notifications.Notifier(conf)


CALLER = RequestContext(user_id='u', project_id='p', roles=('member',),
                        is_admin=False, request_id='req-1')


def test_nothing_is_queued_without_a_driver():
    notifier = _notifier()
    assert not notifier.enabled
    notifier.notify(CALLER, 'image.create', {})
    assert notifier._queue.qsize() == 0
    assert not _notifier(**{'oslo_messaging_notifications.driver': ['noop']}).enabled


def test_the_old_option_name_enables_them():
    assert _notifier(notification_driver=['messagingv2']).enabled


def test_disabled_notifications_name_event_types_or_their_categories():
    notifier = _notifier(**{'oslo_messaging_notifications.driver': ['log'],
                            'disabled_notifications': ['image.member', 'task.run']})
    assert notifier.is_disabled('image.member.create')
    assert notifier.is_disabled('task.run')
    assert not notifier.is_disabled('task.success')
    assert not notifier.is_disabled('image.create')
    assert not notifier.is_disabled('image.membership')


def test_a_category_may_be_written_with_a_wildcard():
    # As upstream's operators write it (``task.*``): every event of the category.
    notifier = _notifier(**{'oslo_messaging_notifications.driver': ['log'],
                            'disabled_notifications': ['image.*', 'task.*']})
    assert notifier.is_disabled('image.create')
    assert notifier.is_disabled('image.member.update')
    assert notifier.is_disabled('task.success')
    assert not notifier.is_disabled('metadef_tag.create')
    notifier.notify(CALLER, 'image.send', {})
    assert notifier._queue.qsize() == 0


def test_a_full_queue_drops_new_notifications_without_blocking(caplog):
    # Not started: nothing takes from the queue, as when the bus is down.
    notifier = _notifier(**{'oslo_messaging_notifications.driver': ['log'],
                            'notification_queue_size': 2})
    for _ in range(3):
        notifier.notify(CALLER, 'image.update', {'id': 'x'})
    assert notifier._queue.qsize() == 2
    assert 'notification image.update dropped: 2 are waiting' in caplog.text


def test_a_stopping_worker_sends_what_is_queued_before_it_exits(monkeypatch):
    from oslo_messaging.notify import _impl_test
    sent = []
    slow_bus = lambda self, ctxt, message, priority, retry: (  # noqa: E731
        time.sleep(0.01), sent.append(message['event_type']))
    monkeypatch.setattr(_impl_test.TestDriver, 'notify', slow_bus)
    notifier = _notifier(**{'oslo_messaging_notifications.driver': ['test'],
                            'oslo_messaging_notifications.transport_url':
                                'fake:/'})
    notifier.start()
    for _ in range(100):
        notifier.notify(CALLER, 'image.update', {'id': 'x'})
    assert len(sent) < 100   # the bus is slower than the worker
    notifier.stop(timeout=10)
    assert len(sent) == 100


def test_a_bus_that_takes_nothing_costs_a_stopping_worker_its_timeout(
        monkeypatch, caplog):
    from oslo_messaging.notify import _impl_test
    monkeypatch.setattr(_impl_test.TestDriver, 'notify',
                        lambda *args, **kwargs: time.sleep(60))
    notifier = _notifier(**{'oslo_messaging_notifications.driver': ['test'],
                            'oslo_messaging_notifications.transport_url':
                                'fake:/'})
    notifier.start()
    for _ in range(3):
        notifier.notify(CALLER, 'image.update', {'id': 'x'})
    started = time.monotonic()
    notifier.stop(timeout=0.5)
    assert time.monotonic() - started < 5
    assert 'notification(s) not sent' in caplog.text


def test_what_says_why_the_transport_cannot_work_never_says_its_password():
    assert notifications._without_password(
        'cannot use rabbit://glance:s3cr3t@mq1:5672,glance:pw2@mq2:5672/') == \
        'cannot use rabbit://glance:***@mq1:5672,glance:***@mq2:5672/'


def _oslo_log_lines(logger_name):
    """What oslo.log's formatter writes of ``logger_name``'s lines (a stream that
    fills as they are logged), and the handler to remove."""
    import io
    import logging
    from oslo_log import formatters
    from oslo_log import log as oslo_log
    conf = cfg.ConfigOpts()
    oslo_log.register_options(conf)
    conf([], default_config_files=[])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatters.ContextFormatter(config=conf))
    logging.getLogger(logger_name).addHandler(handler)
    return stream, handler


def test_the_warnings_of_lost_notifications_say_no_unrelated_exception():
    # oslo.log appends the exception being handled to a WARNING: the drop said
    # "...: queue.Full", and a stopping worker's loss "...: SystemExit: 0".
    import logging
    from oslo_messaging.notify import _impl_test
    stream, handler = _oslo_log_lines('glance_api.notifications')
    try:
        notifier = _notifier(**{'oslo_messaging_notifications.driver': ['log'],
                                'notification_queue_size': 1})
        for _ in range(2):
            notifier.notify(CALLER, 'image.update', {'id': 'x'})
        stuck = _notifier(**{'oslo_messaging_notifications.driver': ['test'],
                             'oslo_messaging_notifications.transport_url': 'fake:/'})
        original = _impl_test.TestDriver.notify
        _impl_test.TestDriver.notify = lambda *args, **kwargs: time.sleep(5)
        try:
            stuck.start()
            stuck.notify(CALLER, 'image.update', {'id': 'x'})
            stuck.notify(CALLER, 'image.update', {'id': 'y'})
            try:
                raise SystemExit(0)   # as gunicorn stops a worker
            except SystemExit:
                stuck.stop(timeout=0.2)
        finally:
            _impl_test.TestDriver.notify = original
    finally:
        logging.getLogger('glance_api.notifications').removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith('notification image.update dropped: 1 are waiting for '
                             'the message bus'), lines
    assert lines[1].endswith('within 0 seconds of the worker stopping'), lines


def test_drops_are_warned_of_once_then_counted_not_one_line_each(monkeypatch):
    # A broker down for an hour under load dropped thousands a minute: one line
    # each buried the log. The first drop says so; then one line a minute (the
    # next drop's) says how many went since.
    import logging
    clock = [1000.0]
    monkeypatch.setattr(notifications.time, 'monotonic', lambda: clock[0])
    stream, handler = _oslo_log_lines('glance_api.notifications')
    try:
        notifier = _notifier(**{'oslo_messaging_notifications.driver': ['log'],
                                'notification_queue_size': 1})
        notifier.notify(CALLER, 'image.update', {'id': 'queued'})
        for _ in range(500):
            notifier.notify(CALLER, 'image.update', {'id': 'x'})
        clock[0] += notifications.DROP_WARNING_INTERVAL
        notifier.notify(CALLER, 'image.delete', {'id': 'y'})
    finally:
        logging.getLogger('glance_api.notifications').removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith('notification image.update dropped: 1 are waiting for '
                             'the message bus'), lines
    assert lines[1].endswith('500 more notification(s) dropped in 60 seconds, the '
                             'last image.delete: 1 are waiting for the message bus'), lines
