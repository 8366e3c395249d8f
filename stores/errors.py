"""The errors every store driver raises; the API maps each to one HTTP status."""


class StoreError(Exception):
    """Base class: something went wrong talking to a store."""


class NotFound(StoreError):
    """The object named by a location does not exist (maps to 404/410)."""


class Duplicate(StoreError):
    """Data for the image is already where a write would commit it (maps to 409)."""


class StoreFull(StoreError):
    """The store has no room for the object (maps to 413)."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or refused the operation (maps to 503)."""


class BadLocation(StoreError):
    """A location URL this store cannot interpret, or one outside its area (maps to 400)."""


class ReadOnly(StoreError):
    """A write or delete was asked of a read-only store (maps to 403)."""


class BadConfiguration(StoreError):
    """The store's options are wrong; raised at start-up, never during a request."""
