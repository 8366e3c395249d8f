"""What the registry enforces for every caller, whatever the API checked before.

The registry is where image data and ownership are written, and it is reachable by
more than the API (internal services with the shared secret, Keystone service
tokens with ``accept_service_tokens``). So the rules that protect data or ownership
are enforced here, with the API's own code and the same option names (an operator
may give both daemons one file); the API applies them too, as a fast path with
upstream's wording:

- policy: upstream's rules (``glance_api.access.policy``, ``[oslo_policy]
  policy_file``) for creating, changing, uploading to, (de)activating and deleting
  images, their locations and members: a token with only the ``service`` role gets
  what upstream gives it (``add_image_location``), no more, unless the policy file
  says so;
- ownership: only an admin creates an image for another project or changes its
  owner; ``publicize_image`` and ``communitize_image`` for those visibilities;
- formats: only an admin changes ``disk_format`` or ``container_format`` once the
  image has left ``queued`` (its data was inspected as those formats);
- property protections (``property_protection_file``), and upstream's reserved
  ``os_glance*`` properties, the image service's own (admins only);
- location admission: a location must belong to a configured store (a file URL
  inside a file store's data directory), an http(s) one must pass
  ``[import_filtering_opts]``, and none may name data the service writes for
  another image (objects are named after image ids, in any spelling of the URL);
  staged data (status ``staged``, in the staging store and nowhere else, with
  what its stage verified, which an import trusts) is written by the API only,
  never by a service token, and never shown to one.

The stores are built from the config on first use (``stores.StoreSet``, without
the start-up probe): only location writes need them.
"""

import dataclasses
import threading

import stores
from glance_api.access import policy
from glance_api.access import protections as protections_module
from glance_api.data import import_filtering, staging
from glance_registry.client import errors
from glance_registry.client import vocabulary

# Status moves with a policy rule of their own; every other move is an upload's.
_MOVE_RULES = {('active', 'deactivated'): 'deactivate',
               ('deactivated', 'active'): 'reactivate'}

#: What changes an existing image. As upstream's database layer (every image update
#: and destroy), only its owner's project or an admin may, whatever the policy says:
#: an operator's "modify_image": "" (upstream's old policy.json) or "role:member"
#: must not let one project change or delete another's public image. (Adding a
#: location is a service's, as upstream's location import.) Sharing too, as
#: upstream's member repository: a project an image is shared with neither shares
#: it further nor takes the share back.
_OWNER_ONLY = frozenset(['modify_image', 'delete_image', 'upload_image',
                         'deactivate', 'reactivate', 'set_image_location',
                         'delete_image_location', 'add_member', 'delete_member'])


_FORMATS = ('disk_format', 'container_format')


@dataclasses.dataclass
class Admission:
    """A write's list of locations as the guard admits it: ``locations`` in their
    stores' spelling, ``exclusive_urls`` those of writable stores (no other live
    image may use them), and ``refused``: the error of each URL refused, which the
    write may keep only where the image has it already (an older location that a
    store no longer holds: replacing the list keeps what is not changed).
    ``check(record)`` says which, on the image as locked by the write."""

    locations: list
    exclusive_urls: list
    refused: dict

    def check(self, image):
        have = {location['url'] for location in image.get('locations') or []}
        for url, error in self.refused.items():
            if url not in have:
                raise error


def register_opts(conf):
    """The options the guard reads, with the API's names: stores, policy, property
    protections and import filtering."""
    stores.register_opts(conf)
    policy.register_opts(conf)
    protections_module.register_opts(conf)
    import_filtering.register_opts(conf)
    staging.register_opts(conf)


def list_opts():
    """The guard's options by group, for oslo-config-generator."""
    store_opts = dict(stores.list_opts())
    staging_opts = dict(staging.list_opts())
    return [('DEFAULT', store_opts['DEFAULT'] + protections_module.protection_opts
             + staging_opts['DEFAULT']),
            ('glance_store', store_opts['glance_store']),
            (import_filtering.GROUP, import_filtering.filtering_opts),
            (staging.GROUP, staging_opts[staging.GROUP])]


def _check_reserved(caller, properties):
    """``errors.Forbidden`` (``property_reserved``) for a property under the
    reserved prefix that ``caller``, not an admin, would set or remove: only the
    image service (as an admin) writes them, and a task its import's bookkeeping
    (``glance_registry.tasks.handlers``). An owner removing its image's import
    lock let a second import run beside the first."""
    if caller.is_admin:
        return
    for name in properties:
        if name.startswith(vocabulary.RESERVED_PROPERTY_PREFIX):
            raise errors.Forbidden("Attribute '%s' is reserved." % name,
                                   reason='property_reserved', property=name)


class Guard:
    """The registry's rules for ``conf``: ``Guard.from_config(conf)``."""

    def __init__(self, conf, enforcer, protections=None, store_set=None):
        self.conf = conf
        self.enforcer = enforcer
        self.protections = protections
        self._store_set = store_set
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, conf, store_set=None):
        """The guard ``conf`` describes; ``store_set`` replaces its stores (tests)."""
        enforcer = policy.new_enforcer(conf)
        return cls(conf, enforcer,
                   protections_module.PropertyProtections.from_config(conf, enforcer),
                   store_set)

    # -- policy ----------------------------------------------------------------------

    def require(self, caller, action, image=None, target=None):
        """``errors.Forbidden`` (``not_permitted``) unless policy lets ``caller`` do
        ``action`` on ``image`` (a record) or ``target``."""
        if not policy.allowed(self.enforcer, caller, action, image, target):
            details = {'image_id': image['id']} if image and 'id' in image else {}
            raise errors.Forbidden('You are not authorized to complete %s action.'
                                   % action, reason='not_permitted', action=action,
                                   **details)
        if (action in _OWNER_ONLY and image and 'id' in image and not caller.is_admin
                and (image.get('owner') is None
                     or image['owner'] != caller.project_id)):
            raise errors.Forbidden('You do not own this image', reason='not_owner',
                                   action=action, image_id=image['id'])

    def check_answer(self, caller, image, member_id):
        """Answering the share of ``image`` with project ``member_id``:
        ``modify_member`` judged with that project as the member (as the API judges
        it), and, whatever the policy says, only that project or an admin answers
        (upstream's member repository): the owner never accepts for the project it
        shares with, even as a member of its own image."""
        self.require(caller, 'modify_member', image, target=dict(
            policy.image_target(caller, image), member_id=member_id))
        if not caller.is_admin and caller.project_id != member_id:
            raise errors.Forbidden('You cannot update image member %s' % member_id,
                                   reason='not_member', image_id=image['id'],
                                   member_id=member_id)

    def check_owner(self, caller, owner, kind='images'):
        """``errors.Forbidden`` (``not_owner``) unless ``caller`` may create ``kind``
        (images, tasks) owned by ``owner``: its own project's, or any as an admin."""
        if owner != caller.project_id and not caller.is_admin:
            raise errors.Forbidden("You are not permitted to create %s owned by '%s'."
                                   % (kind, owner), reason='not_owner', owner=owner)

    def check_create(self, caller, values, properties):
        """Creating an image with ``values`` and ``properties``."""
        owner = values.get('owner', caller.project_id)
        self.check_owner(caller, owner)
        target = dict(values, owner=owner)   # the new image, as the API judges it
        self.require(caller, 'add_image', target)
        self._check_visibility(caller, values.get('visibility'), target)
        _check_reserved(caller, properties)
        self.check_properties(caller, {}, properties)

    def check_update(self, caller, image, values=None, properties=None, tags=None):
        """Changing ``image``'s attributes, properties (None removes) or tags."""
        self.require(caller, 'modify_image', image)
        values = values or {}
        if 'owner' in values and values['owner'] != image['owner'] \
                and not caller.is_admin:
            raise errors.Forbidden("Owner can't be updated by non admin.",
                                   reason='not_owner', owner=values['owner'],
                                   image_id=image['id'])
        if 'visibility' in values:
            self._check_visibility(caller, values['visibility'], image)
        self._check_formats(caller, image, values)
        _check_reserved(caller, properties or {})
        self.check_properties(caller, image.get('properties') or {}, properties or {})

    def _check_formats(self, caller, image, values):
        # As upstream's image domain: the formats change only while the image is
        # queued. An upload or a stage inspected the data as the formats the image
        # had then (a qcow2 must not become "raw", nor raw content "qcow2"), and
        # compute services boot it as they say. (An admin may: the image service
        # records an import's conversion while the image is importing.)
        changed = [name for name in _FORMATS
                   if name in values and values[name] != image.get(name)]
        if changed and image['status'] != 'queued' and not caller.is_admin:
            raise errors.Forbidden('Attribute %s can be only replaced for a queued '
                                   'image.' % changed[0], reason='format_locked',
                                   image_id=image['id'], field=changed[0],
                                   current_status=image['status'])

    def check_transition(self, caller, image, from_status, to_status):
        self.require(caller, _MOVE_RULES.get((from_status, to_status), 'upload_image'),
                     image)

    def check_location_move(self, caller, image, transition):
        """The status move (``(from, to)`` or None) of a location write, whose
        location rule the caller passed: a move out of ``queued`` is that rule's
        (upstream's add-location activates a queued image); any other needs its
        own rule, as a status change does (adding a location must not deactivate an
        image for a caller ``deactivate`` refuses)."""
        if transition is not None and transition[0] != 'queued':
            self.check_transition(caller, image, *transition)

    def _check_visibility(self, caller, visibility, target):
        if visibility == 'public':
            self.require(caller, 'publicize_image', target=policy.image_target(
                caller, target))
        elif visibility == 'community':
            self.require(caller, 'communitize_image', target=policy.image_target(
                caller, target))

    def check_properties(self, caller, old_properties, changes):
        """``errors.Forbidden`` (``property_protected``) unless the property
        protections let ``caller`` make each change (None removes)."""
        if self.protections is None:
            return
        for name, value in changes.items():
            if value is None:
                operation = 'delete'
            elif name in old_properties:
                operation = 'update'
            else:
                operation = 'create'
            if not self.protections.allowed(caller, name, operation):
                raise errors.Forbidden("Property '%s' is protected" % name,
                                       reason='property_protected', property=name,
                                       operation=operation)

    # -- the metadata definitions catalog ------------------------------------------

    def catalog_access(self, caller, access, rules):
        """``access``, the caller's verdicts on a namespace (``metadefs.Access``),
        with the registry's own on ``rules`` added: upstream's ``metadef_*`` rules
        as this registry's policy reads them, judged for each class of namespace as
        the API judges them. A caller that sends no verdict, or a lenient one, gets
        no more than the policy gives it: by default only admins change the
        catalog, which every project reads."""
        return dataclasses.replace(access, allow=access.allow + tuple(
            (rule, policy.namespace_classes(self.enforcer, caller, rule))
            for rule in rules))

    def require_catalog(self, caller, rules):
        """Creating a namespace: ``errors.Forbidden`` (``policy_denied``, naming the
        rule) unless each of ``rules`` lets ``caller`` act on upstream's target,
        its own project."""
        target = {} if caller.project_id is None else {'project_id': caller.project_id}
        for rule in rules:
            if not policy.allowed(self.enforcer, caller, rule, target=target):
                raise errors.Forbidden('You are not authorized to complete %s action.'
                                       % rule, reason='policy_denied', rule=rule)

    # -- what a service token reads ------------------------------------------------

    def token_view(self, caller, body):
        """``body`` (an image record, or a page ``{"images": [...]}``) as a caller
        that called with a Keystone service token may read it: locations only where
        ``fetch_image_location`` allows, and without the properties the property
        protections hide from it. (Signed callers get whole records: the API needs
        the locations of the images its users download, and filters itself.)"""
        if not isinstance(body, dict):
            return body
        if isinstance(body.get('images'), list):
            return dict(body, images=[self._readable(caller, record)
                                      for record in body['images']])
        if 'id' in body and 'locations' in body:
            return self._readable(caller, body)
        return body

    def _readable(self, caller, record):
        if not policy.allowed(self.enforcer, caller, 'fetch_image_location', record):
            record = dict(record, locations=[])
        elif any(location.get('status') == staging.STAGED
                 for location in record.get('locations') or []):
            # Staged data is the API's: what its stage verified is not for others.
            record = dict(record, locations=[
                location for location in record['locations']
                if location.get('status') != staging.STAGED])
        if self.protections is not None:
            record = self.protections.readable(caller, record)
        return record

    # -- locations -------------------------------------------------------------------

    def admit(self, image_id, location):
        """``location`` as it may be recorded for ``image_id``, its URL in the one
        spelling its store gives it.

        ``errors.BadRequest`` (``location_refused``) unless a configured store holds
        the URL and, for http(s), the import filters pass it; ``errors.Conflict``
        (``location_in_use``) if it names data the service writes for another
        image.
        """
        url = location['url']
        store_set = self._stores()
        try:
            store = store_set.for_location({'url': url,
                                            'metadata': location.get('metadata')})
        except stores.errors.BadLocation:
            store = None
        if store is None or not store.owns(url):
            raise errors.BadRequest('Invalid location %s: no configured store holds '
                                    'it' % url, reason='location_refused', url=url)
        canonical = store.canonical(url)
        scheme = canonical.split(':', 1)[0].lower()
        if scheme in ('http', 'https') and not import_filtering.allows(self.conf,
                                                                       canonical):
            raise errors.BadRequest('URL for location does not pass filtering: %s'
                                    % url, reason='location_refused', url=url)
        if store.writable and vocabulary.names_another_image(canonical, image_id):
            # The store writes each image's data under its id: such a location would
            # let this image read that data, and deleting it would delete it.
            raise errors.Conflict('The location %s is in use by another image.'
                                  % canonical, reason='location_in_use', url=url)
        return dict(location, url=canonical)

    def admission(self, image_id, locations, caller=None):
        """The ``Admission`` of ``locations`` (a write's new list) for ``image_id``
        by ``caller``; ``errors.BadRequest`` (``location_refused``) at once for
        staged data written wrong (``check_staged``), whatever the image has."""
        admitted, refused = [], {}
        for location in locations:
            self.check_staged(location, caller)
            try:
                admitted.append(self.admit(image_id, location))
            except (errors.BadRequest, errors.Conflict) as exc:
                refused.setdefault(location['url'], exc)
                admitted.append(location)
        return Admission(admitted, self.exclusive_urls(admitted), refused)

    def check_staged(self, location, caller=None):
        """``errors.BadRequest`` (``location_refused``) unless ``location`` is
        staged data (status ``staged``) exactly when it is in the staging store,
        and, if it is, ``caller`` is the API (signed), not a service token: an
        import trusts what the stage recorded there (``staging.stage_facts``)."""
        url = location['url']
        staged = location.get('status') == staging.STAGED
        if staged and caller is not None and caller.by_token:
            raise errors.BadRequest('Invalid location %s: staged data is recorded by '
                                    'the Images API only' % url,
                                    reason='location_refused', url=url)
        try:
            store = self._stores().for_location(
                {'url': url, 'metadata': location.get('metadata')})
        except stores.errors.BadLocation:
            store = None
        in_staging = store is not None and store.store_id == staging.GROUP and \
            store.owns(url)
        if in_staging != staged:
            raise errors.BadRequest(
                'Invalid location %s: only staged data (status %s) is in the staging '
                'store, and staged data is nowhere else' % (url, staging.STAGED),
                reason='location_refused', url=url)

    def exclusive_urls(self, locations):
        """The URLs of admitted ``locations`` in stores this service writes: no other
        live image may have a location there (the write checks it in its
        transaction, ``data_owners.check_not_in_use``)."""
        store_set = self._stores()
        urls = []
        for location in locations:
            try:
                store = store_set.for_location(location)
            except stores.errors.BadLocation:
                continue   # an image's own location from before a config change
            if store.writable:
                urls.append(location['url'])
        return urls

    def _stores(self):
        with self._lock:
            if self._store_set is None:
                # The staging store too: an import's staged data is a (hidden)
                # location of its image, recorded through the registry as any other.
                # Settings only: the registry judges URLs, it never reaches the
                # stores (one down must not fail writes to the others).
                configured = stores.StoreSet.from_config(self.conf, probe=False,
                                                         prepare=False)
                self._store_set = stores.StoreSet.of(
                    *configured, staging.from_conf(self.conf, probe=False,
                                                   prepare=False),
                    # (Only which store holds a URL matters here, not weights.)
                    default=configured.default_id, multi=False)
            return self._store_set

