"""One builder for the tiny randomly initialised chat checkpoints of the tool-calling tests
(``tiny_qwen``, ``tiny_mistral``): the families differ in their tokenizer, chat template and
a few config fields, not in how the checkpoint is made, so that is written once here.

The model is one layer, 32 wide, with two query heads sharing one key/value head, built from a
fixed seed and saved with its tokenizer (no download): loadable with ``from_pretrained`` like
any local Hugging Face chat model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoModelForCausalLM, PretrainedConfig, PreTrainedTokenizerFast


def byte_level() -> Tokenizer:
    """A byte-level BPE with no merges: one token per byte, so any text round-trips."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return tok


def save_tiny_chat(
    out_dir: Path,
    tokenizer: PreTrainedTokenizerFast,
    family: type[PretrainedConfig],
    *,
    seed: int = 0,
    **config: Any,
) -> Path:
    """The tiny model of ``family`` (a config class, e.g. ``Qwen2Config``) for ``tokenizer``,
    ``config`` added to (or overriding) the shared sizes, saved in ``out_dir`` with the
    tokenizer and its chat template."""
    torch.manual_seed(seed)
    sizes: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": True,
    }
    AutoModelForCausalLM.from_config(family(**(sizes | config))).eval().save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    saved = json.loads((out_dir / "tokenizer_config.json").read_text())
    assert "chat_template" in saved or (out_dir / "chat_template.jinja").is_file()
    return out_dir
