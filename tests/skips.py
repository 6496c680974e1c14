"""A pytest plugin that makes skipped tests visible: why, and the command that runs them.

Why: "664 passed, 104 skipped" reads like a pass while a sixth of the suite did not run. At the
end of the session every skip is listed by reason with the command that removes it, and with
AIGC_TEST_NO_SKIPS=1 (as `.ci/run` sets) any skip fails the session.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

NO_SKIPS_ENV = "AIGC_TEST_NO_SKIPS"
MAKE_DEPS = (
    "sudo make deps  (installs PostgreSQL, Redis, Chromium, a CJK font, Tesseract, Node.js and "
    "nginx; Debian)"
)
SHARED_DATA = "put the shared data beside this checkout, in ../shared (see tests that name it)"
DEV_EXTRA = "make venv  (installs the dev extra: pip install -e '.[dev]')"

# Lower-case words of a skip reason → the command that removes that skip. First match wins.
REMEDIES: tuple[tuple[str, str], ...] = (
    ("postgresql is not installed", MAKE_DEPS),
    ("pgvector is not installed", MAKE_DEPS),
    ("redis is not installed", MAKE_DEPS),
    ("chromium is not installed", MAKE_DEPS),
    ("tesseract is not installed", MAKE_DEPS),
    ("nginx is not installed", MAKE_DEPS),
    ("node is not installed", MAKE_DEPS),
    (
        "older than node.js",
        "install Node.js 20 or later (e.g. Debian 13's nodejs, or NodeSource's)",
    ),
    ("kenlm", "make test  (builds KenLM's Python module into .venv first)"),
    ("shared", SHARED_DATA),
    ("could not import", DEV_EXTRA),
    ("needs a cuda gpu", "run `make test-gpu` on a machine with a CUDA GPU (tests/gpu)"),
)


def remedy(reason: str) -> str:
    """The command that removes a skip with this reason, or a pointer to the test itself."""
    lowered = reason.lower()
    for words, command in REMEDIES:
        if words in lowered:
            return command
    return "no known command: read the reason and the test that skips"


@dataclass(eq=False)  # a plugin: pluggy keeps it in sets
class SkipLedger:
    """Every skip of one session (tests and whole modules), by reason."""

    no_skips: bool
    by_reason: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def count(self) -> int:
        return sum(len(ids) for ids in self.by_reason.values())

    def record(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        if not report.skipped or hasattr(report, "wasxfail"):
            return  # an expected failure is reported as skipped too: not a skip
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        self.by_reason[reason.removeprefix("Skipped: ")].append(report.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.record(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self.record(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.no_skips and self.count and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.count:
            return
        terminalreporter.section("skipped tests, by reason", sep="=", yellow=True)
        for reason, ids in sorted(self.by_reason.items(), key=lambda item: -len(item[1])):
            terminalreporter.write_line(f"{len(ids)} skipped: {reason}")
            terminalreporter.write_line(f"    to run them: {remedy(reason)}")
            terminalreporter.write_line(f"    e.g. {ids[0]}")
        if self.no_skips:
            terminalreporter.write_line(
                f"{NO_SKIPS_ENV}=1: {self.count} skipped, so this run fails "
                "(a skip means part of the suite did not run)",
                red=True,
                bold=True,
            )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(
        SkipLedger(no_skips=os.environ.get(NO_SKIPS_ENV) == "1"), "aigc-skip-ledger"
    )
