"""/v2/metadefs and /v2/schemas/metadefs: the metadata definitions catalog, one
module per resource (``namespaces``, ``objects``, ``properties``, ``tags``,
``resource_types``, ``schemas``). Each handler makes one registry call, which also
applies the policy verdicts (``glance_api.metadefs.access``)."""
