"""The image feature of the registry: records, their writes and SQL filters, the
status table, locations, members, quotas, and the HTTP handlers over them."""
