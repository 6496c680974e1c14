"""Weight-only int8: a trained model keeps its quality, and the engine serves it correctly."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM

from aigc.errors import InvalidRequest
from aigc.models.engine import quality, quant
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
        for part in (block.qkv, block.o, block.gate_up, block.down):
            assert isinstance(part, Int8Linear)
            assert part.weight.dtype == torch.int8


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_llama(tmp_path_factory.mktemp("llama"), kind="qwen2")


@torch.inference_mode()
@pytest.mark.parametrize("weights", ["int8", "int8-dynamic"])
def test_the_engine_in_int8_batched_equals_one_request_at_a_time(llama: Path, weights: str) -> None:
    """Eight requests decoded together give exactly the tokens each gives alone; and the
    passes with the cache pick what the whole sequence recomputed picks (first tokens)."""
    model = AutoModelForCausalLM.from_pretrained(llama).eval()
    eos = model.config.eos_token_id
    work = prompts(8, seed=3)
    request = [
        TextRequest(prompt="-", max_tokens=n, min_tokens=n, temperature=0.0) for _, n in work
    ]

    def served(max_running: int) -> list[list[int]]:
        engine = Engine(model, [eos], EngineConfig(max_running=max_running, weights=weights))
        try:
            assert isinstance(engine.fast, LlamaStep)
            assert isinstance(engine.fast.lm_head, Int8Linear)
            assert engine.fast.lm_head.dynamic == (weights == "int8-dynamic")
            handles = [engine.submit(p, r) for (p, _), r in zip(work, request, strict=True)]
            return [list(h) for h in handles]
        finally:
            engine.close()

    together = served(8)
    assert together == served(1)
    reference = LlamaStep(model, 256, weights)
    for (prompt, _), tokens in zip(work, together, strict=True):
        seq = list(prompt)
        for _ in range(3):  # the whole sequence again for every token, no cache
            logits, _ = reference.prefill(torch.tensor([seq]), torch.arange(len(seq))[None], None)
            logits[0, eos] = -torch.inf
            seq.append(int(logits[0].argmax()))
        assert seq[len(prompt) :] == tokens[:3]


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
    assert int8.kernel == "widened"
    torch.testing.assert_close(int8(x), layer(x), atol=0.05, rtol=0.05)


@pytest.fixture(params=["fbgemm", "int_mm"])
def dynamic_kernel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both integer products of int8-dynamic: fbgemm's where torch has it, else _int_mm."""
    if request.param == "fbgemm":
        if "fbgemm" not in torch.backends.quantized.supported_engines:
            pytest.skip("this torch has no fbgemm (not an x86 build)")
    else:
        monkeypatch.setattr(quant, "_fbgemm_pack", lambda weight, scale: None)
    return request.param


@torch.inference_mode()
def test_int8_dynamic_multiplies_in_integers_and_each_row_alone(dynamic_kernel: str) -> None:
    """Activations quantized per row, an exact int8 product: a row's result is the same
    whatever it is batched with (even beside a row a thousand times larger), and close to the
    float product."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(96, 40)
    x = torch.randn(7, 96)
    x[3] *= 1000.0
    int8 = Int8Linear(layer.weight, layer.bias, dynamic=True)
    assert int8.dynamic and int8.kernel == dynamic_kernel
    together = int8(x)
    alone = torch.cat([int8(x[i : i + 1]) for i in range(7)])
    assert torch.equal(together, alone)
    assert torch.equal(int8(x[[0, 1]]), together[[0, 1]])
    expected = layer(x)
    error = (together - expected).abs().amax(dim=1) / expected.abs().amax(dim=1)
    assert float(error.max()) < 0.03  # within 3 % of each row's largest output
    assert not torch.equal(together, Int8Linear(layer.weight, layer.bias)(x))  # another path


@torch.inference_mode()
def test_the_two_dynamic_kernels_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """fbgemm (asymmetric levels over [-1, 1]) and _int_mm (symmetric ±127): both round each
    row to 8 bits, so they agree within a level's error."""
    if "fbgemm" not in torch.backends.quantized.supported_engines:
        pytest.skip("this torch has no fbgemm (not an x86 build)")
    torch.manual_seed(0)
    layer = torch.nn.Linear(256, 64, bias=False)
    x = torch.randn(5, 256)
    fbgemm = Int8Linear(layer.weight, None, dynamic=True)
    monkeypatch.setattr(quant, "_fbgemm_pack", lambda weight, scale: None)
    int_mm = Int8Linear(layer.weight, None, dynamic=True)
    assert (fbgemm.kernel, int_mm.kernel) == ("fbgemm", "int_mm")
    torch.testing.assert_close(fbgemm(x), int_mm(x), atol=0.03, rtol=0.02)


@torch.inference_mode()
def test_int8_dynamic_falls_back_where_the_integer_kernels_cannot_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without fbgemm, a shape _int_mm cannot take goes to the weight-only product (or the
    widened weights), still close to the float product."""
    monkeypatch.setattr(quant, "_fbgemm_pack", lambda weight, scale: None)
    torch.manual_seed(0)
    layer = torch.nn.Linear(100, 40)  # 100: not a multiple of 8
    x = torch.randn(3, 100)
    int8 = Int8Linear(layer.weight, layer.bias, dynamic=True)
    assert not int8.dynamic and int8.kernel == "widened"
    torch.testing.assert_close(int8(x), layer(x), atol=0.05, rtol=0.05)
    even = torch.nn.Linear(112, 40)  # both sizes in steps of 8: _int_mm takes it
    assert Int8Linear(even.weight, even.bias, dynamic=True).kernel == "int_mm"
