"""The metadata definitions catalog ("metadefs"): the registry's half.

Namespaces hold property definitions, objects (named groups of property
definitions), tags and associations with resource types (``OS::Glance::Image``,
``OS::Nova::Flavor``, ...). A namespace is public or private to its owner's project;
a ``protected`` one keeps its contents until it is unprotected.

``models`` (tables, built by migration 7), ``definitions`` (what a property
definition may hold), ``access`` (who sees and changes a namespace), one module per
resource (``namespaces``, ``objects``, ``properties``, ``tags``,
``resource_types``) and what they share (``contents``, ``records``,
``validation``), ``handlers`` (the registry API's handlers and their rows of the
routes table) and ``catalog`` (the standard catalog files: ``glance-manage db
load_metadefs`` and friends, ``commands``). The client's calls are in the contract
half, ``glance_registry.client.metadefs``.
"""
