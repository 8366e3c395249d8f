"""Which commit of this project a benchmark ran: recorded in every result file.

``git describe --always --dirty`` in a checkout (``-dirty`` when uncommitted changes
were measured too); in a tree exported with ``git archive`` (no ``.git``), the commit
git wrote into ``bench/REVISION`` as it exported (``export-subst`` in
``.gitattributes``). None when neither is known.
"""

import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
_EXPORTED = os.path.join(HERE, 'REVISION')


def ours():
    try:
        out = subprocess.run(['git', '-C', os.path.dirname(HERE), 'describe', '--always',
                              '--dirty'], capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except OSError:
        pass
    try:
        with open(_EXPORTED) as f:
            exported = f.read().strip()
    except OSError:
        return None
    # Unsubstituted ("$Format:...$") outside an archive.
    return exported if exported and not exported.startswith('$') else None
