"""Request ids, as both daemons make, send and accept them.

Part of the contract half: the API stamps its id on the requests it sends the
registry, which takes it as its own, so one id finds a request in both logs.
"""

import re
import uuid

#: The header that names a request's id, on every answer and on the API's calls
#: to the registry.
REQUEST_ID_HEADER = 'x-openstack-request-id'
#: What the API tells the registry its request's global id is.
GLOBAL_REQUEST_ID_HEADER = 'x-openstack-global-request-id'

#: A request id as OpenStack's services make them (oslo.context's), the only form
#: taken from a client as a global request id, as oslo.middleware's request_id
#: takes it: anything else would put what a caller chose into every log line.
_FORM = re.compile(
    r'req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')


def new_request_id():
    """A fresh request id, of OpenStack's form."""
    return 'req-%s' % uuid.uuid4()


def global_request_id(value):
    """``value`` (a header's) if it is a request id of OpenStack's form, else None."""
    return value if value and _FORM.fullmatch(value) else None
