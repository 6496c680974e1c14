"""The written-out GPT-2 passes (prefill, decode) give the model's own logits and cache."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from aigc.models.engine import gpt2_step
from aigc.models.engine.batch import RunningBatch, cache_of, kv_of


def gpt2(**options: Any) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_head=4, n_embd=64, vocab_size=300, n_positions=64, **options)
    return GPT2LMHeadModel(config).eval()


def reference_logits(model: GPT2LMHeadModel, sequence: list[int]) -> torch.Tensor:
    """The model's own forward over the whole sequence, no cache, no padding."""
    return model(torch.tensor([sequence])).logits[0, -1]


@pytest.mark.parametrize(
    "options",
    [
        {},  # GPT-2's defaults: tanh GELU ("gelu_new")
        {"activation_function": "gelu"},
        {"activation_function": "relu", "scale_attn_by_inverse_layer_idx": True},
    ],
)
@torch.inference_mode()
def test_steps_over_a_padded_batch_equal_the_models_forward(options: dict[str, Any]) -> None:
    model = gpt2(**options)
    assert gpt2_step.supports(model)
    step = gpt2_step.GPT2Step(model)
    prompts = [[5, 9, 14, 200, 7, 3], [8, 1], [42, 42, 42, 17]]  # unequal: rows are padded
    width = max(map(len, prompts))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    out = model(ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0))
    batch = RunningBatch()
    batch.add(["a", "b", "c"], kv_of(cache_of(out)), mask)
    assert batch.padded
    sequences = [list(p) for p in prompts]
    tokens = [11, 250, 3]
    for _ in range(3):  # each step reads the columns the steps before it wrote
        for sequence, token in zip(sequences, tokens, strict=True):
            sequence.append(token)
        positions = torch.tensor([len(s) - 1 for s in sequences])
        step_mask = batch.before_step()
        logits = step.decode(torch.tensor(tokens), positions, batch.layers, step_mask)
        batch.after_step(step_mask)
        for row, sequence in enumerate(sequences):
            torch.testing.assert_close(logits[row], reference_logits(model, sequence))
        tokens = logits.argmax(-1).tolist()


@pytest.mark.parametrize(
    "options", [{}, {"activation_function": "relu", "scale_attn_by_inverse_layer_idx": True}]
)
@torch.inference_mode()
def test_prefill_of_padded_prompts_equals_the_models_forward(options: dict[str, Any]) -> None:
    model = gpt2(**options)
    prompts = [[5, 9, 14, 200, 7, 3], [8], [42, 42, 42, 17]]  # left-padded to six columns
    width = max(map(len, prompts))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    logits, kv = gpt2_step.GPT2Step(model).prefill(ids, positions, mask)
    cache = kv_of(cache_of(model(ids, attention_mask=mask, position_ids=positions)))
    for row, prompt in enumerate(prompts):
        torch.testing.assert_close(logits[row], reference_logits(model, prompt))
        real = mask[row].bool()
        for (keys, values), (hf_keys, hf_values) in zip(kv, cache, strict=True):
            torch.testing.assert_close(keys[row][:, real], hf_keys[row][:, real])
            torch.testing.assert_close(values[row][:, real], hf_values[row][:, real])
    # Padding positions are stored as masked columns of the running batch: finite numbers.
    assert all(bool(torch.isfinite(t).all()) for layer in kv for t in layer)


@torch.inference_mode()
def test_an_unpadded_batch_needs_no_mask() -> None:
    model = gpt2()
    step = gpt2_step.GPT2Step(model)
    prompts = [[1, 2, 3, 4], [9, 8, 7, 6]]
    out = model(torch.tensor(prompts))
    batch = RunningBatch()
    batch.add(["a", "b"], kv_of(cache_of(out)))
    assert not batch.padded
    step_mask = batch.before_step()
    logits = step.decode(torch.tensor([5, 5]), torch.tensor([4, 4]), batch.layers, None)
    batch.after_step(step_mask)
    for row, prompt in enumerate(prompts):
        torch.testing.assert_close(logits[row], reference_logits(model, [*prompt, 5]))


def test_other_architectures_and_options_use_the_models_forward() -> None:
    assert not gpt2_step.supports(gpt2(reorder_and_upcast_attn=True))
    assert not gpt2_step.supports(gpt2(scale_attn_weights=False))
    torch.manual_seed(0)
    llama = LlamaForCausalLM(
        LlamaConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            vocab_size=100,
        )
    )
    assert not gpt2_step.supports(llama)
