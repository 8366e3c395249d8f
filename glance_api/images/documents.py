"""How a registry image record is shown to API clients (upstream's image entity)."""

BASE_FIELDS = ('id', 'name', 'status', 'visibility', 'protected', 'os_hidden',
               'checksum', 'os_hash_algo', 'os_hash_value', 'owner', 'size',
               'virtual_size', 'container_format', 'disk_format', 'created_at',
               'updated_at', 'min_ram', 'min_disk')


def image(record, store_set=None, direct_url=False, locations=False,
          show_locations=True):
    """The API document for ``record``: custom properties, base fields, links.

    With several stores configured (``store_set.multi``) the document also says which
    stores hold the data (``stores``), as upstream does from API 2.8, legacy
    locations (recorded without their store) included: ``StoreSet.located``.
    ``direct_url`` (if ``direct_url``: option ``show_image_direct_url``) and
    ``locations`` (if ``locations``: ``show_multiple_locations``, then always
    present, as upstream) show the active locations, only if ``show_locations``
    (policy ``get_image_location``).
    """
    document = dict(record.get('properties') or {})
    for field in BASE_FIELDS:
        document[field] = record.get(field)
    document['tags'] = list(record.get('tags') or [])
    image_id = record['id']
    document['self'] = '/v2/images/%s' % image_id
    document['file'] = '/v2/images/%s/file' % image_id
    document['schema'] = '/v2/schemas/image'
    active = active_locations(record)
    if store_set is not None:
        # Locations recorded before enabled_backends was set name no store; as
        # upstream, locations (and stores, and direct_url) are shown in the order
        # they are read.
        active = store_set.ordered(store_set.located(active))
    shown = active if show_locations else []
    if direct_url and shown:
        document['direct_url'] = shown[0]['url']
    if locations:
        document['locations'] = [{'url': location['url'],
                                  'metadata': location.get('metadata') or {}}
                                 for location in shown]
    if store_set is not None and store_set.multi:
        ids = [(loc.get('metadata') or {}).get('store') for loc in active]
        if any(ids):
            document['stores'] = ','.join(i for i in ids if i)
    return document


def active_locations(record):
    """The locations that hold the image's data now."""
    return [loc for loc in record.get('locations') or []
            if loc.get('status', 'active') == 'active']
