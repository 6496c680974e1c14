"""A reasoning model's controls, sent with the real openai SDK and LangChain to a live server.

``ChatOpenAI(model=<upstream>, reasoning_effort="low")`` was a 400 ("'reasoning_effort' is not
supported by this server yet") even on an upstream model, though OpenAI's o-series and gpt-5
and vLLM's reasoning models (Qwen3, DeepSeek-R1) take it; so were the Responses API's
``reasoning.effort``, and ``verbosity`` was dropped unread. Now they go up to an upstream model
(the stub OpenAI-compatible server, tests/engine/stub_openai.py, records the body it got), a
local model refuses them naming the field and the models that take it, and the bookkeeping
fields that change nothing for the answer (``store: false``, ``metadata``, ``service_tier``
"auto" or "default") are taken.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.e2e.server import Org, Server
from tests.engine.stub_openai import StubServer

LOCAL = "template-helpdesk"  # a built-in model decoded here: it has no reasoning controls


@pytest.fixture(scope="module")
def model(server: Server, stub: StubServer) -> str:
    return stub.register(server)


def chat_openai(server: Server, org: Org, model: str, **options: Any) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=model,
        base_url=f"{server.base_url}/v1",
        api_key=org.member_key,
        max_retries=0,
        **options,
    )


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
