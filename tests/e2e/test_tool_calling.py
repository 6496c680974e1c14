"""Function calling through a live server with the official openai SDK, on an upstream model.

The upstream is the stub OpenAI-compatible server (tests/engine/stub_openai.py), which decides
tool calls from the request as ``tests/engine/stub_tools.py`` documents and streams them in
OpenAI's chunk shape; the gateway must pass them through and back faithfully.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import create_engine, text

from tests.e2e.server import Org, Server
from tests.engine.stub_openai import StubServer, words

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string", "enum": ["UTC", "CET"]}},
        },
    },
}
ASK = "Use get_weather for Paris, 3 days"


@pytest.fixture(scope="module")
def model(server: Server, stub: StubServer) -> str:
    return stub.register(server)


def accumulate(chunks: list[Any]) -> tuple[str, list[dict[str, Any]], str | None]:
    """Content, tool calls (by index) and finish reason, joined from streamed deltas as a
    client does."""
    content, calls, finish = "", {}, None
    for chunk in chunks:
        for choice in chunk.choices:
            content += choice.delta.content or ""
            for part in choice.delta.tool_calls or []:
                call = calls.setdefault(part.index, {"id": None, "name": "", "arguments": ""})
                call["id"] = part.id or call["id"]
                if part.function is not None:
                    call["name"] += part.function.name or ""
                    call["arguments"] += part.function.arguments or ""
            finish = choice.finish_reason or finish
    return content, [calls[i] for i in sorted(calls)], finish


def as_dicts(calls: Any) -> list[dict[str, Any]]:
    return [{"id": c.id, "name": c.function.name, "arguments": c.function.arguments} for c in calls]


def test_tool_call_plain_and_streamed(server: Server, org_a: Org, model: str) -> None:
    c = server.sdk(org_a.member_key)
    messages = [{"role": "user", "content": ASK}]
    plain = c.chat.completions.create(model=model, messages=messages, tools=[WEATHER, TIME])
    choice = plain.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 1
    assert calls[0].type == "function" and calls[0].id.startswith("call_")
    assert calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments) == {"city": ASK, "days": 3}
    assert plain.usage is not None and plain.usage.completion_tokens > 0
    assert plain.usage.prompt_tokens > len(ASK.split())  # the tool definitions count too

    chunks = list(
        c.chat.completions.create(
            model=model,
            messages=messages,
            tools=[WEATHER, TIME],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    content, streamed, finish = accumulate(chunks)
    assert content == "" and finish == "tool_calls"
    assert streamed == as_dicts(calls)  # the deltas join into the plain answer
    parts = [p for ch in chunks if ch.choices for p in ch.choices[0].delta.tool_calls or []]
    assert len(parts) > 2  # streamed in fragments, as the upstream sent them
    assert parts[0].id == calls[0].id and parts[0].type == "function"
    assert parts[0].function.name == "get_weather" and parts[0].function.arguments == ""
    assert all(p.id is None and p.function.name is None for p in parts[1:])
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens


def test_parallel_calls_and_turning_them_off(server: Server, org_a: Org, model: str) -> None:
    c = server.sdk(org_a.member_key)
    messages = [{"role": "user", "content": "get_weather in Rome for 2 days and get_time"}]
    both = c.chat.completions.create(model=model, messages=messages, tools=[WEATHER, TIME])
    calls = both.choices[0].message.tool_calls or []
    assert [call.function.name for call in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[1].function.arguments) == {"zone": "UTC"}
    streamed = accumulate(
        list(
            c.chat.completions.create(
                model=model, messages=messages, tools=[WEATHER, TIME], stream=True
            )
        )
    )
    assert streamed[1] == as_dicts(calls)
    one = c.chat.completions.create(
        model=model, messages=messages, tools=[WEATHER, TIME], parallel_tool_calls=False
    )
    assert [call.function.name for call in one.choices[0].message.tool_calls or []] == [
        "get_weather"
    ]


def test_named_required_auto_and_none(
    server: Server, org_a: Org, model: str, stub: StubServer
) -> None:
    c = server.sdk(org_a.member_key)
    messages = [{"role": "user", "content": "What should I wear?"}]
    named = c.chat.completions.create(
        model=model,
        messages=messages,
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert [t.function.name for t in named.choices[0].message.tool_calls or []] == ["get_time"]
    assert stub.app.state.bodies[-1]["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_time"},
    }
    required = c.chat.completions.create(
        model=model, messages=messages, tools=[TIME, WEATHER], tool_choice="required"
    )
    assert [t.function.name for t in required.choices[0].message.tool_calls or []] == ["get_time"]
    auto = c.chat.completions.create(model=model, messages=messages, tools=[WEATHER, TIME])
    assert auto.choices[0].message.tool_calls is None
    assert auto.choices[0].message.content == "".join(words())
    assert auto.choices[0].finish_reason == "stop"
    none = c.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": ASK}],
        tools=[WEATHER],
        tool_choice="none",
    )
    assert none.choices[0].message.tool_calls is None
    assert stub.app.state.bodies[-1]["tool_choice"] == "none"


def test_tool_result_round_trip(server: Server, org_a: Org, model: str, stub: StubServer) -> None:
    c = server.sdk(org_a.member_key)
    messages: list[Any] = [{"role": "user", "content": ASK}]
    first = c.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    assistant = first.choices[0].message
    call = (assistant.tool_calls or [])[0]
    messages.append(assistant.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "18°C, sunny"})
    final = c.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    assert final.choices[0].message.content == "Tool results: 18°C, sunny"
    assert final.choices[0].finish_reason == "stop"
    sent = stub.app.state.bodies[-1]["messages"]
    assert sent[1]["tool_calls"][0]["id"] == call.id  # passed up as OpenAI sends it
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == call.function.arguments
    assert sent[2] == {"role": "tool", "content": "18°C, sunny", "tool_call_id": call.id}


def test_legacy_functions_answer_with_function_call(server: Server, org_a: Org, model: str) -> None:
    http = httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {org_a.member_key}"}
    )
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "What time is it?"}],
        "functions": [TIME["function"]],
        "function_call": {"name": "get_time"},
    }
    plain = http.post("/v1/chat/completions", json=body).json()
    choice = plain["choices"][0]
    assert choice["finish_reason"] == "function_call"
    assert choice["message"]["function_call"] == {
        "name": "get_time",
        "arguments": '{"zone": "UTC"}',
    }
    assert "tool_calls" not in choice["message"]
    with http.stream("POST", "/v1/chat/completions", json=body | {"stream": True}) as response:
        events = [
            json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: {")
        ]
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
    calls = [d["function_call"] for d in deltas if "function_call" in d]
    assert calls[0]["name"] == "get_time"
    assert "".join(f["arguments"] for f in calls) == '{"zone": "UTC"}'
    assert events[-1]["choices"][0]["finish_reason"] == "function_call"
    # The legacy history (an assistant function_call, then a function message) maps onto tools.
    history = body | {
        "messages": [
            *body["messages"],
            {
                "role": "assistant",
                "content": None,
                "function_call": choice["message"]["function_call"],
            },
            {"role": "function", "name": "get_time", "content": "12:00"},
        ]
    }
    del history["function_call"]
    answer = http.post("/v1/chat/completions", json=history).json()
    assert answer["choices"][0]["message"]["content"] == "Tool results: 12:00"
    http.close()


def _error(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return dict(body["error"])


def test_refusals_name_the_field(server: Server, org_a: Org, model: str, stub: StubServer) -> None:
    c = server.sdk(org_a.member_key)
    ask = [{"role": "user", "content": "hi"}]
    toolless = stub.register(server, tools=False)
    for name, param in ((toolless, "tools"), ("template-helpdesk", "tools")):
        with pytest.raises(openai.BadRequestError) as refused:
            c.chat.completions.create(model=name, messages=ask, tools=[WEATHER])
        error = _error(refused.value)
        assert error["param"] == param and name in error["message"]
        assert error["code"] == "unsupported_parameter"
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "tool_choice",
        ),
        ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
        ({"tool_choice": "required"}, "tool_choice"),
        (
            {"tools": [{"type": "function", "function": {"name": "bad name!"}}]},
            "tools[0].function.name",
        ),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
        ({"tools": [WEATHER], "functions": [TIME["function"]]}, "functions"),
        (
            {"messages": [*ask, {"role": "tool", "tool_call_id": "call_x", "content": "r"}]},
            "messages[1].tool_call_id",
        ),
        ({"messages": [*ask, {"role": "tool", "content": "r"}]}, "messages[1].tool_call_id"),
    ]
    for extra, param in cases:
        body = {"model": model, "messages": ask} | extra
        raw = httpx.post(
            f"{server.base_url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {org_a.member_key}"},
            timeout=30,
        )
        assert raw.status_code == 400, (extra, raw.text)
        assert raw.json()["error"]["param"] == param, (extra, raw.text)
    history = [
        *ask,
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "r"},
    ]
    with pytest.raises(openai.BadRequestError) as earlier:
        c.chat.completions.create(model="template-helpdesk", messages=history)  # type: ignore[arg-type]
    assert _error(earlier.value)["param"] == "messages[1].tool_calls"


def test_listings_say_which_models_take_tools(
    server: Server, org_a: Org, model: str, stub: StubServer
) -> None:
    toolless = stub.register(server, tools=False)
    listed = {
        m["id"]: m for m in server.api("GET", "/v1/models", key=org_a.member_key).json()["data"]
    }
    assert "tools" in listed[model]["capabilities"]
    assert "tools" not in listed[toolless]["capabilities"]
    assert "tools" not in listed["template-helpdesk"]["capabilities"]
    managed = server.api("GET", "/api/models", key=org_a.member_key).json()
    entries = managed["data"] if isinstance(managed, dict) else managed
    assert "tools" in next(m for m in entries if m["id"] == model)["capabilities"]


def test_audit_keeps_tool_names_and_counts_only(server: Server, org_a: Org, model: str) -> None:
    c = server.sdk(org_a.member_key)
    secret_argument = f"Use get_weather for Zanzibar-{secrets.token_hex(6)}"
    reply = c.chat.completions.create(
        model=model, messages=[{"role": "user", "content": secret_argument}], tools=[WEATHER, TIME]
    )
    call = (reply.choices[0].message.tool_calls or [])[0]
    result = f"result-{secrets.token_hex(6)}"
    c.chat.completions.create(
        model=model,
        messages=[
            {"role": "user", "content": secret_argument},
            reply.choices[0].message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": result},
        ],
        tools=[WEATHER, TIME],
    )
    assert "guard" not in reply.model_extra  # tool facts are for the audit, not guard decisions
    server.api("GET", "/api/audit/verify")  # flushes the audit queue
    engine = create_engine(f"sqlite:///{server.data_dir / 'aigc.db'}")
    with engine.connect() as conn:
        rows = [
            json.loads(row[0])
            for row in conn.execute(
                text("SELECT guard FROM audit_records WHERE model = :m ORDER BY seq"), {"m": model}
            )
        ]
    engine.dispose()
    assert ["tools:offered:2", "tools:called:get_weather:1"] in rows
    assert ["tools:offered:2", "tools:results:1"] in rows
    stored = json.dumps(rows)
    assert "Zanzibar" not in stored and result not in stored
