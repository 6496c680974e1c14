"""Prefix caching: shared prompt prefixes are computed once, and outputs do not change."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM

from aigc.models.engine.engine import Engine, EngineConfig
from aigc.models.engine.prefix_cache import PrefixCache
from aigc.models.protocols import TextRequest
from tests.engine.tiny_lm import save_tiny_gpt2, save_tiny_llama


def kv_of_length(length: int, layers: int = 2, seed: int = 0) -> list[Any]:
    gen = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(1, 2, length, 4, generator=gen), torch.randn(1, 2, length, 4, generator=gen))
        for _ in range(layers)
    ]


def test_a_lookup_returns_the_longest_cached_prefix_in_whole_blocks() -> None:
    cache = PrefixCache(capacity_bytes=1 << 20, block_size=4)
    ids = list(range(100, 111))  # 11 tokens: two whole blocks
    kv = kv_of_length(11)
    cache.insert(ids, kv)
    assert len(cache) == 2
    n, got = cache.lookup([*ids[:9], 7, 7, 7], limit=20)  # diverges inside the third block
    assert n == 8 and got is not None
    for (keys, values), (k, v) in zip(got, kv, strict=True):
        assert torch.equal(keys, k[:, :, :8]) and torch.equal(values, v[:, :, :8])
    assert cache.lookup(ids, limit=7)[0] == 4  # never more than asked for
    assert cache.lookup([1, *ids], limit=20) == (0, None)  # a prefix starts at the start
    assert cache.lookup([*ids[:3], 0, *ids[4:]], limit=20)[0] == 0  # one token differs


def test_a_left_padded_row_is_stored_from_its_first_real_column() -> None:
    cache = PrefixCache(capacity_bytes=1 << 20, block_size=4)
    kv = kv_of_length(10)  # row 0 of a batch: 2 padding columns, then 8 real ones
    cache.insert(list(range(8)), kv, row=0, offset=2)
    n, got = cache.lookup(list(range(9)), limit=9)
    assert n == 8 and got is not None
    assert torch.equal(got[0][0], kv[0][0][:, :, 2:])


def test_memory_is_bounded_and_the_least_recently_used_blocks_go_first() -> None:
    block_bytes = 2 * 2 * 2 * 4 * 4 * 4  # layers × (k, v) × heads × block × dim × fp32
    cache = PrefixCache(capacity_bytes=5 * block_bytes, block_size=4)
    shared = [1, 2, 3, 4, 5, 6, 7, 8]  # two blocks every prompt starts with
    cache.insert([*shared, 10, 11, 12, 13], kv_of_length(12))
    cache.insert([*shared, 20, 21, 22, 23], kv_of_length(12))  # shares two, adds one
    assert len(cache) == 4 and cache.used == 4 * block_bytes
    cache.lookup([*shared, 10, 11, 12, 13, 0], limit=13)  # the first tail is used again
    for i in range(3):  # new tails push out the least recently used: the second tail
        cache.insert([*shared, 30 + i, 0, 0, 0], kv_of_length(12, seed=i))
        assert cache.used <= cache.capacity
    assert cache.evictions > 0
    assert cache.lookup([*shared, 20, 21, 22, 23, 0], limit=13)[0] == 8  # its tail is gone
    assert cache.lookup([*shared, 32, 0, 0, 0, 0], limit=13)[0] == 12  # the newest is there


@pytest.fixture(scope="module", params=["llama", "gpt2", "llama-gelu"])
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The Llama passes (prefill after cached keys/values), GPT-2's and the model's forward
    (the cached keys/values as the forward's cache)."""
    out = tmp_path_factory.mktemp(request.param)
    path: Path = (
        save_tiny_gpt2(out) if request.param == "gpt2" else save_tiny_llama(out, kind=request.param)
    )
    return AutoModelForCausalLM.from_pretrained(path).eval()


def workload(seed: int) -> list[tuple[list[int], int]]:
    """Prompts sharing one of two system prompts (40 and 23 tokens), and unrelated ones."""
    rng = random.Random(seed)
    systems = [[rng.randrange(256) for _ in range(40)], [rng.randrange(256) for _ in range(23)]]
    work = []
    for i in range(18):
        tail = [rng.randrange(256) for _ in range(rng.randint(1, 20))]
        prompt = tail if i % 6 == 5 else systems[i % 2] + tail
        work.append((prompt, rng.randint(3, 12)))
    return work


def run(engine: Engine, work: list[tuple[list[int], int]]) -> list[list[int]]:
    """All requests at once, from concurrent callers (several threads submitting)."""

    def one(item: tuple[list[int], int]) -> list[int]:
        prompt, n = item
        request = TextRequest(prompt="-", max_tokens=n, temperature=0.0, min_tokens=n)
        return list(engine.submit(prompt, request))

    with ThreadPoolExecutor(6) as pool:
        return list(pool.map(one, work))


@pytest.mark.parametrize("prefix_cache_mb", [8.0, 0.05])  # plenty; a few blocks: eviction
def test_outputs_with_the_cache_equal_outputs_without(model: Any, prefix_cache_mb: float) -> None:
    eos = [model.config.eos_token_id]
    plain = Engine(model, eos, EngineConfig(max_running=8, prefix_cache_mb=0))
    try:
        assert plain.prefix_cache is None
        expected = [run(plain, workload(seed)) for seed in (1, 2)]
    finally:
        plain.close()
    config = EngineConfig(max_running=8, prefix_cache_mb=prefix_cache_mb)
    cached = Engine(model, eos, config)
    try:
        for seed, want in zip((1, 2), expected, strict=True):
            assert run(cached, workload(seed)) == want
        # Rerunning a workload hits prompts the cache has seen (and shares system prompts).
        assert run(cached, workload(1)) == expected[0]
        assert cached.stats.cached_tokens >= 16
        assert cached.prefix_cache is not None
        assert cached.prefix_cache.used <= cached.prefix_cache.capacity
        if prefix_cache_mb < 1:
            assert cached.prefix_cache.evictions > 0
    finally:
        cached.close()
