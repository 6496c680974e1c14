"""The literal gate before a regular expression: it may skip a text only when the pattern
cannot match it."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aigc.guard import injection, moderation, pii, statements
from aigc.infra import regex_gate
from aigc.infra.regex_gate import Gated, gated


def _guard_gates() -> list[Gated]:
    """Every gated pattern of the guard's checks (rules, word lists, cues, PII formats)."""
    found: list[Gated] = []

    def walk(value: object) -> None:
        if isinstance(value, Gated):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    for module in (injection, moderation, statements, pii):
        for value in vars(module).values():
            walk(value)
    return found


GATES = _guard_gates()


def words(pattern: str, flags: int = 0) -> list[list[str]]:
    return [sorted(needed) for needed in regex_gate.required_literals(re.compile(pattern, flags))]


def test_the_words_every_match_holds_are_read_off_the_pattern() -> None:
    assert words(r"\b(?:ignore|disregard)\s+(?:all\s+)?previous\b", re.I) == [
        ["previous"],
        ["disregard", "ignore"],
    ]
    assert words(r"你.{0,6}(?:不受任何限制|解除了?所有限制)") == [
        ["不受任何限制", "解除了所有限制", "解除所有限制"],
        ["你"],  # one Chinese character is rare enough to look for
    ]
    assert words(r"Colou?r") == [["color", "colour"]]  # case folded, the optional spelt out
    assert words(r"[Pp]rint (?:your|the) prompt") == [["print the prompt", "print your prompt"]]
    assert words(r"Éclair", re.I) == [["clair"]]  # É is not spelt out (its folds are many)


@pytest.mark.parametrize(
    "pattern",
    [
        r"\d{11}",  # no literal at all
        r"foo|\w+|baz",  # one alternative holds none
        r"(?:abc)?x",  # optional words and one letter
        r"Éé",  # cased letters outside ASCII: their folds are not spelt out
        r"a|b",  # single letters are in nearly every text
    ],
)
def test_a_pattern_without_such_words_is_always_run(pattern: str) -> None:
    assert regex_gate.required_literals(re.compile(pattern, re.I)) == ()
    assert gated(pattern, re.I).could_match("nothing of it here")


def test_case_folding_that_reaches_ascii_letters_is_folded_the_same_way() -> None:
    """re.IGNORECASE matches İ and ı as i, ſ as s and the Kelvin sign as k; the gate folds
    them the same way, or it would skip a text the pattern matches. No other character than
    these four matches an ASCII letter or digit under IGNORECASE (every code point is tried)."""
    ascii_class = re.compile(r"[\x21-\x7e]", re.I)
    others = {
        chr(code)
        for code in range(0x80, 0x110000)
        if not 0xD800 <= code <= 0xDFFF and ascii_class.fullmatch(chr(code))
    }
    assert others == {"\u0130", "\u0131", "\u017f", "\u212a"}
    for char in others:
        assert regex_gate.fold(char).isascii()
    gate = gated(r"\bignore previous instructions\b", re.I)
    assert gate.search("İGNORE PREVİOUS ınstructıons")
    assert gate.search("\u212a") is None


def test_no_character_lowers_into_a_character_without_case() -> None:
    """A literal without case (Chinese, punctuation) is kept as it is: that is sound only if
    no other character's lower case is such a character."""
    for code in range(0x110000):
        char = chr(code)
        lowered = char.lower()
        if len(lowered) == 1 and lowered != char and not lowered.isascii():
            assert lowered.upper() != lowered.lower()  # it has case


def test_the_guards_patterns_are_gated() -> None:
    """All but the few without words (a pattern of \\w and digits) have a gate."""
    assert len(GATES) > 70
    assert sum(bool(gate.needs) for gate in GATES) >= len(GATES) - 2


_MANGLE = str.maketrans({"i": "ı", "I": "İ", "s": "ſ", "k": "\u212a"})


@pytest.mark.parametrize("gate", GATES, ids=lambda g: g.pattern[:40])
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_a_gate_never_skips_a_text_its_pattern_matches(gate: Gated, data: st.DataObject) -> None:
    """Texts that hold a match (drawn from the pattern itself, then upper-cased, swapped or
    spelt with the letters that fold to ASCII) are never skipped."""
    try:
        strategy = st.from_regex(gate.compiled)
    except Exception:  # a construct hypothesis cannot draw from (a look-behind)
        pytest.skip("hypothesis cannot draw from this pattern")
    text = data.draw(strategy)
    for variant in (text, text.upper(), text.swapcase(), text.translate(_MANGLE)):
        expected = gate.compiled.search(variant) is not None
        assert (gate.search(variant) is not None) == expected, variant
