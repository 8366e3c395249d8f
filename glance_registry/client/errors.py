"""The registry's error hierarchy, shared by the daemon and its client.

The daemon raises these and answers ``{"error": {"code", "message", "reason", ...}}``
with the class's status; the client turns such an answer back into the same class,
reason and details, so a caller of ``RegistryClient`` catches ``errors.Conflict``
whether it came from SQL or the wire, and tells one conflict from another by its
``reason`` (docs/registry-api.rst lists them all).
"""


class RegistryError(Exception):
    """Base class. ``status`` is the HTTP status, ``code`` the class's JSON name.

    ``reason`` is a machine-readable word saying which error of its class this is
    (``'taken_over'``, ``'image_not_found'``...); ``details`` are what else a caller
    may need (``image_id``, ``current_status``, ``limit``...). Both travel on the
    wire; the message is for people.
    """

    status = 500
    code = 'internal_error'

    def __init__(self, message, *, reason, **details):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.details = details

    def to_dict(self):
        error = dict(self.details, code=self.code, message=self.message)
        if self.reason is not None:
            error['reason'] = self.reason
        return {'error': error}


class BadRequest(RegistryError):
    status = 400
    code = 'bad_request'

    @classmethod
    def invalid_value(cls, message, field=None):
        """The error for a value a request may not hold (reason ``invalid_value``):
        a body member, path segment or query parameter that is missing, unknown, of
        the wrong type or out of range; ``field`` names it where one is at fault."""
        details = {} if field is None else {'field': field}
        return cls(message, reason='invalid_value', **details)


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
    return cls(message, reason=error.pop('reason', None), **error)
