"""What a developer writes first with LangChain and LlamaIndex, against a live server: the
flows beyond function calling (tests/e2e/test_tool_frameworks.py has those).

Structured output the way LangChain does it by default, ``with_structured_output(Schema)``
(``method="json_schema"``: the body's ``response_format``), and by ``json_mode``, was a 400 on
an upstream model ("cannot enforce response_format while decoding"), on chat and on the
Responses API alike, though the upstream (OpenAI, vLLM) enforces the format itself. Now the
format goes up as the caller sent it; so do ``presence_penalty``, ``frequency_penalty`` and
``logprobs`` (its tokens coming back), refused there before as well. The upstream is the stub
OpenAI-compatible server (tests/engine/stub_openai.py): it answers a json_schema with a value
built from the message (strings: the message, integers: its numbers in order), json_object
with the JSON object the message writes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from typing_extensions import TypedDict

from tests.e2e.frameworks import Person, chat_openai, multiply
from tests.e2e.server import Org, Server
from tests.engine.stub_openai import StubServer


class PersonDict(TypedDict):
    """A person mentioned in the text, as a dict."""

    name: str
    age: int


@pytest.fixture(scope="module")
def model(server: Server, stub: StubServer) -> str:
    return stub.register(server)


def test_langchain_structured_output_by_json_schema_on_an_upstream(
    server: Server, org_a: Org, model: str, stub: StubServer
) -> None:
    llm = chat_openai(server, org_a, model)
    person = llm.with_structured_output(Person).invoke("Alice is 30 years old")
    assert person == Person(name="Alice is 30 years old", age=30)
    sent = stub.app.state.bodies[-1]["response_format"]
    assert sent["type"] == "json_schema"
    assert sent["json_schema"]["name"] == "Person"
    assert sent["json_schema"]["strict"] is True  # the SDK's parse path, as LangChain takes it
    assert sent["json_schema"]["schema"]["required"] == ["name", "age"]

    raw = llm.with_structured_output(PersonDict, include_raw=True).invoke("张三今年41岁")
    assert raw["parsing_error"] is None
    assert raw["parsed"] == {"name": "张三今年41岁", "age": 41}
    assert raw["raw"].usage_metadata["total_tokens"] > 0

    by_json_mode = llm.with_structured_output(Person, method="json_mode")
    answer = by_json_mode.invoke('Reply with JSON only: {"name": "Bob", "age": 7}')
    assert answer == Person(name="Bob", age=7)
    assert stub.app.state.bodies[-1]["response_format"] == {"type": "json_object"}


def test_langchain_structured_output_on_the_responses_api(
    server: Server, org_a: Org, model: str, stub: StubServer
) -> None:
    """``use_responses_api=True`` sends the schema as ``text.format``: the same path."""
    llm = chat_openai(server, org_a, model, use_responses_api=True)
    person = llm.with_structured_output(Person).invoke("Carol is 52")
    assert person == Person(name="Carol is 52", age=52)
    assert stub.app.state.bodies[-1]["response_format"]["json_schema"]["name"] == "Person"


def test_langchain_penalties_go_up_to_an_upstream(
    server: Server, org_a: Org, model: str, stub: StubServer
) -> None:
    """``ChatOpenAI(frequency_penalty=..., presence_penalty=...)`` was a 400 on an upstream
    ("not supported by the model"), though every OpenAI-compatible server takes them."""
    llm = chat_openai(server, org_a, model, frequency_penalty=0.5, presence_penalty=-0.25)
    assert llm.invoke("hi").content.startswith("w0 ")
    sent = stub.app.state.bodies[-1]
    assert (sent["frequency_penalty"], sent["presence_penalty"]) == (0.5, -0.25)
    chat_openai(server, org_a, model).invoke("hi")
    assert "frequency_penalty" not in stub.app.state.bodies[-1]  # not asked: not sent


def test_langchain_logprobs_come_back_from_an_upstream(
    server: Server, org_a: Org, model: str
) -> None:
    """``ChatOpenAI(logprobs=True)`` on an upstream was a 400 ("not supported by the model"):
    now they are asked of it and its tokens come back in OpenAI's shape. The stub's chunk i
    is one token of log probability -(i+1)/10."""

    llm = chat_openai(server, org_a, model, logprobs=True, top_logprobs=2)
    content = llm.invoke("hi").response_metadata["logprobs"]["content"]
    assert [e["token"] for e in content] == [f"w{i} " for i in range(20)]
    assert content[1]["logprob"] == pytest.approx(-0.2)
    assert [t["token"] for t in content[0]["top_logprobs"]] == ["w0 ", "alt1"]

    # Streamed and cut by a stop sequence: a token read while its text was held back (it might
    # have begun "w3") and then cut rode along with the delta before it.
    cut = chat_openai(server, org_a, model, logprobs=True, stop=["w3"]).stream("你好")
    streamed = [c.response_metadata.get("logprobs") for c in cut]
    tokens = [e["token"] for lp in streamed if lp for e in lp["content"]]
    assert tokens == ["w0 ", "w1 ", "w2 "]

    sdk = server.sdk(org_a.member_key)
    completion = sdk.completions.create(model=model, prompt="hi", logprobs=1, max_tokens=2)
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None and logprobs.tokens == ["w0 ", "w1 "]
    assert logprobs.top_logprobs == [{"w0 ": pytest.approx(-0.1)}, {"w1 ": pytest.approx(-0.2)}]


def test_langchain_stream_batch_stop_and_the_responses_api_with_tools(
    server: Server, org_a: Org, model: str
) -> None:
    from langchain_core.messages import AIMessageChunk

    llm = chat_openai(server, org_a, model, stream_usage=True)
    chunks = list(llm.stream("hi"))
    joined = chunks[0]
    for chunk in chunks[1:]:
        joined = joined + chunk
    assert isinstance(joined, AIMessageChunk)
    assert joined.content == "".join(f"w{i} " for i in range(20))
    assert joined.usage_metadata is not None and joined.usage_metadata["output_tokens"] == 20

    answers = chat_openai(server, org_a, model, stop=["w3"]).batch(["hi", "你好"])
    assert [a.content for a in answers] == ["w0 w1 w2 ", "w0 w1 w2 "]

    responses = chat_openai(server, org_a, model, use_responses_api=True)
    called = responses.bind_tools([multiply]).invoke("Please multiply 6 by 7")
    assert [(c["name"], c["args"]) for c in called.tool_calls] == [("multiply", {"a": 6, "b": 7})]


def test_llamaindex_openai_like_as_chat_and_as_completion_model(
    server: Server, org_a: Org, model: str
) -> None:
    from llama_index.core import Settings
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    Settings.tokenizer = str.split  # no tokenizer download: memory limits need an estimate
    words = "".join(f"w{i} " for i in range(20))
    for is_chat_model in (True, False):
        llm = OpenAILike(
            model=model,
            api_base=f"{server.base_url}/v1",
            api_key=org_a.member_key,
            is_chat_model=is_chat_model,
            context_window=4096,
            max_retries=0,
        )
        assert llm.complete("hi").text == words
        said = llm.chat([ChatMessage(role="user", content="你好")]).message.content
        assert said == words
        assert "".join(r.delta or "" for r in llm.stream_complete("hi")) == words

        async def streamed(llm: Any = llm) -> str:
            pieces = await llm.astream_chat([ChatMessage(role="user", content="hi")])
            return "".join([r.delta or "" async for r in pieces])

        assert asyncio.run(streamed()) == words
