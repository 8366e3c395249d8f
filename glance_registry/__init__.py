"""The registry daemon: owns the image database and serves it over an internal REST API.

Two halves. The contract half, which any process may import, is ``client/`` (the
client, its errors, identities, list parameters and shared vocabulary),
``process`` (plumbing both daemons share), ``header_gate`` (their gunicorn worker)
and ``request_ids``; it never imports peewee or the daemon half. The daemon half
(``app``, ``routes``, ``validation``, ``db``, ``models``, ``migrations``,
``images/``...) runs only in ``glance-registry`` and ``glance-manage``.
docs/registry-api.rst is the contract between them.
"""
