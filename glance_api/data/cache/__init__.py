"""The read-through image cache of an API node (``image_cache_dir``): the files and
their index (``image_cache``, ``index``), what it counts (``counters``), and its
background work (``housekeeping``: prefetcher, pruner, cleaner)."""
