"""A GGUF file served by llama.cpp through a live server: registered with ``aigc models add
--path tiny.gguf``, then driven by the openai SDK (plain and streamed chat, structured output),
with a tenant's guard policy and a key's token limit applying to it as to any model."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import openai
import pytest
from jsonschema import Draft202012Validator

from tests.e2e.server import Server, make_org, new_admin_key
from tests.models.tiny_gguf import save_tiny_gguf

pytest.importorskip("llama_cpp")

MODEL = "gguf-tiny-f16"  # the id `aigc models add` gives the file without --name
ASK = [{"role": "user", "content": "你好，今天天气怎么样？"}]
POLICY = """
name: no-salaries
rules:
  - id: salary
    stage: input
    detector: keywords
    words: [salary sheet, 工资表]
    action: block
    message: Salary data is not discussed here.
    scope: {models: [gguf-tiny-f16]}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("gguf-models")
    path, _ = save_tiny_gguf(root, dtype="f16")
    data = tmp_path_factory.mktemp("gguf-server") / "data"
    srv = Server(data, new_admin_key(), AIGC_IMPORT_ROOTS=str(root)).start()
    added = subprocess.run(
        [sys.executable, "-m", "aigc", "models", "add", "--path", str(path), "--shared"],
        env=srv.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    assert MODEL in added.stdout
    yield srv
    srv.stop()


def test_listed_with_its_capabilities(server: Server) -> None:
    listed = server.api("GET", "/v1/models").json()["data"]
    model = next(m for m in listed if m["id"] == MODEL)
    assert model["family"] == "gguf"
    assert {"chat", "streaming", "logprobs", "structured_output", "tools"} <= set(
        model["capabilities"]
    )


def test_chat_plain_and_streamed(server: Server) -> None:
    c = server.sdk()
    plain = c.chat.completions.create(model=MODEL, messages=ASK, max_tokens=16, temperature=0)  # type: ignore[arg-type]
    text = plain.choices[0].message.content or ""
    assert plain.usage is not None and plain.usage.completion_tokens == 16
    assert plain.choices[0].finish_reason == "length"
    chunks = list(
        c.chat.completions.create(
            model=MODEL,
            messages=ASK,
            max_tokens=16,
            temperature=0,
            stream=True,  # type: ignore[arg-type]
        )
    )
    streamed = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert streamed == text and "\ufffd" not in text
    seeded = [
        c.chat.completions.create(
            model=MODEL,
            messages=ASK,
            max_tokens=16,
            temperature=1.0,
            seed=5,  # type: ignore[arg-type]
        )
        .choices[0]
        .message.content
        for _ in range(2)
    ]
    assert seeded[0] == seeded[1]
    with_logprobs = c.chat.completions.create(
        model=MODEL,
        messages=ASK,
        max_tokens=4,
        temperature=0,
        logprobs=True,
        top_logprobs=2,  # type: ignore[arg-type]
    )
    content = with_logprobs.choices[0].logprobs.content or []  # type: ignore[union-attr]
    assert len(content) == 4 and all(len(t.top_logprobs) == 2 for t in content)


def test_structured_output(server: Server) -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "enum": ["Paris", "北京"]},
            "ok": {"type": "boolean"},
        },
        "required": ["city", "ok"],
        "additionalProperties": False,
    }
    answer = server.sdk().chat.completions.create(
        model=MODEL,
        messages=ASK,  # type: ignore[arg-type]
        max_tokens=120,
        temperature=1.0,
        seed=2,
        response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": schema}},
    )
    Draft202012Validator(schema).validate(json.loads(answer.choices[0].message.content or ""))


def test_a_guard_policy_and_a_token_limit_apply(server: Server) -> None:
    org = make_org(server, "gguf-org")
    put = server.api("POST", "/api/policies", key=org.admin_key, json={"yaml": POLICY})
    assert put.status_code == 201, put.text
    c = server.sdk(org.member_key)
    with pytest.raises(openai.BadRequestError) as blocked:
        c.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "把工资表发给我"}], max_tokens=8
        )
    assert blocked.value.body["code"] == "content_policy_violation"  # type: ignore[index]
    made = server.api("POST", "/api/keys", key=org.admin_key, json={"tpm_limit": 100})
    assert made.status_code == 201, made.text
    limited = server.sdk(made.json()["key"])
    with pytest.raises(openai.RateLimitError):  # prompt + max_tokens over the minute's budget
        limited.chat.completions.create(model=MODEL, messages=ASK, max_tokens=200)  # type: ignore[arg-type]
    ok = limited.chat.completions.create(model=MODEL, messages=ASK, max_tokens=8, temperature=0)  # type: ignore[arg-type]
    assert ok.choices[0].message.content is not None
