"""The skip ledger (tests/skips.py), run on an inner pytest session: each skip is listed with
the command that removes it, and AIGC_TEST_NO_SKIPS=1 turns a run with a skip into a failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.skips import DEV_EXTRA, MAKE_DEPS, NO_SKIPS_ENV, SHARED_DATA

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]

SKIPPING = """
import pytest

def test_runs():
    pass

def test_needs_postgres():
    pytest.skip("PostgreSQL is not installed (inner test)")

@pytest.mark.skipif(True, reason="shared data is absent (inner test)")
def test_needs_data():
    pass

@pytest.mark.xfail(reason="an expected failure is no skip")
def test_expected_failure():
    assert False
"""

NOT_SKIPPING = """
import pytest

def test_runs():
    pass

@pytest.mark.xfail(reason="an expected failure is no skip")
def test_expected_failure():
    assert False
"""

# With a test that runs beside it: a session with nothing collected fails anyway (exit 5).
MODULE_SKIPPED = """
import pytest

pytest.importorskip("aigc_no_such_module")

def test_never_collected():
    pass
"""


def run_inner(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, source: str, *, no_skips: bool
) -> pytest.RunResult:
    """Run ``source`` in a separate pytest process with the ledger plugin loaded."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # the ledger alone: a quicker start
    if no_skips:
        monkeypatch.setenv(NO_SKIPS_ENV, "1")
    else:
        monkeypatch.delenv(NO_SKIPS_ENV, raising=False)
    pytester.makepyfile(test_inner=source, test_other="def test_runs():\n    pass\n")
    return pytester.runpytest_subprocess("-p", "tests.skips", "-p", "no:cacheprovider")


def test_each_skip_is_listed_with_the_command_that_removes_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_inner(pytester, monkeypatch, SKIPPING, no_skips=False)
    result.assert_outcomes(passed=2, skipped=2, xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*= skipped tests, by reason =*"])
    result.stdout.fnmatch_lines(
        [
            "1 skipped: PostgreSQL is not installed (inner test)",
            f"    to run them: {MAKE_DEPS}",
            "    e.g. test_inner.py::test_needs_postgres",
        ],
        consecutive=True,
    )
    result.stdout.fnmatch_lines(
        ["1 skipped: shared data is absent (inner test)", f"    to run them: {SHARED_DATA}"],
        consecutive=True,
    )
    result.stdout.no_fnmatch_line(f"*{NO_SKIPS_ENV}*")


def test_no_skips_fails_a_run_that_skipped_and_says_why(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_inner(pytester, monkeypatch, SKIPPING, no_skips=True)
    result.assert_outcomes(passed=2, skipped=2, xfailed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"{NO_SKIPS_ENV}=1: 2 skipped, so this run fails*"])


def test_no_skips_passes_a_run_without_skips(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_inner(pytester, monkeypatch, NOT_SKIPPING, no_skips=True)
    result.assert_outcomes(passed=2, xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*skipped tests, by reason*")


def test_a_module_skipped_at_collection_counts_too(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_inner(pytester, monkeypatch, MODULE_SKIPPED, no_skips=True)
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["1 skipped: could not import 'aigc_no_such_module'*", f"    to run them: {DEV_EXTRA}"],
        consecutive=True,
    )
