"""The engine loop on a real (small, random) GPT-2: batched results equal unbatched ones."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM

from aigc.errors import Overloaded
from aigc.models.engine.batch import RunningBatch
from aigc.models.engine.engine import Engine, EngineConfig
from aigc.models.engine.serving import EngineModel, load_engine_model
from aigc.models.protocols import ChatMessage, TextRequest
from tests.engine.tiny_lm import save_tiny_gpt2, save_tiny_llama


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="module", params=["gpt2", "llama", "qwen2", "mistral", "llama-gelu"])
def hf_model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Each batching test runs on GPT-2 and on Llama, Qwen2 and Mistral (the engine's
    written-out passes), and on a Llama variant those passes refuse (the model's own forward
    with the engine's cache)."""
    out = tmp_path_factory.mktemp(request.param)
    if request.param == "gpt2":
        path = save_tiny_gpt2(out)
    else:
        path = save_tiny_llama(out, kind=request.param)
    return AutoModelForCausalLM.from_pretrained(path).eval()


def greedy(max_tokens: int, min_tokens: int = 0) -> TextRequest:
    return TextRequest(prompt="-", max_tokens=max_tokens, temperature=0.0, min_tokens=min_tokens)


def alone(model: torch.nn.Module, prompt: list[int], n: int) -> list[int]:
    """Reference: transformers' own generate(), one request, no batching, no padding."""
    eos = model.config.eos_token_id
    out = model.generate(
        torch.tensor([prompt]),
        max_new_tokens=n,
        do_sample=False,
        eos_token_id=eos,
        pad_token_id=eos,
    )
    return out[0, len(prompt) :].tolist()


def prompts(count: int, seed: int = 1) -> list[tuple[list[int], int]]:
    rng = random.Random(seed)
    return [
        ([rng.randrange(256) for _ in range(rng.randint(3, 40))], rng.randint(4, 24))
        for _ in range(count)
    ]


@pytest.fixture
def engine(hf_model: torch.nn.Module) -> Iterator[Engine]:
    eng = Engine(hf_model, [hf_model.config.eos_token_id], EngineConfig(max_running=16))
    yield eng
    eng.close()


def test_16_concurrent_greedy_equal_each_alone(engine: Engine, hf_model: torch.nn.Module) -> None:
    work = prompts(16)
    handles = [engine.submit(p, greedy(n)) for p, n in work]  # all at once
    got = [list(h) for h in handles]
    for (prompt, n), tokens in zip(work, got, strict=True):
        assert tokens == alone(hf_model, prompt, n)
    assert engine.stats.steps < sum(n for _, n in work)  # they really ran together
    kind = hf_model.config.model_type
    expected = "forward" if getattr(hf_model.config, "hidden_act", "") == "gelu" else "llama"
    assert engine.path == ("gpt2" if kind == "gpt2" else expected)


def test_chunked_prefill_and_preemption_keep_outputs(hf_model: torch.nn.Module) -> None:
    # 12 tokens per step and a KV budget of 6 blocks of 16 tokens for 6 requests of up to 60.
    c = hf_model.config
    kv_heads = getattr(c, "num_key_value_heads", None) or c.num_attention_heads
    token_bytes = 2 * c.num_hidden_layers * kv_heads * (c.hidden_size // c.num_attention_heads) * 4
    budget_mb = 6 * 16 * token_bytes / 2**20
    config = EngineConfig(max_running=6, token_budget=12, kv_cache_mb=budget_mb, block_size=16)
    eng = Engine(hf_model, [hf_model.config.eos_token_id], config)
    try:
        assert eng.scheduler.config.num_blocks == 6
        work = [(p, 20) for p, _ in prompts(6, seed=2)]
        handles = [eng.submit(p, greedy(n, min_tokens=n)) for p, n in work]
        got = [list(h) for h in handles]
        assert eng.stats.preemptions > 0
        for (prompt, n), tokens in zip(work, got, strict=True):
            assert len(tokens) == n
            assert tokens == alone_no_eos(hf_model, prompt, n)
    finally:
        eng.close()


def test_requests_joining_and_leaving_a_running_batch_keep_their_outputs(
    hf_model: torch.nn.Module,
) -> None:
    """Waves of requests join while others decode: shorter and longer prompts than the batch's
    window, rows leaving in between, the window sliding and the buffers growing past their
    spare room. Every output still equals the request alone."""
    eng = Engine(hf_model, [hf_model.config.eos_token_id], EngineConfig(max_running=16))
    rng = random.Random(5)
    try:
        waves = [
            [([rng.randrange(256) for _ in range(rng.randint(2, 6))], 90) for _ in range(3)],
            [([rng.randrange(256) for _ in range(rng.randint(30, 70))], 25) for _ in range(4)],
            [([rng.randrange(256) for _ in range(rng.randint(5, 100))], 12) for _ in range(4)],
        ]
        submitted: list[tuple[list[int], int, object]] = []
        for wave in waves:
            steps = eng.stats.steps
            for prompt, n in wave:
                submitted.append((prompt, n, eng.submit(prompt, greedy(n, min_tokens=n))))
            while eng.stats.steps < steps + 15:  # let this wave decode before the next joins
                time.sleep(0.005)
        for prompt, n, handle in submitted:
            assert list(handle) == alone_no_eos(hf_model, prompt, n)  # type: ignore[call-overload]
    finally:
        eng.close()


def test_equal_prompts_decode_and_match(hf_model: torch.nn.Module) -> None:
    """Prompts of one length (usually no padded row: decoding then runs with no mask)."""
    eng = Engine(hf_model, [hf_model.config.eos_token_id], EngineConfig(max_running=8))
    rng = random.Random(9)
    try:
        work = [([rng.randrange(256) for _ in range(12)], 30) for _ in range(6)]
        handles = [eng.submit(p, greedy(n, min_tokens=n)) for p, n in work]
        for (prompt, n), handle in zip(work, handles, strict=True):
            assert list(handle) == alone_no_eos(hf_model, prompt, n)
    finally:
        eng.close()


def test_batch_knows_when_a_row_is_padded() -> None:
    def kv(rows: int, length: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(torch.ones(rows, 2, length, 4), torch.ones(rows, 2, length, 4))]

    batch = RunningBatch()
    batch.add(["a", "b"], kv(2, 5))
    assert not batch.padded  # equal lengths: attention needs no mask
    batch.add(["c"], kv(1, 3))
    assert batch.padded and batch.mask.tolist()[2] == [0, 0, 1, 1, 1]
    batch.remove({"a", "b"})
    assert not batch.padded and batch.mask.tolist() == [[1, 1, 1]]  # padding columns dropped


def test_every_column_a_step_reads_is_written_first() -> None:
    """The batch's buffers are allocated uninitialised: whatever the memory held before (here
    NaN everywhere outside the window) must never reach attention, where a masked NaN still
    poisons the softmax."""

    def kv(rows: int, length: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(torch.ones(rows, 2, length, 4), torch.ones(rows, 2, length, 4))]

    def poison_outside_window(batch: RunningBatch) -> None:
        w = batch.window
        for layer in batch.layers:
            for buffer in layer.buffers:
                kept = buffer[: w.rows, :, w.start : w.end].clone()
                buffer.fill_(torch.nan)
                buffer[: w.rows, :, w.start : w.end] = kept

    def read_columns_are_finite(batch: RunningBatch) -> bool:
        return all(
            bool(torch.isfinite(t).all())
            for layer in batch.layers
            for t in (layer.keys, layer.values)
        )

    batch = RunningBatch()
    batch.add(["a", "b"], kv(2, 5))
    batch.add(["x"], kv(1, 9))
    batch.remove({"x"})  # the window's start moves right: free columns on its left
    poison_outside_window(batch)
    batch.add(["c"], kv(1, 8))  # longer: three of those columns join rows a and b as padding
    assert read_columns_are_finite(batch)
    assert batch.mask.tolist()[0] == [0, 0, 0, 1, 1, 1, 1, 1]
    poison_outside_window(batch)
    mask = batch.before_step()
    for layer in batch.layers:  # the step writes its new column, then reads the window
        layer.update(torch.ones(3, 2, 1, 4), torch.ones(3, 2, 1, 4))
    batch.after_step(mask)
    assert read_columns_are_finite(batch)
    poison_outside_window(batch)
    batch.add([f"r{i}" for i in range(80)], kv(80, 2))  # past the spare rows: new buffers
    assert read_columns_are_finite(batch) and len(batch) == 83


def alone_no_eos(model: torch.nn.Module, prompt: list[int], n: int) -> list[int]:
    eos = model.config.eos_token_id
    out = model.generate(
        torch.tensor([prompt]),
        max_new_tokens=n,
        min_new_tokens=n,
        do_sample=False,
        eos_token_id=eos,
        pad_token_id=eos,
    )
    return out[0, len(prompt) :].tolist()


def test_seeded_sampling_does_not_depend_on_neighbours(engine: Engine) -> None:
    ask = TextRequest(prompt="-", max_tokens=12, temperature=0.8, top_k=50, seed=7)
    first = list(engine.submit([5, 6, 7], ask))
    others = [engine.submit(p, greedy(n)) for p, n in prompts(5, seed=3)]
    again = list(engine.submit([5, 6, 7], ask))
    for h in others:
        list(h)
    assert first == again


def test_disconnect_frees_the_slot_within_one_step(checkpoint: Path) -> None:
    model = load_engine_model(checkpoint, EngineConfig(max_running=4))
    engine = model.engine
    try:
        ask = TextRequest(
            messages=[ChatMessage("user", "讲个故事")],
            max_tokens=200,
            temperature=0,
            min_tokens=200,
        )
        keep = model.generate(ask)
        leave = model.generate(ask)
        next(keep), next(leave), next(leave)
        assert len(engine.scheduler.requests) == 2
        leave.close()  # what the pipeline does when the client disconnects
        deadline = time.monotonic() + 10
        while len(engine.scheduler.requests) > 1 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert len(engine.scheduler.requests) == 1
        # Between the cancel and the request leaving, at most the step then running finished.
        assert engine.stats.abort_lag_steps <= 1
        assert "".join(keep)  # the other request goes on to the end
    finally:
        engine.close()


def test_full_queue_answers_503(hf_model: torch.nn.Module) -> None:
    eng = Engine(hf_model, [], EngineConfig(max_running=1, max_queue=2))
    try:
        # One place running and two waiting: the fourth is refused at once (each admitted
        # request decodes 200 tokens, far longer than submitting takes).
        handles = [eng.submit([1, 2, 3], greedy(200, min_tokens=200)) for _ in range(3)]
        with pytest.raises(Overloaded) as refused:
            handles.append(eng.submit([1, 2, 3], greedy(200, min_tokens=200)))
        assert refused.value.headers["Retry-After"]
        for h in handles:
            assert len(list(h)) == 200  # every admitted request completes
    finally:
        eng.close()


def test_chinese_round_trips_through_the_tokenizer(checkpoint: Path) -> None:
    model = load_engine_model(checkpoint)
    try:
        assert model.tokenizer.decode(model.tokenizer.encode("你好，世界")) == "你好，世界"
        assert model.count_tokens("你好") == 6  # bytes
        text = "".join(model.generate(TextRequest(prompt="你好", max_tokens=8, temperature=0)))
        assert isinstance(text, str)
    finally:
        model.engine.close()


def test_engine_model_is_a_text_model(checkpoint: Path) -> None:
    from aigc.models.protocols import TextModel

    model = load_engine_model(checkpoint)
    try:
        assert isinstance(model, EngineModel) and isinstance(model, TextModel)
        assert model.context_length == 256  # the checkpoint's n_positions: grounding fits to it
    finally:
        model.engine.close()


def test_a_registered_engine_model_is_named_by_its_model_in_metrics(checkpoint: Path) -> None:
    from aigc.infra.schema import ModelRecord
    from aigc.models.registry import _loader

    record = ModelRecord(
        id="mdl_1", name="acme-assistant", family="hf", config={"path": str(checkpoint)}
    )
    record.config["engine"] = {"max_running": 2}
    model = _loader(record)(record.config)
    try:
        assert model.engine.name == "acme-assistant"  # not the checkpoint folder's name
    finally:
        model.engine.close()


def test_the_gateways_tenant_reaches_the_scheduler(checkpoint: Path) -> None:
    model = load_engine_model(checkpoint, EngineConfig(max_running=1))
    try:
        hold = TextRequest(prompt="a", max_tokens=150, min_tokens=150, temperature=0)
        blocker = model.generate(hold)
        next(blocker)  # holds the only running place, so the next request waits

        # the pipeline puts the caller's tenant on each request it builds
        waiting = model.generate(
            TextRequest(prompt="b", max_tokens=2, temperature=0, tenant="t_acme")
        )
        deadline = time.monotonic() + 10
        while not model.engine.scheduler.waiting and time.monotonic() < deadline:
            time.sleep(0.001)
        assert [r.tenant for r in model.engine.scheduler.waiting] == ["t_acme"]
        blocker.close()
        assert isinstance("".join(waiting), str)  # type: ignore[arg-type]
    finally:
        model.engine.close()
