"""/v2/info/stores on a single store: upstream's 404 and its words."""

import pytest

from tests.fixtures.inprocess import caller


@pytest.mark.parametrize('path', ['/v2/info/stores', '/v2/info/stores/detail'])
def test_stores_info_without_multiple_stores_is_upstreams_404(deployment, path):
    response = deployment.request('GET', path, caller('p', ('admin',)))
    assert response.status_code == 404
    assert response.get_json()['message'] == \
        'Multi backend is not supported at this site.'
