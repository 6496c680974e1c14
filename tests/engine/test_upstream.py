"""Upstream models against a real OpenAI-compatible HTTP server (the stub), in process.

Streaming, retries with backoff, fallback, load balancing and the circuit breaker; the
registration rules (allow-list, SSRF, encrypted keys). The same through a live aigc server with
the openai SDK is in test_upstream_live.py.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from aigc.access import Principal
from aigc.config import Settings
from aigc.errors import InvalidRequest, Overloaded, PermissionDenied
from aigc.models.protocols import ChatMessage, TextRequest
from aigc.models.stopping import BoundedText
from aigc.models.upstream import (
    UpstreamFailed,
    UpstreamModel,
    register_config,
    url_allowed,
)
from tests.engine.stub_openai import StubServer, free_port, words

PLATFORM = Principal(tenant_id="t_platform", role="owner", platform_admin=True)
TENANT_ADMIN = Principal(tenant_id="t_acme", role="admin")
ASK = TextRequest(messages=[ChatMessage("user", "你好")], max_tokens=50)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


def model(settings: Settings, **config: Any) -> UpstreamModel:
    return UpstreamModel(register_config(config, None, settings), settings)


def test_streams_chat_and_completions(stub: StubServer, settings: Settings) -> None:
    m = model(settings, base_url=stub.base_url, model="echo", api_key="sk-up-1")
    assert "".join(m.generate(ASK)) == "".join(words())
    assert "".join(m.generate(TextRequest(prompt="Once", max_tokens=5))) == "".join(words())
    assert stub.calls[-1] == ("echo", "Bearer sk-up-1")
    # A trickling upstream is passed through as it comes, not gathered first.
    slow = model(settings, base_url=stub.base_url, model="slow")
    pieces = list(slow.generate(ASK))
    assert "".join(pieces) == "".join(words()) and len(pieces) >= 10


def test_retries_5xx_and_429_with_backoff(stub: StubServer, settings: Settings) -> None:
    m = model(settings, base_url=stub.base_url, model="flaky-2", max_retries=2)
    assert "".join(m.generate(ASK)) == "".join(words())
    assert [c[0] for c in stub.calls].count("flaky-2") == 3
    m = model(settings, base_url=stub.base_url, model="busy-1", max_retries=1)
    assert "".join(m.generate(ASK)) == "".join(words())


def test_gives_up_after_retries(stub: StubServer, settings: Settings) -> None:
    m = model(settings, base_url=stub.base_url, model="flaky-5", max_retries=1)
    with pytest.raises(UpstreamFailed, match="HTTP 500"):
        list(m.generate(ASK))
    assert [c[0] for c in stub.calls].count("flaky-5") == 2


def test_falls_back_to_another_model(stub: StubServer, settings: Settings) -> None:
    m = model(
        settings,
        base_url=f"http://127.0.0.1:{free_port()}/v1",  # nothing listens there
        model="big-70b",
        max_retries=0,
        fallbacks=[{"base_url": stub.base_url, "model": "echo-small", "api_key": "sk-fb"}],
    )
    assert "".join(m.generate(ASK)) == "".join(words())
    assert stub.calls[-1] == ("echo-small", "Bearer sk-fb")


def test_load_balances_across_base_urls(settings: Settings) -> None:
    with StubServer() as a, StubServer() as b:
        m = model(settings, base_urls=[a.base_url, b.base_url], model="echo")
        for _ in range(4):
            assert "".join(m.generate(ASK)) == "".join(words())
        assert len(a.calls) == 2 and len(b.calls) == 2


def test_circuit_breaker_fails_fast_then_recovers(stub: StubServer, settings: Settings) -> None:
    with StubServer() as dead:
        m = model(
            settings,
            base_url=dead.base_url,
            model="down",
            max_retries=0,
            breaker_threshold=3,
            breaker_reset_s=0.5,
        )
        for _ in range(3):
            with pytest.raises(UpstreamFailed):
                list(m.generate(ASK))
        assert len(dead.calls) == 3
        started = time.monotonic()
        with pytest.raises(Overloaded) as refused:
            list(m.generate(ASK))
        assert time.monotonic() - started < 0.5  # no network call at all
        assert len(dead.calls) == 3
        assert int(refused.value.headers["Retry-After"]) >= 1
        time.sleep(0.6)  # half-open: one trial call goes out, fails, opens again
        with pytest.raises(UpstreamFailed):
            list(m.generate(ASK))
        assert len(dead.calls) == 4
        with pytest.raises(Overloaded):
            list(m.generate(ASK))
        assert m.breaker_states()[0]["circuit"] == "open"


def test_a_callers_own_short_timeout_does_not_open_others_circuits(settings: Settings) -> None:
    """One breaker per address was shared by every model calling it, and each model sets its
    own timeouts: an organization registering the platform's upstream address with a 0.1 s
    timeout made five requests time out and opened the circuit of the platform's shared model
    on that address (503 for everyone) while the service was healthy."""
    with StubServer() as upstream:
        shared = model(settings, base_url=upstream.base_url, model="echo")
        impatient = model(
            settings,
            base_url=upstream.base_url,
            model="late-400",
            timeout_s=0.1,
            connect_timeout_s=0.1,
            max_retries=0,
        )
        for _ in range(5):
            with pytest.raises(UpstreamFailed):
                list(impatient.generate(ASK))
        with pytest.raises(Overloaded):
            list(impatient.generate(ASK))  # its own circuit is open
        assert "".join(shared.generate(ASK)) == "".join(words())
        assert shared.breaker_states()[0]["circuit"] == "closed"


def test_each_model_keeps_its_own_breaker_settings(settings: Settings) -> None:
    """The status view (which used to create the address's breaker with the defaults) and an
    earlier model on the same address do not decide when this model's circuit opens."""
    with StubServer() as dead:
        lenient = model(settings, base_url=dead.base_url, model="down", max_retries=0)
        assert lenient.breaker_states()[0]["circuit"] == "closed"  # seen before any call
        strict = model(
            settings, base_url=dead.base_url, model="down", max_retries=0, breaker_threshold=2
        )
        assert strict.breaker_states()[0]["circuit"] == "closed"
        for _ in range(2):
            with pytest.raises(UpstreamFailed):
                list(strict.generate(ASK))
        with pytest.raises(Overloaded):
            list(strict.generate(ASK))
        assert len(dead.calls) == 2
        with pytest.raises(UpstreamFailed):  # five failures before the lenient one opens
            list(lenient.generate(ASK))
        assert len(dead.calls) == 3


def test_upstream_400_is_not_retried(stub: StubServer, settings: Settings) -> None:
    m = model(settings, base_url=stub.base_url + "/nowhere", model="echo", max_retries=3)
    with pytest.raises(InvalidRequest, match="HTTP 404"):
        list(m.generate(ASK))


# --- registration rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://10.0.0.1/v1",
        "http://169.254.169.254/v1",
        "http://localhost:8000/v1",
    ],
)
def test_tenant_admin_cannot_register_internal_addresses(tmp_path: Path, url: str) -> None:
    # Even when the platform's allow-list matches, the resolved address is refused.
    settings = Settings(data_dir=tmp_path, upstream_allowlist=["http://*", "http://*:8000"])
    assert url_allowed(url, settings.upstream_allowlist)
    with pytest.raises(PermissionDenied, match="not public"):
        register_config({"base_url": url, "model": "m"}, TENANT_ADMIN, settings)
    # The platform admin may (e.g. a vLLM in the same private network).
    assert register_config({"base_url": url, "model": "m"}, PLATFORM, settings)["targets"]


def test_tenant_admin_needs_the_allow_list(settings: Settings) -> None:
    with pytest.raises(PermissionDenied, match="allow-list"):
        register_config({"base_url": "https://8.8.8.8/v1", "model": "m"}, TENANT_ADMIN, settings)
    # Fallbacks are checked as well as targets.
    allowed = Settings(data_dir=settings.data_dir, upstream_allowlist=["https://8.8.8.8/v1"])
    stored = register_config(
        {"base_url": "https://8.8.8.8/v1", "model": "m"}, TENANT_ADMIN, allowed
    )
    assert stored["restricted"] is True
    with pytest.raises(PermissionDenied, match="not public"):
        register_config(
            {
                "base_url": "https://8.8.8.8/v1",
                "model": "m",
                "fallbacks": [{"base_url": "http://10.0.0.1/v1", "model": "m"}],
            },
            TENANT_ADMIN,
            Settings(data_dir=settings.data_dir, upstream_allowlist=["https://*", "http://*"]),
        )


def test_allow_list_matches_by_parts() -> None:
    patterns = ["https://*.corp.example.cn", "http://llm.internal:8000/v1"]
    assert url_allowed("https://gpu.corp.example.cn/v1", patterns)
    assert url_allowed("http://llm.internal:8000/v1", patterns)
    assert not url_allowed("https://evil.com/x.corp.example.cn", patterns)
    assert not url_allowed("https://corp.example.cn.evil.com/v1", patterns)
    assert not url_allowed("http://gpu.corp.example.cn/v1", patterns)  # scheme differs
    assert not url_allowed("http://llm.internal:9000/v1", patterns)  # port differs
    assert not url_allowed("http://llm.internal:8000/admin", patterns)  # path outside


def test_context_length_is_what_the_registration_says(settings: Settings) -> None:
    from aigc.models.upstream import validate_config

    target = {"base_url": "http://x.example/v1", "model": "m"}
    assert model(settings, **target).context_length is None  # not given: unknown
    assert model(settings, **target, context_length=4096).context_length == 4096
    for bad in (0, -1, 1.5, True, "4096"):
        with pytest.raises(InvalidRequest):
            validate_config(target | {"context_length": bad})


def test_key_stored_encrypted(settings: Settings) -> None:
    stored = register_config(
        {"base_url": "http://x.example/v1", "model": "m", "api_key": "sk-secret-abc"},
        PLATFORM,
        settings,
    )
    assert "sk-secret-abc" not in str(stored)
    assert stored["targets"][0]["api_key_enc"]
    assert (settings.data_dir / "fernet.key").stat().st_mode & 0o077 == 0


def test_cli_add_upstream_stores_the_key_encrypted(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    secret = "sk-cli-secret-9f8e7d"
    env = {**os.environ, "AIGC_DATA_DIR": str(tmp_path), "AIGC_UPSTREAM_API_KEY": secret}
    args = ["--name", "upstream-cli", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]
    done = subprocess.run(
        [sys.executable, "-m", "aigc.cli", "models", "add-upstream", *args, "--shared", "--vision"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "registered upstream-cli" in done.stdout
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("aigc.db*"))
    assert b"upstream-cli" in stored and secret.encode() not in stored
    from aigc.infra.db import Database
    from aigc.infra.schema import ModelRecord

    db = Database(f"sqlite:///{tmp_path / 'aigc.db'}")
    with db.session() as s:
        record = s.query(ModelRecord).filter_by(name="upstream-cli").one()
        assert record.config["vision"] is True  # --vision: it reads images
    db.dispose()


def test_allow_list_patterns_are_checked_before_they_are_stored() -> None:
    from aigc.models.upstream_allowlist import check_pattern

    assert check_pattern(" HTTPS://*.Corp.Example.cn:8443/v1 ", "p") == (
        "https://*.corp.example.cn:8443/v1"
    )
    assert check_pattern("gpu.corp.example.cn", "p") == "https://gpu.corp.example.cn"
    for bad in [
        "",
        "ftp://x.cn",
        "https://user:pw@x.cn",
        "https://x.cn/?a=1",
        "https://[::1]/",
        "https://[x]/",  # urlsplit raises on it (a 500 once)
        "https://a\u2101b/",  # NFKC makes that a/s: urlsplit raises
        "https://x.cn:99999",
        "https://x .cn",
        "https://x.cn/#frag",
        42,
    ]:
        with pytest.raises(InvalidRequest):
            check_pattern(bad, "p")


def test_the_upstreams_finish_reason_is_passed_through(
    stub: StubServer, settings: Settings
) -> None:
    """Issue 16: an upstream that stopped at its max_tokens says "length"; so do we."""
    for name, reason in (("echo", "stop"), ("length", "length")):
        m = model(settings, base_url=stub.base_url, model=name)
        for request in (ASK, TextRequest(prompt="Once", max_tokens=100)):
            bounded = BoundedText(
                m.generate(request), stop=[], max_tokens=100, count_tokens=m.count_tokens
            )
            assert "".join(bounded) == "".join(words())
            assert bounded.finish_reason == reason


def test_a_vision_upstream_is_sent_images_as_openai_content_parts(
    stub: StubServer, settings: Settings
) -> None:
    import io
    import json

    from PIL import Image

    from aigc.models.image.inputs import checked_image
    from aigc.models.upstream import capabilities_of, validate_config

    buf = io.BytesIO()
    Image.new("RGB", (600, 20), "red").save(buf, "WEBP")
    image = checked_image(buf.getvalue(), 10**6, "high")
    eyes = model(settings, base_url=stub.base_url, model="vision", vision=True)
    assert eyes.takes_images and not model(settings, base_url=stub.base_url, model="m").takes_images
    asked = [ChatMessage("system", "Be brief."), ChatMessage("user", "", images=(image, image))]
    got = json.loads("".join(eyes.generate(TextRequest(messages=asked, max_tokens=50))))
    assert got["texts"] == ["Be brief."]  # an image-only message sends no empty text part
    assert [(i["media_type"], i["width"], i["detail"]) for i in got["images"]] == [
        ("image/webp", 600, "high")
    ] * 2
    target = {"base_url": "http://x.example/v1", "model": "m"}
    assert "vision" in capabilities_of(register_config(target | {"vision": True}, None, settings))
    assert "vision" not in capabilities_of(register_config(target, None, settings))
    with pytest.raises(InvalidRequest) as bad:
        validate_config(target | {"vision": "yes"})
    assert bad.value.param == "vision"
