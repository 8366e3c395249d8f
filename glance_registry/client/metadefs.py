"""The registry client's calls for the metadata definitions catalog.

``MetadefsClient`` is a mixin of ``RegistryClient`` (it uses its ``_send``): typed
methods over the catalog's registry routes (docs/registry-api.rst, "The metadata
definitions catalog"), one registry call each. Records are returned as the
registry answers them; errors are ``glance_registry.client.errors`` exceptions
(``reason`` says which: docs/registry-api.rst lists them).

Every call on a namespace takes an optional ``Access``: the API's policy verdicts,
which the registry applies in the same call (``glance_registry.metadefs.access``).
This module is part of the registry's contract: it never imports peewee.
"""

import dataclasses

from glance_registry.client import transport

#: How a namespace stands to the caller: its own project's or another's, public or
#: private. Policy verdicts are given per class.
CLASSES = ('own-public', 'own-private', 'other-public', 'other-private')


@dataclasses.dataclass(frozen=True)
class Access:
    """Policy verdicts for one call, each a set of ``CLASSES``: ``see`` the
    namespaces the caller may see at all (others are ``NotFound``), ``allow``
    ``(rule, classes)`` pairs (a namespace of another class is ``Forbidden``, naming
    the rule), ``items`` the namespaces whose contents a list shows. None: no
    verdict beyond the registry's own rules."""

    see: frozenset | None = None
    allow: tuple = ()
    items: frozenset | None = None

    def params(self):
        """The query parameters that carry these verdicts."""
        params = []
        if self.see is not None:
            params.append(('see', ','.join(sorted(self.see))))
        for rule, classes in self.allow:
            params.append(('allow', '%s:%s' % (rule, ','.join(sorted(classes)))))
        if self.items is not None:
            params.append(('items', ','.join(sorted(self.items))))
        return params


def _quote(segment):
    return transport.quote_segment(segment)


def _namespace_path(namespace, *rest):
    return '/'.join(['/v1/metadefs/namespaces', _quote(namespace)]
                    + [_quote(part) for part in rest])


def _params(access, **params):
    pairs = access.params() if access is not None else []
    pairs.extend((key, value) for key, value in params.items() if value is not None)
    return pairs


class MetadefsClient:
    """The catalog's calls; mixed into ``RegistryClient``."""

    # -- namespaces -------------------------------------------------------------------

    def list_metadef_namespaces(self, identity, access=None, limit=None, marker=None,
                                sort_key=None, sort_dir=None, visibility=None,
                                resource_types=None, request_id=None):
        """A page of namespace records (with their resource type associations):
        ``(namespaces, next_marker)``. ``resource_types`` is a list of names, any
        of which a namespace must be associated with."""
        params = _params(access, limit=None if limit is None else str(limit),
                         marker=marker, sort_key=sort_key, sort_dir=sort_dir,
                         visibility=visibility,
                         resource_types=(None if resource_types is None
                                         else ','.join(resource_types)))
        body = self._send('GET', '/v1/metadefs/namespaces', identity, params=params,
                          request_id=request_id)
        return body['namespaces'], body['next_marker']

    def create_metadef_namespace(self, identity, values, request_id=None):
        """Create a namespace from ``values`` (its attributes and, optionally,
        ``properties``, ``objects``, ``tags`` (names) and
        ``resource_type_associations``); its full record. ``errors.Conflict`` if
        the name is taken."""
        return self._send('POST', '/v1/metadefs/namespaces', identity, json=values,
                          request_id=request_id)

    def get_metadef_namespace(self, identity, namespace, access=None,
                              resource_type=None, request_id=None):
        """The full record of a namespace (properties, objects, tags and
        associations); with ``resource_type``, property names carry the prefix of
        that type's association."""
        return self._send('GET', _namespace_path(namespace), identity,
                          params=_params(access, resource_type=resource_type),
                          request_id=request_id)

    def update_metadef_namespace(self, identity, namespace, values, access=None,
                                 request_id=None):
        """Replace a namespace's attributes (``namespace`` renames it; those not
        given take their defaults); its base record."""
        return self._send('PUT', _namespace_path(namespace), identity,
                          params=_params(access), json=values, request_id=request_id)

    def delete_metadef_namespace(self, identity, namespace, access=None,
                                 request_id=None):
        """Delete a namespace and its contents; its base record as it was.
        ``errors.Forbidden`` if it is protected."""
        return self._send('DELETE', _namespace_path(namespace), identity,
                          params=_params(access), request_id=request_id)

    def delete_metadef_contents(self, identity, namespace, kind, access=None,
                                request_id=None):
        """Delete every one of a namespace's ``kind`` (``objects``, ``properties``
        or ``tags``); the namespace's base record. ``errors.Forbidden`` if it is
        protected."""
        return self._send('DELETE', _namespace_path(namespace, kind), identity,
                          params=_params(access), request_id=request_id)

    # -- objects ----------------------------------------------------------------------

    def list_metadef_objects(self, identity, namespace, access=None, request_id=None):
        return self._send('GET', _namespace_path(namespace, 'objects'), identity,
                          params=_params(access), request_id=request_id)['objects']

    def get_metadef_object(self, identity, namespace, name, access=None,
                           request_id=None):
        return self._send('GET', _namespace_path(namespace, 'objects', name),
                          identity, params=_params(access), request_id=request_id)

    def create_metadef_object(self, identity, namespace, values, access=None,
                              request_id=None):
        """Add an object (``name``, ``description``, ``required``,
        ``properties``); its record."""
        return self._send('POST', _namespace_path(namespace, 'objects'), identity,
                          params=_params(access), json=values, request_id=request_id)

    def update_metadef_object(self, identity, namespace, name, values, access=None,
                              request_id=None):
        """Replace an object (``values['name']`` renames it); its record."""
        return self._send('PUT', _namespace_path(namespace, 'objects', name),
                          identity, params=_params(access), json=values,
                          request_id=request_id)

    def delete_metadef_object(self, identity, namespace, name, access=None,
                              request_id=None):
        return self._send('DELETE', _namespace_path(namespace, 'objects', name),
                          identity, params=_params(access), request_id=request_id)

    # -- properties -------------------------------------------------------------------

    def list_metadef_properties(self, identity, namespace, access=None,
                                request_id=None):
        """``{name: definition}``."""
        return self._send('GET', _namespace_path(namespace, 'properties'), identity,
                          params=_params(access), request_id=request_id)['properties']

    def get_metadef_property(self, identity, namespace, name, access=None,
                             resource_type=None, request_id=None):
        """A property's record; with ``resource_type``, ``name`` carries that
        type's prefix."""
        return self._send('GET', _namespace_path(namespace, 'properties', name),
                          identity, params=_params(access, resource_type=resource_type),
                          request_id=request_id)

    def create_metadef_property(self, identity, namespace, name, definition,
                                access=None, request_id=None):
        return self._send('POST', _namespace_path(namespace, 'properties'), identity,
                          params=_params(access), json=dict(definition, name=name),
                          request_id=request_id)

    def update_metadef_property(self, identity, namespace, name, new_name, definition,
                                access=None, request_id=None):
        """Replace a property's definition and rename it to ``new_name``."""
        return self._send('PUT', _namespace_path(namespace, 'properties', name),
                          identity, params=_params(access),
                          json=dict(definition, name=new_name), request_id=request_id)

    def delete_metadef_property(self, identity, namespace, name, access=None,
                                request_id=None):
        return self._send('DELETE', _namespace_path(namespace, 'properties', name),
                          identity, params=_params(access), request_id=request_id)

    # -- tags -------------------------------------------------------------------------

    def list_metadef_tags(self, identity, namespace, access=None, limit=None,
                          marker=None, sort_key=None, sort_dir=None, request_id=None):
        params = _params(access, limit=None if limit is None else str(limit),
                         marker=marker, sort_key=sort_key, sort_dir=sort_dir)
        return self._send('GET', _namespace_path(namespace, 'tags'), identity,
                          params=params, request_id=request_id)['tags']

    def get_metadef_tag(self, identity, namespace, name, access=None, request_id=None):
        return self._send('GET', _namespace_path(namespace, 'tags', name), identity,
                          params=_params(access), request_id=request_id)

    def create_metadef_tag(self, identity, namespace, name, access=None,
                           request_id=None):
        return self._send('POST', _namespace_path(namespace, 'tags', name), identity,
                          params=_params(access), request_id=request_id)

    def create_metadef_tags(self, identity, namespace, names, append=False,
                            access=None, request_id=None):
        """Add tags, replacing the namespace's unless ``append``; their records."""
        return self._send('POST', _namespace_path(namespace, 'tags'), identity,
                          params=_params(access),
                          json={'tags': list(names), 'append': append},
                          request_id=request_id)['tags']

    def update_metadef_tag(self, identity, namespace, name, new_name, access=None,
                           request_id=None):
        return self._send('PUT', _namespace_path(namespace, 'tags', name), identity,
                          params=_params(access), json={'name': new_name},
                          request_id=request_id)

    def delete_metadef_tag(self, identity, namespace, name, access=None,
                           request_id=None):
        return self._send('DELETE', _namespace_path(namespace, 'tags', name), identity,
                          params=_params(access), request_id=request_id)

    # -- resource types ---------------------------------------------------------------

    def list_metadef_resource_types(self, identity, request_id=None):
        return self._send('GET', '/v1/metadefs/resource_types', identity,
                          request_id=request_id)['resource_types']

    def list_metadef_associations(self, identity, namespace, access=None,
                                  request_id=None):
        return self._send('GET', _namespace_path(namespace, 'resource_types'),
                          identity, params=_params(access),
                          request_id=request_id)['resource_type_associations']

    def associate_metadef_resource_type(self, identity, namespace, values,
                                        access=None, request_id=None):
        """Associate a resource type (``name``, ``prefix``, ``properties_target``)
        with a namespace; the association's record."""
        return self._send('POST', _namespace_path(namespace, 'resource_types'),
                          identity, params=_params(access), json=values,
                          request_id=request_id)

    def dissociate_metadef_resource_type(self, identity, namespace, name,
                                         access=None, request_id=None):
        return self._send('DELETE', _namespace_path(namespace, 'resource_types', name),
                          identity, params=_params(access), request_id=request_id)
