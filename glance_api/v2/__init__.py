"""The public Images API v2: one module per resource, routed by one table (``routes``)."""
