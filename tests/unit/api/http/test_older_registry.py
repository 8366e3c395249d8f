"""An API upgraded before its registry (the README's order reversed): what the
older registry answers to a call or body member it does not know is a 503 saying
so, never the client's 400 nor a 404 denying the image. The answers below are
the ones this morning's registry gave a current API (an older registry cannot run
in the test suite); each passes through ``RegistryClient`` as built here."""

import pytest

from glance_api.http import errors
from glance_registry.client import errors as registry_errors


OLDER_REGISTRY_ANSWERS = [
    registry_errors.BadRequest.invalid_value(
        "Unknown update attribute: 'expected_properties'"),
    registry_errors.BadRequest.invalid_value(
        "Unknown location removal attribute: 'removal_lease'"),
    registry_errors.BadRequest.invalid_value(
        "Unknown reservation attributes: 'bytes2', 'upload_id'"),
    registry_errors.NotFound('No such resource: /v1/cache-copies/%s' % ('1' * 36),
                             reason='resource_not_found'),
]


@pytest.mark.parametrize('answer', OLDER_REGISTRY_ANSWERS,
                         ids=['patch', 'location_removal', 'reservation',
                              'cache_nodes'])
def test_what_an_older_registry_does_not_know_is_503_saying_so(answer):
    error = errors.translate(answer)
    assert isinstance(error, errors.Unavailable)
    assert 'registry is older than this API' in str(error)
    assert '/v1/' not in str(error)


@pytest.mark.parametrize('answer', [
    registry_errors.BadRequest.invalid_value("Invalid value for 'min_disk'"),
    registry_errors.BadRequest.invalid_value('Unknown sort key: bogus'),
    registry_errors.NotFound('No image found with ID x', reason='image_not_found'),
    registry_errors.NotFound('No image found with ID x', reason=None),
], ids=['invalid_value', 'unknown_value', 'no_image', 'no_reason'])
def test_the_registrys_other_refusals_keep_their_status(answer):
    error = errors.translate(answer)
    assert not isinstance(error, errors.Unavailable)
    assert error.status == answer.status
