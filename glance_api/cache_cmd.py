"""``glance-cache-prefetcher``, ``glance-cache-pruner``, ``glance-cache-cleaner``:
one pass of the image cache's background work, for cron-driven deployments.

    glance-cache-prefetcher --config-file /etc/glance/glance-api.conf

Each reads the API's configuration (the cache is ``image_cache_dir``), runs its pass
on this node's cache and prints what it does, one line per step, then reports the
node's cached images to the registry (for ``GET /v2/cache/nodes``; logged if that
changed anything). The API workers
run the same passes every ``cache_prefetcher_interval`` seconds, so these are only
needed to run them at other times. Exit status: 0, 1 if an image could not be
prefetched or the registry failed, 2 for a configuration error.
"""

import logging
import sys

import stores
from glance_api import app, opts
from glance_api.data.cache import housekeeping
from glance_registry import process
from glance_registry.client import errors

LOG = logging.getLogger('glance_api.cache')


def _command(prog, description, run):
    def main(argv=None):
        return process.run(argv, opts.register_opts, description,
                           lambda conf: _run_pass(conf, run), LOG, command=True,
                           prog=prog,
                           default_config_files=process.upstream_config_files(
                               'glance-api', 'glance-cache'))
    return main


def _run_pass(conf, run):
    if not conf.image_cache_dir:
        raise process.Refused('image_cache_dir is not set: this node has no image '
                              'cache.')
    process.require_secret(conf, 'cannot reach the registry.')
    try:
        worker_app = app.create_app(conf)
    except stores.errors.BadConfiguration as exc:
        raise process.Refused('store configuration error: %s' % exc) from None
    with worker_app.app_context():
        try:
            status = run()
        except errors.RegistryError as exc:
            # A registry down (or refusing the secret) is one line, not a
            # traceback: the next pass, by cron or by the API, tries again.
            LOG.error('%s', exc)
            return 1
        # What the pass changed, as the API workers' cycle reports it: the pass's
        # own reports are sent by a thread this process does not wait for. Not
        # printed: whether it still finds a change depends on that thread.
        try:
            housekeeping.report_copies()
        except Exception as exc:   # noqa: BLE001 -- the API's next cycle does it
            LOG.warning('could not report the cached images to the registry: %s',
                        exc)
        return status


def _say(message):
    print(message, flush=True)


def _prefetch():
    _say('prefetching the queued images')
    cached, failed = housekeeping.prefetch(progress=_say)
    _say('prefetched %d image(s), %d failed' % (cached, failed))
    return 1 if failed else 0


def _prune():
    housekeeping.prune(progress=_say)
    return 0


def _clean():
    housekeeping.clean(progress=_say)
    return 0


prefetcher = _command('glance-cache-prefetcher', 'Cache the images queued for '
                      'prefetching.', _prefetch)
pruner = _command('glance-cache-pruner', 'Evict least recently used images until '
                  'the cache fits image_cache_max_size.', _prune)
cleaner = _command('glance-cache-cleaner', 'Remove incomplete files of dead fills and '
                   'the cached copies of deleted images.', _clean)


if __name__ == '__main__':
    sys.exit({'prefetcher': prefetcher, 'pruner': pruner,
              'cleaner': cleaner}[sys.argv.pop(1)]())
