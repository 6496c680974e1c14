"""The OpenAI-compatible API, driven by the official `openai` SDK against a live server."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import openai
import pytest
from sqlalchemy import create_engine, text

from tests.e2e.server import Org, Server

MODEL = "template-helpdesk"


# --- the happy paths -----------------------------------------------------------------------


def test_list_and_get_models(server: Server, org_a: Org) -> None:
    c = server.sdk(org_a.member_key)
    ids = [m.id for m in c.models.list()]
    assert MODEL in ids
    assert c.models.retrieve(MODEL).id == MODEL


def test_chat_plain_answers_from_the_helpdesk(server: Server, org_a: Org) -> None:
    c = server.sdk(org_a.member_key)
    reply = c.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "I forgot my password"}]
    )
    text_ = reply.choices[0].message.content or ""
    assert "password" in text_.lower()
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == 4
    assert reply.usage.completion_tokens > 10
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_chat_in_chinese(server: Server, org_a: Org) -> None:
    c = server.sdk(org_a.member_key)
    reply = c.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "忘记密码了怎么办？"}]
    )
    assert "密码" in (reply.choices[0].message.content or "")


def test_chat_streamed_equals_plain(server: Server, org_a: Org) -> None:
    c = server.sdk(org_a.member_key)
    messages = [{"role": "user", "content": "How do I set up the VPN?"}]
    plain = c.chat.completions.create(model=MODEL, messages=messages, temperature=0)
    chunks = list(
        c.chat.completions.create(model=MODEL, messages=messages, temperature=0, stream=True)
    )
    assert all(ch.object == "chat.completion.chunk" for ch in chunks)
    assert all(ch.usage is None for ch in chunks)
    streamed = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert len(chunks) > 5  # really streamed, piece by piece
    assert streamed == plain.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_chat_stream_with_usage(server: Server, org_a: Org) -> None:
    c = server.sdk(org_a.member_key)
    chunks = list(
        c.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "printer not working"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.completion_tokens > 0
    assert all(ch.usage is None for ch in chunks[:-1])


def test_max_tokens_stop_n_and_seed(server: Server, org_a: Org) -> None:
    c = server.sdk(org_a.member_key)
    ask = [{"role": "user", "content": "How do I reset my password?"}]
    short = c.chat.completions.create(model=MODEL, messages=ask, max_tokens=5)
    assert short.choices[0].finish_reason == "length"
    assert short.usage is not None and short.usage.completion_tokens <= 5
    full = c.chat.completions.create(model=MODEL, messages=ask, temperature=0)
    content = full.choices[0].message.content or ""
    word = content.split()[3]
    stopped = c.chat.completions.create(model=MODEL, messages=ask, temperature=0, stop=[word])
    assert stopped.choices[0].message.content == content[: content.index(word)]
    many = c.chat.completions.create(model=MODEL, messages=ask, n=3, seed=7, top_p=0.9)
    assert [ch.index for ch in many.choices] == [0, 1, 2]
    again = c.chat.completions.create(model=MODEL, messages=ask, n=3, seed=7, top_p=0.9)
    assert [ch.message.content for ch in many.choices] == [
        ch.message.content for ch in again.choices
    ]


def test_completions_plain_and_streamed(server: Server, org_a: Org) -> None:
    c = server.sdk(org_a.member_key)
    done = c.completions.create(model=MODEL, prompt="my computer is very slow", temperature=0)
    assert done.object == "text_completion"
    assert done.choices[0].text
    pieces = list(
        c.completions.create(
            model=MODEL, prompt="my computer is very slow", temperature=0, stream=True
        )
    )
    assert "".join(p.choices[0].text for p in pieces if p.choices) == done.choices[0].text


def test_unknown_fields_are_ignored(server: Server, org_a: Org) -> None:
    c = server.sdk(org_a.member_key)
    reply = c.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hello"}],
        extra_body={"some_vendor_extension": {"x": 1}},
    )
    assert reply.choices[0].message.content


# --- every error, as the SDK's matching exception with the envelope ------------------------


def _envelope(exc: openai.APIStatusError) -> dict[str, object]:
    body = exc.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    assert exc.response.headers.get("x-request-id")
    return body["error"]


def test_401_missing_invalid_revoked_expired(server: Server, org_a: Org) -> None:
    raw = httpx.post(f"{server.base_url}/v1/chat/completions", json={})
    assert raw.status_code == 401 and raw.json()["error"]["type"] == "authentication_error"

    with pytest.raises(openai.AuthenticationError) as bad:
        server.sdk("sk-aigc-not-a-real-key").models.list()
    assert _envelope(bad.value)["code"] == "invalid_api_key"

    created = server.api("POST", "/api/keys", key=org_a.admin_key, json={"name": "temp"}).json()
    assert server.sdk(created["key"]).models.list()
    server.api("DELETE", f"/api/keys/{created['id']}", key=org_a.admin_key)
    with pytest.raises(openai.AuthenticationError) as revoked:
        server.sdk(created["key"]).models.list()
    assert _envelope(revoked.value)["code"] == "revoked_api_key"

    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    expiring = server.api(
        "POST", "/api/keys", key=org_a.admin_key, json={"expires_at": soon}
    ).json()
    time.sleep(1.5)
    with pytest.raises(openai.AuthenticationError) as expired:
        server.sdk(expiring["key"]).models.list()
    assert _envelope(expired.value)["code"] == "expired_api_key"


def test_403_model_not_allowed_and_role_too_low(server: Server, org_a: Org) -> None:
    limited = server.api(
        "POST", "/api/keys", key=org_a.admin_key, json={"allowed_models": ["template-other"]}
    ).json()
    with pytest.raises(openai.PermissionDeniedError) as denied:
        server.sdk(limited["key"]).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    assert _envelope(denied.value)["param"] == "model"
    assert MODEL not in [m.id for m in server.sdk(limited["key"]).models.list()]

    viewer = server.api("POST", "/api/keys", key=org_a.admin_key, json={"role": "viewer"}).json()
    with pytest.raises(openai.PermissionDeniedError) as low:
        server.sdk(viewer["key"]).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    assert _envelope(low.value)["type"] == "permission_error"


def test_404_unknown_model(server: Server, org_a: Org) -> None:
    c = server.sdk(org_a.member_key)
    with pytest.raises(openai.NotFoundError) as missing:
        c.chat.completions.create(
            model="gpt-nonexistent", messages=[{"role": "user", "content": "x"}]
        )
    error = _envelope(missing.value)
    assert error["code"] == "model_not_found" and error["param"] == "model"
    with pytest.raises(openai.NotFoundError):
        c.models.retrieve("gpt-nonexistent")


def test_the_listed_embedding_model_on_chat_says_where_it_belongs(
    server: Server, org_a: Org
) -> None:
    """/v1/models lists it, so "does not exist" (a 404) was wrong: a 400 naming the route."""
    c = server.sdk(org_a.member_key)
    embedding = next(m.id for m in c.models.list() if m.model_extra["kind"] == "embedding")  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as chat:
        c.chat.completions.create(model=embedding, messages=[{"role": "user", "content": "你好"}])
    error = _envelope(chat.value)
    assert (error["param"], error["code"]) == ("model", "unsupported_model")
    assert "/v1/embeddings" in str(error["message"])
    with pytest.raises(openai.BadRequestError):
        c.completions.create(model=embedding, prompt="hello")
    with pytest.raises(openai.BadRequestError):
        c.responses.create(model=embedding, input="hello")
    assert c.embeddings.create(model=embedding, input="你好").data[0].embedding


def test_400_bad_json_wrong_types_and_unsupported_fields(server: Server, org_a: Org) -> None:
    headers = {"Authorization": f"Bearer {org_a.member_key}", "Content-Type": "application/json"}
    raw = httpx.post(
        f"{server.base_url}/v1/chat/completions", content=b"{not json", headers=headers
    )
    assert raw.status_code == 400
    assert raw.json()["error"]["type"] == "invalid_request_error"

    c = server.sdk(org_a.member_key)
    with pytest.raises(openai.BadRequestError) as wrong:
        c.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}], temperature="hot"
        )  # type: ignore[arg-type]
    assert _envelope(wrong.value)["param"] == "temperature"
    with pytest.raises(openai.BadRequestError) as role:
        c.chat.completions.create(model=MODEL, messages=[{"role": "wizard", "content": "x"}])  # type: ignore[list-item]
    assert _envelope(role.value)["param"] == "messages[0].role"
    with pytest.raises(openai.BadRequestError) as missing:
        c.chat.completions.create(model=MODEL, messages=[])
    assert _envelope(missing.value)["param"] == "messages"
    raw = httpx.post(f"{server.base_url}/v1/completions", json={"model": MODEL}, headers=headers)
    assert raw.status_code == 400
    assert raw.json()["error"]["param"] == "prompt"
    assert raw.json()["error"]["code"] == "missing_required_parameter"
    with pytest.raises(openai.BadRequestError) as tools:
        c.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "x"}],
            tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        )
    assert _envelope(tools.value)["param"] == "tools"
    with pytest.raises(openai.BadRequestError) as image:
        c.chat.completions.create(
            model=MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}],
                }
            ],
        )
    assert _envelope(image.value)["param"] == "messages[0].content[0]"


def test_413_body_over_limit(server: Server, org_a: Org) -> None:
    c = server.sdk(org_a.member_key)
    huge = "x" * (8 * 1024 * 1024 + 10)
    with pytest.raises(openai.APIStatusError) as big:
        c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": huge}])
    assert big.value.status_code == 413
    assert _envelope(big.value)["code"] == "request_too_large"


def test_429_with_headers(server: Server, org_a: Org) -> None:
    key = server.api(
        "POST", "/api/keys", key=org_a.admin_key, json={"rpm_limit": 2, "tpm_limit": 5000}
    ).json()
    c = server.sdk(key["key"])
    ask = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50}
    first = c.chat.completions.with_raw_response.create(**ask)  # type: ignore[arg-type]
    for header in (
        "limit-requests",
        "remaining-requests",
        "limit-tokens",
        "remaining-tokens",
        "reset-requests",
        "reset-tokens",
    ):
        assert first.headers.get(f"x-ratelimit-{header}"), header
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    c.chat.completions.create(**ask)  # type: ignore[arg-type]
    with pytest.raises(openai.RateLimitError) as limited:
        c.chat.completions.create(**ask)  # type: ignore[arg-type]
    assert int(limited.value.response.headers["retry-after"]) >= 1
    assert limited.value.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert _envelope(limited.value)["type"] == "rate_limit_error"


def test_embeddings_count_against_the_keys_limits(server: Server, org_a: Org) -> None:
    """/v1/embeddings was never charged: a key allowed 2 requests a minute embedded on."""
    key = server.api(
        "POST", "/api/keys", key=org_a.admin_key, json={"rpm_limit": 2, "tpm_limit": 5000}
    ).json()
    c = server.sdk(key["key"])
    ask = {"model": "all-MiniLM-L6-v2", "input": ["密码重置", "VPN setup"]}
    first = c.embeddings.with_raw_response.create(**ask)  # type: ignore[arg-type]
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    tokens = first.parse().usage.total_tokens
    assert int(first.headers["x-ratelimit-remaining-tokens"]) == 5000 - tokens
    c.embeddings.create(**ask)  # type: ignore[arg-type]
    with pytest.raises(openai.RateLimitError) as limited:
        c.embeddings.create(**ask)  # type: ignore[arg-type]
    assert int(limited.value.response.headers["retry-after"]) >= 1
    assert _envelope(limited.value)["type"] == "rate_limit_error"


def test_503_model_not_ready(server: Server, org_a: Org) -> None:
    created = server.api(
        "POST",
        "/api/models",
        key=org_a.admin_key,
        json={"id": "template-training", "config": {"yaml": _tiny_template()}},
    )
    assert created.status_code == 201, created.text
    engine = create_engine(f"sqlite:///{server.data_dir / 'aigc.db'}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE models SET status='training' WHERE name='template-training'"))
    engine.dispose()
    c = server.sdk(org_a.member_key)
    listed = {m.id: m for m in c.models.list()}
    assert listed["template-training"].model_extra["status"] == "training"  # type: ignore[index]
    with pytest.raises(openai.InternalServerError) as busy:
        c.chat.completions.create(
            model="template-training", messages=[{"role": "user", "content": "hi"}]
        )
    assert busy.value.status_code == 503
    assert busy.value.response.headers["retry-after"]
    assert _envelope(busy.value)["code"] == "model_not_ready"


def _tiny_template() -> str:
    return """
name: tiny
languages: [en]
intents:
  - id: hello
    patterns: ['\\bhello\\b']
    answers:
      en: ["Hello!"]
fallback:
  en: ["Sorry."]
"""
