"""/v2/info: what this deployment offers and how much of its quota a project uses."""

from flask import g

from glance_api.http import errors
from glance_api.access import policy
from glance_api.http import responses
from glance_api.services import services


def usage():
    """The caller's project's usage of each per-project limit, as upstream."""
    if g.context.identity.project_id is None:
        raise errors.BadRequest('Usage is counted per project, and this request has '
                                'no project (no X-Project-Id, or a token without a '
                                'project scope).')
    counts = services().registry.usage(g.context.identity, request_id=g.request_id)
    return responses.json(services().quotas.usage_document(
        counts, g.context.identity.project_id))


def _multi_store():
    store_set = services().stores
    if not store_set.multi:
        # Upstream's words (glance stores-info shows them).
        raise errors.NotFound('Multi backend is not supported at this site.')
    return store_set


def _store_summary(store, default_id):
    summary = {'id': store.store_id}
    if store.options.store_description:
        # As upstream: a store without a description is listed without one.
        summary['description'] = store.options.store_description
    if store.store_id == default_id:
        summary['default'] = 'true'
    if not store.writable:
        summary['read-only'] = 'true'
    return summary


def list_stores():
    """The stores a client may upload to or read from; 404 without multi-store."""
    store_set = _multi_store()
    return responses.json({'stores': [_store_summary(store, store_set.default_id)
                                      for store in store_set.configured()]})


def list_stores_detail():
    """The stores with their type, weight and driver properties (admin, service)."""
    store_set = _multi_store()
    policy.enforce(g.context, 'stores_info_detail', target={})
    return responses.json({'stores': [
        dict(_store_summary(store, store_set.default_id), type=store.driver,
             weight=store.options.weight, properties=store.describe())
        for store in store_set.configured()]})
