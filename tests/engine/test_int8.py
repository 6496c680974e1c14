"""Weight-only int8: a trained model keeps its quality, and the engine serves it correctly."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM

from aigc.errors import InvalidRequest
from aigc.models.engine import quality
from aigc.models.engine.engine import Engine, EngineConfig
from aigc.models.engine.llama_step import LlamaStep
from aigc.models.engine.quant import Int8Linear
from aigc.models.engine.serving import load_from_config
from aigc.models.protocols import TextRequest
from tests.engine.test_engine import prompts
from tests.engine.tiny_lm import save_tiny_gpt2, save_tiny_llama


@pytest.fixture(scope="module")
def trained() -> tuple[Any, quality.Corpus]:
    corpus = quality.pydoc_corpus()
    return quality.train_llama(corpus, hidden=64, layers=2, steps=150, batch=8), corpus


@pytest.mark.parametrize("weights", ["int8", "int8-dynamic"])
def test_a_trained_llama_loses_under_1_percent_of_validation_loss_in_int8(
    trained: tuple[Any, quality.Corpus], weights: str
) -> None:
    model, corpus = trained
    fp32 = quality.validation_loss(model, corpus, max_tokens=8192)
    int8 = quality.validation_loss(model, corpus, weights, max_tokens=8192)
    assert fp32 < 0.75 * math.log(256)  # it learned something: a quality there is to lose
    assert int8 != fp32  # the int8 weights really ran
    assert abs(int8 - fp32) / fp32 < 0.01


def test_int8_projections_replace_every_linear_layer() -> None:
    model = quality.train_llama(quality.pydoc_corpus(), steps=1)
    with torch.inference_mode():
        step = LlamaStep(model, 128, "int8")
    assert isinstance(step.lm_head, Int8Linear)
    for block in step.blocks:
        for part in (block.q, block.k, block.v, block.o, block.gate, block.up, block.down):
            assert isinstance(part, Int8Linear)
            assert part.weight.dtype == torch.int8


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_llama(tmp_path_factory.mktemp("llama"), kind="qwen2")


@torch.inference_mode()
@pytest.mark.parametrize("weights", ["int8", "int8-dynamic"])
def test_the_engine_in_int8_equals_the_int8_passes_one_request_at_a_time(
    llama: Path, weights: str
) -> None:
    model = AutoModelForCausalLM.from_pretrained(llama).eval()
    eos = model.config.eos_token_id
    work = prompts(8, seed=3)
    reference = LlamaStep(model, 256, weights)
    expected = []
    for prompt, n in work:  # greedy, the whole sequence again for every token, no batching
        seq = list(prompt)
        for _ in range(n):
            logits, _ = reference.prefill(torch.tensor([seq]), torch.arange(len(seq))[None], None)
            logits[0, eos] = -torch.inf  # min_tokens = n: no end before n tokens
            seq.append(int(logits[0].argmax()))
        expected.append(seq[len(prompt) :])
    engine = Engine(model, [eos], EngineConfig(max_running=8, weights=weights))
    try:
        assert isinstance(engine.fast, LlamaStep)
        assert isinstance(engine.fast.lm_head, Int8Linear)
        assert engine.fast.lm_head.dynamic == (weights == "int8-dynamic")
        request = [
            TextRequest(prompt="-", max_tokens=n, min_tokens=n, temperature=0.0) for _, n in work
        ]
        handles = [engine.submit(p, r) for (p, _), r in zip(work, request, strict=True)]
        assert [list(h) for h in handles] == expected
    finally:
        engine.close()


def test_int8_on_a_checkpoint_without_the_llama_passes_is_a_clear_error(tmp_path: Path) -> None:
    gpt2 = save_tiny_gpt2(tmp_path / "gpt2")
    with pytest.raises(InvalidRequest, match="int8 weights need a Llama"):
        load_from_config({"path": str(gpt2), "engine": {"weights": "int8"}})
    with pytest.raises(InvalidRequest, match="weights is one of"):
        load_from_config({"path": str(gpt2), "engine": {"weights": "int4"}})


def test_bf16_weights_serve_through_the_same_passes(llama: Path) -> None:
    model: Any = load_from_config({"path": str(llama), "engine": {"weights": "bf16"}})
    try:
        assert next(model.engine.model.parameters()).dtype == torch.bfloat16
        assert model.engine.path == "llama"
        text = "".join(model.generate(TextRequest(prompt="你好", max_tokens=5, temperature=0.0)))
        assert isinstance(text, str)
    finally:
        model.engine.close()


@torch.inference_mode()
def test_a_shape_the_int8_kernel_cannot_take_uses_widened_weights() -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(168, 40)  # 168: not a multiple of 16
    x = torch.randn(5, 168)
    int8 = Int8Linear(layer.weight, layer.bias)
    assert not int8.packed
    torch.testing.assert_close(int8(x), layer(x), atol=0.05, rtol=0.05)


@torch.inference_mode()
def test_int8_dynamic_multiplies_in_integers_and_each_row_alone() -> None:
    """Activations quantized per row, an exact int8 product: a row's result is the same
    whatever it is batched with, and close to the float product."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(96, 40)
    x = torch.randn(7, 96)
    int8 = Int8Linear(layer.weight, layer.bias, dynamic=True)
    assert int8.dynamic and int8.weight.dtype == torch.int8
    together = int8(x)
    alone = torch.cat([int8(x[i : i + 1]) for i in range(7)])
    assert torch.equal(together, alone)
    torch.testing.assert_close(together, layer(x), atol=0.05, rtol=0.05)
    assert not torch.equal(together, Int8Linear(layer.weight, layer.bias)(x))  # another path


@torch.inference_mode()
def test_int8_dynamic_falls_back_where_the_integer_kernel_cannot_go() -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(100, 40)  # 100: not a multiple of 8
    x = torch.randn(3, 100)
    int8 = Int8Linear(layer.weight, layer.bias, dynamic=True)
    assert not int8.dynamic
    torch.testing.assert_close(int8(x), layer(x), atol=0.05, rtol=0.05)
