"""A PII rule that reads Chinese names costs tens of milliseconds per kilobyte (a segmenter and
a name model), and its first use reads jieba's dictionary and the name model (about a second):
the input stage runs such scans in a worker thread even for a "short" input, so one request
does not stop every other on the event loop (issue 17: 42-50 ms inline on 4 KB)."""

from __future__ import annotations

import threading

import httpx
import pytest
from fastapi import FastAPI

from aigc.access import Principal
from aigc.gateway import guarding
from aigc.guard import pii, store, zh_names
from aigc.models.protocols import ChatMessage, TextRequest
from tests.templates import ECHO

pytestmark = pytest.mark.anyio

NAMES_POLICY = """\
name: names
rules:
  - id: names
    stage: input
    detector: pii
    entities: [CN_PERSON, EMAIL_ADDRESS]
    action: pseudonymize
"""
SECRETS_POLICY = """\
name: secrets
rules:
  - {id: secrets, stage: input, detector: pii, entities: [SECRET], action: redact}
"""
NOTE = "陈晓明和赵丽颖昨天去北京出差，住在朝阳区，报销请联系财务部。" * 20  # ~600 characters


async def caller_with_policy(app: FastAPI, api: httpx.AsyncClient, policy: str) -> Principal:
    model = {"id": "template-echo", "config": {"yaml": ECHO}, "shared": True}
    assert (await api.post("/api/models", json=model)).status_code == 201
    tenant = (await api.post("/api/tenants", json={"name": "Names"})).json()
    made = await api.post("/api/keys", json={"tenant_id": tenant["id"], "role": "admin"})
    key = made.json()["key"]
    stored = await api.post(
        "/api/policies", json={"yaml": policy}, headers={"Authorization": f"Bearer {key}"}
    )
    assert stored.status_code == 201, stored.text
    store.forget(tenant["id"])
    return await app.state.services.caller(key)


def watch_person_scan(monkeypatch: pytest.MonkeyPatch, recognizer: str) -> list[int]:
    """The threads the real recognizer runs in, from now on."""
    threads: list[int] = []
    real = pii.RECOGNIZERS[recognizer]

    def spy(text: str) -> object:
        threads.append(threading.get_ident())
        return real(text)

    monkeypatch.setitem(pii.RECOGNIZERS, recognizer, spy)
    return threads


async def guard(app: FastAPI, caller: Principal, text: str) -> list[TextRequest]:
    """The input stage over one user message, as the chat route runs it."""
    question = [TextRequest(messages=[ChatMessage("user", text)], max_tokens=8)]
    requests, _ = await guarding.guard_request(
        app.state.services, caller, "template-echo", question, []
    )
    return requests


async def test_a_name_scan_of_a_short_chinese_input_leaves_the_event_loop(
    app: FastAPI, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = await caller_with_policy(app, api, NAMES_POLICY)
    threads = watch_person_scan(monkeypatch, "CN_PERSON")
    requests = await guard(app, caller, NOTE)
    assert threads and threading.get_ident() not in threads  # scanned, not on the loop
    text = requests[0].messages[0].content  # type: ignore[index]
    assert "陈晓明" not in text and "[CN_PERSON_1]" in text  # and the scan did its work


async def test_a_one_line_question_is_still_scanned_inline(
    app: FastAPI, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = await caller_with_policy(app, api, NAMES_POLICY)
    pii.detect("王芳说她明天到。", ["CN_PERSON"])  # the name model read, as after a first use
    threads = watch_person_scan(monkeypatch, "CN_PERSON")
    await guard(app, caller, "陈晓明在吗？")
    assert threads == [threading.get_ident()]  # a thread hop would cost more than the scan


async def test_the_first_chinese_question_reads_the_name_model_off_the_loop(
    app: FastAPI, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = await caller_with_policy(app, api, NAMES_POLICY)
    monkeypatch.setattr(zh_names, "_loaded", False)  # as in a process that never scored Han
    threads = watch_person_scan(monkeypatch, "CN_PERSON")
    await guard(app, caller, "陈晓明在吗？")
    assert threads and threading.get_ident() not in threads
    assert not zh_names.would_load("陈晓明在吗？")  # read now: the next one stays inline


async def test_the_secrets_scan_stays_on_the_loop(
    app: FastAPI, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = await caller_with_policy(app, api, SECRETS_POLICY)
    threads = watch_person_scan(monkeypatch, "SECRET")
    await guard(app, caller, NOTE)
    assert threads == [threading.get_ident()]  # regexes over 600 characters: microseconds
