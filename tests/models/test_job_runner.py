"""Each job's torch threads: limited in its own thread only, sized from the settings."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import torch

from aigc.config import Settings, default_job_slots
from aigc.infra.db import Database
from aigc.models.job_runner import job_runner
from aigc.models.torch_threads import TorchThreads, one_thread


def _in_new_thread(fn: Callable[[], dict[str, int]]) -> dict[str, int]:
    seen: dict[str, int] = {}
    thread = threading.Thread(target=lambda: seen.update(fn()))
    thread.start()
    thread.join()
    return seen


def test_a_job_threads_limit_stays_in_that_thread() -> None:
    """The job's thread computes with its budget; this thread and threads started later keep
    the process default (torch.set_num_threads alone would hand the budget to them)."""
    budget = TorchThreads()
    default = budget.process_default
    wanted = default + 1  # any number other than the default shows where it went

    def job() -> dict[str, int]:
        budget.limit_this_thread(wanted)
        before = torch.get_num_threads()
        (torch.ones(64, 64) @ torch.ones(64, 64)).sum().item()
        return {"job": before, "job after an op": torch.get_num_threads()}

    assert _in_new_thread(job) == {"job": wanted, "job after an op": wanted}
    assert _in_new_thread(lambda: {"later": torch.get_num_threads()}) == {"later": default}
    assert torch.get_num_threads() == default


def test_one_thread_holds_for_the_block_only() -> None:
    """Inside ``one_thread`` the calling thread computes on one thread, after it on its own
    number again; a thread started inside the block takes the process default, not 1."""
    default = TorchThreads().process_default
    wanted = default + 1

    def request() -> dict[str, int]:
        TorchThreads().limit_this_thread(wanted)
        with one_thread():
            inside = torch.get_num_threads()
            (torch.ones(64, 64) @ torch.ones(64, 64)).sum().item()
            started = _in_new_thread(lambda: {"n": torch.get_num_threads()})["n"]
        return {"inside": inside, "started inside": started, "after": torch.get_num_threads()}

    assert _in_new_thread(request) == {"inside": 1, "started inside": default, "after": wanted}
    assert _in_new_thread(lambda: {"later": torch.get_num_threads()}) == {"later": default}


def test_the_runner_takes_slots_and_threads_from_the_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, job_slots=3, job_threads=2, job_stale_after_s=30)
    db = Database(f"sqlite:///{tmp_path / 'aigc.db'}")
    runner = job_runner(db, settings, "w")
    assert (runner.slots, runner.long_slots, runner.threads_per_job) == (3, 2, 2)
    assert runner.stale_after_s == 30 and runner.limit_threads is not None
    db.dispose()


def test_default_slots_and_threads_share_the_cpus(tmp_path: Path) -> None:
    assert [default_job_slots(n) for n in (1, 2, 4, 8, 16, 64)] == [3, 3, 3, 3, 4, 16]
    settings = Settings(data_dir=tmp_path, job_slots=2)
    assert settings.job_threads is None and settings.job_cpu_threads >= 1
    assert Settings(data_dir=tmp_path, job_slots=64).job_cpu_threads == 1  # never 0
