"""The test-only family on a real server: listed with its parameter schema, trained through
``POST /api/train``, served through ``/v1/chat/completions`` to the openai SDK, listed with its
capabilities. The server knows it only through ``AIGC_FAMILY_MODULES``."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.e2e.server import Org, Server, make_org, new_admin_key

TOY = "tests.models.toy_family"
CORPUS = "the help desk opens at nine.\nthe printer is on the third floor.\n" * 30


@pytest.fixture(scope="module")
def toy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("toy") / "data"
    server = Server(data, new_admin_key(), AIGC_FAMILY_MODULES=TOY).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def org(toy_server: Server) -> Org:
    return make_org(toy_server, "Toy Org")


def test_families_list_the_toy_with_its_parameter_schema(toy_server: Server, org: Org) -> None:
    listed = toy_server.api("GET", "/api/families", key=org.member_key)
    assert listed.status_code == 200, listed.text
    by_name = {f["name"]: f for f in listed.json()["data"]}
    toy = by_name["toy"]
    assert toy["trainable"] and toy["trains_on"] == "text" and toy["kind"] == "text"
    smoothing = toy["params_schema"]["properties"]["smoothing"]
    assert smoothing["default"] == 0.5 and smoothing["minimum"] == 0.01
    assert by_name["gpt"]["params_schema"]["properties"]["n_layer"]["default"] == 4
    assert "image_generation" in by_name["vae"]["capabilities"]
    assert toy_server.api("GET", "/api/families", key="sk-aigc-wrong").status_code == 401


def test_the_toy_trains_through_the_api_and_answers_the_openai_sdk(
    toy_server: Server, org: Org
) -> None:
    upload = toy_server.api(
        "POST",
        "/v1/files",
        key=org.member_key,
        files={"file": ("desk.txt", CORPUS.encode(), "text/plain")},
        data={"purpose": "training"},
    )
    assert upload.status_code == 200, upload.text
    bad = {"family": "toy", "name": "toy-bad", "file_ids": [upload.json()["id"]]}
    refused = toy_server.api(
        "POST", "/api/train", key=org.member_key, json=bad | {"params": {"smoothing": 0}}
    )
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "params.smoothing"

    body = bad | {"name": "toy-desk", "params": {"max_chars": 40}}
    started = toy_server.api("POST", "/api/train", key=org.member_key, json=body)
    assert started.status_code == 202, started.text
    assert started.json()["model"]["status"] == "training"
    job = toy_server.wait_job(org.member_key, started.json()["job"]["id"])
    assert job["status"] == "succeeded", job
    assert job["result"]["val_perplexity"] > 1

    client = openai.OpenAI(base_url=f"{toy_server.base_url}/v1", api_key=org.member_key)
    listed = {m.id: m for m in client.models.list()}
    assert listed["toy-desk"].model_extra["capabilities"] == ["chat", "completions", "streaming"]
    helpdesk = listed["template-helpdesk"].model_extra  # built-in families say theirs too
    assert helpdesk["capabilities"] == ["chat", "completions", "streaming"]
    answer = client.chat.completions.create(
        model="toy-desk",
        messages=[{"role": "user", "content": "When does the help desk open? t"}],
        temperature=0,
        max_tokens=30,
    )
    text = answer.choices[0].message.content or ""
    assert text and len(text) <= 30 and answer.usage is not None
    streamed = client.chat.completions.create(
        model="toy-desk",
        messages=[{"role": "user", "content": "When does the help desk open? t"}],
        temperature=0,
        max_tokens=30,
        stream=True,
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == text
    models = toy_server.api("GET", "/api/models", key=org.member_key).json()["data"]
    toy = next(m for m in models if m["id"] == "toy-desk")
    assert toy["capabilities"] == ["chat", "completions", "streaming"] and toy["family"] == "toy"
