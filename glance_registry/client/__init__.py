"""The registry's contract half: what any process may import to call the registry.

``RegistryClient`` and its wire types; its modules ``errors``, ``identity``,
``leases``, ``list_params`` and ``vocabulary``. Nothing here imports peewee or the
daemon half.
"""

from glance_registry.client.registry_client import Lease
from glance_registry.client.registry_client import RegistryClient
from glance_registry.client.registry_client import client_opts
from glance_registry.client.registry_client import register_opts

__all__ = ['Lease', 'RegistryClient', 'client_opts', 'register_opts']
