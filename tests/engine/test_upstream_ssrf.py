"""Upstream models and SSRF: reserved addresses refused to tenant admins, error bodies kept.

No traffic leaves loopback: addresses outside it are refused before any socket is opened
(``socket.create_connection`` is watched), and names are resolved by a stand-in resolver.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from aigc.access import Principal
from aigc.config import Settings
from aigc.errors import InvalidRequest, PermissionDenied
from aigc.models.protocols import ChatMessage, TextRequest
from aigc.models.upstream import (
    UpstreamFailed,
    UpstreamModel,
    register_config,
    url_allowed,
    validate_config,
)
from tests.engine.stub_openai import LEAKED, StubServer
from tests.reserved_dns import resolve_to_reserved

PLATFORM = Principal(tenant_id="t_platform", role="owner", platform_admin=True)
TENANT_ADMIN = Principal(tenant_id="t_acme", role="admin")
ASK = TextRequest(messages=[ChatMessage("user", "hi")], max_tokens=20)
RESERVED_NAME = "llm.partner.example"  # the stand-in resolver answers 192.0.2.2 for it


@pytest.fixture
def no_outside_traffic(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Resolve RESERVED_NAME to TEST-NET-1; record (and refuse) connections off loopback."""
    return resolve_to_reserved(monkeypatch, RESERVED_NAME)


@pytest.mark.parametrize(
    "url",
    [
        "http://192.0.2.2:8700/v1",  # TEST-NET-1: what the attack run registered
        "http://198.51.100.7:8700/v1",
        "http://203.0.113.9:8700/v1",
        "http://198.18.0.1:8700/v1",
        "http://100.64.0.1:8700/v1",
        "http://240.0.0.1:8700/v1",
        "http://[::ffff:192.0.2.2]:8700/v1",
        "http://[64:ff9b::c000:202]:8700/v1",
        "http://[2002:c000:202::1]:8700/v1",
        f"http://{RESERVED_NAME}:8700/v1",
    ],
)
def test_tenant_admin_cannot_register_reserved_addresses(
    tmp_path: Path, url: str, no_outside_traffic: list[Any]
) -> None:
    # The allow-list matches, the address is still refused.
    settings = Settings(data_dir=tmp_path, upstream_allowlist=["http://*:8700"])
    assert url_allowed(url, settings.upstream_allowlist)
    with pytest.raises(PermissionDenied, match="not public"):
        register_config({"base_url": url, "model": "m"}, TENANT_ADMIN, settings)
    assert no_outside_traffic == []


@pytest.mark.parametrize(
    "url",
    [
        "http://llm.example:abc/v1",
        "http://llm.example:70000/v1",
        "http://[0]/v1",  # brackets around no IPv6 address
        "http://llm\u2101example/v1",  # NFKC turns U+2101 into "a/s"
    ],
)
def test_a_url_urlsplit_cannot_read_is_refused_as_a_400(tmp_path: Path, url: str) -> None:
    """Parsing such a URL, or reading its port, raises ValueError: registering it ended in a
    500 (a bad port when compared with a matching allow-list pattern)."""
    settings = Settings(data_dir=tmp_path, upstream_allowlist=["http://llm.example"])
    for register in (
        lambda: validate_config({"base_url": url, "model": "m"}),
        lambda: register_config({"base_url": url, "model": "m"}, TENANT_ADMIN, settings),
    ):
        with pytest.raises(InvalidRequest) as refused:
            register()
        assert refused.value.param == "config.base_url"


def test_context_length_is_a_json_integer(tmp_path: Path) -> None:
    """4096.0 is an integer to JSON (and to the schema's "integer"); 4096.5 and true are not."""
    config = {"base_url": "http://10.0.0.5:8000/v1", "model": "m", "context_length": 4096.0}
    validate_config(config)
    stored = register_config(config, PLATFORM, Settings(data_dir=tmp_path))
    assert stored["context_length"] == 4096 and isinstance(stored["context_length"], int)
    for wrong in (4096.5, True):
        with pytest.raises(InvalidRequest):
            validate_config(config | {"context_length": wrong})


def test_restricted_upstream_is_refused_at_connect_time(
    tmp_path: Path, no_outside_traffic: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    # Registered while the name looked public; it now resolves to TEST-NET-1 (DNS rebinding).
    settings = Settings(data_dir=tmp_path)
    config = register_config(
        {"base_url": f"http://{RESERVED_NAME}:8700/v1", "model": "m", "max_retries": 0},
        PLATFORM,
        settings,
    ) | {"restricted": True}
    with caplog.at_level(logging.WARNING), pytest.raises(UpstreamFailed) as failed:
        list(UpstreamModel(config, settings).generate(ASK))
    assert no_outside_traffic == []
    assert "192.0.2.2" not in failed.value.message  # the DNS answer is not told to the caller
    assert "192.0.2.2 is not public" in caplog.text  # but the operator sees why


def test_upstream_error_bodies_are_not_echoed(
    tmp_path: Path, stub: StubServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The platform admin's upstream on loopback (tenant admins may not use loopback); the error
    # path is the same for a tenant's guarded upstream.
    settings = Settings(data_dir=tmp_path)

    def upstream(model: str) -> UpstreamModel:
        config = {"base_url": stub.base_url, "model": model, "max_retries": 0}
        return UpstreamModel(register_config(config, PLATFORM, settings), settings)

    with caplog.at_level(logging.WARNING):
        with pytest.raises(UpstreamFailed) as server_error:
            list(upstream("leaky-500").generate(ASK))
        with pytest.raises(InvalidRequest) as client_error:
            list(upstream("leaky-400").generate(ASK))
        with pytest.raises(UpstreamFailed) as mid_stream:
            list(upstream("midfail").generate(ASK))
    assert "HTTP 500" in server_error.value.message
    assert "HTTP 400" in client_error.value.message
    for error in (server_error.value, client_error.value, mid_stream.value):
        assert "s3cr3t" not in str(error.body())
    # The operator's log has a bounded summary of what the upstream said.
    assert LEAKED in caplog.text
    assert all(len(r.getMessage()) < 400 for r in caplog.records)
