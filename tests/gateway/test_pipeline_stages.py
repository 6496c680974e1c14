"""The request path as plain function calls (no HTTP): the stages of ``pipeline.prepare``,
grounded requests admitted for what they really send, and a 128-token model that keeps its
grounding instructions on both serving paths (HF decoding and the batching engine)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aigc.access import Principal
from aigc.app import build_services
from aigc.config import Settings
from aigc.errors import RateLimited
from aigc.gateway import pipeline
from aigc.gateway.context import RequestRecord
from aigc.gateway.schemas import ChatCompletionRequest, CompletionRequest
from aigc.gateway.services import Services
from aigc.infra.schema import Tenant
from aigc.knowledge import bases
from aigc.knowledge.grounding import INSTRUCTIONS, SHORT_INSTRUCTIONS
from aigc.knowledge.ingest import add_document, ingest_documents
from aigc.models.defaults import load_families
from aigc.models.protocols import ChatMessage, TextRequest
from tests.templates import KB_FIXED as TEMPLATE

DOCS = {
    "vpn.md": "# VPN\n\nConnect to the VPN with the corporate client and your hardware token.\n",
    "printers.txt": (
        "Printer P-204 on the second floor prints double-sided in colour. Toner for the P-204 "
        "is kept in the cupboard next to it; the facilities desk orders more when the last "
        "box is opened. Scans from the P-204 go to the e-mail address of whoever signs in.\n"
    ),
    "canteen.html": "<h1>Canteen</h1><p>The canteen serves lunch from 11:30 to 14:00.</p>",
}
QUESTION = "Which floor is printer P-204 on?"


@dataclass
class World:
    services: Services
    kb: str
    admin: Principal


def _tiny_gpt_128(out: Path) -> Path:
    """gpt-pydoc's shape where it matters: its tokenizer recipe (BPE, 2,048 tokens, pydoc
    text) and a 128-token context; random weights (the answer's quality is not the point)."""
    from aigc.models.text import gpt, neural
    from aigc.models.text.data import clean_text
    from aigc.models.text.tokenizers import train_tokenizer

    texts = [t for t in (clean_text(x) for x in neural.pydoc_texts()) if t.strip()]
    tokenizer = train_tokenizer("bpe", texts, 2048)
    shape = gpt.GPTConfig(tokenizer.vocab_size, block_size=128, n_layer=1, n_head=2, n_embd=32)
    model = gpt.build(shape, tokenizer.bos_id, tokenizer.eos_id)
    neural.save_checkpoint(model, tokenizer, out)
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("stages")
    settings = Settings(data_dir=root / "data", import_roots=[root])
    services = build_services(settings)
    load_families()
    admin = Principal(tenant_id="t_a", role="admin", key_id="k_admin")
    with services.db.session() as s:
        s.add(Tenant(id="t_a", name="A"))
    with services.db.session() as s:
        kb = bases.create_kb(s, admin, "public", dense=False).id
        added = [add_document(s, settings, admin, kb, n, [t.encode()]) for n, t in DOCS.items()]
    ingest_documents(services.db, settings, "t_a", kb, [a.document.id for a in added])
    checkpoint = _tiny_gpt_128(root / "gpt-128")
    with services.db.session() as s:
        register = services.registry.register
        register(s, None, "template-kb-fixed", {"yaml": TEMPLATE}, tenant_id="t_a")
        register(s, None, "gpt-ctx128", {"path": str(checkpoint)}, tenant_id="t_a")
        engine = {"path": str(checkpoint), "engine": {"max_running": 2}}
        register(s, None, "gpt-ctx128-engine", engine, tenant_id="t_a")
    yield World(services, kb, admin)
    for model in list(services.registry._loaded.values()):
        engine_of = getattr(model, "engine", None)
        if engine_of is not None:
            engine_of.close()
    services.db.dispose()


def chat(model: str, kb: str | None = None, **fields: Any) -> ChatCompletionRequest:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": QUESTION}]}
    if kb is not None:
        body["knowledge_bases"] = [kb]
    return ChatCompletionRequest.model_validate(body | fields)


def test_the_stages_of_prepare_each_return_what_the_next_takes(world: World) -> None:
    svc, caller = world.services, world.admin
    body = chat("template-kb-fixed", world.kb, max_tokens=8, n=2)

    async def run() -> None:
        checked = pipeline.validate(svc, caller, body)
        assert checked.max_tokens == 8 and checked.kb_ids == [world.kb]
        assert [r.tenant for r in checked.requests] == ["t_a", "t_a"]  # the engine's turns
        model = await pipeline.resolve(svc, caller, body)
        assert model.context_length is None  # a template reads any length
        codes: list[str] = []
        requests, session, _ = await pipeline.guard_input(svc, caller, body, model, checked, codes)
        assert not session.output_rules  # the default policy checks the input only
        asked = await pipeline.count(model, requests[0])
        grounded = await pipeline.ground(svc, caller, body.model, model, requests, checked, codes)
        assert checked.requests[0].messages == requests[0].messages  # nothing changed in place
        system = grounded.requests[0].messages[0]  # type: ignore[index]
        assert system.role == "system" and system.content.startswith(INSTRUCTIONS["en"])
        assert grounded.sources and grounded.sources.hits[0].filename == "printers.txt"
        assert not grounded.sources.reads_sources  # a template: it will cite none of them
        final = await pipeline.count(grounded.model, grounded.requests[0])
        assert final == asked + model.count_tokens(system.content)
        assert await pipeline.admit(svc, caller, final + 2 * 8) is None  # caller is unlimited
        slot = await pipeline.queue_slot(svc, caller, body.model, model)
        if slot is not None:
            slot.release()
        plain = pipeline.validate(svc, caller, chat("template-kb-fixed", max_tokens=8))
        same = await pipeline.ground(svc, caller, body.model, model, plain.requests, plain, [])
        assert same.requests is plain.requests and same.sources is None

    asyncio.run(run())


def test_the_reservation_is_the_grounded_prompt_and_tpm_holds_under_concurrency(
    world: World,
) -> None:
    """Every request is prepared before any settles (the worst case of concurrency): the
    limiter sees the grounded prompt, so one fits the key's minute and the others get 429."""
    svc = world.services
    body = chat("template-kb-fixed", world.kb, max_tokens=8)

    async def run() -> None:
        probe = await pipeline.prepare(svc, world.admin, RequestRecord("req_probe"), body)
        await pipeline.settle(svc, probe, RequestRecord("req_probe"), 0)
        asked = TextRequest(messages=[ChatMessage("user", QUESTION)])
        ungrounded = pipeline.count_prompt_tokens(probe.model, asked)
        assert probe.prompt_tokens > ungrounded + 20  # the sources are part of the prompt
        need = probe.prompt_tokens + 8
        tpm = need + need // 2  # room for one grounded request, not two
        key = Principal(tenant_id="t_a", role="admin", key_id="k_tpm", tpm_limit=tpm)
        records = [RequestRecord(f"req_{i}") for i in range(6)]
        results = await asyncio.gather(
            *(pipeline.prepare(svc, key, rec, body) for rec in records), return_exceptions=True
        )
        admitted = [r for r in results if isinstance(r, pipeline.Prepared)]
        refused = [r for r in results if isinstance(r, RateLimited)]
        assert len(admitted) == 1 and len(refused) == 5, results
        only = admitted[0]
        assert only.reservation is not None
        assert only.reservation.tokens == only.prompt_tokens + body.n * 8  # what is sent
        assert only.prompt_tokens == probe.prompt_tokens
        assert sum(p.prompt_tokens + 8 for p in admitted) <= tpm
        answer = await pipeline.complete(svc, only, records[results.index(only)], chat=True)
        assert answer["usage"]["total_tokens"] <= tpm

    asyncio.run(run())


@pytest.mark.parametrize("name", ["gpt-ctx128", "gpt-ctx128-engine"])
def test_a_128_token_model_answers_grounded_with_its_instructions_intact(
    world: World, name: str
) -> None:
    """gpt-pydoc's context is 128 tokens: the grounded prompt must fit it whole, instructions
    and question first, sources cut to what is left, and the answer come back (before, the
    sources were budgeted for 2,048 tokens: the HF path cut the instructions off the front,
    the engine answered 400)."""
    svc = world.services
    body = chat(name, world.kb)  # no max_tokens: the default (512) is beyond the context

    async def run() -> dict[str, Any]:
        record = RequestRecord(f"req_{name}")
        prepared = await pipeline.prepare(svc, world.admin, record, body)
        model: Any = prepared.model
        ids = model.prompt_ids(prepared.requests[0])  # what the network will read
        assert len(ids) < 128
        prompt = model.tokenizer.decode(ids)
        system = prepared.requests[0].messages[0].content  # type: ignore[index]
        assert system.startswith(SHORT_INSTRUCTIONS["en"])  # whole, at the front
        assert SHORT_INSTRUCTIONS["en"] in prompt and QUESTION in prompt
        assert "[1] (printers.txt)" in system and "P-204" in system  # a source, cut to fit
        assert prepared.sources and prepared.sources.hits[0].filename == "printers.txt"
        assert model.context_length == 128  # the checkpoint's n_positions
        return await pipeline.complete(svc, prepared, record, chat=True)

    answer = asyncio.run(run())
    assert answer["choices"][0]["finish_reason"] in ("stop", "length")
    assert isinstance(answer["choices"][0]["message"]["content"], str)
    # what the tiny untrained model wrote decides what it cites: at most the one source given
    assert {c["filename"] for c in answer["citations"]} <= {"printers.txt"}
    assert answer["grounding"]["sources_given"] == 1


def test_a_list_of_prompts_is_one_request_per_prompt_and_choice_all_reserved(
    world: World,
) -> None:
    """Issue 16: each prompt of a completions list is answered (n choices each, prompt 0's
    first); the limiter reserves every prompt and n × max_tokens for each of them."""
    svc = world.services
    prompts = ["The list", "A dict", "The list"]
    body = CompletionRequest.model_validate(
        {"model": "template-kb-fixed", "prompt": prompts, "n": 2, "max_tokens": 8, "seed": 5}
    )
    key = Principal(tenant_id="t_a", role="admin", key_id="k_list", tpm_limit=10_000)

    async def run() -> None:
        prepared = await pipeline.prepare(svc, key, RequestRecord("req_list"), body)
        await pipeline.settle(svc, prepared, RequestRecord("req_list"), 0)
        assert [r.prompt for r in prepared.requests] == [p for p in prompts for _ in (0, 1)]
        assert [r.seed for r in prepared.requests] == [5, 6] * 3  # a prompt's answer: its own
        each = sum(prepared.model.count_tokens(p) for p in prompts)
        assert prepared.prompt_tokens == each
        assert prepared.reservation is not None
        assert prepared.reservation.tokens == each + 2 * 8 * len(prompts)

    asyncio.run(run())


def test_a_grounded_answer_keeps_its_logprobs_unless_the_markers_were_rewritten(
    world: World,
) -> None:
    """logprobs=true on a grounded chat: the tokens come back when the answer's text is what
    the model wrote (no [n] marker renumbered, no guard rewrite), so they spell the answer;
    before, a grounded answer never had them."""
    svc = world.services
    body = chat("gpt-ctx128", world.kb, logprobs=True, temperature=0, max_tokens=12)

    async def run() -> dict[str, Any]:
        record = RequestRecord("req_logprobs")
        prepared = await pipeline.prepare(svc, world.admin, record, body)
        return await pipeline.complete(svc, prepared, record, chat=True)

    choice = asyncio.run(run())["choices"][0]
    text = choice["message"]["content"]
    assert "[" not in text  # nothing for the renumbering to rewrite (greedy: always so)
    tokens = choice["logprobs"]["content"]
    assert tokens and "".join(t["token"] for t in tokens) == text


def test_a_grounded_json_answer_keeps_its_bracketed_data(world: World) -> None:
    """response_format on a grounded chat (a local model decoding under the schema): the
    answer's ``[2, 3]`` is data, kept as decoded and still valid under the schema; the marker
    inside its string is a citation. Before, the renumbering rewrote the data as markers
    ([2, 3] became [1, 2]) and the answer no longer met the schema it was decoded under."""
    schema = {
        "type": "object",
        "properties": {"floors": {"const": [2, 3]}, "answer": {"const": "On floor 2 [1]."}},
        "required": ["floors", "answer"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "floor", "schema": schema}}
    body = chat("gpt-ctx128", world.kb, response_format=fmt, temperature=0, max_tokens=40)

    async def run() -> dict[str, Any]:
        record = RequestRecord("req_json")
        prepared = await pipeline.prepare(world.services, world.admin, record, body)
        return await pipeline.complete(world.services, prepared, record, chat=True)

    payload = asyncio.run(run())
    answer = json.loads(payload["choices"][0]["message"]["content"])
    assert answer == {"floors": [2, 3], "answer": "On floor 2 [1]."}
    assert [c["filename"] for c in payload["citations"]] == ["printers.txt"]
