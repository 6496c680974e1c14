"""The check for what is no text in JSON bodies, fed as the middleware feeds it: by chunks."""

from __future__ import annotations

import pytest

from aigc.gateway.json_text import UnusableTextWatch


def problem(*chunks: bytes) -> str | None:
    watcher = UnusableTextWatch()
    for chunk in chunks:
        watcher.feed(chunk)
    return watcher.problem()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (rb'{"input": "a \ud800 b"}', "surrogate"),
        (rb'{"\udfff": "as a key"}', "surrogate"),
        (rb'{"input": ["ok", {"deep": ["\uDBFF"]}]}', "surrogate"),
        (rb'{"input": "\ude00\ud83d"}', "surrogate"),  # a pair's halves in the wrong order
        (rb'{"name": "A\u0000B"}', "NUL"),
        (rb'{"messages": [{"role": "user", "content": "x\u0000"}]}', "NUL"),
    ],
)
def test_what_is_no_text_is_found(body: bytes, says: str) -> None:
    found = problem(body)
    assert found is not None and says in found


@pytest.mark.parametrize(
    "body",
    [
        rb'{"input": "\ud83d\ude00"}',  # an escaped pair: one emoji
        '{"input": "😀 中文"}'.encode(),
        rb'{"input": "\\ud800"}',  # an escaped backslash: the text \ud800, six characters
        rb'{"input": "\\u0000"}',
        rb'{"input": "\u4e2d"}',
        b"not json \\ud800",  # not JSON: the route says so, not this check
    ],
)
def test_text_passes(body: bytes) -> None:
    assert problem(body) is None


def test_an_escape_split_across_two_chunks_is_seen() -> None:
    assert problem(b'{"input": "x \\ud', b'800 y"}') is not None
    assert problem(b'{"input": "x \\', b'ud800 y"}') is not None
    assert problem(b'{"name": "x \\u00', b'00"}') is not None
