"""The Models and Training pages: live status, upstream refusal, delete, train, curve, cancel."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any

from tests.e2e.console.conftest import add_user, shot
from tests.e2e.server import Org, Server

CORPUS = (
    "The help desk is on the third floor and opens at nine.\n"
    "Printers are reset from the settings menu; call the desk if one jams.\n"
    "Passwords expire every ninety days and must hold twelve characters.\n"
) * 12
# Small enough to finish in seconds on two busy cores, long enough for a curve of many points.
TINY = {
    "n_layer": "1",
    "n_head": "1",
    "n_embd": "16",
    "block_size": "16",
    "batch_size": "4",
    "eval_interval": "30",
}


def _fill_training_form(page: Any, name: str, iterations: int) -> None:
    page.get_by_test_id("train-name").fill(name)
    page.get_by_test_id("param-tokenizer").click()
    page.get_by_role("option", name="char", exact=True).click()
    for key, value in TINY.items():
        page.get_by_test_id(f"param-{key}").fill(value)
    page.get_by_test_id("param-max_iters").fill(str(iterations))


def _job_id(server: Server, key: str, model: str) -> str:
    for job in server.api("GET", "/api/jobs", key=key).json()["data"]:
        if job.get("model") == model:
            return str(job["id"])
    raise AssertionError(f"no job for {model}")


def test_member_trains_watches_the_curve_and_cancels(
    new_page: Any, server: Server, console_org: Org, tmp_path: Path
) -> None:
    member = add_user(server, console_org, "member")
    page = new_page(member, path="/training")
    data = tmp_path / "helpdesk.txt"
    data.write_text(CORPUS, encoding="utf-8")
    page.get_by_test_id("upload").locator("input[type=file]").set_input_files(str(data))
    page.get_by_test_id("train-files").get_by_text("helpdesk.txt").wait_for()
    suffix = secrets.token_hex(3)
    _fill_training_form(page, f"console-{suffix}", iterations=1500)  # long enough to watch
    page.get_by_test_id("train-start").click()

    # The live view follows the job: the bar moves and the curve fills in.
    percents: list[int] = []
    points = page.get_by_test_id("curve-points")
    deadline = time.monotonic() + 180
    while page.get_by_test_id("job-status").inner_text() != "succeeded":
        assert time.monotonic() < deadline, page.get_by_test_id("job-message").inner_text()
        percents.append(int(page.get_by_test_id("job-percent").inner_text().rstrip("%")))
        time.sleep(0.25)
    assert any(0 < p < 100 for p in percents) or len(set(percents)) > 1, percents
    assert page.get_by_test_id("job-percent").inner_text() == "100%"
    count = int(re.match(r"(\d+)", points.inner_text()).group(1))  # type: ignore[union-attr]
    assert count >= 5, points.inner_text()
    assert page.get_by_test_id("sample").count() >= 1
    model = f"gpt-console-{suffix}"
    chat = page.get_by_test_id("job-chat")
    assert chat.get_attribute("href") == f"/chat?model={model}"
    page.evaluate("window.scrollTo(0, 0)")  # a full-page shot of a scrolled page repeats the header
    shot(page, "training")

    job_id = _job_id(server, console_org.member_key, model)
    done = server.api("GET", f"/api/jobs/{job_id}", key=console_org.member_key).json()
    assert done["status"] == "succeeded" and len(done["result"]["metrics"]["loss"]) == count

    # A second, long job is cancelled from the page and the API agrees.
    _fill_training_form(page, f"long-{suffix}", iterations=1_000_000)
    page.get_by_test_id("train-start").click()
    page.get_by_test_id("job-title").filter(has_text=f"gpt-long-{suffix}").wait_for()
    page.get_by_test_id("job-cancel").click()
    page.get_by_test_id("job-status").filter(has_text="cancelled").wait_for(timeout=60_000)
    long_id = _job_id(server, console_org.member_key, f"gpt-long-{suffix}")
    cancelled = server.api("GET", f"/api/jobs/{long_id}", key=console_org.member_key).json()
    assert cancelled["status"] == "cancelled"
    assert page.get_by_test_id("jobs-table").get_by_text("cancelled").count() >= 1
    page.get_by_test_id(f"open-{job_id}").click()  # back to the finished job from the list
    page.get_by_test_id("job-title").filter(has_text=model).wait_for()
    assert page.get_by_test_id("job-cancel").is_hidden()

    zh = new_page(member, lang="zh-CN", path="/training")
    zh.goto(f"/training?job={job_id}")
    zh.get_by_test_id("job-status").filter(has_text="已完成").wait_for()
    assert zh.get_by_text("新建训练任务").is_visible()
    # the last progress line by its code and values ("done: validation loss …" before)
    assert done["message"].startswith("done: validation loss ")
    assert done["message_code"] == "done_val_loss"
    val = f"{done['message_values']['val_loss']:.4f}"
    assert zh.get_by_test_id("job-message").inner_text() == f"完成：验证损失 {val}"
    shot(zh, "training-zh")


def test_models_table_upstream_refusal_and_delete(
    new_page: Any, server: Server, console_org: Org
) -> None:
    # A tiny tenant model to delete (an n-gram trains in well under a second).
    upload = server.api(
        "POST",
        "/v1/files",
        key=console_org.member_key,
        files={"file": ("d.txt", CORPUS.encode(), "text/plain")},
        data={"purpose": "training"},
    )
    name = f"ngram-doomed-{secrets.token_hex(3)}"
    body = {"family": "ngram", "name": name, "file_ids": [upload.json()["id"]]}
    job = server.api("POST", "/api/train", key=console_org.member_key, json=body).json()["job"]
    deadline = time.monotonic() + 60
    while server.api("GET", f"/api/jobs/{job['id']}", key=console_org.member_key).json()[
        "status"
    ] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.2)

    admin = add_user(server, console_org, "admin")
    page = new_page(admin, path="/models")
    table = page.get_by_test_id("models-table")
    helpdesk = table.locator("tr", has_text="template-helpdesk")
    helpdesk.wait_for()
    assert "ready" in helpdesk.inner_text() and "template" in helpdesk.inner_text()
    assert page.get_by_test_id("delete-template-helpdesk").count() == 0  # shared: not theirs
    assert page.get_by_test_id("checkpoint-form").count() == 0  # server paths: platform only

    page.get_by_test_id("upstream-name").fill("internal")
    page.get_by_test_id("upstream-url").fill("http://10.0.0.5:8000/v1")
    page.get_by_test_id("upstream-model").fill("llama")
    page.get_by_test_id("upstream-key").fill("sk-secret-value")
    page.get_by_test_id("upstream-add").click()
    refusal = page.locator(".q-notification", has_text="10.0.0.5")
    refusal.wait_for()
    assert "allow-list" in refusal.inner_text() and "Traceback" not in refusal.inner_text()
    assert page.get_by_test_id("upstream-key").input_value() == ""
    listed = server.api("GET", "/api/models", key=console_org.admin_key).json()["data"]
    assert "upstream-internal" not in {m["id"] for m in listed}
    shot(page, "models")

    page.get_by_test_id(f"delete-{name}").click()
    page.get_by_test_id("confirm-dialog").wait_for()
    page.get_by_test_id("confirm-yes").click()
    table.locator("tr", has_text=name).wait_for(state="detached")
    gone = server.api("GET", f"/api/models/{name}/status", key=console_org.admin_key)
    assert gone.status_code == 404


def test_a_failed_job_is_explained_in_chinese_without_python_names(
    new_page: Any, server: Server, console_org: Org, tmp_path: Path
) -> None:
    """Too little text for the context: the job fails at once, and a Chinese page says so in
    Chinese, with every field of the form labelled in Chinese and no "ValueError:"."""
    member = add_user(server, console_org, "member")
    page = new_page(member, lang="zh-CN", path="/training")
    page.get_by_test_id("param-vocab_size").wait_for()
    vocab_label = page.get_by_label("词表大小（BPE，留空为默认值）")
    assert vocab_label.count() == 1  # was the schema's "Vocab Size"
    data = tmp_path / "太短.txt"
    data.write_text("短", encoding="utf-8")
    page.get_by_test_id("upload").locator("input[type=file]").set_input_files(str(data))
    page.get_by_test_id("train-files").get_by_text("太短.txt").wait_for()
    _fill_training_form(page, f"short-{secrets.token_hex(3)}", iterations=20)
    page.get_by_test_id("train-start").click()
    page.get_by_test_id("job-status").filter(has_text="失败").wait_for(timeout=60_000)
    error = page.get_by_test_id("job-error").inner_text()
    assert error.startswith("训练失败：Not enough training text"), error
    assert "ValueError" not in error
    shot(page, "training-failed-zh")


def test_the_models_table_speaks_chinese(new_page: Any, server: Server, console_org: Org) -> None:
    """The status and kind columns showed the API's words ("ready", "text") on a Chinese page."""
    page = new_page(add_user(server, console_org, "member"), lang="zh-CN", path="/models")
    row = page.get_by_test_id("models-table").locator("tr", has_text="template-helpdesk")
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert "文本" in cells and any(c.startswith("就绪") for c in cells), cells
    assert not {"ready", "text"} & {c.split(" ")[0] for c in cells}, cells
