"""fp32/bf16 projections on oneDNN with the weights packed once, and the loader that then
drops the model's own copy of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM

from aigc.models.engine import llama_step, quant
from aigc.models.engine.engine import Engine, EngineConfig
from aigc.models.engine.llama_step import LlamaStep
from aigc.models.engine.quant import PackedLinear
from aigc.models.engine.serving import load_from_config
from aigc.models.protocols import TextRequest
from tests.engine.test_engine import prompts
from tests.engine.tiny_lm import save_tiny_llama


def test_this_cpu_packs_fp32_and_bf16_only_where_it_multiplies_bf16() -> None:
    """The x86 torch wheel has oneDNN; fp32 is always packed on a CPU, bf16 only with native
    bf16 instructions (oneDNN emulates them elsewhere, slower than MKL)."""
    assert torch.backends.mkldnn.is_available()
    assert quant.packable(torch.zeros(4, 4))
    assert quant.packable(torch.zeros(4, 4, dtype=torch.bfloat16)) == quant.cpu_has_bf16()
    assert not quant.packable(torch.zeros(4, 4, dtype=torch.float16))
    assert not quant.packable(torch.zeros(4, 4, device="meta"))


@torch.inference_mode()
@pytest.mark.parametrize("rows", [1, 3, 16, 300])
def test_a_packed_projection_equals_the_float_product(rows: int) -> None:
    """Any number of rows, with and without a bias, whatever the layout was packed for."""
    torch.manual_seed(rows)
    weight, bias = torch.randn(200, 96), torch.randn(200)
    x = torch.randn(rows, 96)
    torch.testing.assert_close(PackedLinear(weight, bias)(x), F.linear(x, weight, bias))
    torch.testing.assert_close(PackedLinear(weight, None)(x[None]), F.linear(x, weight)[None])
    if quant.packable(weight.bfloat16()):
        wide = F.linear(x.bfloat16().float(), weight.bfloat16().float(), bias.bfloat16().float())
        packed = PackedLinear(weight.bfloat16(), bias.bfloat16())(x.bfloat16())
        assert packed.dtype == torch.bfloat16
        torch.testing.assert_close(packed.float(), wide, atol=0.1, rtol=0.02)


@pytest.fixture(scope="module")
def qwen2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_llama(tmp_path_factory.mktemp("qwen2"), kind="qwen2")


@torch.inference_mode()
def test_the_llama_passes_pack_every_projection_stacked(qwen2: Path) -> None:
    """One packed product for query/key/value (with Qwen2's biases) and one for gate/up;
    the logits are the model's own."""
    model = AutoModelForCausalLM.from_pretrained(qwen2).eval()
    step = LlamaStep(model, 128)
    assert isinstance(step.lm_head, PackedLinear)
    for block in step.blocks:
        for part in (block.qkv, block.o, block.gate_up, block.down):
            assert isinstance(part, PackedLinear)
    projections = [p for n, p in model.named_parameters() if n.endswith("proj.weight")]
    assert step.copied_bytes == 4 * (
        sum(p.numel() for p in projections) + model.lm_head.weight.numel()
    )
    ids = torch.tensor([[5, 17, 200, 3, 99]])
    logits, _ = step.prefill(ids, torch.arange(5)[None], None)
    torch.testing.assert_close(logits[0], model(ids).logits[0, -1], atol=1e-4, rtol=1e-4)


@torch.inference_mode()
def test_bf16_without_native_instructions_runs_on_the_modules_own_weights(
    qwen2: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quant, "cpu_has_bf16", lambda: False)
    model = AutoModelForCausalLM.from_pretrained(qwen2).eval().to(torch.bfloat16)
    step = LlamaStep(model, 128, release=True)
    assert not any(quant.copies(p) for p in (step.lm_head, step.blocks[0].qkv, step.blocks[0].o))
    assert step.copied_bytes == 0 and step.released == 0
    assert not any(p.is_meta for p in model.parameters())


def greedy(engine: Engine, work: list[tuple[list[int], int]]) -> list[list[int]]:
    requests = [
        TextRequest(prompt="-", max_tokens=n, min_tokens=n, temperature=0.0) for _, n in work
    ]
    handles = [engine.submit(p, r) for (p, _), r in zip(work, requests, strict=True)]
    return [list(h) for h in handles]


@torch.inference_mode()
@pytest.mark.parametrize("weights", ["fp32", "int8-dynamic"])
def test_the_loader_drops_the_weights_its_passes_copied(qwen2: Path, weights: str) -> None:
    """A model loaded from a path keeps one copy of each projection: the passes' own; the
    module's weights become shapes without memory, the embedding stays; answers unchanged,
    and the footprint counts what is held."""
    work = prompts(4, seed=5)
    kept = AutoModelForCausalLM.from_pretrained(qwen2).eval()
    engine = Engine(kept, [kept.config.eos_token_id], EngineConfig(weights=weights))
    try:
        expected = greedy(engine, work)
    finally:
        engine.close()
    assert not any(p.is_meta for p in kept.parameters())  # an engine alone never drops them
    kept(torch.tensor([[1, 2, 3]]))  # so the model's forward still runs

    loaded: Any = load_from_config({"path": str(qwen2), "engine": {"weights": weights}})
    try:
        model = loaded.engine.model
        dropped = {n for n, p in model.named_parameters() if p.is_meta}
        projections = {n for n, _ in model.named_parameters() if n.endswith("proj.weight")}
        assert dropped == projections | {"lm_head.weight"}
        assert not model.model.embed_tokens.weight.is_meta
        assert greedy(loaded.engine, work) == expected
        _device, size = loaded.footprint()
        held = sum(p.numel() * p.element_size() for p in model.parameters() if not p.is_meta)
        kv = (loaded.engine.config.kv_cache_mb + loaded.engine.config.prefix_cache_mb) * 2**20
        assert size == held + loaded.engine.fast.copied_bytes + int(kv)
        assert loaded.engine.fast.copied_bytes > 0
    finally:
        loaded.engine.close()


@torch.inference_mode()
def test_a_tied_output_layer_keeps_the_embedding() -> None:
    """With the output layer tied to the embedding (as in Qwen2.5-0.5B), the packed head is a
    copy but the embedding is still read for every token: it stays."""
    sizes = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2}
    heads = {"num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512}
    model = Qwen2ForCausalLM(Qwen2Config(**sizes, **heads, tie_word_embeddings=True)).eval()
    assert model.lm_head.weight is model.model.embed_tokens.weight
    released = LlamaStep(model, 128, release=True).released
    assert not model.model.embed_tokens.weight.is_meta
    assert released == sum(
        p.numel() * 4 for n, p in model.named_parameters() if n.endswith("proj.weight")
    )


@torch.inference_mode()
def test_an_owning_engine_drops_each_weight_as_soon_as_its_copy_exists(
    qwen2: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading never holds the model and all its copies at once: when each projection's copy
    is made, every earlier projection's model weights are already gone."""
    model = AutoModelForCausalLM.from_pretrained(qwen2).eval()
    dropped_before: list[int] = []

    def spy(real: Any) -> Any:
        def make(modules: Any, kind: str | None) -> Any:
            dropped_before.append(sum(p.is_meta for p in model.parameters()))
            return real(modules, kind)

        return make

    monkeypatch.setattr(llama_step, "linear", spy(quant.linear))
    monkeypatch.setattr(llama_step, "fused", spy(quant.fused))
    engine = Engine(model, [model.config.eos_token_id], EngineConfig(), owns_model=True)
    try:
        layers = model.config.num_hidden_layers
        assert len(dropped_before) == 1 + 4 * layers  # the output layer, then 4 per layer
        assert dropped_before == sorted(set(dropped_before))  # more gone at every step
        names = {n for n, p in model.named_parameters() if p.is_meta}
        assert names == {n for n in names if n.endswith("proj.weight")} | {"lm_head.weight"}
        assert len(names) == 1 + 7 * layers
        assert isinstance(engine.fast, LlamaStep)
        assert engine.fast.released == engine.copied_bytes
    finally:
        engine.close()
