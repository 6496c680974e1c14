"""Citations are the sources an answer used: its [n] markers (renumbered, streamed too), else
the sources its sentences match; a model that cannot read sources cites none."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aigc.knowledge import citing, grounding
from aigc.knowledge.retrieve import Hit
from aigc.models.protocols import ToolCallDelta
from aigc.models.stopping import Ended
from aigc.models.upstream import Logged

TEXTS = [
    "Printer P-204 on the second floor prints double-sided in colour.",
    "The canteen serves lunch from 11:30 to 14:00 on weekdays.",
    "Connect to the VPN with the GlobalProtect client and your hardware token.",
]


def hits() -> list[Hit]:
    return [
        Hit(i, "kb", f"d{i}", f"f{i}.txt", None, [], text, 1.0 - i / 10, None, 1.0)
        for i, text in enumerate(TEXTS, start=1)
    ]


def test_only_cited_sources_are_returned_renumbered_in_the_order_cited() -> None:
    use = citing.SourceUse(hits(), "Which floor is printer P-204 on?")
    text = use.rewrite("Lunch is at 11:30 [2]. The printer [3][2] and 【2】, [1，3] but [9].")
    assert text == "Lunch is at 11:30 [1]. The printer [2][1] and [1], [3, 2] but ."
    cited = use.citations()
    assert [(c["index"], c["filename"]) for c in cited] == [
        (1, "f2.txt"),
        (2, "f3.txt"),
        (3, "f1.txt"),
    ]
    assert use.summary() == {"sources_given": 3, "cited": 3, "cited_by": "markers"}
    only = citing.SourceUse(hits(), "When is lunch?")
    assert only.rewrite("From 11:30 [2].") == "From 11:30 [1]."
    assert [(c["index"], c["document"]) for c in only.citations()] == [(1, "d2")]


def test_markers_split_across_streamed_pieces_are_renumbered_as_a_whole() -> None:
    pieces = ["Lunch ", "is at 11:30 [", "2", "]. Printer [3", ", 2", "] and [note] ", "【", "3】"]

    async def source() -> AsyncIterator[object]:
        for piece in pieces:
            yield piece

    async def run(use: citing.SourceUse) -> list[object]:
        return [p async for p in use.rewrite_stream(source())]

    streamed = citing.SourceUse(hits(), "q")
    out = asyncio.run(run(streamed))
    whole = citing.SourceUse(hits(), "q").rewrite("".join(pieces))
    assert (
        "".join(str(p) for p in out)
        == whole
        == ("Lunch is at 11:30 [1]. Printer [2, 1] and [note] [2]")
    )
    assert len(out) > 3  # still a stream: only a possible marker is held back
    assert [c["filename"] for c in streamed.citations()] == ["f2.txt", "f3.txt"]


def test_text_held_for_a_possible_marker_goes_out_before_a_tool_call() -> None:
    """A piece that might open a marker ("see [") is held for the next text; when a tool call
    comes next, the held text goes first, so the answer keeps its order. The call itself
    passes (a ``ToolCallDelta`` is an empty ``str``: read as text, it vanished)."""
    call = ToolCallDelta(0, id="call_1", name="floor_plan")
    pieces: list[object] = ["The printer is on floor 2 [1]; see [", call, "later."]

    async def source() -> AsyncIterator[object]:
        for piece in pieces:
            yield piece

    async def run() -> list[object]:
        return [p async for p in citing.SourceUse(hits(), "q").rewrite_stream(source())]

    out = asyncio.run(run())
    assert any(p is call for p in out)
    at = next(i for i, p in enumerate(out) if p is call)
    assert at == len(out) - 2
    assert "".join(str(p) for p in out[:at]) == ("The printer is on floor 2 [1]; see [")


def test_text_that_carries_its_tokens_is_read_for_markers() -> None:
    """An upstream asked for logprobs yields its text as ``Logged`` (a ``str`` subclass with
    the tokens): it was passed on as if it were a tool call, so its markers were never read
    and a grounded answer through an upstream cited nothing."""
    pieces: list[object] = [
        Logged("Printer P-204 is on the second floor [", []),
        Logged("1].", [{"token": "1].", "logprob": -0.1, "bytes": list(b"1].")}]),
        Ended("stop"),
    ]

    async def source() -> AsyncIterator[object]:
        for piece in pieces:
            yield piece

    async def run(use: citing.SourceUse) -> list[object]:
        return [p async for p in use.rewrite_stream(source())]

    use = citing.SourceUse(hits(), "Which floor is printer P-204 on?")
    out = asyncio.run(run(use))
    assert "".join(str(p) for p in out) == "Printer P-204 is on the second floor [1]."
    assert out[-1] is pieces[-1]  # the end marker passes, in its place
    assert [c["filename"] for c in use.citations()] == ["f1.txt"]


def test_an_answer_without_markers_cites_the_sources_its_sentences_match() -> None:
    use = citing.SourceUse(hits(), "How do I connect to the VPN?")
    use.rewrite("Use the GlobalProtect client with your hardware token to connect to the VPN.")
    assert [c["filename"] for c in use.citations()] == ["f3.txt"]
    assert use.summary()["cited_by"] == "matching"
    # the help desk's own steps, unrelated to what the documents say: nothing is cited
    own = citing.SourceUse(hits(), "How do I connect to the VPN?")
    own.rewrite("Open vpn.example.com in a browser and sign in with your e-mail password.")
    assert own.citations() == []


def test_a_model_that_cannot_read_sources_cites_none_and_says_so() -> None:
    for question, lang in (("How do I connect to the VPN?", "en"), ("怎么连接 VPN？", "zh")):
        use = citing.SourceUse(hits(), question, reads_sources=False)
        answer = "Use the GlobalProtect client with your hardware token [3]."
        assert use.rewrite(answer) == answer  # its text is its own: left as it is
        assert use.citations() == []
        summary = use.summary()
        assert summary["cited"] == 0 and summary["cited_by"] is None
        assert summary["note"] == citing.NOT_READ[lang]
    nothing = citing.response_fields(citing.SourceUse([], "q"))
    assert nothing == {
        "citations": [],
        "grounding": {"sources_given": 0, "cited": 0, "cited_by": None},
    }
    assert citing.response_fields(None) == {}
    assert grounding.citations([]) == []


def test_the_choices_of_one_response_share_one_numbering() -> None:
    """n > 1: every choice's markers and the one citations list agree."""
    use = citing.SourceUse(hits(), "q")
    assert use.rewrite("Lunch [3].") == "Lunch [1]."
    assert use.rewrite("Printer [1], lunch [3].") == "Printer [2], lunch [1]."
    assert [(c["index"], c["filename"]) for c in use.citations()] == [(1, "f3.txt"), (2, "f1.txt")]


CODE_ANSWER = (
    "Call `items[1]` or my_list[2] as the guide[3] shows.\n"
    "```python\nfloors = [1, 2]\nprint(floors[1])\n```\n"
    "The printer [2][3] is on the second floor, 在二楼[3]。 See the [manual][1] too."
)


def test_brackets_in_code_or_after_an_identifier_are_not_markers() -> None:
    """Code spans, fenced blocks, my_list[2] and a Markdown reference link [manual][1] keep
    their brackets as written; the markers of the prose around them are renumbered, chained
    ones ([2][3]) and one right after a word (guide[3], as encyclopaedias write them) too."""
    use = citing.SourceUse(hits(), "q")
    assert use.rewrite(CODE_ANSWER) == (
        "Call `items[1]` or my_list[2] as the guide[1] shows.\n"
        "```python\nfloors = [1, 2]\nprint(floors[1])\n```\n"
        "The printer [2][1] is on the second floor, 在二楼[1]。 See the [manual][1] too."
    )
    assert [c["filename"] for c in use.citations()] == ["f3.txt", "f2.txt"]
    marked = citing.marker_matches(use.rewrite(CODE_ANSWER))
    assert [numbers for _, numbers in marked] == [[1], [2], [1], [1]]
    # a stray backtick (an apostrophe typed as one) hides no more than the rest of its line
    stray = citing.SourceUse(hits(), "q")
    assert stray.rewrite("Don`t print [2]\nThe printer [3].") == "Don`t print [2]\nThe printer [1]."


def test_a_json_answer_keeps_its_data_and_renumbers_markers_in_its_strings() -> None:
    """Under response_format the answer is JSON: [2, 3] between its strings is data (before,
    it was renumbered to [1, 2]); a marker inside a string is a citation."""
    answer = '{"floors": [2, 3], "grid": [[1], [3]], "answer": "On floor 2 [3].", "q": "\\" [2]"}'
    use = citing.SourceUse(hits(), "q", mode="json")
    out = use.rewrite(answer)
    assert out == (
        '{"floors": [2, 3], "grid": [[1], [3]], "answer": "On floor 2 [1].", "q": "\\" [2]"}'
    )
    assert [c["filename"] for c in use.citations()] == ["f3.txt", "f2.txt"]
    assert [n for _, n in citing.marker_matches(out, "json")] == [[1], [2]]


def test_a_regex_or_choice_answer_is_never_rewritten() -> None:
    use = citing.SourceUse(hits(), "Which floor?", mode="none")
    assert use.rewrite("Floor [2]") == "Floor [2]"
    assert use.summary()["cited_by"] == "matching"


def test_streamed_code_and_json_are_judged_as_the_whole_answer_is() -> None:
    """Pieces that split a run of backticks or a JSON string give the same text as the whole
    answer rewritten at once."""

    async def run(use: citing.SourceUse, pieces: list[str]) -> str:
        async def source() -> AsyncIterator[object]:
            for piece in pieces:
                yield piece

        return "".join([str(p) async for p in use.rewrite_stream(source())])

    for mode, answer in (
        ("text", CODE_ANSWER),
        ("json", '{"floors": [2, 3], "answer": "On floor 2 [3] and \\"x\\" [2]."}'),
    ):
        whole = citing.SourceUse(hits(), "q", mode=mode).rewrite(answer)  # type: ignore[arg-type]
        for size in (1, 2, 3, 7):
            pieces = [answer[i : i + size] for i in range(0, len(answer), size)]
            streamed = citing.SourceUse(hits(), "q", mode=mode)  # type: ignore[arg-type]
            assert asyncio.run(run(streamed, pieces)) == whole, (mode, size)


def test_full_width_brackets_and_digits_are_markers_as_chinese_text_writes_them() -> None:
    """［2］ (full-width brackets) and 【１】 (a full-width digit) as Chinese typesetting writes
    them are citations like [2]; [１-3] is still no marker."""
    use = citing.SourceUse(hits(), "打印机在几楼？")
    text = use.rewrite("打印机在二楼［2］，午饭在十一点半【１】，见［１-3］。")
    assert text == "打印机在二楼[1]，午饭在十一点半[2]，见［１-3］。"
    assert [c["filename"] for c in use.citations()] == ["f2.txt", "f1.txt"]
