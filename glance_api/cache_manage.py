"""``glance-cache-manage``: upstream's cache management command, a client of the
``/v2/cache`` API of one API node.

    glance-cache-manage [--host H] [--port P] [-A TOKEN] [-f] COMMAND [IMAGE_ID]

Commands (upstream's): ``list-cached``, ``list-queued``, ``queue-image ID``,
``delete-cached-image ID``, ``delete-all-cached-images``, ``delete-queued-image ID``,
``delete-all-queued-images``. The ``delete-all-*`` commands ask first unless
``--force`` (without an answer, as from cron, they delete nothing and exit 1). The
cached images listed are those of the node at ``--host``; the queue is every node's.
Exit status 0, 1 if the API refused, 2 for a usage error.
"""

import argparse
import datetime
import sys

import requests

COMMANDS = ('list-cached', 'list-queued', 'queue-image', 'delete-cached-image',
            'delete-all-cached-images', 'delete-queued-image',
            'delete-all-queued-images')
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
    parser.add_argument('-A', '--os-auth-token', '--auth_token', dest='token',
                        help='A Keystone token (not needed without Keystone).')
    parser.add_argument('-f', '--force', action='store_true',
                        help='Do not ask before deleting everything.')
    parser.add_argument('command', choices=COMMANDS)
    parser.add_argument('image_id', nargs='?')
    args = parser.parse_args(argv)
    if (args.command in _NEEDS_IMAGE) != (args.image_id is not None):
        parser.error('%s %s' % (args.command, 'needs an image id'
                                if args.command in _NEEDS_IMAGE else 'takes no image id'))
    return args


def main(argv=None):
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    base = '%s://%s:%d/v2/cache' % ('https' if args.https else 'http', args.host,
                                    args.port)
    session = requests.Session()
    session.verify = not args.insecure
    session.headers['Accept'] = 'application/json'
    if args.token:
        session.headers['X-Auth-Token'] = args.token
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
    if command == 'list-cached':
        _print_cached(response.json()['cached_images'],
                      response.headers.get('X-Image-Cache-Node'))
    elif command == 'list-queued':
        queued = response.json()['queued_images']
        print('Found %d queued images' % len(queued))
        for queued_id in queued:
            print(queued_id)
    elif command == 'queue-image':
        print('Queued image %s for caching' % image_id)
    return 0


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
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime(
        '%Y-%m-%dT%H:%M:%S')


if __name__ == '__main__':
    sys.exit(main())
