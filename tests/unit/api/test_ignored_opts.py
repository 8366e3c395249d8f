"""The upstream options glance-api accepts and ignores (``glance_api.ignored_opts``);
the warnings themselves are tested on the real daemon (tests/functional/
test_startup.py)."""

import os

from glance_api import ignored_opts

README = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'README.rst')


def test_the_readme_lists_each_ignored_option_with_what_is_done_instead():
    with open(README) as f:
        text = ' '.join(f.read().split())
    for group, opt, instead in ignored_opts.IGNORED:
        assert '``[%s] %s`` %s' % (group, opt.dest, instead) in text, opt.dest
