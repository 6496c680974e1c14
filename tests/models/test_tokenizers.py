"""Tokenizers: each kind round-trips text and matches transformers.AutoTokenizer exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from aigc.models.text.tokenizers import Utf8Guard, byte_level_bytes, load_tokenizer, train_tokenizer

CORPUS = [
    "First Citizen:\nBefore we proceed any further, hear me speak.\n",
    'All:\nSpeak, speak. It\'s {"json": [1, 2]} time.\n',
    "床前明月光，疑是地上霜。\n举头望明月，低头思故乡。\n",
] * 5
SAMPLES = [
    "Before we proceed, speak.\nAll:",
    "床前明月光，低头思故乡。",
    '{"a": [1, 2]}  two  spaces\n\ttab',
]


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_hugging_face_files_encode_and_decode_identically(kind: str, tmp_path: Path) -> None:
    tok = train_tokenizer(kind, CORPUS, 300 if kind == "bpe" else None)
    tok.save(tmp_path)
    hf = AutoTokenizer.from_pretrained(tmp_path)
    reloaded = load_tokenizer(tmp_path)
    assert reloaded.kind == kind and reloaded.vocab_size == tok.vocab_size
    for text in SAMPLES:
        ids = tok.encode(text)
        assert hf.encode(text) == ids == reloaded.encode(text)
        assert hf.decode(ids) == tok.decode(ids) == reloaded.decode(ids)
    assert {hf.bos_token_id, hf.eos_token_id, hf.unk_token_id, hf.pad_token_id} == {
        tok.bos_id,
        tok.eos_id,
        tok.unk_id,
        tok.pad_id,
    }


def test_char_tokenizer_is_one_token_per_character_in_nanogpt_order() -> None:
    tok = train_tokenizer("char", ["ba\nc a"])
    assert tok.vocab_size == 5 + 4  # "\n", " ", "a", "b", "c" and four specials
    assert tok.encode("abc\n ") == [2, 3, 4, 0, 1]
    assert tok.decode(tok.encode("cab a\n")) == "cab a\n"
    assert tok.encode("z") == [tok.unk_id]


def test_word_tokenizer_splits_words_punctuation_and_han_characters() -> None:
    tok = train_tokenizer("word", CORPUS)
    assert tok.tokens("Before we proceed, speak.") == [
        "Before",
        " we",
        " proceed",
        ",",
        " speak",
        ".",
    ]
    assert tok.tokens("明月光，") == ["明", "月", "光", "，"]
    text = "All:\nSpeak, speak.\n床前明月光。"
    assert tok.decode(tok.encode(text)) == text


def test_byte_level_bpe_encodes_any_character() -> None:
    tok = train_tokenizer("bpe", CORPUS, 300)
    for text in ["unseen 😀 ünïcode ☃", "鸡兔同笼", '{"k": "v"}']:
        ids = tok.encode(text)
        assert tok.unk_id not in ids and tok.decode(ids) == text
    assert tok.vocab_size == 300


def test_utf8_guard_only_lets_valid_byte_sequences_through() -> None:
    # 床 is E5 BA 8A; ids: 0 end of text, then bytes the way byte-level BPE may split it.
    tokens = [None, b"a", b"\xe5", b"\xba\x8a", b"\xba", b"\x8a", b"\xe5\xba\x8a", b"\xba\x8aa"]
    guard = Utf8Guard(tokens, end_id=0)
    assert guard.allowed[0].nonzero()[0].tolist() == [0, 1, 2, 6]
    assert guard.need_after(0, 2) == 2
    assert guard.allowed[2].nonzero()[0].tolist() == [3, 4, 5, 7]
    assert guard.need_after(2, 4) == 1
    assert guard.allowed[1].nonzero()[0].tolist() == [4, 5]
    assert guard.need_after(1, 5) == 0 and guard.need_after(2, 7) == 0
    tok = train_tokenizer("bpe", CORPUS, 300)
    pieces = [byte_level_bytes(tok.id_to_token(i)) for i in tok.encode("床前明月光")]
    assert b"".join(pieces).decode() == "床前明月光"


def test_every_token_s_bytes_are_what_decoding_it_writes() -> None:
    """A byte-level tokenizer's added token whose text is outside GPT-2's byte map (here
    Chinese and a blank) was described as one '?' per character: xgrammar and the UTF-8 guard
    read b'????' for a token that writes '天气 好'. Each token's bytes (``token_bytes``, and
    ``piece_bytes`` for logprobs) now come from one reading of its vocabulary entry."""
    from tokenizers import AddedToken

    from aigc.models.text.neural import TextTokenizer
    from tests.models.tiny_qwen import chat_tokenizer

    hf = chat_tokenizer()
    hf.add_tokens([AddedToken("天气 好", special=False)])
    tokenizer = TextTokenizer(hf)
    table = tokenizer.token_bytes()
    assert table is not None and table[hf.convert_tokens_to_ids("天气 好")] == "天气 好".encode()
    for token_id in range(len(hf)):
        text = tokenizer.decode([token_id])  # special tokens: none (the table has their own)
        if text:
            assert table[token_id] == tokenizer.piece_bytes(token_id, text), token_id
    lead = hf.convert_tokens_to_ids("ä")  # 0xE4, the first byte of 你: decodes as U+FFFD
    assert tokenizer.piece_bytes(lead, tokenizer.decode([lead])) == b"\xe4"
