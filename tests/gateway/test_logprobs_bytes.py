"""Logprobs of byte-level tokens (the tiny Qwen2: one token per byte, so a Korean character
is three tokens): one entry per token with the token's own bytes, as OpenAI gives them.

Seed 4 makes the random model write one three-byte character for prompt "VPN" (checked).
Before, every part of it decoded alone as U+FFFD: chat gave that character's bytes (EF BF BD)
for each, completions kept one entry of three (its text offsets counted the U+FFFD as a whole
character), and ``top_logprobs`` keys collapsed onto "\\ufffd" (6 asked, 3 or 4 given)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.gateway.test_context_window import MODEL, checkpoint, qwen  # noqa: F401 (fixtures)

pytestmark = pytest.mark.anyio

ASK = {"model": MODEL, "max_tokens": 3, "seed": 4}


def spelled(data: bytes) -> list[str]:
    """OpenAI's spelling of tokens that are one byte of a character each."""
    return [f"bytes:\\x{b:02x}" for b in data]


async def events(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> list[Any]:
    reply = await client.post(path, json=body | {"stream": True})
    assert reply.status_code == 200, reply.text
    lines = [line[6:] for line in reply.text.splitlines() if line.startswith("data: ")]
    return [json.loads(line) for line in lines if line != "[DONE]"]


def one_character_of_three_bytes(text: str) -> bytes:
    data = text.encode("utf-8")
    assert len(text) == 1 and len(data) == 3  # what seed 4 makes the model write
    return data


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_chat_logprobs_carry_each_token_s_own_bytes(
    qwen: httpx.AsyncClient,  # noqa: F811
    stream: bool,
) -> None:
    body = ASK | {"messages": [{"role": "user", "content": "VPN"}], "logprobs": True}
    body |= {"top_logprobs": 6}
    if stream:
        chunks = await events(qwen, "/v1/chat/completions", body)
        text = "".join(
            c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
        )
        entries = [
            e
            for c in chunks
            if c["choices"]
            for e in (c["choices"][0]["logprobs"] or {}).get("content", [])
        ]
    else:
        reply = await qwen.post("/v1/chat/completions", json=body)
        assert reply.status_code == 200, reply.text
        choice = reply.json()["choices"][0]
        text, entries = choice["message"]["content"], choice["logprobs"]["content"]
        assert reply.json()["usage"]["completion_tokens"] == len(entries)
    data = one_character_of_three_bytes(text)
    assert b"".join(bytes(e["bytes"]) for e in entries) == data
    assert [e["token"] for e in entries] == spelled(data)
    for entry in entries:
        top = entry["top_logprobs"]
        assert len({t["token"] for t in top}) == 6
        assert len({bytes(t["bytes"]) for t in top}) == 6


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_completions_logprobs_give_one_entry_per_token(
    qwen: httpx.AsyncClient,  # noqa: F811
    stream: bool,
) -> None:
    body = ASK | {"prompt": "VPN", "logprobs": 6}
    if stream:
        chunks = await events(qwen, "/v1/completions", body)
        text = "".join(c["choices"][0]["text"] for c in chunks if c["choices"])
        views = [
            c["choices"][0]["logprobs"]
            for c in chunks
            if c["choices"] and c["choices"][0]["logprobs"]
        ]
        tokens = [t for v in views for t in v["tokens"]]
        tops = [t for v in views for t in v["top_logprobs"]]
        offsets = [o for v in views for o in v["text_offset"]]
    else:
        reply = await qwen.post("/v1/completions", json=body)
        assert reply.status_code == 200, reply.text
        choice = reply.json()["choices"][0]
        text, view = choice["text"], choice["logprobs"]
        tokens, tops, offsets = view["tokens"], view["top_logprobs"], view["text_offset"]
        assert reply.json()["usage"]["completion_tokens"] == len(tokens)
    data = one_character_of_three_bytes(text)
    assert tokens == spelled(data)
    assert offsets == [0, 0, 0]  # the character starts at 0; no token ends one before the last
    assert [len(top) for top in tops] == [6, 6, 6]  # distinct bytes, distinct keys


async def test_completions_logprobs_decode_the_tokens_once(
    qwen: httpx.AsyncClient,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``logprobs_view`` decoded the tokens' bytes twice for a completion: once to cut the
    tokens past the text, again for their offsets. Counted on the real decoding."""
    from aigc.gateway import pipeline

    passes: list[int] = []
    chars_of = pipeline._chars_of

    def counted(entries: list[dict[str, Any]]) -> Any:
        passes.append(len(entries))
        return chars_of(entries)

    monkeypatch.setattr(pipeline, "_chars_of", counted)
    reply = await qwen.post("/v1/completions", json=ASK | {"prompt": "VPN", "logprobs": 6})
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["logprobs"]["text_offset"] == [0, 0, 0]
    assert passes == [3]
