"""The README's instructions work as written.

"Using it" runs top to bottom in one shell, and "Running the daemons separately" as
its commands say: each test runs the README's own literal blocks in bash. The test's
interpreter stands for the quick start's activated venv (its ``bin`` first on the
``PATH``, the clients installed). They run in a network namespace of their own
(``unshare -rn``) so that the ports the README uses, 9292 and 9191, are free whatever
else runs on the machine, with ``HOME`` in a temporary directory.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

from tests.fixtures import skips

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEMBER = '0123456789abcdef0123456789abcdef'


def literal_blocks(first_heading, next_heading):
    """The literal blocks (``::`` paragraphs) of the README between two headings."""
    with open(os.path.join(ROOT, 'README.rst')) as f:
        text = f.read()
    section = text[text.index('\n%s\n' % first_heading):
                   text.index('\n%s\n' % next_heading)]
    blocks = []
    lines = section.splitlines()
    for number, line in enumerate(lines):
        if not line.rstrip().endswith('::'):
            continue
        block = []
        for following in lines[number + 1:]:
            if following.strip() and not following.startswith('    '):
                break
            block.append(following[4:])
        blocks.append('\n'.join(block).strip('\n'))
    return blocks


def as_shell(block):
    """A block as bash runs it: Python blocks through ``python3``."""
    if block.startswith('import '):
        return "python3 - <<'PYTHON'\n%s\nPYTHON" % block
    return block


@pytest.fixture
def home():
    # Not pytest's tmp_path: kept short, and outside the source tree.
    path = tempfile.mkdtemp(prefix='readme-')
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_in_own_network(script, cwd, home, timeout=300):
    if shutil.which('unshare') is None or shutil.which('ip') is None:
        skips.unavailable('unshare and ip', 'util-linux and iproute2 are needed')
    probe = subprocess.run(['unshare', '-rn', 'true'], capture_output=True)
    if probe.returncode != 0:
        skips.unavailable('a network namespace', probe.stderr.decode().strip())
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(('OS_', 'VIRTUAL_ENV'))}
    env.update(HOME=home, PYTHONPATH=ROOT, PATH='%s:%s' % (
        os.path.dirname(sys.executable), env.get('PATH', '/usr/bin:/bin')))
    path = os.path.join(home, 'readme.sh')
    with open(path, 'w') as f:
        f.write(script + '\n')
    # stdin is /dev/null: a command that reads it (glance image-create without
    # --file) must not eat the script.
    result = subprocess.run(
        ['unshare', '-rn', 'bash', '-c', 'ip link set lo up && exec bash -e -x "$0"',
         path], stdin=subprocess.DEVNULL, cwd=cwd, env=env, capture_output=True,
        text=True, timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    return output


WAIT_FOR_API = ('for attempt in $(seq 150); do curl -sf '
                'http://127.0.0.1:9292/healthcheck >/dev/null && break; sleep 0.2; '
                'done')


def test_using_it_works_top_to_bottom_in_one_shell(home, qemu_img_binary):
    blocks = literal_blocks('Using it', 'Architecture')
    # The test's interpreter is the activated venv, with the clients installed.
    steps = [block for block in blocks if 'pip install' not in block]
    assert len(steps) == len(blocks) - 1
    script = [
        # The quick start's last command, in the background of the same shell.
        'glance-all --data-dir ./data > glance-all.log 2>&1 &',
        'trap "kill -INT $!; wait" EXIT',
        WAIT_FOR_API,
    ]
    for block in steps:
        if '<image id>' in block:
            # The paragraph before it: share an image with the member.
            script.append("IMAGE=$(glance image-list | "
                          "awk '/ cirros /{print $2; exit}')")
            script.append('glance member-create $IMAGE %s' % MEMBER)
            block = block.replace('<image id>', '$IMAGE')
            block = block.replace('<project id>', MEMBER)
        script.append(as_shell(block))
    output = run_in_own_network('\n'.join(script), home, home)
    project = re.search(r'export PROJECT=(\w+)', '\n'.join(blocks)).group(1)
    assert '%s\n' % project in output   # openstacksdk printed its image's owner
    assert "['mine-too', 'mine']" in output   # glanceclient listed as the project
    assert '"status":"accepted"' in output    # the share was accepted


def test_running_the_daemons_separately_works_as_written(home):
    (block,) = literal_blocks('Running the daemons separately', 'The registry API')
    var_lib = os.path.exists('/var/lib/glance')
    script = '\n'.join([
        block.replace('. .venv/bin/activate', ': the test runs in the venv'),
        WAIT_FOR_API,
        'curl -s -X POST http://127.0.0.1:9292/v2/images -H "Content-Type: '
        'application/json" -d \'{"id": "%s", "disk_format": "raw", '
        '"container_format": "bare"}\'' % IMAGE_ID,
        'curl -sf -X PUT http://127.0.0.1:9292/v2/images/%s/file -H "Content-Type: '
        'application/octet-stream" --data-binary "image data"' % IMAGE_ID,
        'glance-manage --config-file etc/glance-registry.conf '
        '--config-file ~/glance/local.conf db version',
        'kill %glance-api %glance-registry',
        'wait',
    ])
    run_in_own_network(script, ROOT, home)
    # Everything under the user's home: a non-root user can write it.
    assert os.path.exists(os.path.join(home, 'glance', 'glance.sqlite'))
    with open(os.path.join(home, 'glance', 'images', IMAGE_ID), 'rb') as f:
        assert f.read() == b'image data'
    assert os.path.exists('/var/lib/glance') == var_lib


IMAGE_ID = '2f9c8a47-5d0e-4b6a-9c41-7e3d2b1a0f58'
