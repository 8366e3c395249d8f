"""The registry's error hierarchy, shared by the daemon and its client.

The daemon raises these and answers ``{"error": {"code", "message", ...}}`` with the
class's status; the client turns such an answer back into the same class, so a caller
of ``RegistryClient`` catches ``errors.Conflict`` whether it came from SQL or the wire.
"""


class RegistryError(Exception):
    """Base class. ``status`` is the HTTP status, ``code`` the error's JSON name."""

    status = 500
    code = 'internal_error'

    def __init__(self, message, **details):
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self):
        return {'error': dict(self.details, code=self.code, message=self.message)}


class BadRequest(RegistryError):
    status = 400
    code = 'bad_request'


class Unauthorized(RegistryError):
    status = 401
    code = 'unauthorized'


class Forbidden(RegistryError):
    status = 403
    code = 'forbidden'


class NotFound(RegistryError):
    status = 404
    code = 'not_found'


class MethodNotAllowed(RegistryError):
    status = 405
    code = 'method_not_allowed'


class Conflict(RegistryError):
    status = 409
    code = 'conflict'


class TooLarge(RegistryError):
    status = 413
    code = 'too_large'


class Unavailable(RegistryError):
    """The registry (or its database) cannot be reached right now."""

    status = 503
    code = 'unavailable'


_BY_CODE = {cls.code: cls for cls in (BadRequest, Unauthorized, Forbidden, NotFound,
                                       MethodNotAllowed, Conflict, TooLarge, Unavailable,
                                       RegistryError)}


def from_response(status, body):
    """The exception that a registry error response stands for."""
    error = body.get('error') if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {'message': 'registry answered %d' % status}
    error = dict(error)
    cls = _BY_CODE.get(error.pop('code', None))
    if cls is None:
        cls = next((c for c in _BY_CODE.values() if c.status == status), RegistryError)
    message = error.pop('message', '') or 'registry answered %d' % status
    return cls(message, **error)
