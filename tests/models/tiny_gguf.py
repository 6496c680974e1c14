"""A tiny random-weight Llama (or Qwen2) chat model written as a GGUF file with the ``gguf``
package (no download, no llama.cpp convert script): the gguf family's test model.

The same weights are also saved as a Hugging Face checkpoint, so a test can compare llama.cpp's
logits on the GGUF with ``LlamaForCausalLM``'s own forward. The tokenizer is a byte-level BPE
trained here on a few lines of English and Chinese (so the file has real merges), plus the chat
markers of ``tiny_qwen`` (``<|im_start|>``/``<|im_end|>`` control tokens, ``<tool_call>``
user-defined tokens) and its Hermes-style chat template, which renders tools; or, for the
Llama 2 / Mistral-7B kind of file, a SentencePiece vocabulary (``spm_tokenizer``: scored
pieces, byte fallback, BOS) with Mistral's control tokens and chat template.

llama.cpp's ``llama`` architecture applies rotary embeddings to interleaved pairs (dims 2i,
2i+1) while transformers' Llama rotates halves (dims i, i + d/2), so the q and k projections
are written with each head's output rows reordered from halves to pairs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import torch
from tokenizers import (
    AddedToken,
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from tests.models.tiny_mistral import CONTROL as MISTRAL_CONTROL
from tests.models.tiny_mistral import TEMPLATE_V3 as MISTRAL_TEMPLATE
from tests.models.tiny_qwen import TEMPLATE

CORPUS = [
    "The quick brown fox jumps over the lazy dog. The weather is fine today.",
    'Call the function with a JSON object: {"city": "Paris", "days": 3}.',
    "今天天气很好，我们去公园散步。北京是中国的首都。",
    "Hello world, hello model, hello tokenizer; the end of the text.",
]
CONTROL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # special added tokens
USER_DEFINED = ["<tool_call>", "</tool_call>"]  # added tokens decoded as text


def chat_tokenizer(vocab_size: int = 360) -> PreTrainedTokenizerFast:
    """Byte-level BPE with merges learnt from ``CORPUS``, then the chat markers."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    tok.add_special_tokens([AddedToken(t, special=True) for t in CONTROL])
    tok.add_tokens([AddedToken(t, special=False) for t in USER_DEFINED])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", bos_token="<|endoftext|>"
    )
    fast.chat_template = TEMPLATE
    return fast


def spm_tokenizer(vocab_size: int = 420) -> PreTrainedTokenizerFast:
    """A SentencePiece vocabulary as Llama 2's and Mistral-7B's GGUF files carry it: ``<unk>``,
    ``<s>``, ``</s>``, the 256 byte pieces ``<0x00>``… (byte fallback for characters outside
    the vocabulary), then pieces merged from ``CORPUS`` with ``▁`` for a blank and one before
    the text; BOS added to every prompt; Mistral's control tokens and its v3 chat template."""
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False)
    learner = Tokenizer(models.BPE())
    learner.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="first")
    learner.train_from_iterator(CORPUS, trainer)
    learnt = json.loads(learner.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2} | {f"<0x{b:02X}>": 3 + b for b in range(256)}
    for piece, _ in sorted(learnt["vocab"].items(), key=lambda item: item[1]):
        vocab.setdefault(piece, len(vocab))
    merges = [tuple(m) if not isinstance(m, str) else tuple(m.split(" ")) for m in learnt["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True))
    # Llama 2's own tokenizer.json: a blank before the text, then every blank a "▁".
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence(
        [
            decoders.Replace("▁", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    tok.add_special_tokens([AddedToken(t, special=True) for t in MISTRAL_CONTROL])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    fast.chat_template = MISTRAL_TEMPLATE
    return fast


def _shape(tokenizer: PreTrainedTokenizerFast) -> dict[str, Any]:
    """The size both tiny models share: two layers, grouped-query attention (4 query heads, 2
    KV heads), weights drawn wider than transformers' default (``initializer_range``) so the
    logits differ clearly between tokens."""
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 512,
        "initializer_range": 0.1,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }


def tiny_llama(tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> LlamaForCausalLM:
    """``_shape``'s Llama, with an untied output embedding."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        **_shape(tokenizer), rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False
    )
    return LlamaForCausalLM(config).eval()


def tiny_qwen2(tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> Qwen2ForCausalLM:
    """Qwen2's differences from Llama: query/key/value biases, a tied output embedding."""
    torch.manual_seed(seed)
    config = Qwen2Config(**_shape(tokenizer), rms_norm_eps=1e-6, tie_word_embeddings=True)
    model = Qwen2ForCausalLM(config).eval()
    with torch.no_grad():  # transformers starts biases at zero: make them count
        for layer in model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.normal_(0, 0.1)
    return model


def halves_to_pairs(weight: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder each head's rows from transformers' rotate-half layout to llama.cpp's pairs:
    row ``a * d/2 + j`` of a head (a in {0, 1}) becomes row ``2 j + a``."""
    out_dim, in_dim = weight.shape
    head_dim = out_dim // n_head
    grouped = weight.reshape(n_head, 2, head_dim // 2, in_dim)
    return grouped.swapaxes(1, 2).reshape(out_dim, in_dim)


def _token_types(tokenizer: PreTrainedTokenizerFast) -> list[int]:
    """Added special tokens are CONTROL, other added tokens USER_DEFINED, SentencePiece's byte
    pieces BYTE and its ``<unk>`` UNKNOWN, the rest NORMAL."""
    types = [int(gguf.TokenType.NORMAL)] * len(tokenizer)
    for token_id, token in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
        if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
            types[token_id] = int(gguf.TokenType.BYTE)
    for token_id, added in tokenizer.added_tokens_decoder.items():
        kind = gguf.TokenType.CONTROL if added.special else gguf.TokenType.USER_DEFINED
        types[token_id] = int(kind)
    if tokenizer.unk_token_id is not None:
        types[tokenizer.unk_token_id] = int(gguf.TokenType.UNKNOWN)
    return types


def _is_sentencepiece(tokenizer: PreTrainedTokenizerFast) -> bool:
    return "<0x00>" in tokenizer.get_vocab()


def write_gguf(
    model: Any, tokenizer: PreTrainedTokenizerFast, path: Path, dtype: str = "f16"
) -> Path:
    """A transformers Llama or Qwen2 model and its byte-level BPE tokenizer as one GGUF file
    (matrices in ``dtype``: f16 or f32; norms and biases f32).

    Llama's q/k rows are reordered for llama.cpp's pairwise rotary layout; Qwen2 is rotated by
    halves in llama.cpp too (its NEOX rope), so its rows stay. A tied output embedding is left
    out: llama.cpp reuses ``token_embd`` when there is no ``output`` tensor."""
    cfg = model.config
    arch = {"llama": "llama", "qwen2": "qwen2"}[cfg.model_type]
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    writer = gguf.GGUFWriter(path, arch)
    writer.add_name(f"aigc random-weight {arch}")
    writer.add_file_type(
        gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32
    )
    writer.add_vocab_size(cfg.vocab_size)
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(cfg.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(float(cfg.rms_norm_eps))

    vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    writer.add_token_list(vocab)
    writer.add_token_types(_token_types(tokenizer))
    if _is_sentencepiece(tokenizer):
        # llama.cpp's SentencePiece tokenizer merges the adjacent pair whose piece scores
        # highest: later merges score lower, as in Llama's own files.
        writer.add_tokenizer_model("llama")
        writer.add_token_scores([-float(i) for i in range(len(vocab))])
        writer.add_unk_token_id(int(tokenizer.unk_token_id))
        writer.add_add_bos_token(True)
    else:
        merges = json.loads(tokenizer.backend_tokenizer.to_str())["model"]["merges"]
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("qwen2" if arch == "qwen2" else "gpt-2")
        # llama.cpp refuses a BPE vocabulary without the merges key; gguf writes no empty array.
        merge_lines = [m if isinstance(m, str) else " ".join(m) for m in merges]
        if not merge_lines:
            raise ValueError("a GGUF byte-level BPE vocabulary needs at least one merge")
        writer.add_token_merges(merge_lines)
        writer.add_add_bos_token(False)
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    writer.add_bos_token_id(int(bos))
    writer.add_eos_token_id(int(tokenizer.eos_token_id))
    if tokenizer.chat_template:
        writer.add_chat_template(str(tokenizer.chat_template))

    state = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    matrix = np.float16 if dtype == "f16" else np.float32

    def put(name: str, array: np.ndarray, is_matrix: bool = True) -> None:
        kind = matrix if is_matrix else np.float32
        writer.add_tensor(name, np.ascontiguousarray(array.astype(kind)))

    def rows(weight: np.ndarray, n_head: int) -> np.ndarray:
        return halves_to_pairs(weight, n_head) if arch == "llama" else weight

    put("token_embd.weight", state["model.embed_tokens.weight"])
    for i in range(cfg.num_hidden_layers):
        p = f"model.layers.{i}."
        put(f"blk.{i}.attn_norm.weight", state[p + "input_layernorm.weight"], False)
        put(
            f"blk.{i}.attn_q.weight",
            rows(state[p + "self_attn.q_proj.weight"], cfg.num_attention_heads),
        )
        put(
            f"blk.{i}.attn_k.weight",
            rows(state[p + "self_attn.k_proj.weight"], cfg.num_key_value_heads),
        )
        put(f"blk.{i}.attn_v.weight", state[p + "self_attn.v_proj.weight"])
        for short in ("q", "k", "v"):
            bias = state.get(p + f"self_attn.{short}_proj.bias")
            if bias is not None:
                put(f"blk.{i}.attn_{short}.bias", bias, False)
        put(f"blk.{i}.attn_output.weight", state[p + "self_attn.o_proj.weight"])
        put(f"blk.{i}.ffn_norm.weight", state[p + "post_attention_layernorm.weight"], False)
        put(f"blk.{i}.ffn_gate.weight", state[p + "mlp.gate_proj.weight"])
        put(f"blk.{i}.ffn_up.weight", state[p + "mlp.up_proj.weight"])
        put(f"blk.{i}.ffn_down.weight", state[p + "mlp.down_proj.weight"])
    put("output_norm.weight", state["model.norm.weight"], False)
    if not cfg.tie_word_embeddings:
        put("output.weight", state["lm_head.weight"])

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def save_tiny_gguf(
    out_dir: Path,
    *,
    dtype: str = "f16",
    seed: int = 0,
    arch: str = "llama",
    sentencepiece: bool = False,
) -> tuple[Path, Path]:
    """``(model.gguf, hf_folder)``: the GGUF and the same weights as a Hugging Face checkpoint
    (``arch``: llama, or qwen2 as bench/llm_engine.py converts its Qwen2-shaped checkpoint;
    ``sentencepiece``: ``spm_tokenizer``'s vocabulary instead of byte-level BPE)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = spm_tokenizer() if sentencepiece else chat_tokenizer()
    model = tiny_llama(tokenizer, seed) if arch == "llama" else tiny_qwen2(tokenizer, seed)
    hf_dir = out_dir / "hf"
    model.save_pretrained(hf_dir)
    tokenizer.save_pretrained(hf_dir)
    return write_gguf(model, tokenizer, out_dir / f"tiny-{dtype}.gguf", dtype), hf_dir
