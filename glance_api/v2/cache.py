"""/v2/cache: the image cache of the node that answers, and the prefetch queue of
every node (API 2.14, and 2.18's clean and prune).

As upstream, every operation is ``404`` ("Caching via API is not supported at this
site.") unless ``image_cache_dir`` is set, and admin-only by default (the
``cache_*`` policies). Unlike upstream, the queue is in the registry: an image
queued through any node is prefetched by every node. ``GET /v2/cache`` names the
node that answered in its ``X-Image-Cache-Node`` header, since the cached images
it lists are that node's (not in the body: ``glance cache-list`` prints every
member of the body as a list of images). ``GET /v2/cache/nodes/{image_id}`` says
which nodes hold an image, from what every node reports to the registry
(``glance_api.data.cache.copies``); upstream answers it only with its
``centralized_db`` driver (409 otherwise), every ``image_cache_driver`` here.
"""

from flask import Response, g, request

from glance_api.access import policy
from glance_api.access.context import SERVICE_IDENTITY
from glance_api.data.cache import housekeeping
from glance_api.data.cache.copies import node_name
from glance_api.http import errors, responses
from glance_api.images import lookup
from glance_api.services import services
from glance_registry.client import errors as registry_errors
from glance_registry.client import vocabulary

CLEAR_TARGET = 'x-image-cache-clear-target'
# Seconds a call that removed copies waits for their report to the registry, so
# that the caller's next GET /v2/cache/nodes agrees; a registry slower than this
# is told in the background (or by the prefetcher's next cycle).
REPORT_WAIT = 5


def _enforce(action, record=None):
    """The policy check, then whether this site caches at all (upstream's order).
    A refusal is 403 whoever may see the image (upstream's cache policy checks are
    not its image API's, which turn refusals into 404)."""
    policy.enforce(g.context, action, target=None if record is None else
                   policy.image_target(g.context, record))
    cache = services().cache
    if cache is None:
        raise errors.NotFound('Caching via API is not supported at this site.')
    return cache


def _load_any_image(image_id):
    """The image ``image_id`` whatever the caller may see, None if there is none.

    As upstream, which reads it without its authorization layer: the policy, not
    the image's visibility, answers a caller who may not manage the cache (403
    for another project's private image too, not 404); the policy sees the image.
    """
    if not vocabulary.is_image_id(image_id):
        return None
    try:
        record = services().registry.get_image(SERVICE_IDENTITY, image_id,
                                               request_id=g.request_id)
    except registry_errors.NotFound:
        return None
    return lookup.readable(record)


def _queue():
    return services().registry.list_cache_queue(SERVICE_IDENTITY,
                                                request_id=g.request_id)


def get_cache_state():
    """200 ``{"cached_images": [...], "queued_images": [...]}``, the node's name in
    ``X-Image-Cache-Node``.

    Errors: 403 (``cache_list``), 404 without a cache.
    """
    cache = _enforce('cache_list')
    name = node_name(services().conf)
    document = {'cached_images': cache.index.cached(),
                'queued_images': housekeeping.queued_here(cache, _queue())}
    return responses.json(document, headers={'X-Image-Cache-Node': name})


def list_cached_nodes(image_id):
    """200 with the names (``worker_self_reference_url``, else the host name) of
    the API nodes whose cache holds the image, a JSON list, ``[]`` for none.

    Errors: 403 (``list_cached_nodes``), 404 no such image (an id that is no UUID
    too) or no cache.
    """
    record = _load_any_image(image_id)
    if record is None:
        raise errors.NotFound('No image found with ID %s' % image_id)
    _enforce('list_cached_nodes', record)
    nodes = services().registry.list_cache_nodes(SERVICE_IDENTITY, image_id,
                                                 request_id=g.request_id)
    return responses.json(nodes)


def queue_image(image_id):
    """Queue an active image for prefetching on every node: 202.

    Errors: 404 no such image (before the policy, as upstream), 403
    (``cache_image``), 404 no cache, 400 image not active.
    """
    record = _load_any_image(image_id)
    if record is None:
        raise errors.NotFound('Image %s not found.' % image_id)
    _enforce('cache_image', record)
    if record['status'] != 'active':
        raise errors.BadRequest('Only images with status active can be targeted for '
                                'queueing')
    services().registry.queue_for_cache(SERVICE_IDENTITY, image_id,
                                        request_id=g.request_id)
    return Response(status=202)   # no body, as upstream


def delete_cache_entry(image_id):
    """Remove the image from this node's cache and from the queue: 204 (a copy
    that cannot be removed is logged and stays listed).

    Errors: 404 when neither the image, nor a cached copy, nor a queue entry
    exists (before the policy, as upstream), 403 (``cache_delete``), 404 without
    a cache.
    """
    record = _load_any_image(image_id)
    if record is None and not _known(services().cache, image_id):
        raise errors.NotFound('Image %s not found.' % image_id)
    cache = _enforce('cache_delete', record)
    cache.discard(image_id)
    services().registry.dequeue_from_cache(SERVICE_IDENTITY, image_id,
                                           request_id=g.request_id)
    _wait_for_reports(cache)
    return responses.no_content()


def _wait_for_reports(cache):
    """Until the copies this call removed are reported (``REPORT_WAIT`` at most)."""
    if cache.reports is not None:
        cache.reports.flush(timeout=REPORT_WAIT)


def _known(cache, image_id):
    """Whether this node caches ``image_id`` or the queue holds it (False without
    a cache)."""
    if cache is None:
        return False
    return (any(entry['image_id'] == image_id for entry in cache.index.cached())
            or any(entry['image_id'] == image_id for entry in _queue()))


def clear_cache():
    """Empty this node's cache, the queue or both (``x-image-cache-clear-target``:
    ``cache``, ``queue``, or empty or absent for both): 204 (copies that cannot
    be removed are logged and stay listed, the others go all the same).

    Errors: 400 another target, 403 (``cache_delete``), 404 without a cache.
    """
    cache = _enforce('cache_delete')
    target = request.headers.get(CLEAR_TARGET, '').lower()
    if target not in ('', 'cache', 'queue'):
        raise errors.BadRequest("If provided 'x-image-cache-clear-target' must be "
                                "'cache', 'queue' or empty string.")
    if target in ('', 'cache'):
        cache.clear()
        _wait_for_reports(cache)
    if target in ('', 'queue'):
        services().registry.dequeue_from_cache(SERVICE_IDENTITY,
                                               request_id=g.request_id)
    return responses.no_content()


def clean_cache():
    """Remove invalid and stalled entries of this node's cache (2.18): 200.

    Errors: 403 (``cache_clean``), 404 without a cache.
    """
    cache = _enforce('cache_clean')
    removed = housekeeping.clean(progress=lambda message: None)
    _wait_for_reports(cache)
    return responses.json({'total_files_cleaned': removed})


def prune_cache():
    """Evict least-recently-used images of this node's cache until it fits
    ``image_cache_max_size`` (2.18): 200 ``{"total_files_pruned",
    "total_bytes_pruned"}``.

    Errors: 403 (``cache_prune``), 404 without a cache.
    """
    cache = _enforce('cache_prune')
    files, size = cache.prune()
    _wait_for_reports(cache)
    return responses.json({'total_files_pruned': files, 'total_bytes_pruned': size})
