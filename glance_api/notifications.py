"""Notifications on the message bus: ``notify(context, event_type, payload)``.

The one way any part of the API announces a change, as upstream Glance does with
oslo.messaging: ``image.create``, ``image.member.update``, ``metadef_tag.delete``,
``task.success``... Call it after the change is committed (the registry answered),
with upstream's payload for the event (``glance_api.images.notifications`` shapes the
image and member payloads). It never raises and never waits on the broker: each API
worker puts the notification in a bounded queue that one background thread of the
worker sends, in order (started by ``glance_api.app.start_worker``). While the
broker is down, the thread retries as ``[oslo_messaging_notifications] retry`` says
and the queue holds at most ``notification_queue_size`` notifications; beyond, new
ones are dropped with a warning (the first at once, then how many a minute).
Nothing is queued unless a driver is configured.

Configuration, upstream's names: ``[oslo_messaging_notifications] driver``
(``messaging``, ``log``, ``noop``: the default, nothing sent), ``transport_url``
(else ``[DEFAULT] transport_url``), ``topics`` (default ``notifications``);
``[DEFAULT] disabled_notifications`` (event types, or whole categories such as
``image.member`` or ``task.*``, never sent) and ``default_publisher_id`` (``image.localhost``).
"""

from importlib import metadata
import logging
import queue
import re
import threading
import time
import warnings

from oslo_config import cfg

with warnings.catch_warnings():
    # oslo.messaging loads eventlet, which warns on every start that it is
    # deprecated; nothing here runs on it (gunicorn threads).
    warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
    import oslo_messaging
    from oslo_messaging import opts as messaging_opts

from glance_api.services import services

LOG = logging.getLogger(__name__)

notification_opts = [
    cfg.StrOpt('default_publisher_id', default='image.localhost',
               help='The publisher_id of the notifications this service sends.'),
    cfg.ListOpt('disabled_notifications', default=[],
                help='Notifications never sent: event types (image.create) or '
                     'their categories (image, image.member, metadef_tag; also '
                     'written image.*, task.*).'),
    # Upstream's names from before oslo.messaging's [oslo_messaging_notifications];
    # oslo.messaging no longer reads them, Glance's configs still carry them.
    cfg.MultiStrOpt('notification_driver', default=[], deprecated_for_removal=True,
                    deprecated_reason='Use [oslo_messaging_notifications] driver.',
                    help='Old name of [oslo_messaging_notifications] driver, read '
                         'when that is not set.'),
    cfg.ListOpt('notification_topics', default=[], deprecated_for_removal=True,
                deprecated_reason='Use [oslo_messaging_notifications] topics.',
                help='Old name of [oslo_messaging_notifications] topics, read when '
                     'that is left at its default.'),
    cfg.IntOpt('notification_queue_size', default=1000, min=1,
               help='Notifications each API worker holds while the message bus is '
                    'slow or down; beyond, new ones are dropped (and logged). An API '
                    'call never waits on the bus.'),
]


def register_opts(conf):
    conf.register_opts(notification_opts)
    # oslo.messaging's own option objects, not list_opts()'s copies: its drivers
    # register the originals again in each worker, and oslo.config refuses a copy
    # that no longer equals its original; reading a deprecated option that the file
    # sets marks the copy read, so upstream's [oslo_messaging_rabbit] options
    # crashed every worker (DuplicateOptError).
    oslo_messaging.set_transport_defaults('glance')
    for group, opts in messaging_opts._opts:
        conf.register_opts(opts, group=group)


def list_opts():
    """oslo.messaging's options (transport and notifications) for the samples."""
    # As upstream: notifications go to the "glance" exchange.
    oslo_messaging.set_transport_defaults('glance')
    return [(group or 'DEFAULT', opts) for group, opts in messaging_opts.list_opts()]


#: Where oslo.messaging finds its notification drivers.
DRIVERS_ENTRY_POINT = 'oslo.messaging.notify.drivers'


def check(conf):
    """``ValueError``, saying which option and why, when the notification options
    cannot work: a driver oslo.messaging does not have (a typo cost every
    notification, with one warning per worker), its ``routing`` driver, or a
    ``transport_url`` it cannot load (every worker failed to boot). Called
    before the workers start; the URL's password is never said."""
    drivers = _drivers(conf)
    if not any(driver != 'noop' for driver in drivers):
        return
    known = {entry.name for entry in metadata.entry_points(group=DRIVERS_ENTRY_POINT)}
    for driver in drivers:
        if driver not in known:
            raise ValueError('[oslo_messaging_notifications] driver: %s is not a '
                             'notification driver of oslo.messaging (%s)'
                             % (driver, ', '.join(sorted(known - {'routing'}))))
    if 'routing' in drivers:
        # It builds the drivers its routing_config names with no arguments, which
        # none takes: every notification failed with a traceback.
        raise ValueError('[oslo_messaging_notifications] driver: routing cannot send '
                         'notifications (oslo.messaging\'s routing driver loads none of '
                         'the drivers it names); use messagingv2 or log, and '
                         '[DEFAULT] disabled_notifications to leave events out')
    _use_old_names(conf)
    try:
        oslo_messaging.get_notification_transport(conf).cleanup()
    except Exception as exc:   # noqa: BLE001 -- oslo.messaging's or its driver's
        section = ('oslo_messaging_notifications'
                   if conf.oslo_messaging_notifications.transport_url else 'DEFAULT')
        raise ValueError('[%s] transport_url: %s' % (
            section, _without_password(str(exc)))) from None


def _drivers(conf):
    return conf.oslo_messaging_notifications.driver or conf.notification_driver


def _use_old_names(conf):
    # oslo.messaging reads only the new names: give it the old ones' values.
    group = conf.oslo_messaging_notifications
    if not group.driver:
        conf.set_override('driver', conf.notification_driver,
                          'oslo_messaging_notifications')
    if conf.notification_topics and group.topics == ['notifications']:
        conf.set_override('topics', conf.notification_topics,
                          'oslo_messaging_notifications')


_PASSWORD = re.compile(r'([\w+.-]*:)[^@/,\s]*@')


def _without_password(text):
    """``text`` with every ``user:password@`` of a URL made ``user:***@``."""
    return _PASSWORD.sub(r'\1***@', text)


def notify(context, event_type, payload, priority='info'):
    """Announce ``event_type`` (upstream's name) about ``payload`` (a JSON-able
    dict, or a message for ``priority='error'``), on behalf of ``context`` (who
    called: ``user_id``, ``project_id``, ``request_id``). Call it after the change
    is committed; it never raises and never blocks."""
    notifier = services().notifier
    if notifier is not None:
        notifier.notify(context, event_type, payload, priority)


def enabled():
    """Whether notifications are sent at all: skip work that only a notification
    needs (an extra registry read) when they are not."""
    notifier = services().notifier
    return notifier is not None and notifier.enabled


#: Seconds between two warnings of dropped notifications: the first drop is
#: said at once, the next ones counted (a broker down under load drops
#: thousands a minute).
DROP_WARNING_INTERVAL = 60

#: Seconds a stopping worker waits for its queued notifications to be sent (within
#: the server's graceful stop of 30 seconds).
STOP_TIMEOUT = 10


class Notifier:
    """One API worker's notifier: a queue and the thread that sends it."""

    def __init__(self, conf):
        self.conf = conf
        drivers = _drivers(conf)
        self.enabled = any(driver != 'noop' for driver in drivers)
        self._disabled = frozenset(_category(name)
                                   for name in conf.disabled_notifications)
        self._queue = queue.Queue(maxsize=conf.notification_queue_size)
        self._thread = None
        self._notifier = None
        self._drop_lock = threading.Lock()
        self._dropped = 0          # since the last warning
        self._warned_at = None     # time.monotonic() of the last warning

    def start(self):
        """Start sending (once per worker process, after the fork)."""
        if not self.enabled or self._thread is not None:
            return
        conf = self.conf
        _use_old_names(conf)
        transport = oslo_messaging.get_notification_transport(conf)
        self._notifier = oslo_messaging.Notifier(
            transport, publisher_id=conf.default_publisher_id)
        self._thread = threading.Thread(target=self._send_forever,
                                        name='notifications', daemon=True)
        self._thread.start()

    def is_disabled(self, event_type):
        parts = event_type.split('.')
        return any('.'.join(parts[:end]) in self._disabled
                   for end in range(1, len(parts) + 1))

    def notify(self, context, event_type, payload, priority='info'):
        if not self.enabled or self.is_disabled(event_type):
            return
        message = (_context_dict(context), event_type, payload, priority)
        try:
            self._queue.put_nowait(message)
            return
        except queue.Full:
            pass
        # Outside the except block: oslo.log appends the exception being handled
        # to a warning (": queue.Full").
        self._warn_dropped(event_type)

    def _warn_dropped(self, event_type):
        with self._drop_lock:
            now = time.monotonic()
            self._dropped += 1
            if self._warned_at is not None and \
                    now - self._warned_at < DROP_WARNING_INTERVAL:
                return
            dropped, since, self._dropped = self._dropped, self._warned_at, 0
            self._warned_at = now
        if since is None:
            LOG.warning('notification %s dropped: %d are waiting for the message '
                        'bus', event_type, self._queue.qsize())
        else:
            LOG.warning('%d more notification(s) dropped in %d seconds, the last %s: '
                        '%d are waiting for the message bus', dropped, now - since,
                        event_type, self._queue.qsize())

    def flush(self, timeout):
        """Wait up to ``timeout`` seconds until every queued notification was
        handed to the bus; whether they all were."""
        done = threading.Event()
        threading.Thread(target=lambda: (self._queue.join(), done.set()),
                         daemon=True).start()
        return done.wait(timeout)

    def stop(self, timeout=STOP_TIMEOUT):
        """At the worker's exit: hand what is queued to the bus, waiting up to
        ``timeout`` seconds, and say how many were lost if the bus did not take
        them."""
        if self._thread is None or self.flush(timeout):
            return
        # Said by a thread of its own: a worker stops while gunicorn handles its
        # SystemExit, which oslo.log would append to the line (": SystemExit: 0").
        warning = threading.Thread(target=LOG.warning, args=(
            '%d notification(s) not sent: the message bus did not take them within '
            '%d seconds of the worker stopping', self._queue.qsize(), timeout))
        warning.start()
        warning.join()

    def _send_forever(self):
        while True:
            context, event_type, payload, priority = self._queue.get()
            try:
                getattr(self._notifier, priority)(context, event_type, payload)
            except Exception:
                LOG.exception('notification %s could not be sent', event_type)
            finally:
                self._queue.task_done()


def _category(name):
    # Operators write a category as upstream's docs do (task) or as its
    # operators' guides and sample configs do (task.*): both name every event of it.
    return name[:-2] if name.endswith('.*') else name


class _Context(dict):
    """The fields of upstream's serialised RequestContext that consumers read, as
    oslo.messaging sends them (``_context_request_id``...). It sends a plain dict
    as no context at all: only an object with oslo.context's ``redacted_copy``
    gets through. These fields hold no credential to redact."""

    def redacted_copy(self):
        return self


def _context_dict(context):
    return _Context({
        'request_id': getattr(context, 'request_id', None),
        'global_request_id': getattr(context, 'global_request_id', None),
        'user_id': getattr(context, 'user_id', None),
        'project_id': getattr(context, 'project_id', None),
        'user': getattr(context, 'user_id', None),
        'tenant': getattr(context, 'project_id', None),
        'project': getattr(context, 'project_id', None),
        'roles': list(getattr(context, 'roles', ()) or ()),
        'is_admin': bool(getattr(context, 'is_admin', False))})
