"""The suite's skip policy, run on small suites of its own (``tests/fixtures/skips.py``):
under ``CI=true`` nothing is skipped but what ``ALLOWED`` lists, however the skip was
made; elsewhere the end of the run says what was skipped for a missing service."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The wiring under test is tests/conftest.py's: the small suites use it as is.
CONFTEST = 'from tests.conftest import pytest_configure  # noqa: F401\n'

HEADER = 'import pytest\nfrom tests.fixtures import skips\n'

TESTS = {
    'runs': 'def test_runs():\n    pass\n',
    'stray skip': 'def test_stray_skip():\n    pytest.skip("a stray skip")\n',
    'skip marker': '@pytest.mark.skipif(True, reason="a marker")\n'
                   'def test_skipped_by_a_marker():\n    pass\n',
    'xfail': '@pytest.mark.xfail(reason="a known bug")\n'
             'def test_expected_to_fail():\n    assert False\n',
    'not applicable': 'def test_not_for_this_backend():\n'
                      '    skips.not_applicable("an SQLite query plan")\n',
    'unlisted reason': 'def test_unlisted():\n'
                       '    skips.not_applicable("just because")\n',
    'no PostgreSQL': 'def test_needs_postgresql():\n'
                     '    skips.unavailable("PostgreSQL", "no server reachable")\n',
}


def run_suite(tmp_path, ci, *tests):
    """Run a suite of the ``TESTS`` named; its exit code and output."""
    (tmp_path / 'conftest.py').write_text(CONFTEST)
    (tmp_path / 'test_small.py').write_text(
        HEADER + ''.join('\n\n' + TESTS[name] for name in tests))
    env = {k: v for k, v in os.environ.items() if k != 'CI'}
    env['PYTHONPATH'] = ROOT
    if ci:
        env['CI'] = 'true'
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', '-rs', str(tmp_path)],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize('test, reason, node', [
    ('stray skip', 'a stray skip', 'test_stray_skip'),
    ('skip marker', 'a marker', 'test_skipped_by_a_marker'),
    ('xfail', 'xfail: a known bug', 'test_expected_to_fail'),
])
def test_ci_fails_a_run_with_a_skip_not_allowed(tmp_path, test, reason, node):
    code, output = run_suite(tmp_path, True, 'runs', test)
    assert code == 1, output
    assert 'skips CI may not have' in output
    assert '1 skipped: %s' % reason in output
    assert 'test_small.py::%s' % node in output


def test_ci_fails_a_test_whose_service_is_missing(tmp_path):
    code, output = run_suite(tmp_path, True, 'runs', 'no PostgreSQL')
    assert code == 1, output
    assert '1 failed, 1 passed' in output
    assert 'missing PostgreSQL: no server reachable' in output


def test_ci_passes_with_only_allowed_skips(tmp_path):
    code, output = run_suite(tmp_path, True, 'runs', 'not applicable')
    assert code == 0, output
    assert '1 passed, 1 skipped' in output
    assert 'skips CI may not have' not in output


def test_an_unlisted_reason_is_refused_even_outside_ci(tmp_path):
    code, output = run_suite(tmp_path, False, 'unlisted reason')
    assert code == 1, output
    assert "'just because' is not in tests/fixtures/skips.py ALLOWED" in output


def test_a_run_without_a_service_ends_saying_it_is_not_a_full_run(tmp_path):
    code, output = run_suite(tmp_path, False, 'runs', 'no PostgreSQL', 'not applicable')
    assert code == 0, output
    summary = output[output.index('NOT A FULL RUN'):]
    assert '1 test skipped because a service or tool is missing' in summary
    assert 'PostgreSQL: start a PostgreSQL server on 127.0.0.1:5432' in summary
    assert 'CI=true' in summary
    # What was not run for lack of a service is counted apart from what never
    # applied.
    assert 'SQLite' not in summary


def test_a_full_run_says_nothing_more(tmp_path):
    code, output = run_suite(tmp_path, False, 'runs', 'not applicable')
    assert code == 0, output
    assert 'NOT A FULL RUN' not in output
