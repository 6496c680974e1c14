"""Stop sequences and max_tokens, applied the same way to every model's stream."""

from __future__ import annotations

from aigc.models.stopping import BoundedText, CountedText, Ended
from aigc.models.tokens import count_tokens, split_tokens


def run(text: str, stop: list[str], max_tokens: int = 1000) -> tuple[str, BoundedText]:
    bounded = BoundedText(
        split_tokens(text), stop=stop, max_tokens=max_tokens, count_tokens=count_tokens
    )
    return "".join(bounded), bounded


def test_no_stop_streams_everything() -> None:
    out, bounded = run("Hello there, friend.", [])
    assert out == "Hello there, friend." and bounded.finish_reason == "stop"
    assert bounded.tokens == count_tokens("Hello there, friend.")


def test_stop_sequence_spanning_pieces_is_cut_and_not_sent() -> None:
    out, bounded = run("Step one. Step two. Step three.", ["two. Step"])
    assert out == "Step one. Step " and bounded.finish_reason == "stop"


def test_stop_in_chinese_text() -> None:
    out, _ = run("第一步：打开设置。第二步：重启。", ["第二步"])
    assert out == "第一步：打开设置。"


def test_max_tokens_ends_with_length() -> None:
    out, bounded = run("one two three four five", [], max_tokens=3)
    assert out == "one two three" and bounded.finish_reason == "length" and bounded.tokens == 3
    out, bounded = run("one two three four five", ["zzz"], max_tokens=2)
    assert out == "one two" and bounded.finish_reason == "length"


def test_held_back_tail_is_flushed_at_the_end() -> None:
    out, _ = run("abc de", ["xyz-long-stop"])
    assert out == "abc de"


def test_counted_pieces_are_not_tokenized_again() -> None:
    def no_counting(_: str) -> int:
        raise AssertionError("a piece that knows its token count was counted again")

    pieces = [CountedText("Hello", 1), CountedText(" wor", 2), CountedText("ld", 0)]
    bounded = BoundedText(pieces, stop=[], max_tokens=3, count_tokens=no_counting)
    assert "".join(bounded) == "Hello world" and bounded.tokens == 3
    bounded = BoundedText(pieces, stop=[], max_tokens=2, count_tokens=no_counting)
    assert "".join(bounded) == "Hello" and bounded.finish_reason == "length"


def bounded(pieces: list[str], max_tokens: int, stop: list[str] | None = None) -> BoundedText:
    out = BoundedText(pieces, stop=stop or [], max_tokens=max_tokens, count_tokens=count_tokens)
    "".join(out)
    return out


def test_a_model_that_stops_at_max_tokens_itself_says_length() -> None:
    """Issue 16: the model ends at the limit, so no piece passes it; its word decides."""
    assert bounded(["one", " two", Ended("length")], 2).finish_reason == "length"
    assert bounded(["one", " two", Ended("stop")], 2).finish_reason == "stop"  # end-of-text
    assert bounded(["one", Ended("length")], 5).finish_reason == "length"  # its context


def test_a_silent_model_that_reached_max_tokens_ended_by_length() -> None:
    assert bounded(["one", " two"], 2).finish_reason == "length"
    assert bounded(["one", " two"], 3).finish_reason == "stop"


def test_the_gateways_own_cut_wins_over_the_models_word() -> None:
    assert bounded(["one", " two", " three", Ended("stop")], 2).finish_reason == "length"
    assert bounded(["one", " two", Ended("length")], 2, stop=["two"]).finish_reason == "stop"


def test_a_piece_of_many_tokens_is_cut_at_the_limit_not_dropped() -> None:
    """A fixed answer ("no relevant document…") or an upstream chunk comes as one piece of
    many tokens: max_tokens keeps its start (it used to drop it, leaving an empty answer)."""

    def cut(pieces: list[str], max_tokens: int, stop: list[str]) -> tuple[str, str]:
        out = BoundedText(pieces, stop=stop, max_tokens=max_tokens, count_tokens=count_tokens)
        return "".join(out), out.finish_reason

    assert cut(["No relevant document was found."], 3, []) == ("No relevant document", "length")
    head, reason = cut(["知识库中没有找到与该问题相关的文档。"], 4, [])
    assert head == "知识库中" and reason == "length"
    assert cut(["one", " two three four"], 3, []) == ("one two three", "length")
    assert cut(["one two three four"], 2, ["zz"]) == ("one two", "length")  # held text sent
    assert cut(["one two three four"], 3, [" two"]) == ("one", "stop")  # a stop inside wins
