"""Function calling through a live server with the frameworks applications use: LangChain
(``bind_tools`` in a loop that runs the tool, ``with_structured_output`` by function calling)
and LlamaIndex (``structured_predict``, a ``FunctionAgent`` calling one tool).

The model is an upstream: the stub OpenAI-compatible server, which calls the functions named in
the last user message with arguments taken from it (numbers in order) and answers a tool result
with "Tool results: ..." (tests/engine/stub_tools.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.e2e.frameworks import Person, chat_openai, multiply
from tests.e2e.server import Org, Server
from tests.engine.stub_openai import StubServer


@pytest.fixture(scope="module")
def model(server: Server, stub: StubServer) -> str:
    return stub.register(server)


def test_langchain_bind_tools_loop(server: Server, org_a: Org, model: str) -> None:
    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
    from langchain_core.tools import tool

    multiply_tool = tool(multiply)
    bound = chat_openai(server, org_a, model).bind_tools([multiply_tool])
    messages: list[BaseMessage] = [HumanMessage("Please multiply 6 by 7")]
    for _ in range(3):  # the agent loop: call the model, run what it asks for, until it answers
        reply = bound.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            break
        for call in reply.tool_calls:
            messages.append(multiply_tool.invoke(call))
    assert isinstance(messages[1], AIMessage)
    assert messages[1].tool_calls[0]["name"] == "multiply"
    assert messages[1].tool_calls[0]["args"] == {"a": 6, "b": 7}
    assert messages[2].content == "42"
    assert messages[-1].content == "Tool results: 42"

    # Streamed: the chunks add up to the same call.
    chunks = list(bound.stream(messages[:1]))
    joined = chunks[0]
    for chunk in chunks[1:]:
        joined = joined + chunk
    assert [(c["name"], c["args"]) for c in joined.tool_calls] == [("multiply", {"a": 6, "b": 7})]


def test_langchain_structured_output_by_function_calling(
    server: Server, org_a: Org, model: str
) -> None:
    structured = chat_openai(server, org_a, model).with_structured_output(
        Person, method="function_calling"
    )
    person = structured.invoke("Alice is 30 years old")
    assert isinstance(person, Person)
    assert person == Person(name="Alice is 30 years old", age=30)


def openai_like(server: Server, org: Org, model: str) -> Any:
    from llama_index.core import Settings
    from llama_index.llms.openai_like import OpenAILike

    # No tokenizer download here: count words, as memory limits only need an estimate.
    Settings.tokenizer = str.split
    return OpenAILike(
        model=model,
        api_base=f"{server.base_url}/v1",
        api_key=org.member_key,
        is_chat_model=True,
        is_function_calling_model=True,
        context_window=4096,
        max_retries=0,
    )


def test_llamaindex_structured_predict(server: Server, org_a: Org, model: str) -> None:
    from llama_index.core.prompts import PromptTemplate

    llm = openai_like(server, org_a, model)
    person = llm.structured_predict(Person, PromptTemplate("{text}"), text="Bob is 41")
    assert person == Person(name="Bob is 41", age=41)


def test_llamaindex_function_agent_calls_a_tool(server: Server, org_a: Org, model: str) -> None:
    from llama_index.core.agent.workflow import FunctionAgent, ToolCallResult
    from llama_index.core.tools import FunctionTool

    agent = FunctionAgent(
        tools=[FunctionTool.from_defaults(multiply)],
        llm=openai_like(server, org_a, model),
        system_prompt="Use the tools you have.",
    )

    async def run() -> tuple[str, list[Any]]:
        handler = agent.run("Please multiply 6 by 7")
        results = [e async for e in handler.stream_events() if isinstance(e, ToolCallResult)]
        return str(await handler), results

    answer, results = asyncio.run(run())
    assert [(r.tool_name, r.tool_kwargs, str(r.tool_output)) for r in results] == [
        ("multiply", {"a": 6, "b": 7}, "42")
    ]
    assert answer == "Tool results: 42"
