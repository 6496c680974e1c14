"""Chunks of what a person can read: encoded data is marked, not chunked; no chunk is longer
than its token budget allows in characters, whatever the tokenizer makes of a run."""

from __future__ import annotations

import base64
import random

from sqlalchemy import select

from aigc.knowledge.chunk import MAX_CHARS_PER_TOKEN, chunk_blocks, token_counter
from aigc.knowledge.parse import Block, parse
from aigc.knowledge.tables import KbChunk

from .conftest import Sandbox

PICTURE = base64.b64encode(random.Random(5).randbytes(30_000)).decode()


def test_an_image_pasted_into_markdown_is_marked_not_chunked(sandbox: Sandbox) -> None:
    """A Markdown note with a screenshot pasted as a data: URI (as Typora and Obsidian paste
    them) became 127 chunks, 125 of them base64, each embedded, indexed and citable."""
    note = (
        "# 季度报告\n\n第二季度销售额增长了百分之四。\n\n"
        f"![销售图表](data:image/png;base64,{PICTURE})\n\nCosts fell by 2% in Q2.\n"
    )
    chunks = chunk_blocks(parse(note.encode(), "md"), token_counter())
    assert len(chunks) == 1
    assert "销售图表" in chunks[0].text and "Costs fell" in chunks[0].text
    assert "[encoded data, 40,022 characters]" in chunks[0].text
    assert PICTURE[:100] not in chunks[0].text

    kb = sandbox.kb(sandbox.admin_a, "notes", dense=False)
    result = sandbox.ingest(sandbox.admin_a, kb, {"季度报告.md": note.encode()})
    assert result["indexed"] == 1, result
    with sandbox.db.session() as s:
        texts = s.scalars(select(KbChunk.text)).all()
    assert len(texts) == 1 and PICTURE[:100] not in texts[0]


def test_a_base64_column_of_a_table_is_marked() -> None:
    rows = "id,name,photo\n1,张三," + PICTURE + "\n2,李四,none\n"
    chunks = chunk_blocks(parse(rows.encode(), "csv"), token_counter())
    assert all(PICTURE[:100] not in c.text for c in chunks)
    assert any("张三" in c.text for c in chunks) and any("李四" in c.text for c in chunks)


def test_a_run_the_tokenizer_reads_as_one_token_is_cut_by_characters() -> None:
    """MiniLM's tokenizer reads a word of over 100 characters as one unknown token: a 39 KB
    run without spaces counted as one token and made one 39 KB chunk."""
    run = "".join(f"x{i}" for i in range(8000))
    chunks = chunk_blocks([Block(run)], token_counter())
    assert len(chunks) > 1
    assert max(len(c.text) for c in chunks) <= 200 * MAX_CHARS_PER_TOKEN
    assert "".join(c.text for c in chunks) == run


def test_long_ordinary_runs_are_no_encoded_data() -> None:
    """Only runs that look encoded (digits and both cases, no word looks so) are marked."""
    path = "/".join(["reports"] * 60)  # a long path of words: no digits, one case
    hexes = "ab12" * 100  # hex: no upper case
    text = f"See {path} and the digest {hexes}."
    chunks = chunk_blocks([Block(text)], token_counter())
    joined = " ".join(c.text for c in chunks)
    assert "encoded data" not in joined
    assert path[:200] in joined
