"""Admitting image locations: which URLs may be recorded, and PATCH's location changes.

Every location a client names passes ``checked_location``: a configured store must
own its URL (a file URL only inside a file store's data directory), an http(s) URL
must pass ``[import_filtering_opts]`` (``glance_api.data.import_filtering``), and data
that another image's location holds in a store this service writes may not be
taken over. The registry makes each change in one transaction with its checks
(duplicates, ``image_location_quota``, the last copy of an active image) and the
status change it implies, so racing requests cannot break them.
"""

import dataclasses
import hashlib
import urllib.parse

from flask import g
from oslo_config import cfg

from glance_api.access import policy
from glance_api.data import import_filtering
from glance_api.data import location_removal
from glance_api.data.store_data import images_using, size_at
from glance_api.http import errors
from glance_api.http import numbers
from glance_api.services import services
from glance_registry.client import vocabulary
from stores import errors as store_errors

location_opts = [
    cfg.BoolOpt('show_multiple_locations', default=False,
                deprecated_for_removal=True,
                deprecated_reason='Use the locations API of Images API 2.17: '
                                  'POST and GET /v2/images/{image_id}/locations.',
                help='Show the locations of images (the "locations" attribute, to '
                     'callers that policy get_image_location allows) and let '
                     'callers that policies set_image_location and '
                     'delete_image_location allow change them with PATCH. Exposes '
                     'backend details: a security risk (OSSN-0065, OSSN-0090).'),
    cfg.BoolOpt('do_secure_hash', default=True,
                help='Read the data at a location added with POST '
                     '/v2/images/{image_id}/locations and compute its checksum, '
                     'multihash and size in the background before the image '
                     'becomes active (checking them against the validation_data '
                     'given). Off: the image becomes active at once, with the '
                     'validation_data as its hash, unverified.'),
    cfg.IntOpt('http_retries', default=3, min=0,
               help='Times the background hashing of a location resumes reading '
                    'after a failed read before it gives up.'),
    cfg.IntOpt('secure_hash_lease_time', default=60, min=1,
               help='Seconds an API worker claims a location whose data it hashes; '
                    'it renews the claim while it reads (or has read within '
                    'task_stall_time). If the worker dies, the next request for '
                    'the image after the claim expires (on any API worker or host) '
                    'starts the hashing again.'),
]


def register_opts(conf):
    conf.register_opts(location_opts)
    import_filtering.register_opts(conf)



# Image statuses in which PATCH may add or replace locations (upstream).
_PATCHABLE = ('queued', 'active')


def parse_new_location(body):
    """``(url, validation values)`` of a ``POST /v2/images/{id}/locations`` body;
    400 if it is not one."""
    if not isinstance(body, dict):
        raise errors.BadRequest('The request body must be a JSON object.')
    unknown = sorted(set(body) - {'url', 'validation_data'})
    if unknown:
        raise errors.BadRequest('Unknown member %s.' % unknown[0])
    url = body.get('url')
    if not isinstance(url, str) or not url:
        raise errors.BadRequest('A location needs a url (a string).')
    if len(url) > MAX_URL:
        raise errors.BadRequest('The url is longer than %d characters.' % MAX_URL)
    _check_parsable(url)
    data = body.get('validation_data')
    if data is None or data == {}:
        # python-glanceclient and openstacksdk send {} when given no data.
        return url, {}
    if not isinstance(data, dict) or set(data) != {'os_hash_algo', 'os_hash_value'}:
        raise errors.BadRequest('validation_data must hold exactly os_hash_algo and '
                                'os_hash_value.')
    problem = _hash_problem(data)
    if problem:
        raise errors.BadRequest(problem)
    return url, {'os_hash_algo': data['os_hash_algo'],
                 'os_hash_value': data['os_hash_value']}



# -- PATCH /v2/images/{id} -----------------------------------------------------------

def check_patch(record, changes):
    """The ``LocationPatch`` that ``changes`` (``/locations`` operations of a PATCH)
    make to the image ``record``, checked but not yet applied.

    Errors: 400 invalid value, position or URL, 403 locations hidden
    (``show_multiple_locations`` off), policy, removing the last location or
    setting none, 409 wrong image status or validation data, 413 quota.
    """
    ctx = g.context
    if not services().conf.show_multiple_locations:
        verb = {'add': 'add', 'replace': 'update', 'remove': 'remove'}[changes[0].op]
        raise errors.Forbidden("It's not allowed to %s locations if locations are "
                               "invisible." % verb)
    for action in sorted({'delete_image_location' if change.op == 'remove'
                          else 'set_image_location' for change in changes}):
        policy.enforce(ctx, action, record)
    patch = LocationPatch(record)
    for change in changes:
        getattr(patch, change.op)(change)
    patch.check_quota(services().conf.image_location_quota)
    return patch


@dataclasses.dataclass
class LocationPatch:
    """The locations a PATCH leaves the image with, played on a copy of its record.

    Indexes in pointers count the active locations, as clients see them.
    """

    record: dict
    locations: list = None
    status: str = None
    values: dict = dataclasses.field(default_factory=dict)
    removed: list = dataclasses.field(default_factory=list)

    def __post_init__(self):
        self.locations = [dict(location) for location in self.record['locations']]
        self.status = self.record['status']

    def add(self, change):
        """``add /locations/N``: insert before the N-th (``-``: append)."""
        self._check_status('add', _PATCHABLE)
        url, metadata, data = _location_value(change.value)
        values = self._validation_values([data])
        active = self._active()
        position = numbers.non_negative_int(change.index)
        if change.index == '-':
            index = len(active)
        elif position is not None:
            index = min(position, len(active))
        else:
            raise errors.BadRequest('Invalid position for adding a location.')
        location = self._checked(url, metadata)
        self._take_size(location)
        where = (self.locations.index(active[index]) if index < len(active)
                 else len(self.locations))
        self.locations.insert(where, dict(location, status='active'))
        self._activate(values)

    def replace(self, change):
        """``replace /locations``: set a queued image's locations, or change the
        metadata of an image's locations (same URLs)."""
        if change.value == []:
            raise errors.Forbidden('Cannot set locations to empty list.')
        if not isinstance(change.value, list):
            raise errors.BadRequest('The locations must be a list of locations.')
        self._check_status('replace', _PATCHABLE)
        parsed = [_location_value(value) for value in change.value]
        values = self._validation_values([data for _, _, data in parsed])
        old_urls = sorted(location['url'] for location in self._active())
        new_urls = sorted(url for url, _, _ in parsed)
        if len(set(new_urls)) != len(new_urls):
            raise errors.BadRequest('A location may be given only once.')
        if old_urls and old_urls != new_urls:
            raise errors.BadRequest('Original locations is not empty: %s'
                                    % ', '.join(old_urls))
        new = [self._checked(url, metadata, replacing=True)
               for url, metadata, _ in parsed]
        if not old_urls:
            for location in new:
                self._take_size(location)
        others = [location for location in self.locations
                  if location.get('status') != 'active']
        self.locations = [dict(location, status='active') for location in new] + others
        self._activate(values)

    def remove(self, change):
        """``remove /locations/N``: unlink the N-th (``-``: the last); its data is
        deleted from its store once the change is made."""
        self._check_status('remove', ('active',))
        active = self._active()
        if len(active) == 1:
            raise errors.Forbidden('Cannot remove last location in the image.')
        position = numbers.non_negative_int(change.index)
        if change.index == '-':
            index = len(active) - 1
        elif position is not None and position < len(active):
            index = position
        else:
            raise errors.BadRequest('Invalid position for removing a location.')
        self.locations.remove(active[index])
        self.removed.append(active[index])

    def check_quota(self, max_locations):
        before = len(self.record['locations'])
        if 0 <= max_locations < len(self.locations) and len(self.locations) > before:
            raise errors.TooLarge('Maximum number of locations exceeded: the limit is '
                                  '%d.' % max_locations)

    def apply(self, update=None):
        """Make the change in the registry (one call), with the attribute ``update``
        (``values``, ``properties``, ``tags``, ``quota``) of the same patch if any;
        the image record after, or None when the locations do not change (the
        caller writes ``update`` then).

        Errors: 409 when the image's locations or status changed since they were
        read, or the update removes a missing property; 413 over
        ``image_location_quota``, the storage quota (each active location counts the
        image's size) or the update's quotas.
        """
        record = self.record
        strip = [_stored_form(location) for location in self.locations]
        if strip == [_stored_form(location) for location in record['locations']]:
            return None
        activating = record['status'] == 'queued' and self.status == 'active'
        # A URL removed and added back in one patch stays, with its data.
        kept = {location['url'] for location in self.locations}
        removed = [location for location in self.removed
                   if location['url'] not in kept]
        hold = location_removal.removal_lease() if removed else None
        updated = services().registry.replace_locations(
            g.context.identity, record['id'], strip,
            expected_urls=[location['url'] for location in record['locations']],
            transition=('queued', 'active') if activating else None,
            values=self.values if activating else None,
            max_locations=services().conf.image_location_quota,
            max_storage=services().quotas.max_storage(record['owner']), update=update,
            removal_lease=hold and hold.lease, request_id=g.request_id)
        # Recorded as still to remove by the registry's replacement: a removal
        # that fails or never ends here is swept (location_removal).
        location_removal.remove(record['id'], removed, hold)
        return updated

    def _active(self):
        return [location for location in self.locations
                if location.get('status', 'active') == 'active']

    def _check_status(self, op, allowed):
        if self.status not in allowed:
            raise errors.Conflict("It's not allowed to %s locations if image status "
                                  "is %s." % (op, self.status))

    def _checked(self, url, metadata, replacing=False):
        location = checked_location(url, metadata, self.record['id'])
        known = {_canonical(known['url']) for known in self.locations}
        if location['url'] in known and not replacing:
            raise errors.BadRequest('The location %s is already present.' % url)
        return location

    def _take_size(self, location):
        """The data must exist; its size becomes the image's, or must match it."""
        size = size_at(location)
        expected = self.values.get('size', self.record.get('size'))
        if expected is not None and size != expected:
            raise errors.BadRequest('The data at %s has %d bytes, not the image '
                                    'size of %d.' % (location['url'], size, expected))
        if self.status == 'queued':
            self.values['size'] = size

    def _activate(self, values):
        if self.status == 'queued':
            self.values.update(values)
            self.status = 'active'

    def _validation_values(self, datas):
        """Upstream's ``_validate_validation_data``: the data values that
        ``validation_data`` sets (only on a queued image); 409 for a conflict."""
        given = {}
        for data in datas:
            for key, value in (data or {}).items():
                if given.get(key, value) != value:
                    raise errors.Conflict('Conflicting values for %s' % key)
                given[key] = value
        new = {}
        for key, value in given.items():
            current = self.values.get(key, self.record.get(key))
            if value == current:
                continue
            if current:
                raise errors.Conflict('%s is already set with a different value'
                                      % key)
            new[key] = value
        if not new:
            return {}
        if self.status != 'queued':
            raise errors.Conflict("New value(s) for %s may only be provided when image "
                                  "status is 'queued'" % ', '.join(sorted(new)))
        problem = _checksum_problem(given.get('checksum')) or _hash_problem(given)
        if problem:
            raise errors.Conflict(problem)
        return new


def _location_value(value):
    """``(url, metadata, validation_data)`` of a location in a patch; 400 if it is
    not one."""
    if not isinstance(value, dict):
        raise errors.BadRequest('A location must be an object with url and metadata.')
    unknown = sorted(set(value) - {'url', 'metadata', 'validation_data'})
    if unknown:
        raise errors.BadRequest('Unknown location member %s.' % unknown[0])
    url, metadata = value.get('url'), value.get('metadata')
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise errors.BadRequest('A location needs a url: a string of at most %d '
                                'characters.' % MAX_URL)
    _check_parsable(url)
    if not isinstance(metadata, dict):
        raise errors.BadRequest('A location needs metadata (an object).')
    data = value.get('validation_data')
    if data is not None and not (
            isinstance(data, dict)
            and {'os_hash_algo', 'os_hash_value'} <= set(data)
            <= {'checksum', 'os_hash_algo', 'os_hash_value'}):
        raise errors.BadRequest('validation_data must hold os_hash_algo and '
                                'os_hash_value, and may hold checksum.')
    return url, metadata, data


def _check_parsable(url):
    """400 for a URL that cannot be parsed (``http://[::1``, a port that is not a
    number): no store could own it, and parsing it later would fail."""
    try:
        urllib.parse.urlsplit(url).port
    except ValueError as exc:
        raise errors.BadRequest('Invalid location url %s: %s.' % (url, exc))


def _stored_form(location):
    return {'url': location['url'], 'metadata': location.get('metadata') or {},
            'status': location.get('status', 'active')}


# -- URLs and data -------------------------------------------------------------------

# Upstream's image schema limits a location's url to 255 characters.
MAX_URL = 255


def checked_location(url, metadata, image_id):
    """``{"url", "metadata"}`` to record for ``url``; 400 unless it may be added.

    A configured store must own the URL (``metadata.store``, when given in
    multi-store mode, must be that store); http(s) URLs must pass the import
    filters; in a store this service writes, no other image may have a location
    at the URL (409). In multi-store mode ``metadata.store`` is set to the store.
    """
    store_set = services().stores
    metadata = dict(metadata or {})
    named = metadata.get('store')
    if store_set.multi and named is not None and named not in store_set:
        raise errors.BadRequest('Store for identifier %s not found' % named)
    try:
        store = store_set.for_location({'url': url, 'metadata': metadata})
    except store_errors.BadLocation:
        store = None
    if store is None or not store.owns(url):
        raise errors.BadRequest('Invalid location %s: no configured store holds it.'
                                % url)
    # Recorded, and compared with other images' locations, as the store spells it.
    url = store.canonical(url)
    scheme = url.split(':', 1)[0].lower()
    if scheme in ('http', 'https') and not import_filtering.allows(services().conf,
                                                                   url):
        raise errors.BadRequest('URL for location does not pass filtering: %s' % url)
    if store.writable and _holds_another_image(url, image_id):
        # Taking over another image's data would let this image read it, and
        # deleting this image would delete it.
        raise errors.Conflict('The location %s is in use by another image.' % url)
    if store_set.multi:
        metadata['store'] = store.store_id
    return {'url': url, 'metadata': metadata}


def _canonical(url):
    """``url`` as its store spells it (as it is, if no configured store owns it)."""
    try:
        store = services().stores.for_location({'url': url})
        return store.canonical(url) if store.owns(url) else url
    except store_errors.BadLocation:
        return url


def _holds_another_image(url, image_id):
    """Whether another image has a location at ``url``, or the store may write
    another image's data there: stores name objects after image ids, so an
    upload to that image could fill it. Any name shaped like an image id counts,
    whether or not such an image exists: asking would tell the caller that an
    image it cannot see exists."""
    if vocabulary.names_another_image(url, image_id):
        return True
    return any(other != image_id for other in images_using([url]).get(url, ()))




def _hash_problem(data):
    """Why ``os_hash_algo``/``os_hash_value`` cannot be checked, or None."""
    algo, value = data.get('os_hash_algo'), data.get('os_hash_value')
    if algo is None and value is None:
        return None
    wanted = services().conf.hashing_algorithm
    if algo != wanted:
        return 'os_hash_algo must be %s, not %s' % (wanted, algo)
    digest_size = hashlib.new(wanted).digest_size
    if not _is_hex(value, digest_size):
        return ('os_hash_value (%s) is not a valid hexadecimal %s digest (%d bytes)'
                % (value, wanted, digest_size))
    return None


def _checksum_problem(checksum):
    if checksum is not None and not _is_hex(checksum, 16):
        return ('checksum (%s) is not the correct size for md5 (should be 16 bytes)'
                % checksum)
    return None


def _is_hex(value, size):
    if not isinstance(value, str) or len(value) != 2 * size:
        return False
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return True
