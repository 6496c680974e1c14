"""A thread gives back its OpenMP worker threads (``openmp.release_thread_pool``), and the
engine's builder does: idle teams left behind slow the engine thread's parallel regions.

A team is the threads (``/proc/self/task``) that a thread's first parallel region started,
counted in a fresh interpreter: in the test process other tests' threads come and go."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aigc.models.engine import openmp
from tests.engine.tiny_lm import save_tiny_llama

if not openmp._libgomps():
    pytest.skip("this torch does not run on GNU OpenMP", allow_module_level=True)

PRELUDE = """
import json, os, sys, threading, time
import torch
from aigc.models.engine import openmp

def tids():
    return set(os.listdir("/proc/self/task"))

def python_tids():
    return {str(thread.native_id) for thread in threading.enumerate()}

def still_there(team):
    # a worker told to end may take a moment to leave /proc (more on a loaded machine)
    deadline = time.monotonic() + 30
    while team & tids() and time.monotonic() < deadline:
        time.sleep(0.01)
    left = team & tids()
    if left:  # what the test's failure message shows: name, state, kernel wait of each
        seen["left"] = [describe(tid) for tid in sorted(left)]
    return len(left)

def describe(tid):
    try:
        task = f"/proc/self/task/{tid}/"
        stat = open(task + "stat").read().rsplit(")", 1)[-1].split()
        return [open(task + "comm").read().strip(), stat[0], open(task + "wchan").read()]
    except OSError as error:
        return [str(error)]

def team_of(work):
    # the threads that a parallel region started (this thread had no team before), less
    # any Python thread another library happened to start meanwhile (tqdm's monitor)
    before = tids()
    work()
    return tids() - before - python_tids()

def parallel_work():
    a = torch.randn(512, 512)
    for _ in range(3):
        (a @ a).relu_().sum()

seen = {}
"""


def _run(body: str) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + body],
        capture_output=True,
        text=True,
        timeout=300,
        env={"OMP_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_threads_openmp_team_ends_when_given_back() -> None:
    seen = _run(
        """
def work():
    team = team_of(parallel_work)
    seen["with_team"] = len(team)
    seen["released"] = int(openmp.release_thread_pool())
    seen["after"] = still_there(team)
    seen["again"] = len(team_of(parallel_work))  # torch still works: a new team

thread = threading.Thread(target=work)
thread.start()
thread.join()
print(json.dumps(seen))
"""
    )
    assert seen["with_team"] >= 1  # at least one worker beside the thread itself
    assert seen["released"] == 1
    assert seen["after"] == 0, seen
    assert seen["again"] >= 1


def test_the_team_ends_with_another_libraries_openmp_loaded_too() -> None:
    """A server process holds more than one libgomp: scikit-learn's wheel brings its own
    copy beside torch's. The team torch started is the one that must end, whichever copy
    the process mapped first (the first one found was once the only one asked)."""
    seen = _run(
        """
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads  # its own libgomp

_openmp_effective_n_threads()
maps = {line.rsplit(maxsplit=1)[-1] for line in open("/proc/self/maps") if "libgomp" in line}
seen["libgomps"] = len(maps)

def work():
    team = team_of(parallel_work)
    seen["with_team"] = len(team)
    seen["released"] = int(openmp.release_thread_pool())
    seen["after"] = still_there(team)

thread = threading.Thread(target=work)
thread.start()
thread.join()
print(json.dumps(seen))
"""
    )
    assert seen["libgomps"] >= 2
    assert seen["with_team"] >= 1
    assert seen["released"] == 1
    assert seen["after"] == 0, seen


def test_the_engines_builder_gives_back_its_team(tmp_path: Path) -> None:
    """Built on a thread that ran parallel regions (loading), the engine leaves that thread
    without its OpenMP workers."""
    path = save_tiny_llama(tmp_path / "llama", kind="qwen2")
    seen = _run(
        f"""
from transformers import AutoModelForCausalLM
from aigc.models.engine.engine import Engine, EngineConfig

def build():
    model = AutoModelForCausalLM.from_pretrained({str(path)!r}).eval()
    openmp.release_thread_pool()  # from here on, the team is the one counted
    team = team_of(parallel_work)
    seen["loaded"] = len(team)
    engine = Engine(model, [model.config.eos_token_id], EngineConfig(weights="int8"))
    seen["built"] = still_there(team)
    engine.close()

thread = threading.Thread(target=build)
thread.start()
thread.join()
print(json.dumps(seen))
"""
    )
    assert seen["loaded"] >= 1
    assert seen["built"] == 0, seen
