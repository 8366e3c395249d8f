"""The sample configs in etc/ are generated from the options in the code."""

import os
import subprocess
import sys

import pytest

ETC = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'etc')


@pytest.mark.parametrize('namespace, sample', [
    ('glance.api', 'glance-api.conf.sample'),
    ('glance.registry', 'glance-registry.conf.sample'),
])
def test_sample_config_is_up_to_date(tmp_path, namespace, sample):
    generated = tmp_path / sample
    subprocess.run([os.path.join(os.path.dirname(sys.executable),
                                 'oslo-config-generator'),
                    '--namespace', namespace, '--output-file', str(generated)],
                   check=True)
    with open(os.path.join(ETC, sample)) as f:
        assert generated.read_text() == f.read(), \
            'etc/%s is stale: run "tox -e genconfig"' % sample
