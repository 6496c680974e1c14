"""Models on Ray Serve (issue 20): a real Ray head started here, a real `aigc serve` with
``AIGC_RAY_ADDRESS``, template models deployed as Serve applications, the openai SDK as client.

One Ray head and one server for the module (Ray starts slowly on two cores). The head runs
with ``--block`` in its own session, so teardown ends exactly the processes it started.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from aigc.gateway.image_forms import Upload
from aigc.gateway.image_uploads import edit_alpha, square_image
from aigc.models.image.data import load_digits
from aigc.models.image.gan import GANModel
from aigc.models.image.vae import VAEModel
from aigc.models.protocols import ImageRequest
from tests.e2e.server import Org, Server, make_org, new_admin_key
from tests.images.conftest import tiny_gan, tiny_vae
from tests.images.test_image_edits_api import (
    bad_request,
    digit,
    grey,
    half_mask,
    png,
    typed,
    verify,
)
from tests.ray_head import LOOPBACK_ONLY, loopback_driver
from tests.ray_head import ray_head as ray_head_process
from tests.templates import slow, words

ray = pytest.importorskip("ray")
from ray import serve  # noqa: E402

STREAMED = words(20)  # 20 words 20 ms apart: a stream of ~0.4 s
LONG = words(60)  # 60 words 25 ms apart: ~1.5 s, still running when a replica is killed


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    with ray_head_process(cpus=8, timeout=120) as address:
        yield address


DEPLOYMENTS = {
    "*": {"num_replicas": 2, "max_ongoing_requests": 16, "ray_actor_options": {"num_cpus": 1}},
    "template-helpdesk": {"num_replicas": 1, "ray_actor_options": {"num_cpus": 0.5}},
}


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the image models of ``image_models`` are saved (the server may import from it)."""
    return tmp_path_factory.mktemp("ray-images")


@pytest.fixture(scope="module")
def server(
    ray_head: str, image_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    srv = Server(
        tmp_path_factory.mktemp("ray") / "data",
        new_admin_key(),
        AIGC_RAY_ADDRESS=ray_head,
        AIGC_RAY_DEPLOYMENTS=json.dumps(DEPLOYMENTS),
        AIGC_IMPORT_ROOTS=str(image_root),
        **LOOPBACK_ONLY,
    )
    srv.start(timeout=240)  # deploys the shipped template-helpdesk before it is ready
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def driver(ray_head: str) -> Iterator[Any]:
    """This test process as a Ray driver: it reads Serve's status and kills a replica."""
    with loopback_driver():
        ray.init(address=ray_head, namespace="aigc-test", log_to_driver=False)
        yield ray
        ray.shutdown()


@pytest.fixture(scope="module")
def org(server: Server) -> Org:
    """An organization with the two story models (two replicas each, as ``"*"`` says)."""
    made = make_org(server, "Ray")
    register(server, made.admin_key, "template-story", slow(STREAMED, 20))
    register(server, made.admin_key, "template-long", slow(LONG, 25))
    return made


def register(server: Server, key: str, name: str, yaml: str, **config: Any) -> None:
    made = server.api(
        "POST", "/api/models", key=key, json={"id": name, "config": {"yaml": yaml, **config}}
    )
    assert made.status_code == 201, made.text


def register_deployed(server: Server, name: str, yaml: str, deployment: dict[str, Any]) -> None:
    """A model with its own Ray deployment options: the platform admin's to choose (they run
    on the cluster every organization shares), registered for every organization."""
    server.register_shared({name: {"yaml": yaml, "deployment": deployment}})


def ray_status(server: Server, key: str, name: str) -> dict[str, Any]:
    view = server.api("GET", f"/api/models/{name}/status", key=key).json()
    return dict(view.get("ray") or {})


async def streamed(client: openai.AsyncOpenAI, model: str) -> str:
    stream = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "a story"}], stream=True
    )
    parts = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
    return "".join(parts)


def client(server: Server, key: str, retries: int = 0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{server.base_url}/v1", api_key=key, max_retries=retries, timeout=120
    )


def test_serve_deploys_at_start_and_answers_through_the_handle(server: Server) -> None:
    """`aigc serve` deployed the shipped model at start (one replica, as configured); its
    answers come from the replica, as in-process."""
    assert "models on Ray Serve: template-helpdesk--" in server.logs()
    answer = httpx.post(
        f"{server.base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {server.admin_key}"},
        json={"model": "template-helpdesk", "messages": [{"role": "user", "content": "hello"}]},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"]
    assert answer.json()["usage"]["prompt_tokens"] > 0
    status = ray_status(server, server.admin_key, "template-helpdesk")
    assert status["replicas"] == {"RUNNING": 1}


def test_32_streams_two_replicas_and_one_killed(server: Server, org: Org, driver: Any) -> None:
    async def all_answered() -> list[str]:
        async with client(server, org.member_key) as c:
            return await asyncio.gather(*(streamed(c, "template-story") for _ in range(32)))

    answers = asyncio.run(all_answered())
    assert answers == [STREAMED] * 32
    status = ray_status(server, org.admin_key, "template-story")
    assert status["replicas"] == {"RUNNING": 2}

    # The long model: 32 streams, one of its two replicas killed while they run.
    assert asyncio.run(all_long(server, org.member_key, 1)) == [LONG]
    app = ray_status(server, org.admin_key, "template-long")["application"]
    replicas = [
        a["name"]
        for a in driver.util.list_named_actors(all_namespaces=True)
        if a["name"].startswith(f"SERVE_REPLICA::{app}#")
    ]
    assert len(replicas) == 2, replicas

    async def kill_mid_run() -> list[Any]:
        async with client(server, org.member_key) as c:
            tasks = [asyncio.create_task(outcome(c, "template-long")) for _ in range(32)]
            await asyncio.sleep(0.6)
            victim = driver.get_actor(replicas[0], namespace="serve")
            driver.kill(victim, no_restart=True)
            return await asyncio.gather(*tasks)

    outcomes = asyncio.run(kill_mid_run())
    done = [o for o in outcomes if o == LONG]
    failed = [o for o in outcomes if o != LONG]
    for failure in failed:  # each failure says to retry: 503 + Retry-After, or the code
        assert failure in ("503 retry-after", "replica_unavailable"), failure
    print(f"replica killed: {len(done)} answered, {len(failed)} refused to retry: {failed}")
    assert done, outcomes
    assert failed, "the kill came after every stream had finished: nothing was tested"

    deadline = time.monotonic() + 180  # Serve starts a new replica in the dead one's place
    while ray_status(server, org.admin_key, "template-long")["replicas"] != {"RUNNING": 2}:
        assert time.monotonic() < deadline, ray_status(server, org.admin_key, "template-long")
        time.sleep(1)
    assert asyncio.run(all_long(server, org.member_key, 4)) == [LONG] * 4


async def all_long(server: Server, key: str, n: int) -> list[str]:
    async with client(server, key) as c:
        return await asyncio.gather(*(streamed(c, "template-long") for _ in range(n)))


async def outcome(c: openai.AsyncOpenAI, model: str) -> str:
    """The answer, or what the failure says about retrying."""
    try:
        return await streamed(c, model)
    except openai.APIStatusError as exc:
        if exc.status_code == 503 and exc.response.headers.get("retry-after"):
            return "503 retry-after"
        return f"{exc.status_code} {exc.body}"
    except openai.APIError as exc:  # an error event mid-stream
        body = exc.body if isinstance(exc.body, dict) else {}
        return str(body.get("code") or exc)


def test_overload_is_503_with_retry_after(server: Server) -> None:
    """One replica taking one request with one waiting: past that, Serve's queue refuses,
    answered 503 + Retry-After before the stream starts (never a 500, never a 200 that
    then fails)."""
    org = make_org(server, "Ray overload")
    deployment = {"num_replicas": 1, "max_ongoing_requests": 1, "max_queued_requests": 1}
    register_deployed(server, "template-tight", slow(LONG, 25), deployment)

    async def burst() -> list[str]:
        async with client(server, org.member_key) as c:
            await streamed(c, "template-tight")  # deployed and warm
            return await asyncio.gather(*(outcome(c, "template-tight") for _ in range(4)))

    results = asyncio.run(burst())
    # At least the first in answers; which others do depends on arrival order (a request's
    # prompt count is a short call that takes a place in the same queue).
    assert results.count(LONG) >= 1, results
    assert "503 retry-after" in results, results
    assert set(results) <= {LONG, "503 retry-after"}, results


def test_disconnect_cancels_in_the_replica(server: Server, org: Org, driver: Any) -> None:
    """A client that hangs up mid-stream cancels the Serve request: the replica's generation
    stops (its counters: one more cancelled, nothing left running)."""
    assert asyncio.run(all_long(server, org.member_key, 1)) == [LONG]  # deployed, warm
    app = ray_status(server, org.admin_key, "template-long")["application"]
    handle = serve.get_app_handle(app)

    def totals() -> dict[str, int]:
        """Summed over both replicas (each ``stats`` call goes to one of them)."""
        seen: dict[str, dict[str, int]] = {}
        while len(seen) < 2:
            one = handle.stats.remote().result(timeout_s=30)
            seen[one["replica"]] = one
        return {k: sum(s[k] for s in seen.values()) for k in ("active", "cancelled")}

    before = totals()
    with (
        httpx.Client(timeout=120) as http,
        http.stream(
            "POST",
            f"{server.base_url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {org.member_key}"},
            json={
                "model": "template-long",
                "messages": [{"role": "user", "content": "a story"}],
                "stream": True,
            },
        ) as response,
    ):
        assert response.status_code == 200
        seen = 0
        for line in response.iter_lines():
            if '"content": "word' in line or '"content": " word' in line:
                seen += 1
                if seen == 3:
                    break  # leaving the blocks closes the connection mid-stream
    deadline = time.monotonic() + 30
    while True:
        after = totals()
        if after["cancelled"] > before["cancelled"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert after == {"active": 0, "cancelled": before["cancelled"] + 1}, (before, after)


def test_bad_deployment_options_are_a_400(server: Server) -> None:
    org = make_org(server, "Ray options")
    for bad, said in (
        ({"num_replicas": 0}, "num_replicas"),
        ({"num_replicas": 2, "autoscaling_config": {"max_replicas": 3}}, "not both"),
        ({"ray_actor_options": {"num_gpu": 1}}, "num_gpu"),
        ("two", "object"),
    ):
        made = server.api(  # the platform admin's: an organization's admin gets a 403
            "POST",
            "/api/models",
            json={"id": "template-bad", "config": {"yaml": slow("x", 0), "deployment": bad}},
        )
        assert made.status_code == 400, made.text
        error = made.json()["error"]
        assert error["param"] == "deployment" and said in error["message"], error
    refused = server.api(
        "POST",
        "/api/models",
        key=org.admin_key,
        json={"id": "template-bad", "config": {"yaml": slow("x", 0), "deployment": bad}},
    )
    assert refused.status_code == 403, refused.text


def test_a_grounded_chat_counts_its_sources_in_one_round_trip(
    server: Server, org: Org, driver: Any
) -> None:
    """A grounded chat to a Ray-served model: the sources are fitted with the replica's
    tokenizer, all candidates counted in one call (``count_texts``), so the replica answers a
    handful of counting calls, not one more per source."""
    from tests.templates import ECHO

    register_deployed(server, "template-grounded", ECHO, {"num_replicas": 1})
    key = org.admin_key
    kb = server.api("POST", "/api/kb", key=key, json={"name": "vacation handbook"})
    assert kb.status_code == 201, kb.text
    kb_id = kb.json()["id"]
    sections = "\n\n".join(
        f"## Vacation in region {i}\n\nEmployees in region {i} get {20 + i} vacation days a "
        f"year. Vacation days in region {i} carry over for {i + 1} months. " * 6
        for i in range(12)
    )
    files = [
        ("files", ("vacation.md", ("# Vacation policy\n\n" + sections).encode(), "text/markdown"))
    ]
    added = server.api("POST", f"/api/kb/{kb_id}/documents", key=key, files=files)
    assert added.status_code == 200, added.text
    assert server.wait_job(key, added.json()["job"]["id"])["status"] == "succeeded"
    found = server.api(
        "POST",
        f"/api/kb/{kb_id}/search",
        key=key,
        json={"query": "vacation days region", "top_k": 8},
    ).json()["data"]
    assert len(found) >= 8  # more candidate sources than the gateway fits in one round trip

    ask = {"role": "user", "content": "How many vacation days do employees get?"}
    plain = server.sdk(key)
    plain.chat.completions.create(model="template-grounded", messages=[ask])  # deployed, warm
    app = ray_status(server, key, "template-grounded")["application"]
    handle = serve.get_app_handle(app)
    before = handle.stats.remote().result(timeout_s=30)["counts"]
    reply = plain.chat.completions.create(
        model="template-grounded", messages=[ask], extra_body={"knowledge_bases": [kb_id]}
    )
    after = handle.stats.remote().result(timeout_s=30)["counts"]
    assert reply.choices[0].message.content.startswith("You said:")
    assert not reply.model_extra.get("citations")  # a template cannot use sources
    # the prompt (1), the conversation and instructions (2), every candidate source (1), the
    # assembled prompt (2): one call per source would make it 8 or more on top of those
    assert after - before <= 7, (before, after)


# --- image models on a server that serves its text models on Ray ---------------------------

MAX_PIXELS = 4096 * 4096


@pytest.fixture(scope="module")
def image_models(server: Server, image_root: Path) -> dict[str, Any]:
    """The few-step GAN and VAE of the image tests, registered for every organization; each
    also loaded here, in the test process, as the gateway loads an in-process model."""
    digits = load_digits()
    vae_dir, gan_dir = tiny_vae(image_root, digits), tiny_gan(image_root, digits)
    server.register_shared({"vae-tiny": {"path": str(vae_dir)}, "gan-tiny": {"path": str(gan_dir)}})
    return {"vae-tiny": VAEModel(vae_dir), "gan-tiny": GANModel(gan_dir)}


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", ["vae-tiny", "gan-tiny"])
def test_image_models_answer_as_in_process(
    server: Server, image_models: dict[str, Any], driver: Any, name: str
) -> None:
    """With Ray configured, a gan- or vae- model still runs in the gateway (Ray serves text
    models only): generations, edits and variations through the SDK are the very images the
    model makes in a process of its own for the same seed, each signed."""
    org = make_org(server, f"Ray pictures {name}")
    sdk = server.sdk(org.member_key)
    local = image_models[name]
    digits = load_digits()
    source, mask = png(digit(digits, 7)), png(half_mask())

    made = typed(
        sdk.images.with_raw_response.generate(
            model=name, prompt="3", n=2, response_format="b64_json", extra_body={"seed": 4}
        )
    )
    mine = local.generate_images(ImageRequest(prompt="3", n=2, size=None, seed=4))
    assert [grey(item).tolist() for item in made.data] == [m[:, :, 0].tolist() for m in mine]

    edited = typed(
        sdk.images.with_raw_response.edit(
            model=name,
            image=("seven.png", source, "image/png"),
            mask=("mask.png", mask, "image/png"),
            prompt="a handwritten 7",
            n=2,
            response_format="b64_json",
            extra_body={"seed": 5},
        )
    )
    image = square_image(Upload("image", source), MAX_PIXELS)
    alpha = edit_alpha(image, Upload("mask", mask), MAX_PIXELS)
    mine = local.edit_images(image, alpha, "a handwritten 7", 2, 16, seed=5)
    assert [grey(item).tolist() for item in edited.data] == [m[:, :, 0].tolist() for m in mine]
    assert (grey(edited.data[0])[:8] == digit(digits, 7)[:8]).all()  # the kept half, exact

    varied = typed(
        sdk.images.with_raw_response.create_variation(
            model=name,
            image=("seven.png", source, "image/png"),
            n=2,
            response_format="b64_json",
            extra_body={"seed": 6},
        )
    )
    mine = local.image_variations(image, 2, 16, seed=6)
    assert [grey(item).tolist() for item in varied.data] == [m[:, :, 0].tolist() for m in mine]

    for item in [*made.data, *edited.data, *varied.data]:
        verdict = verify(server, org.member_key, item)
        assert verdict["valid"] and verdict["manifest"]["model"] == name, verdict
    # in the gateway's process: no Serve application, no Ray status
    assert "ray" not in server.api("GET", f"/api/models/{name}/status", key=org.admin_key).json()
    apps = serve.status().applications  # read through this process's driver
    assert not [a for a in apps if a.startswith(f"{name}--")], list(apps)


def test_image_routes_refuse_and_audit_as_in_process(
    server: Server, image_models: dict[str, Any]
) -> None:
    """The edit and variation routes' 400s, moderation and audit on a server with Ray: a
    Ray-served text model is refused as an in-process one is (it cannot edit), a blocked
    prompt before admission, every request audited."""
    org = make_org(server, "Ray guarded pictures")
    policy = (
        "name: no-cats\nrules:\n  - {id: cats, stage: input, detector: keywords, "
        "words: [cat, 猫], action: block}\n"
    )
    made = server.api("POST", "/api/policies", key=org.admin_key, json={"yaml": policy})
    assert made.status_code == 201, made.text
    sdk = server.sdk(org.member_key)
    digits = load_digits()
    image = ("d.png", png(digit(digits, 5)), "image/png")
    mask = ("m.png", png(half_mask()), "image/png")

    def edit(**fields: Any) -> Any:
        args = {"model": "vae-tiny", "image": image, "mask": mask, "prompt": "5"} | fields
        return lambda: sdk.images.edit(**args)

    def vary(**fields: Any) -> Any:
        return lambda: sdk.images.create_variation(
            **({"model": "gan-tiny", "image": image} | fields)
        )

    for call, param, said in [
        (edit(model="template-helpdesk"), "model", "does not edit images"),  # on Ray
        (vary(model="template-helpdesk"), "model", "does not make variations"),
        (edit(mask=("m.png", png(half_mask(32)), "image/png")), "mask", ""),
        (edit(model="gan-tiny", image=("d.png", b"not an image", "image/png")), "image", ""),
        (vary(extra_body={"prompt": "a 5"}), "prompt", ""),
        (vary(n=11), "n", ""),
        (edit(prompt="一只猫"), None, "content_policy_violation"),
    ]:
        error = bad_request(call)
        if param is None:
            assert error["code"] == said, error
        else:
            assert error["param"] == param and said in error["message"], error
    assert ray_status(server, org.admin_key, "template-helpdesk")["replicas"]  # still on Ray

    edit()()
    sdk.images.create_variation(model="gan-tiny", image=image, n=2, response_format="b64_json")
    rows = server.api("GET", "/api/audit", key=org.admin_key).json()["data"]
    seen = {(r["endpoint"], r["model"], r["status"]): r for r in rows}
    assert seen["/v1/images/edits", "vae-tiny", 200]["images"] == 2  # image and mask
    assert seen["/v1/images/variations", "gan-tiny", 200]["completion_tokens"] == 512
    assert ("/v1/images/edits", "vae-tiny", 400) in seen  # the blocked prompt, audited
    assert ("/v1/images/edits", "template-helpdesk", 400) in seen
