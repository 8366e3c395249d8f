"""The README and every page under docs/ are valid reStructuredText: a broken
heading or list renders as text run together, or not at all, for the operator
reading them on a forge or as HTML."""

import glob
import io
import os

import docutils.core
import docutils.utils
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAGES = ['README.rst'] + sorted(
    os.path.relpath(path, ROOT) for path in glob.glob(os.path.join(ROOT, 'docs', '*.rst')))


@pytest.mark.parametrize('page', PAGES)
def test_the_page_renders_without_a_warning(page):
    with open(os.path.join(ROOT, page)) as f:
        source = f.read()
    warnings = io.StringIO()
    docutils.core.publish_doctree(source, source_path=page, settings_overrides={
        'warning_stream': warnings, 'report_level': docutils.utils.Reporter.WARNING_LEVEL,
        'file_insertion_enabled': False, 'raw_enabled': False})
    assert warnings.getvalue() == ''
