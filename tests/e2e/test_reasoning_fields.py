"""A reasoning model's controls, sent with the real openai SDK and LangChain to a live server.

``ChatOpenAI(model=<upstream>, reasoning_effort="low")`` was a 400 ("'reasoning_effort' is not
supported by this server yet") even on an upstream model, though OpenAI's o-series and gpt-5
and vLLM's reasoning models (Qwen3, DeepSeek-R1) take it; so were the Responses API's
``reasoning.effort``, and ``verbosity`` was dropped unread. Now they go up to an upstream model
(the stub OpenAI-compatible server, tests/engine/stub_openai.py, records the body it got), a
local model refuses them naming the field and the models that take it, and the bookkeeping
fields that change nothing for the answer (``store: false``, ``metadata``, ``service_tier``
"auto" or "default") are taken. A reasoning model's thinking that vLLM streams as
``reasoning_content`` was dropped; now it comes back as such, read by the output policy first.
"""

from __future__ import annotations

import secrets
from typing import Any

import openai
import pytest

from tests.e2e.frameworks import chat_openai
from tests.e2e.server import Org, Server, make_org
from tests.engine.stub_openai import StubServer, words

LOCAL = "template-helpdesk"  # a built-in model decoded here: it has no reasoning controls


@pytest.fixture(scope="module")
def model(server: Server, stub: StubServer) -> str:
    return stub.register(server)


def test_langchain_reasoning_effort_goes_up_to_an_upstream(
    server: Server, org_a: Org, model: str, stub: StubServer
) -> None:
    llm = chat_openai(server, org_a, model, reasoning_effort="low")
    assert llm.invoke("hi").content.startswith("w0 ")
    assert stub.app.state.bodies[-1]["reasoning_effort"] == "low"

    streamed = chat_openai(server, org_a, model, reasoning_effort="high", verbosity="low")
    assert "".join(str(c.content) for c in streamed.stream("你好")).startswith("w0 ")
    sent = stub.app.state.bodies[-1]
    assert (sent["reasoning_effort"], sent["verbosity"]) == ("high", "low")

    chat_openai(server, org_a, model).invoke("hi")
    assert "reasoning_effort" not in stub.app.state.bodies[-1]  # not asked: not sent


def test_sdk_reasoning_and_bookkeeping_fields_on_an_upstream(
    server: Server, org_a: Org, model: str, stub: StubServer
) -> None:
    sdk = server.sdk(org_a.member_key)
    answer = sdk.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "hi"}],
        reasoning_effort="minimal",
        verbosity="high",
        store=False,
        metadata={"team": "support", "工单": "42"},
        service_tier="auto",
    )
    assert answer.choices[0].message.content
    sent = stub.app.state.bodies[-1]
    assert (sent["reasoning_effort"], sent["verbosity"]) == ("minimal", "high")

    with pytest.raises(openai.BadRequestError) as refused:  # not one of OpenAI's values
        sdk.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"reasoning_effort": "extreme"},
        )
    assert refused.value.body["param"] == "reasoning_effort"  # type: ignore[index]

    # Flex or priority processing would change what OpenAI does with the request: refused.
    with pytest.raises(openai.BadRequestError) as tier:
        sdk.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], service_tier="flex"
        )
    assert tier.value.body["param"] == "service_tier"  # type: ignore[index]


def test_a_local_model_refuses_reasoning_controls_naming_who_takes_them(
    server: Server, org_a: Org
) -> None:
    sdk = server.sdk(org_a.member_key)
    for field, value in (("reasoning_effort", "low"), ("verbosity", "low")):
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.chat.completions.create(
                model=LOCAL,
                messages=[{"role": "user", "content": "hi"}],
                extra_body={field: value},
            )
        error: Any = refused.value.body
        assert error["param"] == field
        assert error["code"] == "unsupported_parameter"
        assert f"'{field}' is not supported by the model '{LOCAL}'" in error["message"]
        assert "only upstream models" in error["message"]

    with pytest.raises(openai.BadRequestError) as chat_only:
        sdk.completions.create(model=LOCAL, prompt="hi", extra_body={"reasoning_effort": "low"})
    assert chat_only.value.body["param"] == "reasoning_effort"  # type: ignore[index]


def test_responses_reasoning_effort_goes_up_as_chat_reasoning_effort(
    server: Server, org_a: Org, model: str, stub: StubServer
) -> None:
    sdk = server.sdk(org_a.member_key)
    response = sdk.responses.create(
        model=model,
        input="hi",
        reasoning={"effort": "low"},
        text={"verbosity": "medium"},
        service_tier="default",
        store=False,
    )
    assert response.output_text.startswith("w0 ")
    assert response.reasoning is not None and response.reasoning.effort == "low"
    sent = stub.app.state.bodies[-1]
    assert (sent["reasoning_effort"], sent["verbosity"]) == ("low", "medium")

    llm = chat_openai(server, org_a, model, use_responses_api=True, reasoning={"effort": "high"})
    assert llm.invoke("你好").text.startswith("w0 ")
    assert stub.app.state.bodies[-1]["reasoning_effort"] == "high"

    with pytest.raises(openai.BadRequestError) as summary:  # no summary is written here
        sdk.responses.create(
            model=model, input="hi", reasoning={"effort": "low", "summary": "auto"}
        )
    assert summary.value.body["param"] == "reasoning.summary"  # type: ignore[index]

    with pytest.raises(openai.BadRequestError) as local:
        sdk.responses.create(model=LOCAL, input="hi", reasoning={"effort": "low"})
    error: Any = local.value.body
    assert error["param"] == "reasoning.effort"
    assert f"'reasoning.effort' is not supported by the model '{LOCAL}'" in error["message"]


def _thinking(chunks: list[Any]) -> tuple[str, str, list[str]]:
    """A chat stream's reasoning_content and content, and the order they came in."""
    thought, text, order = "", "", []
    for chunk in chunks:
        for choice in chunk.choices:
            part = (choice.delta.model_extra or {}).get("reasoning_content")
            if part:
                thought += part
                order.append("reasoning")
            if choice.delta.content:
                text += choice.delta.content
                order.append("content")
    return thought, text, order


def test_an_upstream_s_thinking_comes_back_as_reasoning_content(
    server: Server, org_a: Org, stub: StubServer
) -> None:
    """vLLM's reasoning models send their thinking as ``reasoning_content`` (on the message,
    or in deltas before the answer's); it was dropped here, the answer alone coming back."""
    name = stub.register(server, model="think")
    sdk = server.sdk(org_a.member_key)
    ask = [{"role": "user", "content": "你好"}]
    thought = "Thinking at low effort about: 你好. "

    reply = sdk.chat.completions.create(model=name, messages=ask, reasoning_effort="low")  # type: ignore[arg-type]
    message = reply.choices[0].message
    assert message.content == "".join(words())
    assert (message.model_extra or {})["reasoning_content"] == thought

    chunks = list(
        sdk.chat.completions.create(
            model=name,
            messages=ask,  # type: ignore[arg-type]
            reasoning_effort="low",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    said, text, order = _thinking(chunks)
    assert (said, text) == (thought, "".join(words()))
    assert order.index("content") > max(i for i, k in enumerate(order) if k == "reasoning")
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens >= reply.usage.completion_tokens > 20  # type: ignore[union-attr]


def test_the_output_policy_sees_the_thinking_it_sends(server: Server, stub: StubServer) -> None:
    """The thinking goes to the caller, so the output rules read it as they read the answer:
    a block rule firing in it ends the choice with content_filter before the span, streamed
    or not, and nothing of the answer follows."""
    org = make_org(server, f"Reasoning guard {secrets.token_hex(3)}")
    name = stub.register(server, f"upstream-thinker-{secrets.token_hex(3)}", model="think")
    yaml = (
        "name: thinking\nrules:\n"
        "  - {id: thoughts, stage: output, detector: keywords, words: [ponder], action: block}\n"
    )
    made = server.api("POST", "/api/policies", key=org.admin_key, json={"yaml": yaml})
    assert made.status_code == 201, made.text
    sdk = server.sdk(org.member_key)
    ask = [{"role": "user", "content": "ponder this"}]

    reply = sdk.chat.completions.create(model=name, messages=ask)  # type: ignore[arg-type]
    assert reply.choices[0].finish_reason == "content_filter"
    assert "ponder" not in reply.choices[0].message.model_dump_json()
    assert "w0" not in reply.choices[0].message.model_dump_json()

    chunks = list(sdk.chat.completions.create(model=name, messages=ask, stream=True))  # type: ignore[arg-type]
    said, text, _ = _thinking(chunks)
    assert "ponder" not in said and said.startswith("Thinking") and text == ""
    assert chunks[-1].choices[0].finish_reason == "content_filter"

    fine = sdk.chat.completions.create(model=name, messages=[{"role": "user", "content": "hi"}])
    assert fine.choices[0].finish_reason == "stop"
    expected = "Thinking at default effort about: hi. "
    assert (fine.choices[0].message.model_extra or {})["reasoning_content"] == expected
