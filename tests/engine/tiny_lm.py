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
    MistralConfig,
    MistralForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

EOS = "<|endoftext|>"
PAD = "<pad>"


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """256 byte tokens and an end-of-text token: any text, Chinese included, round-trips."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    vocab[EOS] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS)


def letters_tokenizer(alphabet: str) -> PreTrainedTokenizerFast:
    """One token per character of ``alphabet`` and an end-of-text token, nothing else: as a
    char-level tokenizer trained on text without some characters (braces, digits)."""
    vocab = {ch: i for i, ch in enumerate(dict.fromkeys(alphabet))}
    vocab[EOS] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS)


def save_tiny_gpt2(
    out_dir: Path,
    *,
    tokenizer: PreTrainedTokenizerFast | None = None,
    n_layer: int = 2,
    n_head: int = 4,
    n_embd: int = 64,
    vocab_size: int = 512,
    n_positions: int = 256,
    seed: int = 0,
) -> Path:
    tokenizer = tokenizer or byte_tokenizer()
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


def save_silent_gpt2(out_dir: Path) -> Path:
    """A tiny GPT-2 whose every token is padding, which decodes to nothing: as a char-level
    GPT trained briefly answers with padding or unknown tokens. Its final layer norm outputs
    one constant vector that only the padding token's (tied) embedding matches, so greedy and
    sampled decoding alike pick it at every step until ``max_tokens``."""
    tokenizer = byte_tokenizer()
    tokenizer.add_special_tokens({"pad_token": PAD})
    save_tiny_gpt2(out_dir, tokenizer=tokenizer, vocab_size=len(tokenizer))
    model = GPT2LMHeadModel.from_pretrained(out_dir)
    pad = tokenizer.pad_token_id
    with torch.no_grad():
        hidden = torch.full((model.config.n_embd,), 4.0)
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.copy_(hidden)
        model.transformer.wte.weight.zero_()  # tied to lm_head: every logit 0 but padding's
        model.transformer.wte.weight[pad] = hidden
    model.save_pretrained(out_dir)
    return out_dir


def save_tiny_llama(out_dir: Path, *, seed: int = 0, kind: str = "llama") -> Path:
    """A Llama-style decoder (rotary positions, grouped-query attention, RMSNorm, SwiGLU) of
    ``kind``: "llama"; "qwen2" (query/key/value biases); "mistral" (a sliding window of 24
    positions, shorter than the tests' sequences); "llama-gelu" (an option the written-out
    passes refuse, so the engine runs the model's own forward)."""
    tokenizer = byte_tokenizer()
    torch.manual_seed(seed)
    sizes = {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 512,
        "max_position_embeddings": 256,
        "bos_token_id": tokenizer.eos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "initializer_range": 0.2,
    }
    model: PreTrainedModel
    if kind == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**sizes))
    elif kind == "mistral":
        model = MistralForCausalLM(MistralConfig(**sizes, sliding_window=24))
    elif kind == "llama-gelu":
        model = LlamaForCausalLM(LlamaConfig(**sizes, hidden_act="gelu"))
    else:
        model = LlamaForCausalLM(LlamaConfig(**sizes))
    for name, param in model.named_parameters():  # biases (Qwen2's) are random, not zero
        if name.endswith("bias"):
            torch.nn.init.normal_(param, std=0.2)
    model.eval().save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
