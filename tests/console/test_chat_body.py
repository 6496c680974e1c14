"""The Chat page's request: Max tokens is sent only when the person sets it. The page sent
512 on every turn, which the gateway refuses for a model whose context cannot hold it
(gpt-pydoc reads 128 tokens: context_length_exceeded on every message)."""

from __future__ import annotations

from aigc.console.pages import chat


def test_the_page_sends_no_max_tokens_unless_one_is_set() -> None:
    history = [{"role": "user", "content": "hello"}]
    opened = chat.chat_body("gpt-pydoc", "", history, 0.7, 1.0, chat.DEFAULT_MAX_TOKENS)
    assert "max_tokens" not in opened
    assert opened["messages"] == history
    asked = chat.chat_body("gpt-pydoc", " Be brief. ", history, 0.7, 1.0, 64.0, ["kb_1"])
    assert asked["max_tokens"] == 64
    assert asked["messages"][0] == {"role": "system", "content": "Be brief."}
    assert asked["knowledge_bases"] == ["kb_1"]
