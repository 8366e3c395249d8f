"""The metadata definitions catalog as the API sees it.

``schemas`` (the ten JSON schema documents under /v2/schemas/metadefs and the
validation of request bodies against them), ``documents`` (registry records as API
documents), ``access`` (upstream's ``metadef_*`` policy, judged with the registry
in one call) and ``notifications`` (where a write is announced). The views
are ``glance_api.v2.metadefs``.
"""
