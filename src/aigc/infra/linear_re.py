"""Regular expressions that run in linear time, for every pattern someone else wrote.

Python's ``re`` backtracks: ``[a-z]*-?\\d`` over 100,000 letters takes minutes, and a single
request can hold a worker (or the event loop) that long. Patterns from template files, tenant
guard policies and request fields (``guided_regex``) are compiled here with RE2 instead, which
matches in time linear in the text whatever the pattern.

RE2 syntax is Python's minus lookarounds and backreferences; ``\\w``, ``\\d``, ``\\s`` and ``\\b``
are ASCII-only (write ``\\p{L}``, ``\\p{N}`` or ``[^\\p{L}\\p{N}]`` for Unicode classes). A pattern
RE2 cannot compile raises ``LinearRegexError`` with RE2's reason, for a 400 or a config problem.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import re2

# RE2's default memory budget (8 MiB) bounds the compiled program; a tenant's pattern that
# needs more is refused rather than allowed to grow without bound.
_MAX_MEMORY = 8 << 20


class LinearRegexError(ValueError):
    """A pattern RE2 cannot run (lookaround, backreference, bad syntax, too large)."""


class Match(Protocol):
    def group(self, *groups: int | str) -> Any: ...
    def groupdict(self) -> dict[str, str | None]: ...
    def start(self, group: int | str = 0) -> int: ...
    def end(self, group: int | str = 0) -> int: ...
    def span(self, group: int | str = 0) -> tuple[int, int]: ...


class LinearPattern(Protocol):
    """The part of ``re.Pattern``'s interface the RE2 binding offers and we use."""

    @property
    def pattern(self) -> str: ...
    @property
    def groupindex(self) -> dict[str, int]: ...
    def search(self, text: str, pos: int | None = None, endpos: int | None = None) -> Any: ...
    def fullmatch(self, text: str, pos: int | None = None, endpos: int | None = None) -> Any: ...
    def finditer(
        self, text: str, pos: int | None = None, endpos: int | None = None
    ) -> Iterator[Any]: ...


def compile(pattern: str, *, ignore_case: bool = False) -> LinearPattern:
    """``pattern`` compiled by RE2 (Unicode, ``.`` not matching a newline, as in ``re``)."""
    options = re2.Options()
    options.case_sensitive = not ignore_case
    options.max_mem = _MAX_MEMORY
    options.log_errors = False  # the caller reports the problem; RE2 would print it to stderr
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        raise LinearRegexError(_reason(pattern, exc)) from None


def escape(text: str) -> str:
    """``text`` as a literal RE2 pattern."""
    return str(re2.escape(text))


def is_linear(pattern: object) -> bool:
    """Whether ``pattern`` was compiled by RE2 (for tests that check every pattern is)."""
    return type(pattern).__module__.startswith("re2")


def _reason(pattern: str, exc: Exception) -> str:
    """RE2's complaint in words a pattern author can act on."""
    arg = exc.args[0] if exc.args else ""
    detail = arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)
    detail = detail or exc.__class__.__name__
    if any(token in pattern for token in ("(?=", "(?!", "(?<=", "(?<!")):
        return (
            "lookahead/lookbehind ((?=, (?!, (?<=, (?<!) is not supported: patterns run on RE2 "
            f"so that matching takes linear time ({detail})"
        )
    return f"not a valid RE2 pattern ({detail}); lookarounds and backreferences are unsupported"
