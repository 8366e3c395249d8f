"""``glance-cache-manage``: upstream's cache management command, a client of the
``/v2/cache`` API of one API node.

    glance-cache-manage [--host H] [--port P] [-A TOKEN] [-f] COMMAND [IMAGE_ID]
    glance-cache-manage --os-auth-url URL --os-username U --os-password P
                        --os-project-name PR ... COMMAND [IMAGE_ID]

Commands (upstream's): ``list-cached``, ``list-queued``, ``queue-image ID``,
``delete-cached-image ID``, ``delete-all-cached-images``, ``delete-queued-image ID``,
``delete-all-queued-images``, ``help [COMMAND]``. The ``delete-all-*`` commands ask
first unless ``--force`` (without an answer, as from cron, they delete nothing and
exit 1). The cached images listed are those of the node at ``--host``; the queue is every node's.
Exit status 0, 1 if the API (or Keystone) refused, 2 for a usage error.

Credentials, as upstream's: a token (``--os-auth-token``, ``OS_AUTH_TOKEN``), or,
whenever an auth URL is given (``--os-auth-url``, ``OS_AUTH_URL``: an openrc), a
password for Keystone's v3 API (``OS_USERNAME``, ``OS_PASSWORD``,
``OS_PROJECT_NAME`` or ``OS_PROJECT_ID``, the domains by id or name, ``default``
when none is given), with which it gets its own token. Upstream's flag spellings
(``-I``, ``-K``, ``-T``, ``-N``, ``-R``, ``-S``, ``-v``, ``-d``) are accepted.
"""

import argparse
import datetime
from importlib import metadata
import os
import sys
import time

import requests

#: Upstream's commands, each with what ``help COMMAND`` says of it.
COMMANDS = {
    'list-cached': 'List the images cached on the node at --host.',
    'list-queued': 'List the images queued for caching (every node\'s queue).',
    'queue-image': 'Queue IMAGE_ID for caching on the next prefetch.',
    'delete-cached-image': 'Remove IMAGE_ID from the cache of the node at --host.',
    'delete-all-cached-images': 'Remove every image from the cache of the node at '
                                '--host (asks first unless --force).',
    'delete-queued-image': 'Take IMAGE_ID off the queue.',
    'delete-all-queued-images': 'Empty the queue (asks first unless --force).',
    'help': 'Describe COMMAND, or list the commands.',
}
_NEEDS_IMAGE = ('queue-image', 'delete-cached-image', 'delete-queued-image')


def _parse_args(argv):
    parser = argparse.ArgumentParser(prog='glance-cache-manage',
                                     description='Manage the image cache of an API '
                                                 'node through its /v2/cache API.')
    parser.add_argument('-H', '--host', default='127.0.0.1',
                        help='Address of the API node (default 127.0.0.1).')
    parser.add_argument('-p', '--port', type=int, default=9292,
                        help='Port of the API node (default 9292).')
    parser.add_argument('--https', action='store_true', help='Use https.')
    parser.add_argument('-k', '--insecure', action='store_true',
                        help="Do not verify the server's certificate.")
    parser.add_argument('-A', '--os-auth-token', '--os_auth_token', '--auth_token',
                        dest='token', default=_env('OS_AUTH_TOKEN'),
                        help='A Keystone token (not needed without Keystone).')
    # Upstream's Keystone credentials, each with its openrc variable as default.
    for flags, dest, help_text in (
            (('--os-auth-url', '-N', '--os_auth_url'), 'os_auth_url',
             'Keystone\'s URL: get a token with the credentials below.'),
            (('--os-username', '-I', '--os_username'), 'os_username', None),
            (('--os-password', '-K', '--os_password'), 'os_password', None),
            (('--os-project-name', '-T', '--os_project_name'), 'os_project_name',
             None),
            (('--os-project-id', '--os_project_id'), 'os_project_id', None),
            (('--os-user-domain-id',), 'os_user_domain_id', None),
            (('--os-user-domain-name',), 'os_user_domain_name', None),
            (('--os-project-domain-id',), 'os_project_domain_id', None),
            (('--os-project-domain-name',), 'os_project_domain_name', None),
            (('--os-domain-id',), 'os_domain_id', None),
            (('--os-region-name', '-R', '--os_region_name'), 'os_region_name',
             'Accepted, as upstream\'s; --host and --port name the node.')):
        parser.add_argument(*flags, dest=dest, default=_env(dest.upper()),
                            help=help_text or 'Default: $%s.' % dest.upper())
    parser.add_argument('-S', '--os_auth_strategy', '--os-auth-strategy',
                        choices=('keystone', 'noauth'),
                        default=_env('OS_AUTH_STRATEGY') or None,
                        help='Accepted, as upstream\'s: an auth URL means Keystone.')
    parser.add_argument('-v', '--verbose', action='store_true',
                        help='Say how long the command took.')
    parser.add_argument('-d', '--debug', action='store_true',
                        help='Accepted, as upstream\'s (nothing more is said).')
    parser.add_argument('-f', '--force', action='store_true',
                        help='Do not ask before deleting everything.')
    parser.add_argument('--version', action='version', version=_version())
    parser.add_argument('command', choices=COMMANDS)
    parser.add_argument('image_id', nargs='?')
    args = parser.parse_args(argv)
    if args.command == 'help':
        _help(parser, args.image_id)
    if (args.command in _NEEDS_IMAGE) != (args.image_id is not None):
        parser.error('%s %s' % (args.command, 'needs an image id'
                                if args.command in _NEEDS_IMAGE else 'takes no image id'))
    return args


def _help(parser, command):
    """Upstream's ``help [COMMAND]``: print what COMMAND does (exit 0), or the whole
    usage without one; an unknown COMMAND is a usage error (exit 2)."""
    if command is None:
        parser.print_help()
        parser.exit()
    if command not in COMMANDS:
        parser.error('no command %r; the commands: %s' % (command, ', '.join(COMMANDS)))
    print('usage: %s [options] %s%s\n\n%s' % (
        parser.prog, command, ' IMAGE_ID' if command in _NEEDS_IMAGE
        else ' [COMMAND]' if command == 'help' else '', COMMANDS[command]))
    parser.exit()


def _version():
    try:
        return metadata.version('glance-next')
    except metadata.PackageNotFoundError:
        return 'unknown'


def _env(name):
    return os.environ.get(name) or None


def _keystone_token(args):
    """A token Keystone issues for the password credentials (upstream's rule: an
    auth URL means Keystone); ``RuntimeError`` saying why it could not."""
    from keystoneauth1 import exceptions as ks_exceptions
    from keystoneauth1 import session as ks_session
    from keystoneauth1.identity import v3

    auth_url = args.os_auth_url.rstrip('/')
    if not auth_url.endswith('/v3'):
        auth_url += '/v3'   # as upstream, for an openrc's unversioned URL
    default_domain = args.os_domain_id or 'default'
    scope = ({'project_id': args.os_project_id} if args.os_project_id else
             {'project_name': args.os_project_name,
              'project_domain_name': args.os_project_domain_name,
              'project_domain_id': args.os_project_domain_id or (
                  None if args.os_project_domain_name else default_domain)})
    auth = v3.Password(auth_url=auth_url, username=args.os_username,
                       password=args.os_password,
                       user_domain_name=args.os_user_domain_name,
                       user_domain_id=args.os_user_domain_id or (
                           None if args.os_user_domain_name else default_domain),
                       **scope)
    try:
        return ks_session.Session(auth=auth, verify=not args.insecure).get_token()
    except ks_exceptions.Unauthorized:
        raise RuntimeError('Keystone refused the credentials (--os-username, '
                           '--os-password, the project and domains) at %s'
                           % auth_url) from None
    except ks_exceptions.ClientException as exc:
        raise RuntimeError('Cannot get a token from Keystone at %s: %s'
                           % (auth_url, exc)) from None


def main(argv=None):
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    status = _main(args)
    if args.verbose:
        print('Completed in %0.4f sec.' % (time.monotonic() - started))
    return status


def _main(args):
    host = args.host
    if ':' in host and not host.startswith('['):
        host = '[%s]' % host   # an IPv6 address, which upstream's -H takes as is
    base = '%s://%s:%d/v2/cache' % ('https' if args.https else 'http', host,
                                    args.port)
    session = requests.Session()
    session.verify = not args.insecure
    session.headers['Accept'] = 'application/json'
    token = args.token
    if not token and args.os_auth_url:
        try:
            token = _keystone_token(args)
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 1
    if token:
        session.headers['X-Auth-Token'] = token
    if args.command.startswith('delete-all') and not args.force:
        try:
            answer = input('Delete all %s images? [y/N] '
                           % args.command.split('-')[2]).strip().lower()
        except EOFError:
            # No one to answer (cron, a pipe): delete nothing, and say so.
            print('\nNothing deleted: no answer on standard input (--force deletes '
                  'without asking).', file=sys.stderr)
            return 1
        if answer not in ('y', 'yes'):
            return 0
    try:
        return _run(session, base, args)
    except requests.RequestException as exc:
        print('Cannot reach %s: %s' % (base, exc), file=sys.stderr)
        return 1


def _run(session, base, args):
    command, image_id = args.command, args.image_id
    if command in ('list-cached', 'list-queued'):
        response = session.get(base)
    elif command == 'queue-image':
        response = session.put('%s/%s' % (base, image_id))
    elif command in ('delete-cached-image', 'delete-queued-image'):
        response = session.delete('%s/%s' % (base, image_id))
    else:
        target = 'cache' if command == 'delete-all-cached-images' else 'queue'
        response = session.delete(base, headers={'x-image-cache-clear-target': target})
    if response.status_code >= 400:
        try:
            message = response.json()['message']
        except (ValueError, KeyError, TypeError):
            message = response.text
        print('%d: %s' % (response.status_code, message), file=sys.stderr)
        return 1
    if command in ('list-cached', 'list-queued'):
        try:
            cached, queued = _listing(response)
        except ValueError as exc:
            # Another service at --host/--port, or a proxy's page.
            print('%s is no image cache API: its answer %s.' % (base, exc),
                  file=sys.stderr)
            return 1
    if command == 'list-cached':
        _print_cached(cached, response.headers.get('X-Image-Cache-Node'))
    elif command == 'list-queued':
        print('Found %d queued images' % len(queued))
        for queued_id in queued:
            print(queued_id)
    elif command == 'queue-image':
        print('Queued image %s for caching' % image_id)
    return 0


def _listing(response):
    """``(cached_images, queued_images)`` of a ``GET /v2/cache`` answer;
    ``ValueError`` saying what is wrong with one of another shape."""
    try:
        document = response.json()
    except ValueError:
        raise ValueError('is not JSON') from None
    if not isinstance(document, dict):
        raise ValueError('is not a JSON object')
    cached, queued = document.get('cached_images'), document.get('queued_images')
    if not (isinstance(cached, list) and all(_is_cached_image(c) for c in cached)):
        raise ValueError('has no list of cached images')
    if not (isinstance(queued, list) and all(isinstance(q, str) for q in queued)):
        raise ValueError('has no list of queued image ids')
    return cached, queued


def _is_cached_image(entry):
    def number(value):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return (isinstance(entry, dict) and isinstance(entry.get('image_id'), str)
            and number(entry.get('size')) and number(entry.get('hits'))
            and all(entry.get(key) is None or number(entry.get(key))
                    for key in ('last_accessed', 'last_modified')))


def _print_cached(images, node):
    print('Found %d cached images%s' % (len(images), ' on %s' % node if node else ''))
    if not images:
        return
    row = '%-36s  %-19s  %-19s  %12s  %5s'
    print(row % ('ID', 'Last Accessed (UTC)', 'Last Modified (UTC)', 'Size', 'Hits'))
    for image in images:
        print(row % (image['image_id'], _utc(image['last_accessed']),
                     _utc(image['last_modified']), image['size'], image['hits']))


def _utc(timestamp):
    if not timestamp:
        return 'N/A'
    try:
        moment = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):   # past the year 9999
        return 'N/A'
    return moment.strftime('%Y-%m-%dT%H:%M:%S')


if __name__ == '__main__':
    sys.exit(main())
