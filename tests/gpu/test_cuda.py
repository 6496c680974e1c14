"""The same code on a CUDA GPU: the engine's written-out passes, the engine serving greedy
requests in fp32, bf16 (what ``weights: auto`` picks on a GPU) and int8, its prefix cache,
int8's quality, and a training run stopped and resumed. (``make test-gpu`` also runs the image
models' tests, which train and sample on the GPU by themselves when there is one.)

CI has no GPU, so these carry the ``cuda`` marker, which ``make test`` deselects (not a skip);
``make test-gpu`` runs them on a machine that has one. The CPU versions of every check here run
in tests/engine on every CI run.

On a GPU the kernels round differently from the reference forward (other reduction orders,
other algorithms for other batch sizes), so the passes are held to 1e-4 there instead of the
CPU's defaults, and the engine's tokens are checked against the model's own forward over the
finished sequence (each chosen token within ``tolerance`` of that position's best logit)
rather than against a second run token for token: near-ties may break either way on a GPU,
a wrong pass or cache does not stay within the tolerance.
"""

from __future__ import annotations

import copy
import functools
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch

from aigc.models.device import pick_device
from aigc.models.engine import quality
from aigc.models.engine.engine import Engine, EngineConfig
from aigc.models.engine.quant import Int8Linear
from aigc.models.protocols import TextRequest
from tests.engine import test_gpt2_step, test_llama_step
from tests.models import test_trainer

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]
CUDA = torch.device("cuda")
KINDS = ["gpt2", *test_llama_step.KINDS]


@pytest.fixture
def on_cuda(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tensors made without a device land on the GPU; comparisons at the GPU's tolerance."""
    loose = functools.partial(torch.testing.assert_close, atol=1e-4, rtol=1e-4)
    monkeypatch.setattr(torch.testing, "assert_close", loose)
    with torch.device(CUDA):
        yield


@pytest.mark.parametrize("kind", test_llama_step.KINDS)
def test_the_llama_passes_equal_the_models_forward_on_cuda(kind: str, on_cuda: None) -> None:
    test_llama_step.test_prefill_and_decode_of_a_padded_batch_equal_the_models_forward(kind)
    test_llama_step.test_an_unpadded_batch_decodes_without_a_mask(kind)
    test_llama_step.test_prefill_after_a_known_prefix_equals_the_models_forward(kind)
    test_llama_step.test_rests_of_prompts_after_pasts_of_different_lengths_run_together(kind)


@pytest.mark.parametrize("activation", ["gelu_new", "relu"])
def test_the_gpt2_passes_equal_the_models_forward_on_cuda(activation: str, on_cuda: None) -> None:
    options = {"activation_function": activation}
    test_gpt2_step.test_steps_over_a_padded_batch_equal_the_models_forward(options)
    test_gpt2_step.test_prefill_of_padded_prompts_equals_the_models_forward(options)


def build(kind: str) -> Any:
    """The CPU tests' small models (random weights, fixed seed), moved to the GPU."""
    model = test_gpt2_step.gpt2() if kind == "gpt2" else test_llama_step.build(kind)
    return model.to(CUDA)


def workload(seed: int, shared: int = 0) -> list[tuple[list[int], int]]:
    """Twelve prompts of 1–20 tokens (after ``shared`` tokens every prompt starts with), 4–10
    new tokens each; all fit the 64 positions of the test models."""
    rng = random.Random(seed)
    system = [rng.randrange(300) for _ in range(shared)]
    return [
        (system + [rng.randrange(300) for _ in range(rng.randint(1, 20))], rng.randint(4, 10))
        for _ in range(12)
    ]


def serve(engine: Engine, work: list[tuple[list[int], int]]) -> list[list[int]]:
    """All requests at once, from six submitting threads (as the gateway's workers do)."""

    def one(item: tuple[list[int], int]) -> list[int]:
        prompt, n = item
        return list(engine.submit(prompt, TextRequest(prompt="-", max_tokens=n, temperature=0)))

    with ThreadPoolExecutor(6) as pool:
        return list(pool.map(one, work))


@torch.inference_mode()
def assert_greedy(
    model: Any, work: list[tuple[list[int], int]], outputs: list[list[int]], tolerance: float
) -> None:
    """Each token the engine chose is within ``tolerance`` of the best logit of the model's
    own forward over the finished sequence, at that position."""
    for (prompt, n), tokens in zip(work, outputs, strict=True):
        assert len(tokens) == n
        sequence = torch.tensor([prompt + tokens], device=CUDA)
        logits = model(sequence).logits[0, len(prompt) - 1 : -1].float()
        chosen = logits.gather(1, torch.tensor(tokens, device=CUDA)[:, None])[:, 0]
        gaps = logits.max(dim=-1).values - chosen
        assert float(gaps.max()) <= tolerance, (prompt, tokens, gaps.tolist())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("weights", ["fp32", "auto"])
def test_the_engine_on_cuda_serves_the_models_greedy_tokens(kind: str, weights: str) -> None:
    model = build(kind)
    engine = Engine(model, [], EngineConfig(max_running=8, weights=weights, prefix_cache_mb=0))
    try:
        assert engine.device.type == "cuda"
        assert engine.path == ("gpt2" if kind == "gpt2" else "llama")
        # auto on a GPU: bf16 weights (half the bytes); the engine cast the model itself.
        assert engine.weights == ("fp32" if weights == "fp32" else "bf16")
        work = workload(seed=1)
        outputs = serve(engine, work)
    finally:
        engine.close()
    assert_greedy(model, work, outputs, tolerance=1e-3 if weights == "fp32" else 5e-2)


@pytest.mark.parametrize("kind", ["llama", "qwen2", "gpt2"])
def test_the_prefix_cache_on_cuda_serves_the_models_greedy_tokens(kind: str) -> None:
    model = build(kind)
    config = EngineConfig(max_running=8, weights="fp32", prefix_cache_mb=4.0)
    engine = Engine(model, [], config)
    try:
        work = workload(seed=2, shared=33)
        first, again = serve(engine, work), serve(engine, work)
        assert engine.stats.cached_tokens >= 12 * 32  # the second round reads the cache
        assert engine.prefix_cache is not None
        assert engine.prefix_cache.used <= engine.prefix_cache.capacity
    finally:
        engine.close()
    assert_greedy(model, work, first, tolerance=1e-3)
    assert_greedy(model, work, again, tolerance=1e-3)


@pytest.mark.parametrize("weights", ["int8", "int8-dynamic"])
def test_int8_weights_on_cuda_are_widened_for_the_product_and_serve(weights: str) -> None:
    """No integer kernel on a GPU here: the int8 rows are widened to bf16 per product
    (a quarter of fp32's memory for the weights, no speed-up), and requests are served."""
    model = build("qwen2")
    engine = Engine(model, [], EngineConfig(max_running=8, weights=weights, prefix_cache_mb=0))
    try:
        assert engine.weights == weights
        head = getattr(engine.fast, "lm_head", None)
        assert isinstance(head, Int8Linear) and head.kernel == "widened"
        assert head.weight.dtype == torch.int8 and head.weight.device.type == "cuda"
        work = workload(seed=3)
        outputs = serve(engine, work)
    finally:
        engine.close()
    assert [len(t) for t in outputs] == [n for _, n in work]


def test_a_llama_trained_on_cuda_loses_under_1_percent_in_int8_and_bf16() -> None:
    """quality.py's check (tests/engine/test_int8.py on the CPU), trained and measured on the
    GPU: the held-out tenth of pydoc_data.topics."""
    corpus = quality.pydoc_corpus()
    corpus = quality.Corpus(corpus.train.to(CUDA), corpus.valid.to(CUDA))
    with torch.device(CUDA):
        model = quality.train_llama(corpus, steps=300)
        full = quality.validation_loss(model, corpus)
        for weights in ("int8", "int8-dynamic"):
            loss = quality.validation_loss(model, corpus, weights)
            assert loss < full * 1.01, (weights, loss, full)
        bf16 = quality.validation_loss(copy.deepcopy(model).to(torch.bfloat16), corpus)
        assert bf16 < full * 1.01, (bf16, full)
    assert full < 2.6  # it learned something: bytes are 8 bits, ~5.5 nats when uniform


@pytest.mark.parametrize("family", ["gpt", "rnn"])
def test_a_training_run_on_cuda_resumes_where_an_uninterrupted_run_ends(
    family: str, tmp_path: Path
) -> None:
    """The checkpoint holds the CPU's random states and the GPU's (dropout there): a resumed
    run reads both back (it failed on a GPU while the states were loaded onto it)."""
    assert pick_device().type == "cuda"  # the trainer's default device, "auto"
    test_trainer.test_resumed_run_ends_where_an_uninterrupted_run_ends(family, tmp_path)
