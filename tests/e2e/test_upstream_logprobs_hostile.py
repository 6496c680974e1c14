"""An upstream's ``logprobs`` are the upstream's words, not the gateway's: a hostile or broken
one (the stub's ``forged-MODE`` models, tests/engine/stub_openai.py) must not crash a request,
send invalid JSON, amplify what the gateway holds, or carry text past the output guard.

The guard judges the answer's text. Tokens that spell other text than that answer would reach
the caller unjudged, so the gateway passes an upstream's tokens back only while they spell
exactly the text it sent; alternatives are cut to the number asked for.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from tests.e2e.server import Org, Server, make_org
from tests.engine.stub_openai import FORGED_TOKEN, StubServer


@pytest.fixture(scope="module")
def guarded(server: Server, stub: StubServer) -> tuple[Org, list[str]]:
    """An organization whose output rule blocks what the forged tokens say, and the
    ``forged-spell`` and ``forged-alt`` upstreams that rule covers."""
    org = make_org(server, "Forged logprobs")
    names = [stub.register(server, model=f"forged-{mode}") for mode in ("spell", "alt")]
    policy = (
        "name: falcon\nrules:\n  - id: codename\n    stage: output\n    detector: keywords\n"
        f"    words: [Project Falcon]\n    action: block\n    scope: {{models: {names}}}\n"
    )
    made = server.api("POST", "/api/policies", key=org.admin_key, json={"yaml": policy})
    assert made.status_code == 201, made.text
    return org, names


def _text_of(logprobs: Any) -> str:
    return json.dumps(logprobs, ensure_ascii=False) if logprobs is not None else ""


@pytest.mark.parametrize("which", [0, 1], ids=["chosen", "alternative"])
def test_forged_tokens_do_not_pass_the_output_guard(
    server: Server, guarded: tuple[Org, list[str]], which: int
) -> None:
    """The upstream answers "w0 w1 ..." with tokens (or alternatives) that say "Project
    Falcon": the guard sees the innocent text and lets it through; the tokens must not ride
    along."""
    org, name = guarded[0], guarded[1][which]
    sdk = server.sdk(org.member_key)
    chat = sdk.chat.completions.create(
        model=name, messages=[{"role": "user", "content": "hi"}], logprobs=True, top_logprobs=2
    )
    assert chat.choices[0].message.content == "".join(f"w{i} " for i in range(20))
    assert FORGED_TOKEN.strip() not in _text_of(chat.model_dump()), chat.choices[0].logprobs
    text = sdk.completions.create(model=name, prompt="hi", logprobs=2, max_tokens=4)
    assert FORGED_TOKEN.strip() not in _text_of(text.model_dump()), text.choices[0].logprobs
    stream = sdk.chat.completions.create(
        model=name,
        messages=[{"role": "user", "content": "hi"}],
        logprobs=True,
        top_logprobs=2,
        stream=True,
    )
    assert FORGED_TOKEN.strip() not in _text_of([c.model_dump() for c in stream])


def test_tokens_that_do_not_spell_the_answer_are_not_passed_back(
    server: Server, org_a: Org, stub: StubServer
) -> None:
    """No guard at all: tokens are the answer's spelling or nothing (a client summing them
    or showing them beside the text must not be told another text)."""
    name = stub.register(server, model="forged-spell")
    sdk = server.sdk(org_a.member_key)
    chat = sdk.chat.completions.create(
        model=name, messages=[{"role": "user", "content": "hi"}], logprobs=True
    )
    logprobs = chat.choices[0].logprobs
    assert logprobs is None or not logprobs.content
    stream = sdk.completions.create(model=name, prompt="hi", logprobs=1, stream=True)
    for chunk in stream:
        assert FORGED_TOKEN.strip() not in _text_of(chunk.model_dump())


@pytest.mark.parametrize("mode", ["types", "nan", "wide"])
def test_malformed_logprobs_answer_valid_json(
    server: Server, org_a: Org, stub: StubServer, mode: str
) -> None:
    """Wrong types, NaN, infinities and 400-digit integers, a thousand alternatives of 300
    bytes each: the answer is still the upstream's text, in valid JSON (the SDK parses it and
    so does a strict parser), with finite numbers and at most the alternatives asked for."""
    name = stub.register(server, model=f"forged-{mode}")
    words = "".join(f"w{i} " for i in range(20))
    body = {"model": name, "messages": [{"role": "user", "content": "hi"}], "logprobs": True}
    for stream in (False, True):
        for chat in (True, False):
            sent = (
                body | {"top_logprobs": 2}
                if chat
                else {"model": name, "prompt": "hi", "logprobs": 2, "max_tokens": 20}
            )
            path = "/v1/chat/completions" if chat else "/v1/completions"
            answer = server.api("POST", path, key=org_a.member_key, json=sent | {"stream": stream})
            assert answer.status_code == 200, (mode, chat, stream, answer.text[:300])
            lines = (
                [line[6:] for line in answer.text.splitlines() if line.startswith("data: ")]
                if stream
                else [answer.text]
            )
            said = ""
            for line in lines:
                if line == "[DONE]":
                    continue
                event = json.loads(line, parse_constant=_no_constant)
                assert "error" not in event, event
                for choice in event["choices"]:
                    said += (choice.get("delta") or {}).get("content") or choice.get("text") or ""
                    said += (choice.get("message") or {}).get("content") or ""
                    _check(choice.get("logprobs"), chat)
            assert said == words, (mode, chat, stream)


def _no_constant(name: str) -> float:
    raise AssertionError(f"{name} is not JSON")


def _check(logprobs: Any, chat: bool) -> None:
    """Finite numbers and at most the two alternatives asked for, in either shape."""
    if not logprobs:
        return
    if chat:
        for entry in logprobs.get("content") or []:
            assert math.isfinite(entry["logprob"]) and len(entry["top_logprobs"]) <= 2
            assert all(math.isfinite(a["logprob"]) for a in entry["top_logprobs"])
        return
    assert all(math.isfinite(v) for v in logprobs["token_logprobs"])
    for top in logprobs["top_logprobs"]:
        assert len(top) <= 2 and all(math.isfinite(v) for v in top.values())


@pytest.mark.parametrize("mode", ["utf8", "json"])
def test_an_event_that_is_no_json_is_a_502_not_a_500(
    server: Server, org_a: Org, stub: StubServer, mode: str
) -> None:
    """An upstream event of bytes that are not UTF-8, or not JSON: the upstream failed (502
    ``upstream_error``, or the stream's last event saying so), never the gateway (500)."""
    name = stub.register(server, model=f"garbage-{mode}")
    body = {"model": name, "messages": [{"role": "user", "content": "hi"}]}
    answer = server.api("POST", "/v1/chat/completions", key=org_a.member_key, json=body)
    assert answer.status_code == 502, answer.text[:300]
    assert answer.json()["error"]["code"] == "upstream_error"
    streamed = server.api(
        "POST", "/v1/chat/completions", key=org_a.member_key, json=body | {"stream": True}
    )
    assert streamed.status_code in (200, 502)
    assert '"upstream_error"' in streamed.text, streamed.text[:300]


def test_a_line_without_end_is_not_held_whole(server: Server, org_a: Org, stub: StubServer) -> None:
    """An upstream streaming one line of 32 MB: the gateway would hold (and rescan) all of it
    before reading it as an event; it gives up past 8 MB, an upstream failure."""
    name = stub.register(server, model="endless")
    body = {"model": name, "messages": [{"role": "user", "content": "hi"}]}
    answer = server.api("POST", "/v1/chat/completions", key=org_a.member_key, json=body)
    assert answer.status_code == 502, answer.text[:300]
    assert "line of over" in answer.json()["error"]["message"]
    assert stub.app.state.sent < 24 * 1024 * 1024  # it stopped reading early
