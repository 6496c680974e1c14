"""Small randomly initialised causal LMs (GPT-2, Llama) with a byte-level tokenizer, saved as
HF checkpoints.

Built from a fixed seed in a temporary directory (no download): the engine's tests and the
benchmark load it with ``from_pretrained`` like any local Hugging Face causal LM.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

EOS = "<|endoftext|>"


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """256 byte tokens and an end-of-text token: any text, Chinese included, round-trips."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    vocab[EOS] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS)


def save_tiny_gpt2(
    out_dir: Path,
    *,
    n_layer: int = 2,
    n_head: int = 4,
    n_embd: int = 64,
    vocab_size: int = 512,
    n_positions: int = 256,
    seed: int = 0,
) -> Path:
    tokenizer = byte_tokenizer()
    torch.manual_seed(seed)
    config = GPT2Config(
        n_layer=n_layer,
        n_head=n_head,
        n_embd=n_embd,
        vocab_size=vocab_size,
        n_positions=n_positions,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        initializer_range=0.2,  # spread-out logits: greedy choices are clear, not near-ties
    )
    GPT2LMHeadModel(config).eval().save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def save_tiny_llama(out_dir: Path, *, seed: int = 0) -> Path:
    """A Llama (rotary positions, grouped-query attention, RMSNorm, SwiGLU): an architecture
    the engine runs through the model's own forward, not a written-out step."""
    tokenizer = byte_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=512,
        max_position_embeddings=256,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        initializer_range=0.2,
    )
    LlamaForCausalLM(config).eval().save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
