"""The written-out Llama-style passes give each architecture's own logits and keys/values.

Small random-weight checkpoints built from the real configuration classes (shrunk), with the
options that differ between the architectures switched on: Llama-3 rotary scaling and a
non-default theta, Qwen2's query/key/value biases and its per-layer sliding window, Mistral's
sliding window shorter than the sequences."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from aigc.models.engine import llama_step
from aigc.models.engine.batch import RunningBatch

SIZES: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 300,
    "max_position_embeddings": 64,
}


def build(kind: str) -> Any:
    torch.manual_seed(0)
    if kind == "llama":
        rope = {
            "rope_type": "llama3",
            "rope_theta": 500000.0,
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 16,
        }
        model = LlamaForCausalLM(LlamaConfig(**SIZES, rope_parameters=rope))
    elif kind == "llama-mha":  # no grouping, explicit head size, biases everywhere
        sizes = {**SIZES, "num_key_value_heads": 4, "head_dim": 8}
        model = LlamaForCausalLM(LlamaConfig(**sizes, attention_bias=True, mlp_bias=True))
    elif kind == "qwen2":
        config = Qwen2Config(
            **SIZES, use_sliding_window=True, sliding_window=5, max_window_layers=1
        )
        assert "sliding_attention" in config.layer_types  # some layers slide, some do not
        model = Qwen2ForCausalLM(config)
    elif kind == "mistral":
        model = MistralForCausalLM(MistralConfig(**SIZES, sliding_window=6))
    else:
        raise ValueError(kind)
    # Random non-zero biases: the ones the checkpoint has must be used.
    for name, param in model.named_parameters():
        if name.endswith("bias"):
            torch.nn.init.normal_(param, std=0.5)
    return model.eval()


KINDS = ["llama", "llama-mha", "qwen2", "mistral"]


def reference_logits(model: Any, sequence: list[int]) -> torch.Tensor:
    """The model's own forward over the whole sequence, no cache, no padding."""
    return model(torch.tensor([sequence])).logits[0, -1]


def padded(prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(map(len, prompts))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)


@pytest.mark.parametrize("kind", KINDS)
@torch.inference_mode()
def test_prefill_and_decode_of_a_padded_batch_equal_the_models_forward(kind: str) -> None:
    model = build(kind)
    assert llama_step.supports(model), llama_step.refusal(model)
    step = llama_step.LlamaStep(model, max_positions=64)
    prompts = [[5, 9, 14, 200, 7, 3, 8, 8, 1], [8, 1], [42, 42, 42, 17, 5]]  # unequal lengths
    ids, mask, positions = padded(prompts)
    logits, kv = step.prefill(ids, positions, mask)
    hf_cache = model(ids, attention_mask=mask, position_ids=positions).past_key_values
    for row, prompt in enumerate(prompts):
        torch.testing.assert_close(logits[row], reference_logits(model, prompt))
        for (keys, values), layer in zip(kv, hf_cache.layers, strict=True):
            kept = layer.keys.shape[2]  # a sliding layer of HF's cache keeps the last columns
            real = mask[row, -kept:].bool()
            torch.testing.assert_close(keys[row][:, -kept:][:, real], layer.keys[row][:, real])
            torch.testing.assert_close(values[row][:, -kept:][:, real], layer.values[row][:, real])
    assert all(bool(torch.isfinite(t).all()) for layer in kv for t in layer)
    batch = RunningBatch()
    batch.add(["a", "b", "c"], kv, mask)
    sequences = [list(p) for p in prompts]
    tokens = logits.argmax(-1).tolist()
    for _ in range(8):  # past the sliding windows: old keys drop out of sight
        for sequence, token in zip(sequences, tokens, strict=True):
            sequence.append(token)
        step_mask = batch.before_step()
        got = step.decode(
            torch.tensor(tokens),
            torch.tensor([len(s) - 1 for s in sequences]),
            batch.layers,
            step_mask if batch.padded else None,
        )
        batch.after_step(step_mask)
        for row, sequence in enumerate(sequences):
            torch.testing.assert_close(got[row], reference_logits(model, sequence))
        tokens = got.argmax(-1).tolist()


@pytest.mark.parametrize("kind", KINDS)
@torch.inference_mode()
def test_an_unpadded_batch_decodes_without_a_mask(kind: str) -> None:
    model = build(kind)
    step = llama_step.LlamaStep(model, max_positions=64)
    prompts = [[1, 2, 3, 4, 5, 6, 7], [9, 8, 7, 6, 5, 4, 3]]
    ids, _, positions = padded(prompts)
    _, kv = step.prefill(ids, positions, None)
    batch = RunningBatch()
    batch.add(["a", "b"], kv)
    assert not batch.padded
    step_mask = batch.before_step()
    got = step.decode(torch.tensor([5, 5]), torch.tensor([7, 7]), batch.layers, None)
    batch.after_step(step_mask)
    for row, prompt in enumerate(prompts):
        torch.testing.assert_close(got[row], reference_logits(model, [*prompt, 5]))


@pytest.mark.parametrize("kind", KINDS)
@torch.inference_mode()
def test_prefill_after_a_known_prefix_equals_the_models_forward(kind: str) -> None:
    """Chunked prefill and prefix-cache hits: the rest of a prompt after cached keys/values."""
    model = build(kind)
    step = llama_step.LlamaStep(model, max_positions=64)
    prompt = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9]
    _, past = step.prefill(torch.tensor([prompt[:9]]), torch.arange(9)[None], None)
    logits, kv = step.prefill(torch.tensor([prompt[9:]]), torch.arange(9, 15)[None], None, past)
    torch.testing.assert_close(logits[0], reference_logits(model, prompt))
    _, whole = step.prefill(torch.tensor([prompt]), torch.arange(15)[None], None)
    for (keys, values), (whole_keys, whole_values) in zip(kv, whole, strict=True):
        torch.testing.assert_close(keys, whole_keys)
        torch.testing.assert_close(values, whole_values)


@pytest.mark.parametrize("kind", KINDS)
@torch.inference_mode()
def test_rests_of_prompts_after_pasts_of_different_lengths_run_together(kind: str) -> None:
    """Several prefix-cache hits in one pass: pasts left-padded to the longest, rests too."""
    model = build(kind)
    step = llama_step.LlamaStep(model, max_positions=64)
    prompts = [[3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8], [2, 7, 1, 8, 2, 8, 1], [9, 9, 8, 7, 6, 5]]
    split = [8, 4, 5]  # known keys/values: the first tokens of each
    pasts = [
        step.prefill(torch.tensor([p[:n]]), torch.arange(n)[None], None)[1]
        for p, n in zip(prompts, split, strict=True)
    ]
    width_past = max(split)
    past = [
        tuple(
            torch.cat(
                [
                    F.pad(kv[i][j], (0, 0, width_past - n, 0))
                    for kv, n in zip(pasts, split, strict=True)
                ]
            )
            for j in range(2)
        )
        for i in range(len(pasts[0]))
    ]
    past_mask = torch.tensor([[0] * (width_past - n) + [1] * n for n in split])
    rests = [p[n:] for p, n in zip(prompts, split, strict=True)]
    ids, mask, positions = padded(rests)
    positions = positions + torch.tensor(split)[:, None]
    logits, kv = step.prefill(ids, positions, mask, past, past_mask=past_mask)  # type: ignore[arg-type]
    full_mask = torch.cat([past_mask, mask], dim=1)
    for row, prompt in enumerate(prompts):
        torch.testing.assert_close(logits[row], reference_logits(model, prompt))
    # The keys/values join the running batch with gaps of padding: decoding from them works.
    batch = RunningBatch()
    batch.add(["a", "b", "c"], kv, full_mask)
    tokens = logits.argmax(-1).tolist()
    sequences = [[*p, t] for p, t in zip(prompts, tokens, strict=True)]
    step_mask = batch.before_step()
    got = step.decode(
        torch.tensor(tokens), torch.tensor([len(s) - 1 for s in sequences]), batch.layers, step_mask
    )
    for row, sequence in enumerate(sequences):
        torch.testing.assert_close(got[row], reference_logits(model, sequence))


def test_other_architectures_and_options_are_refused_clearly() -> None:
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=50))
    assert "gpt2" in str(llama_step.refusal(gpt2))
    dynamic = LlamaForCausalLM(
        LlamaConfig(**SIZES, rope_parameters={"rope_type": "dynamic", "factor": 2.0})
    )
    assert "dynamic" in str(llama_step.refusal(dynamic))
    gelu = LlamaForCausalLM(LlamaConfig(**SIZES, hidden_act="gelu"))
    assert "gelu" in str(llama_step.refusal(gelu))
