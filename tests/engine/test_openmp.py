"""A thread gives back its OpenMP worker threads (``openmp.release_thread_pool``), and the
engine's builder does: idle teams left behind slow the engine thread's parallel regions."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import torch

from aigc.models.engine import openmp
from aigc.models.engine.engine import Engine, EngineConfig
from tests.engine.tiny_lm import save_tiny_llama

if openmp._libgomp() is None:
    pytest.skip("this torch does not run on GNU OpenMP", allow_module_level=True)


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _parallel_work() -> None:
    a = torch.randn(512, 512)
    for _ in range(3):
        (a @ a).relu_().sum()


def test_a_threads_openmp_team_ends_when_given_back() -> None:
    seen: dict[str, int] = {}

    def work() -> None:
        torch.set_num_threads(2)
        before = _threads()
        _parallel_work()
        seen["with_team"] = _threads() - before
        seen["released"] = int(openmp.release_thread_pool())
        seen["after"] = _threads() - before
        _parallel_work()  # torch still works: libgomp starts a new team
        seen["again"] = _threads() - before
        openmp.release_thread_pool()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen["with_team"] >= 1  # at least one worker beside the thread itself
    assert seen["released"] == 1
    assert seen["after"] == 0
    assert seen["again"] >= 1


def test_the_engines_builder_gives_back_its_team(tmp_path: Path) -> None:
    """Built on a thread that ran parallel regions (loading), the engine leaves that thread
    without OpenMP workers; the engine thread decodes with its own."""
    from transformers import AutoModelForCausalLM

    path = save_tiny_llama(tmp_path / "llama", kind="qwen2")
    seen: dict[str, int] = {}

    def build() -> None:
        torch.set_num_threads(2)
        before = _threads()
        model = AutoModelForCausalLM.from_pretrained(path).eval()
        _parallel_work()
        seen["loaded"] = _threads() - before
        engine = Engine(model, [model.config.eos_token_id], EngineConfig(weights="int8"))
        seen["built"] = _threads() - before  # the engine thread (idle: no team yet) only
        engine.close()

    thread = threading.Thread(target=build)
    thread.start()
    thread.join()
    assert seen["loaded"] >= 1
    assert seen["built"] == 1
