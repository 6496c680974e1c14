"""The LlamaIndex RAG starter, unchanged, against a live server: ``OpenAIEmbedding`` on
/v1/embeddings (the server's embedding model, MiniLM) builds a ``VectorStoreIndex`` of a few
English and Chinese documents, and ``OpenAILike`` answers through /v1/chat/completions from a
query engine (plain and streamed) and a ``condense_plus_context`` chat engine, and through
/v1/completions as a completion model (``is_chat_model`` left False).

The ranking is the server's: the index holds only the vectors /v1/embeddings returned, so the
right document coming first for an English and a Chinese question proves they were real
embeddings (MiniLM reads Chinese character by character; these documents share characters
with their question and few with the others). The chat model is an upstream, the stub
OpenAI-compatible server (tests/engine/stub_openai.py), which answers "w0 " … "w19 " and keeps
what it was sent: the retrieved text must reach it through the gateway. The tenant's audit
then shows both kinds of call for the key.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest

from tests.e2e.server import Org, Server, make_org
from tests.engine.stub_openai import StubServer

EIFFEL = "The Eiffel Tower is a wrought-iron lattice tower in Paris, completed in 1889."
PLANTS = "Photosynthesis lets green plants turn sunlight, water and carbon dioxide into sugar."
WALL = "长城是中国古代修建的城墙，全长两万多公里。"
PANDA = "大熊猫是一种熊，最爱吃竹子。"
WORDS = "".join(f"w{i} " for i in range(20))  # what the stub answers
DOCUMENTS = {"eiffel": EIFFEL, "plants": PLANTS, "wall": WALL, "panda": PANDA}
ANSWERING = ("/v1/chat/completions", "/v1/completions")  # the endpoints that reach the stub


@pytest.fixture(scope="module")
def org(server: Server) -> Org:
    """An organization of this module's own, so its audit holds only these calls."""
    return make_org(server, "RAG Org")


@pytest.fixture(scope="module")
def embedding_model(server: Server, org: Org) -> str:
    """The embedding model's id, as /v1/models lists it to the key."""
    listed = server.sdk(org.member_key).models.list().data
    ids = [m.id for m in listed if (m.model_extra or {}).get("kind") == "embedding"]
    assert ids == ["all-MiniLM-L6-v2"]
    return ids[0]


@pytest.fixture(scope="module")
def llm(server: Server, org: Org, stub: StubServer) -> Any:
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(
        model=stub.register(server),
        api_base=f"{server.base_url}/v1",
        api_key=org.member_key,
        is_chat_model=True,
        context_window=4096,
        max_retries=0,
    )


@pytest.fixture(scope="module")
def completion_llm(server: Server, org: Org, llm: Any) -> Any:
    """The same model as a completion model (``is_chat_model`` left False, as many copies of
    the starter leave it): the prompt goes to /v1/completions."""
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(
        model=llm.model,
        api_base=f"{server.base_url}/v1",
        api_key=org.member_key,
        context_window=4096,
        max_retries=0,
    )


@pytest.fixture(scope="module")
def index(server: Server, org: Org, embedding_model: str) -> Any:
    from llama_index.core import Document, Settings, VectorStoreIndex
    from llama_index.embeddings.openai import OpenAIEmbedding

    Settings.tokenizer = str.split  # no tokenizer download: the splitter needs a count
    # ``model_name``: ``model`` takes OpenAI's own model names only (a ValueError otherwise).
    embed = OpenAIEmbedding(
        model_name=embedding_model,
        api_base=f"{server.base_url}/v1",
        api_key=org.member_key,
        max_retries=0,
    )
    documents = [Document(text=t, id_=name) for name, t in DOCUMENTS.items()]
    return VectorStoreIndex.from_documents(documents, embed_model=embed)


def _sources(response: Any) -> list[str]:
    """The documents of the retrieved nodes, best first."""
    return [n.node.ref_doc_id for n in response.source_nodes]


def test_query_engine_ranks_by_the_servers_embeddings(
    index: Any, llm: Any, stub: StubServer
) -> None:
    engine = index.as_query_engine(llm=llm, similarity_top_k=2)
    answer = engine.query("When was the Eiffel Tower in Paris finished?")
    assert _sources(answer)[0] == "eiffel"
    assert str(answer) == WORDS
    sent = stub.app.state.bodies[-1]["messages"]
    assert EIFFEL in "\n".join(m["content"] for m in sent)  # the context reached the model

    answer = engine.query("大熊猫爱吃什么？")
    assert _sources(answer)[:2] == ["panda", "wall"]  # the Chinese ones, the right one first
    assert str(answer) == WORDS
    assert PANDA in "\n".join(m["content"] for m in stub.app.state.bodies[-1]["messages"])
    scores = [n.score for n in answer.source_nodes]
    assert scores[0] > scores[1]


def test_query_engine_on_a_completion_model(
    index: Any, completion_llm: Any, stub: StubServer
) -> None:
    answer = index.as_query_engine(llm=completion_llm).query("大熊猫爱吃什么？")
    assert _sources(answer)[0] == "panda"
    assert str(answer) == WORDS
    assert PANDA in stub.app.state.bodies[-1]["prompt"]


def test_streaming_query_engine(index: Any, llm: Any, stub: StubServer) -> None:
    engine = index.as_query_engine(llm=llm, streaming=True, similarity_top_k=1)
    streamed = engine.query("长城有多长？")
    pieces = list(streamed.response_gen)
    assert "".join(pieces) == WORDS and len(pieces) > 1  # streamed, not one piece
    assert _sources(streamed) == ["wall"]
    assert stub.app.state.bodies[-1]["stream"] is True
    assert WALL in "\n".join(m["content"] for m in stub.app.state.bodies[-1]["messages"])

    async def asked() -> tuple[str, list[str]]:
        response = await engine.aquery("How do green plants make sugar?")
        return "".join([p async for p in response.async_response_gen()]), _sources(response)

    assert asyncio.run(asked()) == (WORDS, ["plants"])


def test_condense_plus_context_chat_engine(index: Any, llm: Any, stub: StubServer) -> None:
    chat = index.as_chat_engine(chat_mode="condense_plus_context", llm=llm, similarity_top_k=1)
    first = chat.chat("大熊猫爱吃什么？")  # no history yet: retrieved by the question itself
    assert str(first) == WORDS
    assert _sources(first) == ["panda"]
    system = stub.app.state.bodies[-1]["messages"][0]
    assert system["role"] == "system" and PANDA in system["content"]

    before = len(stub.app.state.bodies)
    second = chat.stream_chat("And the Eiffel Tower?")
    assert "".join(second.response_gen) == WORDS
    # With history, the question is first condensed by the model, then answered: two calls.
    assert len(stub.app.state.bodies) == before + 2
    condense = stub.app.state.bodies[before]["messages"]
    assert "大熊猫爱吃什么？" in str(condense) and "And the Eiffel Tower?" in str(condense)
    assert [m["role"] for m in stub.app.state.bodies[-1]["messages"]][-3:] == [
        "user",
        "assistant",
        "user",
    ]


def test_the_audit_shows_the_embeddings_and_chat_calls_of_the_key(
    server: Server, org: Org, embedding_model: str, index: Any, llm: Any, stub: StubServer
) -> None:
    """The calls of this module as the tenant's audit records them (written in batches a
    moment after each answer; listing it flushes the writer). Every chat call the upstream
    got came through the gateway as the member key, and so did the embeddings: the index's
    documents, then each question."""
    assert str(index.as_query_engine(llm=llm).query("Where is the Eiffel Tower?")) == WORDS
    asked = len(stub.calls)  # this module's stub: its calls are this module's
    deadline = time.monotonic() + 30
    while True:
        rows = server.api("GET", "/api/audit?limit=200", key=org.admin_key).json()["data"]
        rows = [r for r in rows if r["endpoint"].startswith("/v1/")]
        calls = Counter((r["endpoint"], r["model"], r["status"]) for r in rows)
        answered = sum(calls[(e, llm.model, 200)] for e in ANSWERING)
        if answered >= asked:
            break
        assert time.monotonic() < deadline, calls
        time.sleep(0.2)
    assert answered == asked, calls
    assert calls[("/v1/embeddings", embedding_model, 200)] >= 2, calls
    assert not [c for c in calls if c[2] != 200], calls
    keys = server.api("GET", "/api/keys", key=org.admin_key).json()["data"]
    member = next(k["id"] for k in keys if k["role"] == "member")
    assert {r["key_id"] for r in rows} == {member}

    usage = server.api("GET", "/api/usage?group_by=model", key=org.admin_key).json()["data"]
    by_model = {r["model"]: r for r in usage}
    assert by_model[embedding_model]["prompt_tokens"] > 0
    assert by_model[llm.model]["completion_tokens"] == 20 * asked  # the stub's 20 words each
