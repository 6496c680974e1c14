"""guard/windows.py: a long text as windows of whole sentences, nothing lost or repeated."""

from __future__ import annotations

import pytest

from aigc.guard import windows


@pytest.mark.parametrize(
    "text",
    [
        "One sentence. " * 1000,  # many short sentences
        "x" * 9001,  # one run with no sentence end: cut every WINDOW characters
        "第一句话。" * 2000,  # Chinese sentences end without a space
        ("A line without a full stop\n" * 400) + "y" * 5000,
        "Short. " + "z" * 4100 + ". Tail.",  # a sentence longer than a window in the middle
    ],
)
def test_windows_cover_the_text_in_order_and_keep_to_the_size(text: str) -> None:
    pieces = windows.windows(text)
    assert "".join(pieces) == text
    assert all(0 < len(piece) <= windows.WINDOW for piece in pieces)


def test_a_text_that_fits_is_one_window() -> None:
    text = "Hello. " * 500
    assert len(text) <= windows.WINDOW
    assert windows.windows(text) == [text]
    assert windows.windows("") == [""]


def test_windows_end_at_sentence_ends_where_they_can() -> None:
    sentence = "The board approved the budget for next year. "
    pieces = windows.windows(sentence * 300)
    assert len(pieces) > 1
    assert all(piece.endswith(". ") or piece.endswith(".") for piece in pieces[:-1])
