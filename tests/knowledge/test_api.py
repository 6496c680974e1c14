"""The knowledge base over HTTP: isolation between tenants and users, grounded chat with
citations (JSON and stream), /v1/embeddings. Driven against a live server."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from aigc.knowledge.citing import NOT_READ
from aigc.knowledge.grounding import NO_DOCUMENT
from tests.e2e.server import Org, Server
from tests.engine.stub_openai import StubServer
from tests.templates import KB_FIXED as TEMPLATE

SECRET_DOC = (
    "# Finance\n\nThe merger with Northwind closes on 14 March; the price is 42 million euros.\n\n"
    "## Payroll\n\nSalaries are paid on the 25th of every month.\n"
)
PUBLIC_DOCS = {
    "vpn.md": "# VPN\n\nConnect to the VPN with the corporate client and your hardware token.\n",
    "printers.txt": "Printer P-204 on the second floor prints double-sided in colour.\n",
    "canteen.html": "<h1>Canteen</h1><p>The canteen serves lunch from 11:30 to 14:00.</p>",
}


def wait_job(server: Server, key: str, job: dict[str, Any] | None) -> None:
    assert job is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = server.api("GET", f"/api/jobs/{job['id']}", key=key).json()
        if state["status"] in ("succeeded", "failed", "cancelled"):
            assert state["status"] == "succeeded", state
            return
        time.sleep(0.2)
    raise AssertionError("ingestion did not finish")


def upload(server: Server, key: str, kb: str, files: dict[str, str]) -> dict[str, Any]:
    parts = [
        ("files", (name, text.encode(), "application/octet-stream")) for name, text in files.items()
    ]
    res = server.api("POST", f"/api/kb/{kb}/documents", key=key, files=parts)
    assert res.status_code == 200, res.text
    body = res.json()
    if body["job"] is not None:
        wait_job(server, key, body["job"])
    return body


def user_key(server: Server, org: Org, name: str) -> tuple[str, str]:
    user = server.api(
        "POST",
        "/api/users",
        key=org.admin_key,
        json={"username": f"{name}-{org.id}", "password": "a-long-password-1", "role": "member"},
    ).json()
    key = server.api(
        "POST",
        "/api/keys",
        key=org.admin_key,
        json={"role": "member", "name": name, "user_id": user["id"]},
    ).json()
    return user["id"], key["key"]


@dataclass
class World:
    finance_kb: str
    public_kb: str
    doc_id: str
    alice: str  # in the finance group
    bob: str  # same tenant, not in the group
    b_kb: str  # tenant B's own KB


@pytest.fixture(scope="module")
def world(server: Server, org_a: Org, org_b: Org) -> World:
    alice_id, alice = user_key(server, org_a, "alice")
    _, bob = user_key(server, org_a, "bob")
    group = server.api("POST", "/api/groups", key=org_a.admin_key, json={"name": "finance"}).json()
    server.api(
        "POST",
        f"/api/groups/{group['id']}/members",
        key=org_a.admin_key,
        json={"user_id": alice_id},
    )
    finance = server.api(
        "POST",
        "/api/kb",
        key=org_a.admin_key,
        json={"name": "finance", "access": [{"group": group["id"], "access": "read"}]},
    ).json()
    body = upload(server, org_a.admin_key, finance["id"], {"finance.md": SECRET_DOC})
    public = server.api(
        "POST", "/api/kb", key=org_a.admin_key, json={"name": "public", "dense": False}
    ).json()
    upload(server, org_a.admin_key, public["id"], PUBLIC_DOCS)
    b_kb = server.api("POST", "/api/kb", key=org_b.admin_key, json={"name": "b-kb"}).json()
    upload(server, org_b.admin_key, b_kb["id"], {"b.txt": "Tenant B keeps its own notes here."})
    made = server.api(
        "POST",
        "/api/models",
        key=org_a.admin_key,
        json={"id": "template-kb-fixed", "config": {"yaml": TEMPLATE}},
    )
    assert made.status_code == 201, made.text
    return World(finance["id"], public["id"], body["data"][0]["id"], alice, bob, b_kb["id"])


def test_a_reader_finds_the_chunk_with_scores(server: Server, world: World) -> None:
    res = server.api(
        "POST",
        f"/api/kb/{world.finance_kb}/search",
        key=world.alice,
        json={"query": "when does the Northwind merger close", "top_k": 3},
    )
    assert res.status_code == 200, res.text
    top = res.json()["data"][0]
    assert "14 March" in top["text"] and top["filename"] == "finance.md"
    assert top["headings"] == ["Finance"] and top["score"] > 0 and top["dense_score"] is not None


def test_isolation_other_tenant_and_user_without_access_see_nothing(
    server: Server, world: World, org_a: Org, org_b: Org
) -> None:
    kb, doc = world.finance_kb, world.doc_id
    outsiders = {"tenant B admin": org_b.admin_key, "bob": world.bob, "A member": org_a.member_key}
    for who, key in outsiders.items():
        listed = server.api("GET", "/api/kb", key=key).json()["data"]
        assert kb not in [k["id"] for k in listed], who
        for method, path, body in [
            ("GET", f"/api/kb/{kb}", None),
            ("POST", f"/api/kb/{kb}/search", {"query": "Northwind merger"}),
            ("GET", f"/api/kb/{kb}/documents", None),
            ("GET", f"/api/kb/{kb}/documents/{doc}", None),
            ("GET", f"/api/kb/{kb}/documents/{doc}/content", None),
            ("GET", f"/api/kb/{kb}/documents/{doc}/chunks", None),
            ("DELETE", f"/api/kb/{kb}/documents/{doc}", None),
            ("PATCH", f"/api/kb/{kb}", {"access": [{"role": "viewer", "access": "read"}]}),
            ("DELETE", f"/api/kb/{kb}", None),
        ]:
            res = server.api(method, path, key=key, json=body)
            assert res.status_code == 404, (who, method, path, res.text)
            assert "Northwind" not in res.text
        chat = server.api(
            "POST",
            "/v1/chat/completions",
            key=key,
            json={
                "model": "template-kb-fixed" if key != org_b.admin_key else "missing",
                "messages": [{"role": "user", "content": "Northwind merger price?"}],
                "knowledge_bases": [kb],
            },
        )
        assert chat.status_code == 404 and "Northwind" not in chat.text, (who, chat.text)
    # Id guessing: B's own KB with A's document id answers 404 too, and B's searches and
    # grounded chats never surface A's chunks.
    b = org_b.admin_key
    for path in (f"/documents/{doc}", f"/documents/{doc}/content", f"/documents/{doc}/chunks"):
        assert server.api("GET", f"/api/kb/{world.b_kb}{path}", key=b).status_code == 404
    hits = server.api(
        "POST",
        f"/api/kb/{world.b_kb}/search",
        key=b,
        json={
            "query": "Northwind merger price 42 million",
            "top_k": 10,
            "filters": {"document_ids": [doc]},
        },
    ).json()["data"]
    assert hits == []
    mixed = server.api(
        "POST", f"/api/kb/{world.b_kb}/search", key=b, json={"query": "Northwind"}
    ).json()["data"]
    assert all("Northwind" not in h["text"] for h in mixed)
    # The document itself is still whole for those who may read it.
    assert server.api("GET", f"/api/kb/{kb}/documents/{doc}/content", key=world.alice).text == (
        SECRET_DOC
    )
    # Embeddings take text only: no document or chunk can be named to get its vector.
    refused = server.api(
        "POST", "/v1/embeddings", key=b, json={"model": "all-MiniLM-L6-v2", "input": {"doc": doc}}
    )
    assert refused.status_code == 400


def given(stub: StubServer, number: int) -> str:
    """The file of source ``number`` in the last grounded prompt the stub was sent."""
    system = stub.app.state.bodies[-1]["messages"][0]["content"]
    found = re.search(rf"^\[{number}\] \((.*)\)$", system, re.M)  # (title, file, p. 3 — …)
    assert found is not None, system
    where = found.group(1).split(" — ")[0].split(", ")
    return next(part for part in where if re.fullmatch(r"[\w.-]+\.\w+", part))


def test_grounded_chat_returns_only_the_sources_the_answer_cites(
    server: Server, world: World, org_a: Org, stub: StubServer
) -> None:
    """The upstream model answers citing [2] only (the marker split across two streamed
    chunks): the response cites source 2 alone, renumbered [1], in JSON and in the stream."""
    client = server.sdk(org_a.admin_key)
    model = stub.register(server, model="cite-2")
    question = "Which floor is printer P-204 on, and when does the canteen serve lunch?"
    ask: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": question}],
        "extra_body": {"knowledge_bases": [world.public_kb]},
    }
    answer = client.chat.completions.create(**ask)
    second = given(stub, 2)  # two or more sources were given; the answer used the second
    assert answer.choices[0].message.content == "From the documents: it is there [1]."
    cited = answer.model_extra["citations"]
    assert [(c["index"], c["filename"]) for c in cited] == [(1, second)]
    assert {"document", "page", "chunk", "knowledge_base", "headings", "score"} <= cited[0].keys()
    grounding = answer.model_extra["grounding"]
    assert grounding["sources_given"] >= 2
    assert grounding | {"sources_given": 0} == {
        "sources_given": 0,
        "cited": 1,
        "cited_by": "markers",
    }
    chunks = server.api(
        "GET",
        f"/api/kb/{world.public_kb}/documents/{cited[0]['document']}/chunks",
        key=org_a.admin_key,
    ).json()["data"]
    assert cited[0]["chunk"] in [c["id"] for c in chunks]

    events = list(client.chat.completions.create(**ask, stream=True))
    text = "".join(e.choices[0].delta.content or "" for e in events if e.choices)
    assert text == "From the documents: it is there [1]."
    assert events[-1].choices == [] and events[-1].model_extra["citations"] == cited
    assert events[-1].model_extra["grounding"] == grounding

    # A model that writes no marker: its answer quotes source 1, which alone is cited.
    quoting = stub.register(server, model="quote")
    quoted = client.chat.completions.create(**(ask | {"model": quoting}))
    first = given(stub, 1)
    assert [c["filename"] for c in quoted.model_extra["citations"]] == [first]
    assert quoted.model_extra["grounding"]["cited_by"] == "matching"


def test_the_responses_api_answers_from_knowledge_bases_as_chat_does(
    server: Server, world: World, org_a: Org, stub: StubServer
) -> None:
    """/v1/responses takes the same ``knowledge_bases`` field (it runs on the chat pipeline):
    the model is sent the sources, the answer cites what it used, and the response object
    carries the citations, streamed or not, and keeps them when stored. Before, the field was
    silently dropped and the answer was not grounded."""
    client = server.sdk(org_a.admin_key)
    model = stub.register(server, model="cite-2")
    ask: dict[str, Any] = {
        "model": model,
        "input": "Which floor is printer P-204 on, and when does the canteen serve lunch?",
        "extra_body": {"knowledge_bases": [world.public_kb]},
    }
    answer = client.responses.create(**ask)
    second = given(stub, 2)
    assert answer.output_text == "From the documents: it is there [1]."
    cited = answer.model_extra["citations"]
    assert [(c["index"], c["filename"]) for c in cited] == [(1, second)]
    assert answer.model_extra["grounding"]["cited"] == 1
    # the marker as a file_citation annotation at its place in the text
    marker = answer.output_text.index("[1]")
    annotation = {
        "type": "file_citation",
        "file_id": cited[0]["document"],
        "filename": second,
        "index": marker,
    }
    assert [a.model_dump() for a in answer.output[0].content[0].annotations] == [annotation]
    stored = client.responses.retrieve(answer.id)
    assert stored.model_extra["citations"] == cited
    assert [a.model_dump() for a in stored.output[0].content[0].annotations] == [annotation]

    events = list(client.responses.create(**ask, stream=True))
    assert events[-1].type == "response.completed"
    final = events[-1].response
    assert final.output_text == "From the documents: it is there [1]."
    assert final.model_extra["citations"] == cited
    assert [a.model_dump() for a in final.output[0].content[0].annotations] == [annotation]
    added = [e for e in events if e.type == "response.output_text.annotation.added"]
    assert [(e.annotation_index, e.annotation) for e in added] == [(0, annotation)]
    kinds = [e.type for e in events]
    assert kinds.index("response.output_text.annotation.added") < kinds.index(
        "response.output_text.done"
    )

    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(**(ask | {"extra_body": {"knowledge_bases": "kb"}}))
    assert refused.value.body["param"] == "knowledge_bases"  # type: ignore[index]
    off_topic = client.responses.create(**(ask | {"input": "长城有多长？"}))
    assert off_topic.output_text == NO_DOCUMENT["zh"]
    assert off_topic.model_extra["citations"] == []


def test_a_streamed_answer_that_calls_a_tool_after_citing_is_annotated_as_its_text_closes(
    server: Server, world: World, org_a: Org, stub: StubServer
) -> None:
    """The model cites [1], then calls a tool (as many models do). Before, a grounded stream
    lost the call (read as empty text by the marker renumbering), in chat and Responses alike.
    Now chat streams it with finish_reason tool_calls, and in Responses the message item
    closes when the call begins, its closing events already carrying the marker's
    file_citation (before, only the final response object could have it)."""
    client = server.sdk(org_a.admin_key)
    model = stub.register(server, model="citecall-1")
    tool_fn = {
        "name": "floor_plan",
        "description": "The floor plan of a floor.",
        "parameters": {"type": "object", "properties": {"floor": {"type": "integer"}}},
    }
    tool = {"type": "function"} | tool_fn
    question = "Which floor is printer P-204 on? Then show its floor_plan."
    chunks = list(
        client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": question}],
            tools=[{"type": "function", "function": tool_fn}],  # type: ignore[list-item]
            stream=True,
            extra_body={"knowledge_bases": [world.public_kb]},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "From the documents: it is there [1]."
    calls = [t for c in chunks if c.choices for t in c.choices[0].delta.tool_calls or []]
    assert calls[0].function.name == "floor_plan"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert [c["index"] for c in chunks[-1].model_extra["citations"]] == [1]

    events = list(
        client.responses.create(
            model=model,
            input=question,
            tools=[tool],  # type: ignore[list-item]
            stream=True,
            extra_body={"knowledge_bases": [world.public_kb]},
        )
    )
    first = given(stub, 1)
    kinds = [e.type for e in events]
    closed = [e for e in events if e.type == "response.output_item.done"]
    assert [e.item.type for e in closed] == ["message", "function_call"]
    message = closed[0].item
    assert message.content[0].text == "From the documents: it is there [1]."
    annotations = [a.model_dump() for a in message.content[0].annotations]
    assert [(a["type"], a["filename"], a["index"]) for a in annotations] == [
        ("file_citation", first, message.content[0].text.index("[1]"))
    ]
    assert (
        kinds.index("response.output_text.annotation.added")
        < kinds.index("response.output_text.done")
        < kinds.index("response.function_call_arguments.done")
    )
    final = events[-1].response
    assert final.output[0].content[0].annotations == message.content[0].annotations
    assert final.output[1].name == "floor_plan"
    assert [c["filename"] for c in final.model_extra["citations"]] == [first]


def test_a_template_answer_cites_nothing_and_says_so(
    server: Server, world: World, org_a: Org
) -> None:
    """The template model cannot read sources: its fixed answer carries no citation, and the
    response says the model could not use them."""
    client = server.sdk(org_a.admin_key)
    ask: dict[str, Any] = {
        "model": "template-kb-fixed",
        "messages": [{"role": "user", "content": "Which floor is printer P-204 on?"}],
        "extra_body": {"knowledge_bases": [world.public_kb]},
    }
    answer = client.chat.completions.create(**ask)
    assert answer.choices[0].message.content == "Here is what the documents say."
    assert answer.model_extra["citations"] == []
    grounding = answer.model_extra["grounding"]
    assert grounding["sources_given"] >= 1 and grounding["cited"] == 0
    assert grounding["note"] == NOT_READ["en"]
    events = list(client.chat.completions.create(**ask, stream=True))
    assert events[-1].choices == [] and events[-1].model_extra["citations"] == []


def test_off_topic_questions_get_no_citations_in_either_language(
    server: Server, world: World, org_a: Org, stub: StubServer
) -> None:
    """Nothing relevant: the model is not asked (it could only invent) and nothing is cited,
    whatever the model would have cited."""
    client = server.sdk(org_a.admin_key)
    model = stub.register(server, model="cite-1")
    for question, lang in (
        ("What is the airspeed of an unladen swallow?", "en"),
        ("长城有多长？", "zh"),
    ):
        asked = len(stub.app.state.bodies)
        for stream in (False, True):
            reply = client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": question}],
                extra_body={"knowledge_bases": [world.public_kb]},
                stream=stream,
            )
            if stream:
                events = list(reply)
                text = "".join(e.choices[0].delta.content or "" for e in events if e.choices)
                extra = events[-1].model_extra
            else:
                text, extra = reply.choices[0].message.content, reply.model_extra
            assert text == NO_DOCUMENT[lang]
            assert extra["citations"] == [] and extra["grounding"]["sources_given"] == 0
            # under a small max_tokens the sentence is cut there, not dropped (it was "")
            short = client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": question}],
                extra_body={"knowledge_bases": [world.public_kb]},
                max_tokens=3,
                stream=stream,
            )
            if stream:
                events = list(short)
                text = "".join(e.choices[0].delta.content or "" for e in events if e.choices)
                finish = [e.choices[0].finish_reason for e in events if e.choices][-1]
            else:
                text, finish = short.choices[0].message.content, short.choices[0].finish_reason
            assert text and NO_DOCUMENT[lang].startswith(text) and finish == "length", text
        assert len(stub.app.state.bodies) == asked  # never sent to the model


def test_a_paraphrased_chinese_question_is_answered_from_its_source(
    server: Server, org_a: Org, stub: StubServer
) -> None:
    """出差期间的餐费补助 against a rule that says 伙食补贴: the source is given and cited."""
    key = org_a.admin_key
    kb = server.api("POST", "/api/kb", key=key, json={"name": "规章", "dense": False}).json()
    upload(
        server,
        key,
        kb["id"],
        {
            "差旅管理办法.md": "# 差旅管理办法\n\n员工出差期间，伙食补贴标准为每人每天一百元。\n",
            "信息安全规范.md": "# 信息安全规范\n\n收到钓鱼邮件时，应立即转发给信息安全团队。\n",
        },
    )
    client = server.sdk(key)
    reply = client.chat.completions.create(
        model=stub.register(server, model="cite-1"),
        messages=[{"role": "user", "content": "出差期间的餐费补助是多少？"}],
        extra_body={"knowledge_bases": [kb["id"]]},
    )
    assert reply.choices[0].message.content != NO_DOCUMENT["zh"]
    assert [c["filename"] for c in reply.model_extra["citations"]] == ["差旅管理办法.md"]
    assert given(stub, 1) == "差旅管理办法.md"


def test_embeddings_endpoint_in_openai_shape(server: Server, org_b: Org) -> None:
    client = server.sdk(org_b.member_key)
    out = client.embeddings.create(model="all-MiniLM-L6-v2", input=["hello world", "你好，世界"])
    assert len(out.data) == 2 and len(out.data[0].embedding) == 384
    assert out.usage.prompt_tokens > 0
    # A model the server does not serve is a 404, as on every other route (it was a 400).
    with pytest.raises(openai.NotFoundError) as unknown:
        client.embeddings.create(model="text-embedding-3-small", input="x")
    assert unknown.value.code == "model_not_found"


def test_url_ingestion_refuses_internal_addresses(server: Server, world: World, org_a: Org) -> None:
    for url in ("http://127.0.0.1:1/x.html", "http://169.254.169.254/latest/meta-data/"):
        res = server.api(
            "POST",
            f"/api/kb/{world.public_kb}/documents/url",
            key=org_a.admin_key,
            json={"url": url},
        )
        assert res.status_code == 400, res.text
        error = res.json()["error"]
        assert error["code"] == "url_refused" and "is not public" in error["message"]


def test_deleting_documents_and_bases_removes_them_from_search(server: Server, org_a: Org) -> None:
    key = org_a.admin_key
    kb = server.api("POST", "/api/kb", key=key, json={"name": "temp", "dense": False}).json()["id"]
    body = upload(server, key, kb, {"a.txt": "Quarterly numbers are due Friday.", "b.txt": "x y"})
    doc = next(d["id"] for d in body["data"] if d["filename"] == "a.txt")
    search = {"query": "quarterly numbers due"}
    assert server.api("POST", f"/api/kb/{kb}/search", key=key, json=search).json()["data"]
    assert server.api("DELETE", f"/api/kb/{kb}/documents/{doc}", key=key).status_code == 200
    assert server.api("POST", f"/api/kb/{kb}/search", key=key, json=search).json()["data"] == []
    assert server.api("GET", f"/api/kb/{kb}/documents/{doc}", key=key).status_code == 404
    assert server.api("DELETE", f"/api/kb/{kb}", key=key).status_code == 200
    assert server.api("POST", f"/api/kb/{kb}/search", key=key, json=search).status_code == 404


def test_grounded_requests_never_exceed_a_keys_tpm_under_concurrency(
    server: Server, world: World, org_a: Org
) -> None:
    """The limiter reserves the grounded prompt (sources included), not the question alone:
    with room for one grounded request in the key's minute, a burst admits exactly one."""
    import asyncio

    import httpx

    ask = {
        "model": "template-kb-fixed",
        "messages": [{"role": "user", "content": "Which floor is printer P-204 on?"}],
        "max_tokens": 8,
        "knowledge_bases": [world.public_kb],
    }
    client = server.sdk(org_a.admin_key)
    probe = client.chat.completions.create(
        model=ask["model"],
        messages=ask["messages"],
        max_tokens=8,
        extra_body={"knowledge_bases": [world.public_kb]},
    )
    assert probe.usage is not None and probe.model_extra["grounding"]["sources_given"]
    need = probe.usage.prompt_tokens + 8
    tpm = need + need // 2  # one grounded request fits the minute, two do not
    key = server.api("POST", "/api/keys", key=org_a.admin_key, json={"tpm_limit": tpm}).json()

    async def burst() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {key['key']}"}
        async with httpx.AsyncClient(timeout=60) as http:
            return await asyncio.gather(
                *(
                    http.post(f"{server.base_url}/v1/chat/completions", json=ask, headers=headers)
                    for _ in range(8)
                )
            )

    responses = asyncio.run(burst())
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 1 and statuses.count(429) == 7, statuses
    used = sum(r.json()["usage"]["total_tokens"] for r in responses if r.status_code == 200)
    assert used <= tpm
