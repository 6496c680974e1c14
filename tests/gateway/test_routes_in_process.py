"""Route tests in process: the real app (lifespan, middleware, routes, error handlers) driven
through httpx's ASGI transport, no server process. Quick to run beside the end-to-end tests,
which keep covering the real server (tests/e2e)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import openai
import pytest

from tests.templates import ECHO

pytestmark = pytest.mark.anyio


async def test_health_and_request_id(api: httpx.AsyncClient) -> None:
    reply = await api.get("/healthz")
    assert reply.status_code == 200
    assert reply.headers["x-request-id"]


async def test_errors_come_in_the_openai_shape(api: httpx.AsyncClient) -> None:
    unknown = await api.post(
        "/v1/chat/completions",
        json={"model": "nope", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert unknown.status_code == 404
    assert set(unknown.json()["error"]) == {"message", "type", "param", "code"}
    anonymous = await api.get("/v1/models", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    bad = await api.post("/v1/chat/completions", json={"model": "x", "messages": "hi"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "messages"


async def test_register_a_model_and_chat_with_it(api: httpx.AsyncClient) -> None:
    made = await api.post("/api/models", json={"id": "template-echo", "config": {"yaml": ECHO}})
    assert made.status_code == 201, made.text
    listed = await api.get("/v1/models")
    assert "template-echo" in {m["id"] for m in listed.json()["data"]}
    reply = await api.post(
        "/v1/chat/completions",
        json={"model": "template-echo", "messages": [{"role": "user", "content": "hello"}]},
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["choices"][0]["message"]["content"] == "You said: hello"
    assert body["usage"]["total_tokens"] > 0


async def test_too_many_list_prompts_are_a_400(api: httpx.AsyncClient) -> None:
    made = await api.post("/api/models", json={"id": "template-echo", "config": {"yaml": ECHO}})
    assert made.status_code == 201, made.text
    reply = await api.post(
        "/v1/completions", json={"model": "template-echo", "prompt": ["hi"] * 100_000}
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "prompt"


async def test_without_the_console_a_wrong_method_is_still_405_with_allow(
    api: httpx.AsyncClient,
) -> None:
    reply = await api.put("/v1/chat/completions", json={})
    assert reply.status_code == 405
    assert reply.headers["allow"] == "POST"
    assert set(reply.json()["error"]) == {"message", "type", "param", "code"}


async def test_a_body_that_is_not_a_json_object_is_named_as_such(api: httpx.AsyncClient) -> None:
    for content, kind in ((b"hello", "text/plain"), (b"[1, 2]", "application/json")):
        reply = await api.post(
            "/v1/chat/completions", content=content, headers={"content-type": kind}
        )
        assert reply.status_code == 400
        error = reply.json()["error"]
        assert error["code"] == "invalid_body" and "None" not in error["message"]


async def test_a_boolean_is_not_a_token_budget(api: httpx.AsyncClient) -> None:
    reply = await api.post("/api/tenants", json={"name": "acme", "daily_token_budget": True})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "daily_token_budget"
    listed = await api.get("/api/tenants")
    assert "acme" not in {t["name"] for t in listed.json()["data"]}
    key = await api.post("/api/keys", json={"rpm_limit": True})
    assert key.status_code == 400 and key.json()["error"]["param"] == "rpm_limit"


async def test_metrics_show_how_late_the_event_loop_runs(api: httpx.AsyncClient) -> None:
    """The watchdog observes a lag each quarter second: a stall would show here."""
    await asyncio.sleep(0.6)
    metrics = (await api.get("/metrics")).text
    count = [
        line
        for line in metrics.splitlines()
        if line.startswith("aigc_event_loop_lag_seconds_count")
    ]
    assert count and float(count[0].split()[-1]) >= 1


async def test_what_the_schema_shows_the_routes_still_take_as_before(
    api: httpx.AsyncClient,
) -> None:
    """Rules a route checks itself are only shown in the schema, which keeps to their strict
    form: what the server forgave before (an upper-case scheme, a seed of 64 bits) it still
    takes, and a refusal still names what is wrong."""
    patterns = ["HTTPS://GPU.Corp.example.cn/v1", " https://*.corp.example.cn "]
    put = await api.put("/api/platform/upstream-allowlist", json={"patterns": patterns})
    assert put.status_code == 200, put.text
    assert put.json()["patterns"] == ["https://gpu.corp.example.cn/v1", "https://*.corp.example.cn"]
    await api.put("/api/platform/upstream-allowlist", json={"patterns": []})
    usage = await api.get("/api/usage", params={"group_by": "day,week"})
    assert usage.status_code == 400 and "week" in usage.json()["error"]["message"]
    made = await api.post("/api/models", json={"id": "template-echo", "config": {"yaml": ECHO}})
    assert made.status_code == 201, made.text
    ask = {"model": "template-echo", "messages": [{"role": "user", "content": "hello"}]}
    for seed in (2**63 - 1, -(2**63), 2**64 + 5):  # beyond 64 bits: folded in, not refused
        seeded = await api.post("/v1/chat/completions", json=ask | {"seed": seed})
        assert seeded.status_code == 200, seeded.text


async def test_a_refused_lookup_leaves_nothing_stale_in_the_model_cache(
    api: httpx.AsyncClient,
) -> None:
    """A key whose allow-list refuses the model (403) rolled the lookup's session back after
    the record was cached: the next caller read an expired, detached record (a 500)."""
    made = await api.post("/api/models", json={"id": "template-echo", "config": {"yaml": ECHO}})
    assert made.status_code == 201, made.text
    limited = (await api.post("/api/keys", json={"allowed_models": ["x"]})).json()["key"]
    ask = {"model": "template-echo", "messages": [{"role": "user", "content": "hello"}]}
    refused = await api.post(
        "/v1/chat/completions", json=ask, headers={"Authorization": f"Bearer {limited}"}
    )
    assert refused.status_code == 403, refused.text
    served = await api.post("/v1/chat/completions", json=ask)
    assert served.status_code == 200, served.text


@pytest.mark.parametrize(
    ("body", "param", "code", "says"),
    [
        # a text part without its text: not "input.str should be a valid string"
        ({"input": [{"type": "text"}]}, "input[0].text", "missing_required_parameter", "input"),
        ({"input": [{"type": "text", "text": 5}]}, "input[0].text", "invalid_value", "string"),
        ({"input": [{"type": "video"}]}, "input[0]", "invalid_value", "'video'"),
        ({"input": 123}, "input", "invalid_value", "string"),
        ({"input": ["fine", 5]}, "input[1]", "invalid_value", "string"),
    ],
)
async def test_a_union_fields_error_names_the_field_the_caller_meant(
    api: httpx.AsyncClient, body: dict[str, object], param: str, code: str, says: str
) -> None:
    """Pydantic reports a value that fits no member of a union once per member, with the
    member's type or tag in the path ('input.str', 'input[0].text.text'); the error names the
    request's own field, from the member that got furthest."""
    reply = await api.post("/v1/moderations", json=body)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == (param, code)
    assert says in error["message"]


async def test_a_text_part_without_its_text_is_named_so(api: httpx.AsyncClient) -> None:
    """It was "Content parts of type 'text' are not supported by this model"."""
    made = await api.post("/api/models", json={"id": "template-echo", "config": {"yaml": ECHO}})
    assert made.status_code == 201, made.text
    reply = await api.post(
        "/v1/chat/completions",
        json={
            "model": "template-echo",
            "messages": [{"role": "user", "content": [{"type": "text"}]}],
        },
    )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == (
        "messages[0].content[0].text",
        "missing_required_parameter",
    )


@pytest.mark.parametrize(
    "path",
    [
        "/v1/files/{id}",
        "/api/kb/{id}",
        "/api/jobs/{id}",
        "/api/keys/{id}",
        "/api/users/{id}",
        "/api/tenants/{id}",
        "/api/policies/{id}",
        "/v1/responses/{id}",
    ],
)
async def test_a_404_shows_the_id_asked_for_bounded_and_cleaned(
    api: httpx.AsyncClient, path: str
) -> None:
    """An id the caller wrote is echoed as every caller-chosen value is (``untrusted.field``):
    cut to 200 characters, control characters out, key-like text masked. A 3,000-character
    id came back whole, a newline in it as a newline."""
    long = await api.get(path.format(id="x" * 3000))
    assert long.status_code == 404
    message = long.json()["error"]["message"]
    assert len(message) < 300 and message.count("x") < 210
    odd = await api.get(path.format(id="abc%0Aforged%1B[31m-sk-aigc-AAAAAAAAAAAAAAAAAAAAAA"))
    assert odd.status_code == 404
    shown = odd.json()["error"]["message"]
    assert "\n" not in shown and "\x1b" not in shown and "AAAAAAAAAAAA" not in shown


async def test_a_multipart_body_the_parser_gives_up_on_says_why(api: httpx.AsyncClient) -> None:
    """A file name of thousands of characters overflows python-multipart's header line limit;
    the answer names that limit instead of Starlette's bare "Invalid multipart data." """
    reply = await api.post(
        "/v1/files",
        files={"file": ("report-" * 1000 + ".txt", b"hello")},
        data={"purpose": "assistants"},
    )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "invalid_multipart"
    assert "Maximum header size exceeded" in error["message"]
    assert "file name included, may hold at most 4224 bytes" in error["message"]
    broken = await api.post(
        "/v1/files",
        content=b"not a multipart body",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "invalid_multipart", broken.text
    fine = await api.post(
        "/v1/files",
        files={"file": ("report-" * 100 + ".txt", b"hello")},
        data={"purpose": "assistants"},
    )
    assert fine.status_code == 200, fine.text


async def test_a_body_field_named_query_is_named_in_its_error(api: httpx.AsyncClient) -> None:
    """A knowledge-base search's field is called "query"; the error handler took that name for
    the query string's location and left it out, answering every bad search with "The request
    body must be a JSON object" and param null."""
    made = await api.post("/api/kb", json={"name": "notes", "dense": False})
    assert made.status_code in (200, 201), made.text
    search = f"/api/kb/{made.json()['id']}/search"
    missing = (await api.post(search, json={})).json()["error"]
    assert missing["param"] == "query" and missing["code"] == "missing_required_parameter"
    for bad in ({"query": 123}, {"query": "a" * 4001}, {"query": "   "}):
        error = (await api.post(search, json=bad)).json()["error"]
        assert error["param"] == "query", (bad, error)
        assert error["message"].startswith("Invalid value for 'query'"), error
    listed = await api.get("/v1/files", params={"purpose": "nope"})  # a query-string parameter
    assert listed.json()["error"]["param"] == "purpose"


_UNBUILDABLE = [
    {"enum": []},
    {"type": "integer", "minimum": 5, "maximum": 2},
    {"$ref": "#/$defs/x", "$defs": {"x": {"$ref": "#/$defs/x"}}},
    json.loads('{"type":"array","items":' * 200 + '{"type":"string"}' + "}" * 200),
]


async def test_a_bad_json_schema_is_a_400_on_every_path(api: httpx.AsyncClient) -> None:
    """Schemas the metaschema lets through but no grammar can hold, and one nested 200 levels
    deep, were 500s on response_format and text.format (xgrammar's RuntimeError, jsonschema's
    RecursionError). Now each is a 400 naming the schema, before the model's ability is asked
    (the template model cannot decode under a grammar), its message free of xgrammar's log
    prefix."""
    made = await api.post("/api/models", json={"id": "template-echo", "config": {"yaml": ECHO}})
    assert made.status_code == 201, made.text
    user = [{"role": "user", "content": "x"}]
    for schema in _UNBUILDABLE:
        response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
        chat = await api.post(
            "/v1/chat/completions",
            json={"model": "template-echo", "messages": user, "response_format": response_format},
        )
        assert chat.status_code == 400, chat.text
        error = chat.json()["error"]
        assert error["param"] == "response_format.json_schema.schema"
        assert error["code"] == "invalid_json_schema"
        assert error["message"].startswith("Invalid JSON schema: ")
        assert ".cc" not in error["message"] and "[" not in error["message"][:30]
        text_format = {"format": {"type": "json_schema", "name": "x", "schema": schema}}
        responses = await api.post(
            "/v1/responses", json={"model": "template-echo", "input": "x", "text": text_format}
        )
        assert responses.status_code == 400, responses.text
        assert responses.json()["error"]["param"] == "text.format.schema"
        assert responses.json()["error"]["code"] == "invalid_json_schema"


async def test_a_bad_json_schema_is_a_400_before_the_model_is_looked_up(
    api: httpx.AsyncClient,
) -> None:
    """The schema was checked in the guard's input stage, after the model was resolved (and
    loaded): a bad schema for an unknown model was a 404. It is part of validating the body."""
    schema = {"type": "integer", "minimum": 5, "maximum": 2}
    response_format = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    reply = await api.post(
        "/v1/chat/completions",
        json={
            "model": "no-such-model",
            "messages": [{"role": "user", "content": "x"}],
            "response_format": response_format,
        },
    )
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "invalid_json_schema"


async def test_a_schema_sent_again_is_not_checked_again(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The metaschema check and xgrammar's grammar ran for every request, for the same schema
    each time; now their verdict is cached by the schema's text. Counted on the real functions,
    for a schema (good, then bad) no other test sends."""
    import jsonschema
    import xgrammar

    marker = f"field_{uuid.uuid4().hex}"
    metaschema_checks: list[str] = []
    grammars: list[str] = []
    check, build = jsonschema.Draft202012Validator.check_schema, xgrammar.Grammar.from_json_schema

    def counted_check(schema: Any, *args: Any, **kwargs: Any) -> None:
        metaschema_checks.append(json.dumps(schema))
        check(schema, *args, **kwargs)

    def counted_build(schema: str, *args: Any, **kwargs: Any) -> Any:
        grammars.append(schema)
        return build(schema, *args, **kwargs)

    monkeypatch.setattr(jsonschema.Draft202012Validator, "check_schema", counted_check)
    monkeypatch.setattr(xgrammar.Grammar, "from_json_schema", staticmethod(counted_build))
    made = await api.post("/api/models", json={"id": "template-echo", "config": {"yaml": ECHO}})
    assert made.status_code == 201, made.text
    good = {"type": "object", "properties": {marker: {"type": "string"}}}
    bad = {"type": "object", "properties": {marker: {"enum": []}}}
    # the template model cannot decode under a grammar: a 400 once the good schema passed
    for schema, code in ((good, "unsupported_parameter"), (bad, "invalid_json_schema")):
        for _ in range(3):
            reply = await api.post(
                "/v1/chat/completions",
                json={
                    "model": "template-echo",
                    "messages": [{"role": "user", "content": "x"}],
                    "response_format": {
                        "type": "json_schema",
                        "json_schema": {"name": "x", "schema": schema},
                    },
                },
            )
            assert reply.status_code == 400 and reply.json()["error"]["code"] == code
    for sent in (good, bad):
        assert sum(marker in s and s == json.dumps(sent) for s in metaschema_checks) == 1
        assert sum(marker in s and s == json.dumps(sent) for s in grammars) == 1


async def test_a_tool_s_bad_parameters_are_a_400_whatever_the_model(
    api: httpx.AsyncClient,
) -> None:
    """A tool's parameters went unchecked unless a local model compiled them (so a template
    model took a schema nested 200 levels, or ``{"type": 3}``); now they are checked as
    response_format's schema is, and named where the client wrote them."""
    made = await api.post("/api/models", json={"id": "template-echo", "config": {"yaml": ECHO}})
    assert made.status_code == 201, made.text
    user = [{"role": "user", "content": "x"}]
    tools = [{"type": "function", "function": {"name": "f", "parameters": _UNBUILDABLE[-1]}}]
    chat = await api.post(
        "/v1/chat/completions", json={"model": "template-echo", "messages": user, "tools": tools}
    )
    assert chat.status_code == 400, chat.text
    assert chat.json()["error"]["param"] == "tools[0].function.parameters"
    assert "more than 64 levels" in chat.json()["error"]["message"]
    flat = [{"type": "function", "name": "f", "parameters": {"type": 3}}]
    responses = await api.post(
        "/v1/responses", json={"model": "template-echo", "input": "x", "tools": flat}
    )
    assert responses.status_code == 400, responses.text
    assert responses.json()["error"]["param"] == "tools[0].parameters"
    assert responses.json()["error"]["code"] == "invalid_json_schema"
    legacy = await api.post(
        "/v1/chat/completions",
        json={
            "model": "template-echo",
            "messages": user,
            "functions": [{"name": "f", "parameters": {"type": 3}}],
        },
    )
    assert legacy.status_code == 400, legacy.text
    assert legacy.json()["error"]["param"] == "functions[0].parameters"


async def test_a_response_cut_by_max_output_tokens_has_its_message_incomplete(
    api: httpx.AsyncClient,
) -> None:
    """OpenAI marks the cut item incomplete as well as the response; the message said
    'completed', in the JSON answer and in the streamed response.output_item.done alike."""
    made = await api.post("/api/models", json={"id": "template-echo", "config": {"yaml": ECHO}})
    assert made.status_code == 201, made.text
    body = {"model": "template-echo", "input": "one two three four five", "max_output_tokens": 2}
    reply = await api.post("/v1/responses", json=body)
    assert reply.status_code == 200, reply.text
    cut = reply.json()
    assert cut["status"] == "incomplete"
    assert [item["status"] for item in cut["output"]] == ["incomplete"]
    streamed = await api.post("/v1/responses", json=body | {"stream": True})
    events = [
        json.loads(line.removeprefix("data: "))
        for line in streamed.text.splitlines()
        if line.startswith("data: {")
    ]
    [done] = [e for e in events if e["type"] == "response.output_item.done"]
    assert done["item"]["status"] == "incomplete"
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["output"][0]["status"] == "incomplete"
    whole = await api.post("/v1/responses", json=body | {"max_output_tokens": 100})
    assert whole.json()["status"] == "completed"
    assert whole.json()["output"][0]["status"] == "completed"


async def test_an_upload_whose_every_file_is_refused_is_a_4xx_in_the_openai_shape(
    api: httpx.AsyncClient,
) -> None:
    """Uploading only 程序.exe, or only an empty file, was a 200 with the reason as a bare
    string inside: a client checking the status saw success."""
    made = await api.post("/api/kb", json={"name": "uploads", "dense": False})
    upload = f"/api/kb/{made.json()['id']}/documents"
    for name, data, code in (
        ("程序.exe", b"MZ\x90", "unsupported_file_type"),
        ("空.txt", b"", "empty_file"),
        ("空白.txt", "\u3000 \n".encode(), "empty_file"),
    ):
        reply = await api.post(upload, files=[("files", (name, data, "text/plain"))])
        assert reply.status_code == 400, reply.text
        error = reply.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["param"] == "files" and error["code"] == code
        assert name in error["message"] and "<" not in error["message"]
    listed = await api.get(upload)
    assert listed.json()["data"] == []


async def test_a_download_says_its_type_has_an_ascii_name_and_answers_head(
    api: httpx.AsyncClient,
) -> None:
    """Found by probing a live server: downloads came as application/octet-stream named only
    by filename*= (clients that read filename= alone saw no name), and HEAD was a 405."""
    made = await api.post(
        "/v1/files",
        files={"file": ("员工手册 2024.pdf", b"%PDF-1.4 minimal")},
        data={"purpose": "assistants"},
    )
    assert made.status_code == 200, made.text
    url = f"/v1/files/{made.json()['id']}/content"
    got = await api.get(url)
    assert got.status_code == 200 and got.content == b"%PDF-1.4 minimal"
    assert got.headers["content-type"] == "application/pdf"
    disposition = got.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="2024.pdf"; ')
    assert "filename*=utf-8''%E5%91%98%E5%B7%A5%E6%89%8B%E5%86%8C%202024.pdf" in disposition
    head = await api.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(b"%PDF-1.4 minimal"))
    assert head.headers["content-disposition"] == disposition
    page = await api.post(
        "/v1/files",
        files={"file": ("报告.html", b"<script>alert(1)</script>")},
        data={"purpose": "assistants"},
    )
    served = await api.get(f"/v1/files/{page.json()['id']}/content")
    assert served.headers["content-type"] == "application/octet-stream"  # never rendered
    assert served.headers["content-disposition"].startswith('attachment; filename="download.html"')


def _sdk(api: httpx.AsyncClient, admin_key: str) -> openai.AsyncOpenAI:
    """The official SDK over the in-process app, as a client would use it."""
    return openai.AsyncOpenAI(
        base_url="http://aigc.test/v1", api_key=admin_key, http_client=api, max_retries=0
    )


async def test_files_are_listed_a_page_at_a_time(api: httpx.AsyncClient, admin_key: str) -> None:
    """``limit``, ``order`` and ``after`` were ignored: every file came back, has_more false.
    Now the SDK's paginator walks pages of ``limit``, and a bad value is a 400 naming it."""
    made = []
    for i in range(5):
        reply = await api.post(
            "/v1/files", files={"file": (f"f{i}.txt", b"x")}, data={"purpose": "assistants"}
        )
        assert reply.status_code == 200, reply.text
        made.append(reply.json()["id"])
    first = (await api.get("/v1/files", params={"limit": 2})).json()
    assert len(first["data"]) == 2 and first["has_more"] is True
    assert (first["first_id"], first["last_id"]) == (first["data"][0]["id"], first["data"][1]["id"])
    client = _sdk(api, admin_key)
    newest_first = [f.id async for f in client.files.list(limit=2)]
    assert sorted(newest_first) == sorted(made) and len(newest_first) == 5
    oldest_first = [f.id async for f in client.files.list(limit=2, order="asc")]
    assert oldest_first == newest_first[::-1]
    last = (await api.get("/v1/files", params={"limit": 2, "after": newest_first[2]})).json()
    assert [f["id"] for f in last["data"]] == newest_first[3:] and last["has_more"] is False
    for params, param in (
        ({"limit": 0}, "limit"),
        ({"limit": 10_001}, "limit"),
        ({"order": "sideways"}, "order"),
        ({"after": "file-nope"}, "after"),
    ):
        bad = await api.get("/v1/files", params=params)
        assert bad.status_code == 400, (params, bad.text)
        assert bad.json()["error"]["param"] == param


async def test_input_items_are_listed_newest_first_a_page_at_a_time(
    api: httpx.AsyncClient, admin_key: str
) -> None:
    """``limit``, ``order`` and ``after`` were ignored and the items came oldest first, all on
    one page. Now the default page is OpenAI's: the newest 20, and the SDK's paginator walks
    a long input to its first item; a bad value is a 400 naming it."""
    made = await api.post("/api/models", json={"id": "template-echo", "config": {"yaml": ECHO}})
    assert made.status_code == 201, made.text
    turns = [{"role": "user", "content": f"turn {i}"} for i in range(45)]
    reply = await api.post("/v1/responses", json={"model": "template-echo", "input": turns})
    assert reply.status_code == 200, reply.text
    response_id = reply.json()["id"]
    path = f"/v1/responses/{response_id}/input_items"
    first = (await api.get(path)).json()
    assert len(first["data"]) == 20 and first["has_more"] is True
    assert first["data"][0]["content"][0]["text"] == "turn 44"
    assert (first["first_id"], first["last_id"]) == (
        first["data"][0]["id"],
        first["data"][-1]["id"],
    )
    client = _sdk(api, admin_key)
    newest = [i async for i in client.responses.input_items.list(response_id, limit=7)]
    texts = [i.model_dump()["content"][0]["text"] for i in newest]
    assert texts == [f"turn {i}" for i in range(44, -1, -1)]
    oldest = [i.id async for i in client.responses.input_items.list(response_id, order="asc")]
    assert oldest == [i.id for i in newest][::-1]
    twice = [{"type": "message", "id": "msg_1", "role": "user", "content": "again"}] * 3
    reply = await api.post("/v1/responses", json={"model": "template-echo", "input": twice})
    assert reply.status_code == 200, reply.text
    listed: list[str] = []
    async for item in client.responses.input_items.list(reply.json()["id"], limit=1):
        listed.append(item.id)
        if len(listed) > 3:  # a repeated id pages in circles
            break
    assert len(listed) == len(set(listed)) == 3
    for params, param in (
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"order": "sideways"}, "order"),
        ({"after": "item_nope"}, "after"),
    ):
        bad = await api.get(path, params=params)
        assert bad.status_code == 400, (params, bad.text)
        assert bad.json()["error"]["param"] == param


async def test_a_page_of_two_input_items_after_a_cursor_in_either_order(
    api: httpx.AsyncClient,
) -> None:
    """A page is cut from a long input by its place (response_store pages before it builds
    the listed items): two items after a cursor, oldest or newest first, are the right two,
    a client's own id among them, and a repeat of that id listed by its place."""
    made = await api.post("/api/models", json={"id": "template-echo", "config": {"yaml": ECHO}})
    assert made.status_code == 201, made.text
    turns: list[dict[str, Any]] = [{"role": "user", "content": f"第{i}轮"} for i in range(60)]
    turns[31] = {"type": "message", "id": "msg_mine", "role": "user", "content": "第31轮"}
    turns[33] = turns[31] | {"content": "第33轮"}  # the same id again
    reply = await api.post("/v1/responses", json={"model": "template-echo", "input": turns})
    assert reply.status_code == 200, reply.text
    response_id = reply.json()["id"]
    path = f"/v1/responses/{response_id}/input_items"

    async def page(**params: Any) -> dict[str, Any]:
        got = await api.get(path, params=params)
        assert got.status_code == 200, got.text
        return got.json()

    every = (await page(limit=100, order="asc"))["data"]
    assert [item["content"][0]["text"] for item in every] == [f"第{i}轮" for i in range(60)]
    ids = [item["id"] for item in every]
    assert ids[31] == "msg_mine" and len(set(ids)) == 60
    for after, order, expected in (
        (ids[30], "asc", [31, 32]),
        (ids[31], "asc", [32, 33]),
        (ids[34], "desc", [33, 32]),
        (ids[32], "desc", [31, 30]),
        (ids[57], "asc", [58, 59]),
        (ids[2], "desc", [1, 0]),
    ):
        got = await page(limit=2, order=order, after=after)
        assert [item["id"] for item in got["data"]] == [ids[i] for i in expected]
        assert [item["content"][0]["text"] for item in got["data"]] == [
            f"第{i}轮" for i in expected
        ]
        assert (got["first_id"], got["last_id"]) == (ids[expected[0]], ids[expected[1]])
        assert got["has_more"] is (expected[1] not in (0, 59)), (after, order)
    last = await page(limit=2, order="desc", after=ids[0])
    assert last["data"] == [] and last["has_more"] is False and last["first_id"] is None


async def test_moderation_answers_only_to_the_names_it_has(api: httpx.AsyncClient) -> None:
    """Any model name was answered by the built-in guard and echoed back ("nope" included), so
    a typo read as a judgement by a model that does not exist. Now the guard's own name and
    OpenAI's moderation names are answered; another name is a 404, as on chat."""
    for model in ("aigc-guard", "omni-moderation-latest", "text-moderation-latest"):
        reply = await api.post("/v1/moderations", json={"model": model, "input": "hello"})
        assert reply.status_code == 200, reply.text
        assert reply.json()["model"] == model
    plain = await api.post("/v1/moderations", json={"input": "hello"})
    assert plain.status_code == 200 and plain.json()["model"] == "aigc-guard"
    unknown = await api.post("/v1/moderations", json={"model": "nope", "input": "hello"})
    assert unknown.status_code == 404
    error = unknown.json()["error"]
    assert (error["param"], error["code"]) == ("model", "model_not_found")
    assert "omni-moderation-latest" in error["message"]


_USER = [{"role": "user", "content": "hello"}]
_NAMELESS = {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}


@pytest.mark.parametrize(
    ("path", "body", "param", "code"),
    [
        ("/v1/chat/completions", {"top_logprobs": 2}, "top_logprobs", "invalid_value"),
        (
            "/v1/chat/completions",
            {"top_logprobs": 2, "logprobs": False},
            "top_logprobs",
            "invalid_value",
        ),
        (
            "/v1/chat/completions",
            {"stream_options": {"include_usage": True}},
            "stream_options",
            "invalid_value",
        ),
        (
            "/v1/completions",
            {"stream_options": {"include_usage": True}},
            "stream_options",
            "invalid_value",
        ),
        (
            "/v1/chat/completions",
            {"response_format": _NAMELESS},
            "response_format.json_schema.name",
            "missing_required_parameter",
        ),
        (
            "/v1/responses",
            {"text": {"format": {"type": "json_schema", "schema": {"type": "object"}}}},
            "text.format.name",
            "missing_required_parameter",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": None}]},
            "messages[0].content",
            "invalid_value",
        ),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "system"}, *_USER]},
            "messages[0].content",
            "missing_required_parameter",
        ),
        ("/v1/chat/completions", {"stream": "yes"}, "stream", "invalid_value"),
        ("/v1/chat/completions", {"n": "2"}, "n", "invalid_value"),
        ("/v1/chat/completions", {"max_tokens": True}, "max_tokens", "invalid_value"),
        ("/v1/completions", {"echo": 1}, "echo", "invalid_value"),
        ("/v1/responses", {"stream": "yes"}, "stream", "invalid_value"),
        ("/v1/responses", {"max_output_tokens": True}, "max_output_tokens", "invalid_value"),
    ],
)
async def test_what_openai_refuses_is_a_400_naming_the_field(
    api: httpx.AsyncClient, path: str, body: dict[str, object], param: str, code: str
) -> None:
    """Each of these was taken: ignored (top_logprobs without logprobs, stream_options without
    stream, a user message without content), or read as something else ("yes" as true, "2" as
    2, true as 1 token). OpenAI refuses them, naming the field; so does this server now."""
    made = await api.post("/api/models", json={"id": "template-echo", "config": {"yaml": ECHO}})
    assert made.status_code == 201, made.text
    ask: dict[str, object] = {"model": "template-echo"}
    ask |= {"input": "hello"} if path == "/v1/responses" else {}
    ask |= {"prompt": "hello"} if path == "/v1/completions" else {}
    ask |= {"messages": _USER} if path == "/v1/chat/completions" else {}
    reply = await api.post(path, json=ask | body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert (error["param"], error["code"]) == (param, code)


async def test_what_openai_takes_is_still_taken(api: httpx.AsyncClient) -> None:
    """The new refusals leave alone what the SDK sends: a whole number written 2.0, an
    assistant turn of tool calls without content, stream_options on a stream, a named
    json_schema format (refused here only because the template model cannot decode under a
    grammar: not for its name)."""
    made = await api.post("/api/models", json={"id": "template-echo", "config": {"yaml": ECHO}})
    assert made.status_code == 201, made.text
    ask = {"model": "template-echo", "messages": _USER}
    assert (await api.post("/v1/chat/completions", json=ask | {"n": 2.0})).status_code == 200
    streamed = await api.post(
        "/v1/chat/completions",
        json=ask | {"stream": True, "stream_options": {"include_usage": True}},
    )
    assert streamed.status_code == 200, streamed.text
    named = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    formatted = await api.post("/v1/chat/completions", json=ask | {"response_format": named})
    assert formatted.json()["error"]["param"] != "response_format.json_schema.name"


async def test_the_embedding_model_is_listed_and_retrieved(api: httpx.AsyncClient) -> None:
    """Found by probing a live server: /v1/embeddings served all-MiniLM-L6-v2, but neither
    GET /v1/models nor GET /v1/models/all-MiniLM-L6-v2 knew it, so a client picking its
    embedding model from the list found none."""
    listed = {m["id"]: m for m in (await api.get("/v1/models")).json()["data"]}
    embedding = listed["all-MiniLM-L6-v2"]
    assert embedding["object"] == "model" and embedding["capabilities"] == ["embeddings"]
    got = await api.get("/v1/models/all-MiniLM-L6-v2")
    assert got.status_code == 200 and got.json() == embedding
    made = await api.post(
        "/api/keys", json={"role": "member", "name": "chat only", "allowed_models": ["x"]}
    )
    assert made.status_code == 201, made.text
    only = {"Authorization": f"Bearer {made.json()['key']}"}
    seen = (await api.get("/v1/models", headers=only)).json()["data"]
    assert "all-MiniLM-L6-v2" not in [m["id"] for m in seen]
    assert (await api.get("/v1/models/all-MiniLM-L6-v2", headers=only)).status_code == 403


async def test_an_unsupported_field_is_unused_only_with_the_very_value(
    api: httpx.AsyncClient,
) -> None:
    """Chat's and Responses' unsupported fields were compared by equality, so ``best_of: true``
    (== 1), ``store: 0`` (== false) and ``background: 0`` passed as "not used" and were
    ignored, while the document's enums (JSON: true is not 1) refuse them; images and the
    decoding fields compared by type already. One helper, ``schemas.used_field``, now decides
    for all four."""
    made = await api.post("/api/models", json={"id": "template-echo", "config": {"yaml": ECHO}})
    assert made.status_code == 201, made.text
    chat = {"model": "template-echo", "messages": [{"role": "user", "content": "x"}]}
    for extra in ({"best_of": True}, {"store": 0}):
        reply = await api.post("/v1/chat/completions", json=chat | extra)
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"]["param"] == next(iter(extra))
        assert reply.json()["error"]["code"] == "unsupported_parameter"
    for unused in ({"best_of": 1}, {"store": False}):
        reply = await api.post("/v1/chat/completions", json=chat | unused)
        assert reply.status_code == 200, reply.text
    responses = {"model": "template-echo", "input": "x"}
    reply = await api.post("/v1/responses", json=responses | {"background": 0})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == "background"
    reply = await api.post("/v1/responses", json=responses | {"background": False})
    assert reply.status_code == 200, reply.text


async def test_a_knowledge_base_field_not_taken_is_named_not_dropped(
    api: httpx.AsyncClient,
) -> None:
    """Found by a security probe: POST /api/kb with "embedding_model" made a base on the
    default model without a word, and a PATCH setting "dense" changed nothing, each a 200."""
    refused = await api.post("/api/kb", json={"name": "法规", "embedding_model": "bge-m3"})
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["param"] == "embedding_model"
    assert (await api.get("/api/kb")).json()["data"] == []  # nothing half-made
    made = await api.post("/api/kb", json={"name": "法规", "dense": False})
    base = f"/api/kb/{made.json()['id']}"
    for path, body, param in (
        (base, {"dense": True}, "dense"),
        (f"{base}/search", {"query": "年假", "top_n": 3}, "top_n"),
        (f"{base}/documents/url", {"url": "https://example.com/a.html", "name": "a"}, "name"),
    ):
        method = api.patch if path == base else api.post
        reply = await method(path, json=body)
        assert reply.status_code == 400, (path, reply.text)
        error = reply.json()["error"]
        assert error["param"] == param and error["type"] == "invalid_request_error", error


async def test_a_key_limited_to_models_sees_only_those(api: httpx.AsyncClient) -> None:
    """Found by the security probe: a key limited to one model listed every model of the
    organization on /api/models and read any model's details and status (its config's
    family, its engine, its load); and a 404 against a 403 told it which names exist."""
    for name in ("template-echo", "template-other"):
        made = await api.post("/api/models", json={"id": name, "config": {"yaml": ECHO}})
        assert made.status_code == 201, made.text
    limited = (await api.post("/api/keys", json={"allowed_models": ["template-echo"]})).json()
    headers = {"Authorization": f"Bearer {limited['key']}"}
    for listing in ("/v1/models", "/api/models"):
        names = {m["id"] for m in (await api.get(listing, headers=headers)).json()["data"]}
        assert names == {"template-echo"}, listing
    assert (await api.get("/v1/models/template-echo", headers=headers)).status_code == 200
    for path in (
        "/v1/models/template-other",
        "/v1/models/no-such-model",  # the same answer: nothing learnt of what exists
        "/api/models/template-other/status",
        "/api/models/no-such-model/status",
    ):
        reply = await api.get(path, headers=headers)
        assert reply.status_code == 403, (path, reply.text)
        assert reply.json()["error"]["code"] == "model_not_allowed"
    everything = {m["id"] for m in (await api.get("/api/models")).json()["data"]}
    assert {"template-echo", "template-other"} <= everything  # an unlimited key sees all


async def test_the_responses_include_list_is_bounded_as_documented(api: httpx.AsyncClient) -> None:
    """Found by the fuzzer on a clean checkout: the document's include list had no bound while
    the body model refused more than 9 entries, so a schema-valid request of 21 repeated
    values was a 400. The document states the bound the server keeps."""
    from aigc.gateway.response_schemas import INCLUDE_NOTHING_MORE

    document = (await api.get("/openapi.json")).json()
    include = document["components"]["schemas"]["ResponseRequest"]["properties"]["include"]
    bound = include["anyOf"][0].get("maxItems")
    assert bound is not None and bound >= 3 * len(INCLUDE_NOTHING_MORE)
    body = {"model": "no-such-model", "input": "hi", "include": list(INCLUDE_NOTHING_MORE) * 3}
    reply = await api.post("/v1/responses", json=body)
    assert reply.status_code == 404, reply.text  # past validation: the model is looked up
    too_many = body | {"include": [INCLUDE_NOTHING_MORE[0]] * (bound + 1)}
    refused = await api.post("/v1/responses", json=too_many)
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "include"
