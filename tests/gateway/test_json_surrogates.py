"""The lone-surrogate check on JSON bodies, fed as the middleware feeds it: chunk by chunk."""

from __future__ import annotations

import pytest

from aigc.gateway.json_surrogates import SurrogateWatch


def watch(*chunks: bytes) -> bool:
    watcher = SurrogateWatch()
    for chunk in chunks:
        watcher.feed(chunk)
    return watcher.holds_lone_surrogate()


@pytest.mark.parametrize(
    "body",
    [
        rb'{"input": "a \ud800 b"}',
        rb'{"\udfff": "as a key"}',
        rb'{"input": ["ok", {"deep": ["\uDBFF"]}]}',
        rb'{"input": "\ude00\ud83d"}',  # the halves of a pair, in the wrong order
    ],
)
def test_a_lone_surrogate_is_found(body: bytes) -> None:
    assert watch(body)


@pytest.mark.parametrize(
    "body",
    [
        rb'{"input": "\ud83d\ude00"}',  # an escaped pair: one emoji
        '{"input": "😀 中文"}'.encode(),
        rb'{"input": "\\ud800"}',  # an escaped backslash: the text \ud800, six characters
        rb'{"input": "\u4e2d"}',
        b"not json \\ud800",  # not JSON: the route says so, not this check
    ],
)
def test_text_that_is_characters_passes(body: bytes) -> None:
    assert not watch(body)


def test_an_escape_split_across_two_chunks_is_seen() -> None:
    assert watch(b'{"input": "x \\ud', b'800 y"}')
    assert watch(b'{"input": "x \\', b'ud800 y"}')
