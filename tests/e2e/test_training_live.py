"""Training through the API on a live server: jobs, tenancy, Chinese text, SIGKILL and resume.

Everything is tiny (a one-layer GPT, tens of iterations): these tests check behaviour, not
quality. Quality is measured by bench/train_gpt.py.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.e2e.server import Org, Server, make_org, new_admin_key

ZH_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "text" / "zh"
CHINESE = (
    "床前明月光，疑是地上霜。举头望明月，低头思故乡。\n"
    "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。\n"
    "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。\n"
    "公司的服务台在三楼，工作时间是周一到周五。\n"
)
TINY = {
    "tokenizer": "bpe",
    "vocab_size": 320,
    "n_layer": 1,
    "n_head": 2,
    "n_embd": 32,
    "block_size": 32,
    "batch_size": 8,
    "max_iters": 40,
    "eval_interval": 20,
    "warmup_iters": 5,
}
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Two job slots whatever the machine: one for a GPT training, one kept for short jobs.
    server = Server(
        tmp_path_factory.mktemp("train") / "data", new_admin_key(), AIGC_JOB_SLOTS="2"
    ).start()
    yield server
    server.stop()


def _upload(server: Server, key: str, name: str, text: str) -> str:
    resp = server.api(
        "POST",
        "/v1/files",
        key=key,
        files={"file": (name, text.encode(), "text/plain")},
        data={"purpose": "training"},
    )
    assert resp.status_code in (200, 201), resp.text
    return str(resp.json()["id"])


def test_a_trains_on_its_files_and_b_sees_nothing(srv: Server) -> None:
    a, b = make_org(srv, "Trainer A"), make_org(srv, "Other B")
    file_id = _upload(srv, a.member_key, "zh.txt", CHINESE * 6)
    body = {"family": "gpt", "name": "gpt-zh", "file_ids": [file_id], "params": TINY}
    started = srv.api("POST", "/api/train", key=a.member_key, json=body)
    assert started.status_code == 202, started.text
    job_id = started.json()["job"]["id"]
    assert started.json()["model"]["status"] == "training"
    # B: another tenant's file cannot be trained on, and nothing of A's shows.
    stolen = srv.api("POST", "/api/train", key=b.member_key, json=body | {"name": "gpt-steal"})
    assert stolen.status_code == 404, stolen.text
    assert srv.api("GET", f"/api/jobs/{job_id}", key=b.admin_key).status_code == 404
    done = srv.wait_job(a.member_key, job_id)
    assert done["status"] == "succeeded", done
    assert done["result"]["val_perplexity"] > 1
    mine = srv.api("GET", "/v1/models/gpt-zh", key=a.member_key).json()
    assert mine["status"] == "ready" and mine["val_perplexity"] == done["result"]["val_perplexity"]
    _check_b_sees_nothing(srv, b, "gpt-zh")
    _check_chinese_generation(srv, a)


def test_503_says_running_with_progress_or_queued(srv: Server) -> None:
    """Two GPT trainings: the first runs, the second waits (long trainings leave a slot to
    short jobs), and each model's 503 says which, the running one with its progress."""
    org = make_org(srv, "Waiting C")
    file_id = _upload(srv, org.member_key, "zh.txt", CHINESE * 6)
    endless = TINY | {"max_iters": 1_000_000, "eval_interval": 500_000}
    ids = {}
    for name in ("gpt-runs", "gpt-waits"):
        body = {"family": "gpt", "name": name, "file_ids": [file_id], "params": endless}
        started = srv.api("POST", "/api/train", key=org.member_key, json=body)
        assert started.status_code == 202, started.text
        ids[name] = started.json()["job"]["id"]
    try:
        deadline = time.monotonic() + 120
        while "iter" not in _job(srv, org, ids["gpt-runs"])["message"]:
            assert time.monotonic() < deadline, _job(srv, org, ids["gpt-runs"])
            time.sleep(0.2)
        running = _not_ready(srv, org, "gpt-runs")
        assert running.startswith("The model 'gpt-runs' is not ready yet: training (running, ")
        assert "% done: iter " in running
        assert _job(srv, org, ids["gpt-waits"])["status"] == "queued"
        queued = _not_ready(srv, org, "gpt-waits")
        assert queued.startswith("The model 'gpt-waits' is not ready yet: training (queued, ")
    finally:
        for job_id in ids.values():
            srv.api("POST", f"/api/jobs/{job_id}/cancel", key=org.member_key)
        for job_id in ids.values():
            assert srv.wait_job(org.member_key, job_id)["status"] == "cancelled"


def _job(srv: Server, org: Org, job_id: str) -> dict[str, Any]:
    job = srv.api("GET", f"/api/jobs/{job_id}", key=org.member_key).json()
    assert isinstance(job, dict)
    return job


def _not_ready(srv: Server, org: Org, model: str) -> str:
    """The message of the 503 a chat request to ``model`` gets."""
    with pytest.raises(openai.InternalServerError) as refused:
        srv.sdk(org.member_key).chat.completions.create(
            model=model, messages=[{"role": "user", "content": "你好"}], max_tokens=4
        )
    assert refused.value.status_code == 503
    assert refused.value.response.headers["retry-after"]
    return str(refused.value.response.json()["error"]["message"])


def _check_b_sees_nothing(srv: Server, b: Org, name: str) -> None:
    assert name not in {
        m["id"] for m in srv.api("GET", "/v1/models", key=b.member_key).json()["data"]
    }
    assert srv.api("GET", f"/v1/models/{name}", key=b.member_key).status_code == 404
    with pytest.raises(openai.NotFoundError):
        srv.sdk(b.member_key).chat.completions.create(
            model=name, messages=[{"role": "user", "content": "你好"}], max_tokens=4
        )


def _check_chinese_generation(srv: Server, a: Org) -> None:
    client = srv.sdk(a.member_key)
    chunks = client.chat.completions.create(
        model="gpt-zh",
        messages=[{"role": "user", "content": "明月"}],
        max_tokens=40,
        stream=True,
        seed=1,
    )
    deltas = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    text = "".join(deltas)
    assert HAN.search(text), text
    assert all("\ufffd" not in d for d in deltas), deltas
    plain = client.completions.create(
        model="gpt-zh", prompt="举头", max_tokens=30, temperature=0, logprobs=2
    )
    assert "\ufffd" not in plain.choices[0].text and HAN.search(plain.choices[0].text)
    logprobs = plain.choices[0].logprobs
    assert logprobs is not None and logprobs.token_logprobs and logprobs.top_logprobs
    chat = client.chat.completions.create(
        model="gpt-zh",
        messages=[{"role": "user", "content": "春眠"}],
        max_tokens=12,
        logprobs=True,
        top_logprobs=2,
        extra_body={"top_k": 5, "repetition_penalty": 1.2, "min_p": 0.01},
    )
    content = chat.choices[0].logprobs.content  # type: ignore[union-attr]
    assert content and all(len(t.top_logprobs) == 2 for t in content)
    streamed = client.chat.completions.create(
        model="gpt-zh",
        messages=[{"role": "user", "content": "春眠"}],
        max_tokens=12,
        logprobs=True,
        stream=True,
        seed=2,
    )
    tokens = [
        t
        for c in streamed
        if c.choices and c.choices[0].logprobs
        for t in c.choices[0].logprobs.content or []
    ]
    assert tokens and all(t.logprob <= 0 for t in tokens)
    beams = client.completions.create(
        model="gpt-zh", prompt="白日", max_tokens=10, extra_body={"use_beam_search": True}
    )
    assert "\ufffd" not in beams.choices[0].text
    with pytest.raises(openai.BadRequestError, match="logprobs"):
        client.chat.completions.create(
            model="template-helpdesk", messages=[{"role": "user", "content": "hi"}], logprobs=True
        )


@pytest.mark.skipif(
    not ZH_DATA.is_dir() or not any(ZH_DATA.glob("*.json")),
    reason="shared Chinese poetry data is absent",
)
def test_gpt_trains_on_the_chinese_poetry_corpus(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", new_admin_key(), AIGC_IMPORT_ROOTS=str(ZH_DATA)).start()
    try:
        body = {
            "family": "gpt",
            "name": "gpt-poetry",
            "data_path": str(ZH_DATA),
            "params": TINY | {"vocab_size": 600, "max_iters": 30},
        }
        started = server.api("POST", "/api/train", json=body)
        assert started.status_code == 202, started.text
        done = server.wait_job(server.admin_key, started.json()["job"]["id"])
        assert done["status"] == "succeeded", done
        reply = server.sdk(server.admin_key).completions.create(
            model="gpt-poetry", prompt="明月", max_tokens=30, seed=3
        )
        assert HAN.search(reply.choices[0].text) and "\ufffd" not in reply.choices[0].text
    finally:
        server.stop()


def test_training_killed_with_sigkill_resumes_to_the_same_loss(tmp_path: Path) -> None:
    # Two slots: the two trainings run one after the other. Side by side they would share
    # torch's process-wide random generator (initial weights) and not repeat a loss exactly.
    server = Server(
        tmp_path / "data", new_admin_key(), AIGC_JOB_STALE_AFTER_S="2", AIGC_JOB_SLOTS="2"
    ).start()
    params = TINY | {"max_iters": 60, "eval_interval": 30, "checkpoint_interval": 10}
    try:
        file_id = _upload(server, server.admin_key, "pydoc.txt", _english_text())
        jobs = {}
        for name in ("gpt-killed", "gpt-straight"):
            body = {"family": "gpt", "name": name, "file_ids": [file_id], "params": params}
            started = server.api("POST", "/api/train", json=body)
            assert started.status_code == 202, started.text
            jobs[name] = started.json()["job"]["id"]
        checkpoint = server.data_dir / "jobs" / jobs["gpt-killed"] / "train.pt"
        deadline = time.monotonic() + 120
        while not checkpoint.exists():  # killed mid-run, after its first checkpoint
            assert time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.05)
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait()
        server.start()
        killed = server.wait_job(server.admin_key, jobs["gpt-killed"])
        straight = server.wait_job(server.admin_key, jobs["gpt-straight"])
    finally:
        server.stop()
    assert killed["status"] == straight["status"] == "succeeded", (killed, straight)
    assert killed["attempts"] == 2 and killed["result"]["resumed_from"] > 0
    assert straight["result"]["resumed_from"] == 0
    assert killed["result"]["val_loss"] == pytest.approx(straight["result"]["val_loss"], abs=0.02)


def _english_text() -> str:
    from pydoc_data.topics import topics

    return "\n".join(topics[k] for k in sorted(topics)[:12])
