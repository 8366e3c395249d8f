"""The registry daemon: owns the image database and serves it over an internal REST API.

``glance_registry.client.RegistryClient`` is how the API and internal services talk to it.
"""
