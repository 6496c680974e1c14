"""Skip a regular expression on a text that cannot match it, by the words every match holds.

The guard runs dozens of word-list patterns over every request, and Python's ``re`` tries each
alternative at each position of the text: 0.05–0.25 ms per pattern per KB, though most texts
hold none of the words. Every match of ``\\b(?:ignore|disregard)\\s+(?:all )?previous`` holds
"ignore" or "disregard", and "previous"; ``required_literals`` reads such sets off the parsed
pattern, and ``Gated.search`` runs the pattern only when the case-folded text holds a word of
each. The words are looked for by RE2: a plain alternation of literals means the same to RE2
as to ``re`` and takes about 2 µs a KB for 90 words. The sets are derived from the pattern,
never written beside it, so an edited pattern cannot leave a stale gate behind; a pattern
with no literal every match needs (``\\d{11}``) is simply always run.

Case: the text is folded as ``fold`` does (the four characters that ``re.IGNORECASE`` matches to
an ASCII letter, then ``str.lower``) and a literal is kept only when it is ASCII or a character
without case (Chinese): whatever the pattern matches, with or without IGNORECASE, the folded
text then contains the folded literal. Parsing uses ``re._parser``, the parser ``re.compile``
itself uses (CPython 3.11); a construct not understood below means "no requirement" there,
which only makes the gate pass more.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

import re2

# Past this many alternatives a branch is not spelt out (the run before it still counts).
_MAX_STRINGS = 64
_MAX_CLASS = 8  # a character class of up to this many letters, [-_ ], is spelt out too
# The characters other than A–Z that re.IGNORECASE matches to an ASCII letter
# (tests/infra/test_regex_gate.py checks every code point).
_ASCII_FOLDS = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})

Strings = frozenset[str]


def fold(text: str) -> str:
    """``text`` as the gates compare it: those four characters made ASCII, then lower case."""
    return text.translate(_ASCII_FOLDS).lower()


@lru_cache(maxsize=8)  # the checks of one request ask for the same text's fold in turn
def _folded_utf8(text: str) -> bytes:
    # (a lone surrogate is kept as its three bytes: no word holds one)
    return fold(text).encode("utf-8", "surrogatepass")


class Gated:
    """A compiled pattern that looks at a text only when the text holds a word of each set
    that every match holds a word of. ``search`` and ``finditer`` answer as the pattern does
    (a text without them has no match); the guard calls nothing else on its patterns."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.compiled = pattern
        self.pattern = pattern.pattern
        self.needs = required_literals(pattern)
        options = re2.Options()
        options.log_errors = False
        self._any_of: list[Any] = [  # one RE2 pattern of the words of each set
            re2.compile("|".join(re2.escape(w) for w in sorted(words)).encode(), options)
            for words in self.needs
        ]

    def could_match(self, text: str) -> bool:
        """Whether ``text`` holds a word of each set (True when the pattern has none)."""
        if not self._any_of:
            return True
        folded = _folded_utf8(text)
        return all(words.search(folded) is not None for words in self._any_of)

    def search(self, text: str) -> re.Match[str] | None:
        return self.compiled.search(text) if self.could_match(text) else None

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self.compiled.finditer(text) if self.could_match(text) else iter(())


def gated(pattern: str, flags: int = 0) -> Gated:
    """``re.compile(pattern, flags)`` behind its literal gate."""
    return Gated(re.compile(pattern, flags))


def required_literals(pattern: re.Pattern[str]) -> tuple[Strings, ...]:
    """Sets of folded words such that every match of ``pattern`` holds a word of each, the
    rarest first (at most ``_MAX_SETS``); none when the pattern has no such set worth testing."""
    try:
        parsed = _parser.parse(pattern.pattern, pattern.flags)
    except Exception:  # a pattern re.compile accepted; anything odd: no gate
        return ()
    exact, required = _sequence(list(parsed))
    sets = {*required, *_required_of(exact)}
    # one letter, digit or space is in nearly every text (an "@" is not): such a set would
    # only cost
    useful = [words for words in sets if not any(_common_char(w) for w in words)]
    kept: list[Strings] = []
    for words in sorted(useful, key=_selectivity, reverse=True):
        if not any(_implies(other, words) for other in kept):
            kept.append(words)
    return tuple(kept[:_MAX_SETS])


def _common_char(word: str) -> bool:
    return len(word) < 2 and word.isascii() and (word.isalnum() or word.isspace())


def _implies(a: Strings, b: Strings) -> bool:
    """Whether a text holding a word of ``a`` holds a word of ``b`` (each word of ``a`` has
    one of ``b`` in it): ``b`` then rules out nothing more."""
    return all(any(word in longer for word in b) for longer in a)


_MAX_SETS = 3


def _fold_char(code: int) -> str | None:
    char = chr(code)
    if char.isascii():
        return char.lower()
    if char.lower() == char == char.upper() and char not in "\u0130\u0131\u017f\u212a":
        return char  # no case: Chinese, most punctuation
    return None  # a cased letter outside ASCII: its fold is not spelt out here


def _required_of(exact: Strings | None) -> list[Strings]:
    if exact is None or "" in exact:
        return []
    return [exact]


def _selectivity(words: Strings) -> tuple[int, int]:
    """How much a set rules out: its shortest word (a Chinese character counts two letters,
    six letters are rare enough), then fewer words."""
    return min(6, min(sum(1 if c.isascii() else 2 for c in w) for w in words)), -len(words)


def _sequence(items: Iterable[tuple[Any, Any]]) -> tuple[Strings | None, list[Strings]]:
    """(every string the items can match, when few; sets every match holds a word of each)."""
    required: list[Strings] = []
    run: Strings = frozenset({""})  # what the current run of spelt-out items matches
    whole: Strings | None = run
    for item in items:
        exact, needed = _node(item)
        required += needed
        if exact is not None and len(run) * len(exact) <= _MAX_STRINGS:
            run = frozenset(a + b for a in run for b in exact)
            whole = run if whole is not None else None
            continue
        required += _required_of(run)
        whole = None
        run = exact if exact is not None else frozenset({""})
    return whole, required + _required_of(run)


def _node(item: tuple[Any, Any]) -> tuple[Strings | None, list[Strings]]:
    op, arg = item
    if op is sre.LITERAL:
        char = _fold_char(arg)
        return (None, []) if char is None else (frozenset({char}), [])
    if op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
        return frozenset({""}), []  # takes no characters of its own
    if op is sre.IN:
        return _class_chars(arg), []
    if op is sre.SUBPATTERN:
        return _sequence(arg[-1])
    if op is sre.ATOMIC_GROUP:
        return _sequence(arg)
    if op is sre.BRANCH:
        return _branch(arg[1])
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        low, high, body = arg
        exact, required = _sequence(body)
        if low == 0:
            return (exact | {""} if exact is not None and high == 1 else None), []
        if low == high == 1:
            return exact, required
        return None, required + _required_of(exact)
    return None, []  # any character, a category, a back-reference: nothing spelt out


def _branch(alternatives: list[Any]) -> tuple[Strings | None, list[Strings]]:
    """A branch's strings (all its alternatives spelt out) and one set: the union of each
    alternative's most selective set (when every alternative has one)."""
    exacts: list[Strings | None] = []
    best: list[Strings] = []
    for alternative in alternatives:
        exact, required = _sequence(alternative)
        exacts.append(exact)
        candidates = required + _required_of(exact)
        if candidates:
            best.append(max(candidates, key=_selectivity))
    union_exact: Strings | None = None
    if all(e is not None for e in exacts):
        union_exact = frozenset().union(*(e for e in exacts if e is not None))
        if len(union_exact) > _MAX_STRINGS:
            union_exact = None
    if len(best) < len(alternatives):
        return union_exact, []
    return union_exact, [frozenset().union(*best)]


def _class_chars(items: list[tuple[Any, Any]]) -> Strings | None:
    """The folded characters of a small class of literals and ranges ([-_ ], [a-c])."""
    chars: set[str] = set()
    for op, arg in items:
        if op is sre.LITERAL:
            codes: Iterable[int] = (arg,)
        elif op is sre.RANGE and arg[1] - arg[0] < _MAX_CLASS:
            codes = range(arg[0], arg[1] + 1)
        else:
            return None  # a negation, a category (\s, \w) or a wide range
        for code in codes:
            char = _fold_char(code)
            if char is None:
                return None
            chars.add(char)
    return frozenset(chars) if 0 < len(chars) <= _MAX_CLASS else None
